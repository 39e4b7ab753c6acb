"""The job queue: a plain ``QueueState`` that decides what runs next, and a thin asyncio runner.

``QueueState`` has no event loop and no clock, so its policy (order, caps, batching) is tested as
plain code. ``JobQueue`` owns one state, runs one batch at a time with a timeout, and settles one
future per job. It refuses work at once when full instead of growing.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

P = TypeVar("P")
R = TypeVar("R")
log = logging.getLogger(__name__)

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
    """One job in the queue. ``held`` tickets keep their place but may not start yet."""

    job_id: str
    user_id: int
    batch_key: str
    rows: int
    payload: P
    held: bool = False


class QueueState(Generic[P]):
    """Who waits, who runs, and which compatible jobs run together. FIFO within the limits."""

    def __init__(self, *, max_depth: int, per_user: int, max_batch_rows: int) -> None:
        if min(max_depth, per_user, max_batch_rows) < 1:
            raise ValueError("queue limits must be at least 1")
        self.max_depth = max_depth
        self.per_user = per_user
        self.max_batch_rows = max_batch_rows
        self.waiting: list[Ticket[P]] = []
        self.running: list[Ticket[P]] = []

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

    def next_batch(self) -> list[Ticket[P]]:
        """The oldest runnable ticket plus later ones with its batch key, within the row budget."""
        runnable = [t for t in self.waiting if not t.held]
        if not runnable:
            return []
        first = runnable[0]
        batch, rows = [first], first.rows
        for ticket in runnable[1:]:
            if ticket.batch_key == first.batch_key and rows + ticket.rows <= self.max_batch_rows:
                batch.append(ticket)
                rows += ticket.rows
        for ticket in batch:
            self.waiting.remove(ticket)
        self.running.extend(batch)
        return batch

    def finish(self, batch: Sequence[Ticket[P]]) -> None:
        for ticket in batch:
            if ticket in self.running:
                self.running.remove(ticket)

    def position(self, job_id: str) -> int | None:
        """0 while running, 1 for the next to run, and so on; None when unknown."""
        if any(t.job_id == job_id for t in self.running):
            return 0
        for i, ticket in enumerate(self.waiting):
            if ticket.job_id == job_id:
                return i + 1
        return None


@dataclass
class Throughput:
    """Moving averages of batch time and jobs per batch, for wait estimates."""

    batch_s: float = 1.0
    jobs_per_batch: float = 1.0
    weight: float = 0.3
    samples: int = field(default=0)

    def observe(self, seconds: float, jobs: int) -> None:
        if self.samples == 0:
            self.batch_s, self.jobs_per_batch = seconds, float(jobs)
        else:
            self.batch_s += self.weight * (seconds - self.batch_s)
            self.jobs_per_batch += self.weight * (jobs - self.jobs_per_batch)
        self.samples += 1

    def wait_s(self, position: int) -> float:
        """Estimated seconds until a job at ``position`` is finished."""
        if position <= 0:
            return self.batch_s / 2
        batches_ahead = math.ceil(position / max(1.0, self.jobs_per_batch))
        return (batches_ahead + 0.5) * self.batch_s


Execute = Callable[[list[Ticket[P]], threading.Event], Awaitable[Sequence[R]]]


class JobQueue(Generic[P, R]):
    """Runs batches from a ``QueueState`` one at a time and settles each job's future."""

    def __init__(
        self,
        execute: Execute[P, R],
        *,
        max_depth: int,
        per_user: int,
        max_batch_rows: int,
        job_timeout_s: float,
        throughput: Throughput | None = None,
    ) -> None:
        self.state: QueueState[P] = QueueState(
            max_depth=max_depth, per_user=per_user, max_batch_rows=max_batch_rows
        )
        self.job_timeout_s = job_timeout_s
        self.throughput = throughput or Throughput()
        self._execute = execute
        self._futures: dict[str, asyncio.Future[R]] = {}
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<JobQueue {self.state!r} closing={self._closing}>"

    async def __aenter__(self) -> JobQueue[P, R]:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="muse-queue")

    def check_admit(self, user_id: int) -> None:
        if self._closing:
            raise Overloaded("closed", 0)
        self.state.check_admit(user_id)

    def submit(self, ticket: Ticket[P]) -> asyncio.Future[R]:
        """Admit a job or raise ``Overloaded`` at once; the future settles when it has run."""
        self.check_admit(ticket.user_id)
        self.state.admit(ticket)
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._futures[ticket.job_id] = future
        self._idle.clear()
        self._wake.set()
        return future

    def release(self, job_id: str) -> None:
        if self.state.release(job_id):
            self._wake.set()

    def cancel(self, job_id: str) -> bool:
        """Remove a waiting job; its future fails with ``JobCancelled``."""
        if self.state.remove(job_id) is None:
            return False
        self._settle(job_id, JobCancelled(job_id))
        return True

    def position(self, job_id: str) -> int | None:
        return self.state.position(job_id)

    def wait_s(self, job_id: str) -> float | None:
        position = self.state.position(job_id)
        return None if position is None else self.throughput.wait_s(position)

    async def drain(self) -> None:
        """Wait until nothing is waiting or running (held jobs count as waiting)."""
        await self._idle.wait()

    async def close(self, timeout_s: float = 30.0) -> None:
        """Refuse new jobs, let runnable ones finish up to ``timeout_s``, fail the rest."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout_s)
            except TimeoutError:
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
        for ticket in list(self.state.waiting):
            self.state.remove(ticket.job_id)
            self._settle(ticket.job_id, Overloaded("closed", 0))

    async def _loop(self) -> None:
        while True:
            batch = self.state.next_batch()
            if not batch:
                if self._closing or not self.state.waiting:
                    self._idle.set()
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            await self._run_batch(batch)

    async def _run_batch(self, batch: list[Ticket[P]]) -> None:
        live = [t for t in batch if not self._futures[t.job_id].done()]
        for ticket in batch:  # requesters who went away before we started
            if ticket not in live:
                self._futures.pop(ticket.job_id, None)
        if not live:
            self.state.finish(batch)
            return
        cancel = threading.Event()
        started = asyncio.get_running_loop().time()
        outcomes: Sequence[Any]
        try:
            outcomes = await asyncio.wait_for(self._execute(live, cancel), self.job_timeout_s)
            if len(outcomes) != len(live):
                raise RuntimeError(f"execute returned {len(outcomes)} results for {len(live)} jobs")
        except TimeoutError:
            cancel.set()
            outcomes = [JobTimeout(f"job took over {self.job_timeout_s:g} s")] * len(live)
        except Exception as err:
            log.exception("batch of %d job(s) failed", len(live))
            outcomes = [err] * len(live)
        finally:
            self.state.finish(batch)
        self.throughput.observe(asyncio.get_running_loop().time() - started, len(live))
        for ticket, outcome in zip(live, outcomes, strict=True):
            self._settle(ticket.job_id, outcome)

    def _settle(self, job_id: str, outcome: Any) -> None:
        future = self._futures.pop(job_id, None)
        if future is None or future.done():
            return
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
