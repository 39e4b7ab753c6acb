"""The queue's plain policy: who waits, who runs, which jobs batch together, and why a job is
refused. No event loop and no clock, so it is tested as plain code; ``generators.queue`` runs it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

P = TypeVar("P")

OverloadReason = Literal["queue_full", "user_cap", "closed"]


class Overloaded(Exception):
    """The queue refused a job; ``reason`` says which limit was hit."""

    def __init__(self, reason: OverloadReason, limit: int) -> None:
        super().__init__(f"{reason} (limit {limit})")
        self.reason: OverloadReason = reason
        self.limit = limit


class JobTimeout(Exception):
    """A job ran longer than the queue's ``job_timeout_s``."""


class JobCancelled(Exception):
    """A waiting job was removed before it ran."""


@dataclass
class Ticket(Generic[P]):
    """One job in the queue. ``held`` tickets keep their place but may not start yet.

    ``kind`` and ``units`` feed wait estimates: text units are new tokens (rows of a batch
    decode in parallel), image units are denoising steps times images (they add up).
    ``round`` and ``seq`` are set by ``QueueState.admit`` for fair ordering. ``lane`` names
    what runs it ("local": the worker thread; "remote": a text server; see ``lane_limits``).
    """

    job_id: str
    user_id: int
    batch_key: str
    rows: int
    payload: P
    held: bool = False
    kind: str = "text"
    units: float = 1.0
    round: int = 0
    seq: int = 0
    lane: str = "local"


class QueueState(Generic[P]):
    """Who waits, who runs, and which compatible jobs run together.

    Order is fair between members: a member's n-th waiting job is in round n, and rounds run
    in order (FIFO within a round), so one member's four drawings cannot starve the others.
    """

    def __init__(self, *, max_depth: int, per_user: int, max_batch_rows: int) -> None:
        if min(max_depth, per_user, max_batch_rows) < 1:
            raise ValueError("queue limits must be at least 1")
        self.max_depth = max_depth
        self.per_user = per_user
        self.max_batch_rows = max_batch_rows
        self.waiting: list[Ticket[P]] = []
        self.running: list[Ticket[P]] = []
        self._round = 0
        self._seq = 0

    def __repr__(self) -> str:
        return f"<QueueState waiting={len(self.waiting)} running={len(self.running)}>"

    def in_flight(self, user_id: int) -> int:
        return sum(1 for t in self.waiting + self.running if t.user_id == user_id)

    def check_admit(self, user_id: int) -> None:
        """Raise ``Overloaded`` if a job from ``user_id`` would be refused now."""
        if len(self.waiting) >= self.max_depth:
            raise Overloaded("queue_full", self.max_depth)
        if self.in_flight(user_id) >= self.per_user:
            raise Overloaded("user_cap", self.per_user)

    def admit(self, ticket: Ticket[P]) -> None:
        self.check_admit(ticket.user_id)
        mine = [t.round for t in self.waiting + self.running if t.user_id == ticket.user_id]
        ticket.round = max([self._round] + [r + 1 for r in mine])
        ticket.seq = self._seq
        self._seq += 1
        self.waiting.append(ticket)

    def release(self, job_id: str) -> bool:
        """Let a held ticket start; False if it is not waiting."""
        for ticket in self.waiting:
            if ticket.job_id == job_id:
                ticket.held = False
                return True
        return False

    def remove(self, job_id: str) -> Ticket[P] | None:
        """Take a waiting ticket out of the queue."""
        for i, ticket in enumerate(self.waiting):
            if ticket.job_id == job_id:
                return self.waiting.pop(i)
        return None

    def run_order(self) -> list[Ticket[P]]:
        """Waiting tickets in the order they would start."""
        return sorted(self.waiting, key=lambda t: (t.round, t.seq))

    def next_batch(self, full_lanes: Collection[str] = ()) -> list[Ticket[P]]:
        """The next runnable ticket plus later ones with its batch key, within the row budget;
        tickets of ``full_lanes`` wait (their lane runs as many batches as it may)."""
        runnable = [t for t in self.run_order() if not t.held and t.lane not in full_lanes]
        if not runnable:
            return []
        batch = _fill(runnable, self.max_batch_rows)
        self.start(batch)
        return batch

    def start(self, tickets: Sequence[Ticket[P]]) -> None:
        """Move waiting ``tickets`` (in run order) to running."""
        for ticket in tickets:
            self.waiting.remove(ticket)
            self.running.append(ticket)
            self._round = max(self._round, ticket.round)

    def finish(self, batch: Sequence[Ticket[P]]) -> None:
        for ticket in batch:
            if ticket in self.running:
                self.running.remove(ticket)

    def position(self, job_id: str) -> int | None:
        """0 while running, 1 for the next to run, and so on; None when unknown."""
        if any(t.job_id == job_id for t in self.running):
            return 0
        for i, ticket in enumerate(self.run_order()):
            if ticket.job_id == job_id:
                return i + 1
        return None

    def plan(self, job_id: str) -> list[list[Ticket[P]]]:
        """The batches that will run before and including ``job_id``'s (held ones as ready)."""
        order = self.run_order()
        batches: list[list[Ticket[P]]] = []
        while order:
            batch = _fill(order, self.max_batch_rows)
            batches.append(batch)
            if any(t.job_id == job_id for t in batch):
                return batches
            order = [t for t in order if t not in batch]
        return []


def _fill(order: Sequence[Ticket[P]], max_rows: int) -> list[Ticket[P]]:
    """The first ticket and the next ones sharing its batch key, while rows fit."""
    first = order[0]
    batch, rows = [first], first.rows
    for ticket in order[1:]:
        if ticket.batch_key == first.batch_key and rows + ticket.rows <= max_rows:
            batch.append(ticket)
            rows += ticket.rows
    return batch
