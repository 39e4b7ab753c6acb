"""The rows Muse stores and reads back, as plain frozen dataclasses (no SQL here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# What a decoder leaves for bytes it could not decode (a token cap cutting a multi-byte
# character in two): it carries nothing, so it is never stored and never exported.
REPLACEMENT_CHARACTER = "\ufffd"


def clean_text(text: str) -> str:
    """``text`` without U+FFFD, wherever it is; the rest is kept, so the member keeps their
    text (a cut character is dropped rather than the whole text refused)."""
    return text.replace(REPLACEMENT_CHARACTER, "")


@dataclass(frozen=True)
class JobRecord:
    id: str
    group_id: str
    parent_id: str | None
    kind: str
    user_id: int
    guild_id: int | None
    channel_id: int | None
    options: dict[str, str]
    prompt: str
    seed: int
    status: str
    created_at: float
    error: str | None = None
    compare: bool = False
    reply_handle: str | None = None  # how the adapter answers this job; cleared once delivered
    guild_name: str = ""  # as Discord named them when the job was asked; '' where unknown
    channel_name: str = ""
    source_output_id: int | None = None  # lineage: the picture this job's pictures came from
    operation: str | None = None  # lineage: what was done to it ("upscale", "vary-strong"...)


@dataclass(frozen=True)
class NewOutput:
    candidate: int
    text: str
    model_id: str
    seed: int
    verdict: dict[str, Any]
    timings: dict[str, float]
    image_path: str | None = None

    @property
    def decision(self) -> str:
        return str(self.verdict["decision"])


@dataclass(frozen=True)
class OutputRecord:
    id: int
    job_id: str
    candidate: int
    text: str
    model_id: str
    seed: int
    decision: str
    timings: dict[str, float]
    image_path: str | None = None
    hidden: bool = False


@dataclass(frozen=True)
class Tally:
    up: int = 0
    down: int = 0


@dataclass(frozen=True)
class Forgotten:
    """What deleting a member removed: row counts per table, and the files to delete (their
    outputs' images, and the keys of pictures they gave that no other member's job uses)."""

    counts: dict[str, int]
    image_paths: list[str]
    pictures: list[str]
