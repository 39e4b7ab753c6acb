"""Read-only numbers for the web view: daily votes, verdicts and decisions, and queue depth.

Days are UTC days. Every query reads the shared database, so the numbers are the same whether
the web view runs inside ``muse run`` or as its own ``muse web`` process.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from bot.store.storage import Storage

DAY_S = 86_400

_VOTES_SQL = """
    SELECT CAST(created_at / 86400 AS INTEGER) AS day,
           CASE value WHEN 1 THEN 'up' ELSE 'down' END AS label, COUNT(*)
    FROM votes WHERE created_at >= ? GROUP BY day, label
"""
_VERDICTS_SQL = """
    SELECT CAST(created_at / 86400 AS INTEGER) AS day,
           COALESCE(json_extract(verdict, '$.decision'), decision) AS label, COUNT(*)
    FROM outputs WHERE created_at >= ? GROUP BY day, label
"""
_DECISIONS_SQL = """
    SELECT CAST(decided_at / 86400 AS INTEGER) AS day, status AS label, COUNT(*)
    FROM reviews WHERE decided_at >= ? AND status != 'pending' GROUP BY day, label
"""


@dataclass(frozen=True)
class DailyCounts:
    """Counts per label for each of the last ``len(days)`` UTC days, oldest first."""

    days: tuple[date, ...]
    series: dict[str, tuple[int, ...]]

    def total(self) -> int:
        return sum(sum(values) for values in self.series.values())


@dataclass(frozen=True)
class QueueDepth:
    queued: int
    running: int


async def _daily(
    storage: Storage, sql: str, labels: tuple[str, ...], now: float, days: int
) -> DailyCounts:
    today = int(now // DAY_S)
    first = today - days + 1
    counts = {label: [0] * days for label in labels}
    async with storage.db.execute(sql, (first * DAY_S,)) as cur:
        for day, label, count in await cur.fetchall():
            if label in counts and first <= day <= today:
                counts[label][day - first] = int(count)
    dates = tuple(datetime.fromtimestamp((first + i) * DAY_S, UTC).date() for i in range(days))
    return DailyCounts(dates, {label: tuple(values) for label, values in counts.items()})


async def votes_by_day(storage: Storage, now: float, days: int) -> DailyCounts:
    """👍 and 👎 cast per day (a vote counts on the day it was last changed)."""
    return await _daily(storage, _VOTES_SQL, ("up", "down"), now, days)


async def verdicts_by_day(storage: Storage, now: float, days: int) -> DailyCounts:
    """The safety filter's verdict on each output, per day."""
    return await _daily(storage, _VERDICTS_SQL, ("allow", "review", "block"), now, days)


async def decisions_by_day(storage: Storage, now: float, days: int) -> DailyCounts:
    """Moderators' approvals and rejections per day."""
    return await _daily(storage, _DECISIONS_SQL, ("approved", "rejected"), now, days)


async def queue_depth(storage: Storage) -> QueueDepth:
    """Jobs waiting and running now, as recorded by the service."""
    sql = "SELECT SUM(status = 'queued'), SUM(status = 'running') FROM jobs"
    async with storage.db.execute(sql) as cur:
        row = await cur.fetchone()
    queued, running = (row[0], row[1]) if row else (0, 0)
    return QueueDepth(int(queued or 0), int(running or 0))
