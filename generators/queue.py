"""The job queue: a plain ``QueueState`` that decides what runs next, and a thin asyncio runner.

``QueueState`` has no event loop and no clock, so its policy (order, caps, batching) is tested as
plain code. ``JobQueue`` owns one state, runs one batch at a time with a timeout, and settles one
future per job. It refuses work at once when full instead of growing.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeVar

from generators.throughput import Throughput

P = TypeVar("P")
R = TypeVar("R")
log = logging.getLogger(__name__)

OverloadReason = Literal["queue_full", "user_cap", "closed"]

__all__ = [
    "JobCancelled",
    "JobQueue",
    "JobTimeout",
    "Overloaded",
    "QueueState",
    "SessionRunner",
    "Throughput",
    "Ticket",
    "current_jobs",
]

# The job id(s) the current task works on, for log lines ("-" outside a job).
current_jobs: contextvars.ContextVar[str] = contextvars.ContextVar("muse_jobs", default="-")


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
    ``round`` and ``seq`` are set by ``QueueState.admit`` for fair ordering.
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

    def next_batch(self) -> list[Ticket[P]]:
        """The next runnable ticket plus later ones with its batch key, within the row budget."""
        runnable = [t for t in self.run_order() if not t.held]
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


Execute = Callable[[list[Ticket[P]], threading.Event], Awaitable[Sequence[R]]]


class SessionRunner(Protocol[P]):
    """Runs some batches itself, e.g. as a continuous batch that later jobs join
    (``generators.continuous``); it settles every job it runs through the queue."""

    def takes(self, batch: Sequence[Ticket[P]]) -> bool: ...

    async def run(self, queue: JobQueue[P, Any], batch: list[Ticket[P]]) -> None: ...


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
        runner: SessionRunner[P] | None = None,
    ) -> None:
        self.runner = runner
        self.state: QueueState[P] = QueueState(
            max_depth=max_depth, per_user=per_user, max_batch_rows=max_batch_rows
        )
        self.job_timeout_s = job_timeout_s
        self.throughput = throughput or Throughput()
        self._execute = execute
        self._futures: dict[str, asyncio.Future[R]] = {}
        self.batches_run = 0
        self._cancelled: set[str] = set()
        self._running_cancel: threading.Event | None = None
        self.running_since = 0.0
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
        """Cancel a waiting or running job; its future fails with ``JobCancelled``.

        A running batch is stopped (its cancel event set) once every job in it is cancelled.
        """
        if self.state.remove(job_id) is not None:
            self.settle(job_id, JobCancelled(job_id))
            return True
        running = {t.job_id for t in self.state.running}
        if job_id not in running:
            return False
        self._cancelled.add(job_id)
        if running <= self._cancelled and self._running_cancel is not None:
            self._running_cancel.set()
        return True

    def position(self, job_id: str) -> int | None:
        return self.state.position(job_id)

    def wait_s(self, job_id: str) -> float | None:
        """Estimated seconds until ``job_id`` is done, from measured throughput."""
        running = self.state.running
        elapsed = asyncio.get_running_loop().time() - self.running_since
        left = max(0.0, self.throughput.estimate_s(running) - elapsed) if running else 0.0
        if any(t.job_id == job_id for t in running):
            return left
        plan = self.state.plan(job_id)
        if not plan:
            return None
        return left + sum(self.throughput.estimate_s(batch) for batch in plan)

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
            self.settle(ticket.job_id, Overloaded("closed", 0))

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
            if self.runner is not None and self.runner.takes(batch):
                await self.runner.run(self, batch)
            else:
                await self._run_batch(batch)

    def is_live(self, job_id: str) -> bool:
        """False once the job's requester stopped waiting for it (its future is done)."""
        future = self._futures.get(job_id)
        return future is not None and not future.done()

    def take_cancelled(self, job_id: str) -> bool:
        """True (once) if the running job ``job_id`` was cancelled."""
        if job_id in self._cancelled:
            self._cancelled.discard(job_id)
            return True
        return False

    def _live(self, batch: list[Ticket[P]]) -> list[Ticket[P]]:
        """The tickets whose requesters still wait; forget those who went away before we started."""
        live = [t for t in batch if not self._futures[t.job_id].done()]
        for ticket in batch:
            if ticket not in live:
                self._futures.pop(ticket.job_id, None)
        return live

    async def _run_batch(self, batch: list[Ticket[P]]) -> None:
        live = self._live(batch)
        if not live:
            self.state.finish(batch)
            return
        cancel = threading.Event()
        started = asyncio.get_running_loop().time()
        self._running_cancel, self.running_since = cancel, started
        self.batches_run += 1
        context = current_jobs.set(",".join(t.job_id for t in live))
        outcomes: Sequence[Any]
        try:
            outcomes = await asyncio.wait_for(self._execute(live, cancel), self.job_timeout_s)
            if len(outcomes) != len(live):
                raise RuntimeError(f"execute returned {len(outcomes)} results for {len(live)} jobs")
        except TimeoutError:
            cancel.set()
            outcomes = [JobTimeout(f"job took over {self.job_timeout_s:g} s")] * len(live)
        except Exception as err:
            if cancel.is_set():  # every job in it was cancelled: expected, not a failure
                log.info("batch of %d job(s) stopped after cancel", len(live))
            else:
                log.exception("batch of %d job(s) failed", len(live))
            outcomes = [err] * len(live)
        finally:
            self.state.finish(batch)
            self._running_cancel = None
            current_jobs.reset(context)
        if not cancel.is_set():
            self.throughput.observe(live, asyncio.get_running_loop().time() - started)
        for ticket, outcome in zip(live, outcomes, strict=True):
            if ticket.job_id in self._cancelled:
                self._cancelled.discard(ticket.job_id)
                outcome = JobCancelled(ticket.job_id)
            self.settle(ticket.job_id, outcome)

    def settle(self, job_id: str, outcome: Any) -> None:
        """Give the job's requester its result, or its error if ``outcome`` is an exception."""
        future = self._futures.pop(job_id, None)
        if future is None or future.done():
            return
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
