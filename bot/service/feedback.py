"""Feedback beyond votes, Discord-free: edits, picks, A/B choices, consent, and what a member
can see about themselves. Everything is committed before it is acknowledged."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.store.records import clean_text
from bot.store.storage import Storage

COMPARE_CHOICES = ("a", "b", "tie")


@dataclass(frozen=True)
class PrivacySummary:
    """What Muse stores about one member, and whether their data may be exported."""

    jobs: int
    outputs: int
    votes: int
    edits: int
    picks: int
    reports: int
    consent: str | None  # "in", "out" or None (never chose)
    guild_mode: str  # "opt-out" or "opt-in"

    @property
    def exported(self) -> bool:
        if self.guild_mode == "opt-in":
            return self.consent == "in"
        return self.consent != "out"


@dataclass
class RateLimiter:
    """At most ``limit`` events per member in any ``window_s`` seconds (in memory)."""

    limit: int
    window_s: float = 60.0
    clock: Callable[[], float] = time.monotonic
    _events: dict[int, deque[float]] = field(default_factory=dict)

    def allow(self, user_id: int) -> bool:
        now = self.clock()
        events = self._events.setdefault(user_id, deque())
        while events and now - events[0] >= self.window_s:
            events.popleft()
        if len(events) >= self.limit:
            return False
        events.append(now)
        if len(self._events) > 10_000:  # forget members who went quiet
            self._events = {
                u: e for u, e in self._events.items() if e and now - e[-1] < self.window_s
            }
        return True


class FeedbackStore:
    """Edits, picks, A/B choices and consent over the shared database."""

    def __init__(self, storage: Storage, clock: Callable[[], float]) -> None:
        self.storage = storage
        self.clock = clock

    async def add_edit(self, output_id: int, user_id: int, text: str) -> None:
        await self.storage.write(
            "INSERT INTO edits (output_id, user_id, text, created_at) VALUES (?,?,?,?)",
            (output_id, user_id, clean_text(text), self.clock()),
        )

    async def latest_edits(self, output_ids: list[int]) -> dict[int, str]:
        """The newest edit of each output that has one."""
        if not output_ids:
            return {}
        marks = ",".join("?" * len(output_ids))
        sql = f"SELECT output_id, text FROM edits WHERE output_id IN ({marks}) ORDER BY id"
        async with self.storage.db.execute(sql, tuple(output_ids)) as cur:
            return {row[0]: row[1] for row in await cur.fetchall()}

    async def set_pick(self, job_id: str, user_id: int, source: str, output_id: int | None) -> None:
        """One choice per member per job and source; choosing again replaces it."""
        await self.storage.write(
            "INSERT OR REPLACE INTO picks (job_id, user_id, source, output_id, created_at)"
            " VALUES (?,?,?,?,?)",
            (job_id, user_id, source, output_id, self.clock()),
        )

    async def pick_counts(self, job_id: str, source: str) -> dict[int | None, int]:
        """How many members chose each output (None: tie) for a job."""
        sql = (
            "SELECT output_id, COUNT(*) FROM picks WHERE job_id = ? AND source = ?"
            " GROUP BY output_id"
        )
        async with self.storage.db.execute(sql, (job_id, source)) as cur:
            return {row[0]: int(row[1]) for row in await cur.fetchall()}

    async def set_consent(self, user_id: int, choice: str) -> None:
        if choice not in ("in", "out"):
            raise ValueError(f"consent choice must be 'in' or 'out', got {choice!r}")
        await self.storage.write(
            "INSERT OR REPLACE INTO consent (user_id, choice, updated_at) VALUES (?,?,?)",
            (user_id, choice, self.clock()),
        )

    async def summary(self, user_id: int, guild_mode: str) -> PrivacySummary:
        counts = []
        for sql in (
            "SELECT COUNT(*) FROM jobs WHERE user_id = ?",
            "SELECT COUNT(*) FROM outputs WHERE job_id IN (SELECT id FROM jobs WHERE user_id = ?)",
            "SELECT COUNT(*) FROM votes WHERE user_id = ?",
            "SELECT COUNT(*) FROM edits WHERE user_id = ?",
            "SELECT COUNT(*) FROM picks WHERE user_id = ?",
            "SELECT COUNT(*) FROM reports WHERE user_id = ?",
        ):
            async with self.storage.db.execute(sql, (user_id,)) as cur:
                row = await cur.fetchone()
            counts.append(int(row[0]) if row else 0)
        async with self.storage.db.execute(
            "SELECT choice FROM consent WHERE user_id = ?", (user_id,)
        ) as cur:
            row = await cur.fetchone()
        jobs, outputs, votes, edits, picks, reports = counts
        consent = str(row[0]) if row else None
        return PrivacySummary(jobs, outputs, votes, edits, picks, reports, consent, guild_mode)
