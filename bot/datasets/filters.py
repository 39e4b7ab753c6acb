"""Which outputs an export covers: the kinds, ``ExportFilters`` and the per-row minimums."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from bot.datasets.items import Item

KINDS = ("poem", "slogan", "draw")


@dataclass(frozen=True)
class ExportFilters:
    """Which outputs to export; ``score`` is (up - down) / votes, own votes excluded.

    ``since`` compares with the output's creation time (a naive datetime is taken as UTC).
    ``min_votes`` and ``min_score`` apply to every row (to the chosen side of a DPO pair).
    """

    kind: str | None = None
    since: datetime | None = None
    guild_id: int | None = None
    min_votes: int = 0
    min_score: float | None = None


def as_utc(moment: datetime) -> datetime:
    """``moment`` with its time zone, UTC when it has none."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def below_minimum(item: Item, filters: ExportFilters) -> str | None:
    """``min_votes`` or ``min_score`` when the output falls short of it."""
    if item.votes < filters.min_votes:
        return "min_votes"
    if filters.min_score is not None and (item.score is None or item.score < filters.min_score):
        return "min_score"
    return None
