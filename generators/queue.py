"""The job queue: a plain ``QueueState`` that decides what runs next, and a thin asyncio runner.

``QueueState`` (``generators.queue_state``) has no event loop and no clock, so its policy
(order, caps, batching) is tested as plain code. ``JobQueue`` owns one state, runs batches with a
timeout (one at a time per lane, or up to the lane's limit) and settles one future per job. It
refuses work at once when full instead of growing.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from generators.queue_state import JobCancelled, JobTimeout, Overloaded, QueueState, Ticket
from generators.throughput import Throughput

P = TypeVar("P")
R = TypeVar("R")
log = logging.getLogger(__name__)

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

Execute = Callable[[list[Ticket[P]], threading.Event], Awaitable[Sequence[R]]]


class SessionRunner(Protocol[P]):
    """Runs some batches itself, e.g. as a continuous batch that later jobs join
    (``generators.continuous``); it settles every job it runs through the queue."""

    def takes(self, batch: Sequence[Ticket[P]]) -> bool: ...

    async def run(self, queue: JobQueue[P, Any], batch: list[Ticket[P]]) -> None: ...


@dataclass
class _Running(Generic[P]):
    """One batch in flight: its tickets, its cancel event and when it started (loop time)."""

    batch: list[Ticket[P]]
    cancel: threading.Event
    started: float


class JobQueue(Generic[P, R]):
    """Runs batches from a ``QueueState`` and settles each job's future. Each lane runs at most
    its limit of batches at once (default 1): the local worker one at a time, a text server
    several, since it batches concurrent requests itself."""

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
        lane_limits: Mapping[str, int] | None = None,
    ) -> None:
        self.runner = runner
        self.state: QueueState[P] = QueueState(
            max_depth=max_depth, per_user=per_user, max_batch_rows=max_batch_rows
        )
        self.job_timeout_s = job_timeout_s
        self.throughput = throughput or Throughput()
        self.lane_limits = dict(lane_limits or {})
        self._execute = execute
        self._futures: dict[str, asyncio.Future[R]] = {}
        self.batches_run = 0
        self._cancelled: set[str] = set()
        self._running: dict[str, _Running[P]] = {}  # job id -> the batch it started in
        self._tasks: set[asyncio.Task[None]] = set()
        self.running_since = 0.0  # a session runner's latest join (its wait estimates)
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
        if all(t.job_id != job_id for t in self.state.running):
            return False
        self._cancelled.add(job_id)
        running = self._running.get(job_id)
        if running is not None and {t.job_id for t in running.batch} <= self._cancelled:
            running.cancel.set()
        return True

    def position(self, job_id: str) -> int | None:
        return self.state.position(job_id)

    def limit(self, lane: str) -> int:
        return max(1, self.lane_limits.get(lane, 1))

    def wait_s(self, job_id: str) -> float | None:
        """Estimated seconds until ``job_id`` is done, from measured throughput: the work left
        in its lane (running batches and the batches ahead), spread over the lane's limit."""
        now = asyncio.get_running_loop().time()
        left = {id(r): (r, self._left_s(r, now)) for r in self._running.values()}
        if job_id in self._running:
            return left[id(self._running[job_id])][1]
        if any(t.job_id == job_id for t in self.state.running):  # joined a running session
            return max(0.0, self.throughput.estimate_s(self.state.running) - self._since(now))
        plan = self.state.plan(job_id)
        if not plan:
            return None
        own = next(t for t in plan[-1] if t.job_id == job_id)
        ahead = sum(s for r, s in left.values() if r.batch[0].lane == own.lane)
        ahead += sum(self.throughput.estimate_s(b) for b in plan[:-1] if b[0].lane == own.lane)
        return ahead / self.limit(own.lane) + self.throughput.estimate_s(plan[-1])

    def _left_s(self, running: _Running[P], now: float) -> float:
        if self.runner is not None and self.runner.takes(running.batch):  # jobs come and go
            return max(0.0, self.throughput.estimate_s(self.state.running) - self._since(now))
        return max(0.0, self.throughput.estimate_s(running.batch) - (now - running.started))

    def _since(self, now: float) -> float:
        return now - self.running_since

    async def drain(self) -> None:
        """Wait until nothing is waiting or running (held jobs count as waiting)."""
        await self._idle.wait()

    @property
    def closed(self) -> bool:
        """True once ``close`` began: no new jobs are admitted."""
        return self._closing

    async def close(self, timeout_s: float = 30.0) -> None:
        """Refuse new jobs, let runnable ones finish up to ``timeout_s``, then stop the running
        ones and fail them and the waiting ones with ``Overloaded("closed")``. Closing again
        only fails what is left."""
        self._closing = True
        self._wake.set()
        if self._task is not None and not self._task.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout_s)
            except TimeoutError:
                log.warning("jobs still running after %g s; stopping them", timeout_s)
                for running in self._running.values():
                    running.cancel.set()  # a model on the worker thread stops at its next step
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
        for ticket in list(self.state.waiting):
            self.state.remove(ticket.job_id)
            self.settle(ticket.job_id, Overloaded("closed", 0))

    def _full_lanes(self) -> set[str]:
        lanes = [r.batch[0].lane for r in {id(r): r for r in self._running.values()}.values()]
        return {lane for lane in lanes if lanes.count(lane) >= self.limit(lane)}

    async def _loop(self) -> None:
        try:
            while True:
                batch = self.state.next_batch(self._full_lanes())
                if batch:
                    self._start_batch(batch)
                    continue
                if not self._tasks and (self._closing or not self.state.waiting):
                    self._idle.set()
                    if self._closing:
                        return
                self._wake.clear()
                await self._wake.wait()
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _start_batch(self, batch: list[Ticket[P]]) -> None:
        """Mark ``batch`` running (so ``cancel`` and lane limits see it at once) and run it,
        through the session runner when it takes the batch."""
        running = _Running(batch, threading.Event(), asyncio.get_running_loop().time())
        self._running.update({t.job_id: running for t in batch})
        self.running_since = running.started
        if self.runner is not None and self.runner.takes(batch):
            task = asyncio.create_task(self._run_session(self.runner, running))
        else:
            task = asyncio.create_task(self._run_batch(running))
        self._tasks.add(task)
        task.add_done_callback(self._batch_done)

    def _batch_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._wake.set()  # its lane has room again

    async def _run_session(self, runner: SessionRunner[P], running: _Running[P]) -> None:
        try:
            await runner.run(self, running.batch)
        finally:
            self._forget(running.batch)

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

    async def _run_batch(self, running: _Running[P]) -> None:
        batch, cancel, started = running.batch, running.cancel, running.started
        live = self._live(batch)
        if not live:
            return self._forget(batch)
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
        except asyncio.CancelledError:  # the queue is closing and its grace time is over
            cancel.set()
            for ticket in live:
                self.settle(ticket.job_id, Overloaded("closed", 0))
            raise
        except Exception as err:
            if cancel.is_set():  # every job in it was cancelled: expected, not a failure
                log.info("batch of %d job(s) stopped after cancel", len(live))
            else:
                log.exception("batch of %d job(s) failed", len(live))
            outcomes = [err] * len(live)
        finally:
            self._forget(batch)
            current_jobs.reset(context)
        if not cancel.is_set():
            self.throughput.observe(live, asyncio.get_running_loop().time() - started)
        self._settle_batch(live, outcomes)

    def _settle_batch(self, live: list[Ticket[P]], outcomes: Sequence[Any]) -> None:
        """Each job's outcome; a job cancelled meanwhile settles as cancelled."""
        for ticket, outcome in zip(live, outcomes, strict=True):
            if ticket.job_id in self._cancelled:
                self._cancelled.discard(ticket.job_id)
                outcome = JobCancelled(ticket.job_id)
            self.settle(ticket.job_id, outcome)

    def _forget(self, batch: list[Ticket[P]]) -> None:
        self.state.finish(batch)
        for ticket in batch:
            self._running.pop(ticket.job_id, None)

    def settle(self, job_id: str, outcome: Any) -> None:
        """Give the job's requester its result, or its error if ``outcome`` is an exception."""
        future = self._futures.pop(job_id, None)
        if future is None or future.done():
            return
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
