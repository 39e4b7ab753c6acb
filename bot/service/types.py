"""The plain data the service hands its adapters: who asked, an admitted job, its progress,
and what a finished job shows."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bot.store.records import JobRecord, Tally
from generators.requests import Request
from generators.samples import DrawRow, ImageResult, TextPrompt, TextResult
from moderation.verdict import Verdict

Result = TextResult | ImageResult
Rows = tuple[TextPrompt, ...] | tuple[DrawRow, ...]  # what the model runs for one job


@dataclass(frozen=True)
class Origin:
    """Who asked, and where. ``guild_id``/``channel_id`` are None outside Discord."""

    user_id: int
    guild_id: int | None = None
    channel_id: int | None = None
    guild_name: str = ""  # names as the adapter knows them, for people reading the records
    channel_name: str = ""


@dataclass
class PendingJob:
    """A job admitted to the queue; ``future`` settles when the model has run it.
    ``prompt_check``: the quick part's raw verdict of the prompt while the filter's deep part
    has still to read it (in ``MuseService.start``); None once nothing is left to check."""

    record: JobRecord
    request: Request
    rows: Rows
    future: asyncio.Future[Result]
    admitted_at: float
    prompt_check: Verdict | None = None


@dataclass(frozen=True)
class Progress:
    """Where a job is: queue position (0 = running), seconds left, steps for images, and for
    text the words written so far (one string per row, already past the output filter)."""

    position: int
    wait_s: float
    step: int = 0
    steps: int = 0
    partial: tuple[str, ...] = ()


@dataclass(frozen=True)
class ShownOutput:
    output_id: int
    candidate: int
    text: str
    tally: Tally
    seed: int = 0
    image_path: str | None = None
    edited: bool = False


@dataclass(frozen=True)
class Delivery:
    """What a finished job shows: the outputs that passed the filter, with provenance."""

    job_id: str
    group_id: str
    kind: str
    requester_id: int
    options: dict[str, str]
    model_id: str
    seed: int
    sample_number: int
    outputs: tuple[ShownOutput, ...]
    held: int = 0
    total_s: float = 0.0
    channel_id: int | None = None
    held_ids: tuple[int, ...] = ()  # outputs waiting for a moderator
    withheld: str | None = None  # why nothing is shown, when nothing is
    compare: bool = False
    picked: int | None = None  # the output the requester picked among candidates
    ab_counts: tuple[int, int, int] = (0, 0, 0)  # members preferring A, B, or a tie
    actions: tuple[str, ...] = ()  # a drawing's buttons (``bot.service.derive.actions``)
    match_models: tuple[str, ...] = ()  # A's and B's model in a champion-challenger match


@dataclass(frozen=True)
class VoteResult:
    vote: int  # the member's vote now: 1, -1 or 0 (removed)
    delivery: Delivery
