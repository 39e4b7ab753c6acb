"""Continuous batching in the queue: a text job that arrives while text is being generated joins
the running batch at the next decoding step instead of waiting for the whole batch to end.

The decisions are plain functions over ``QueueState`` with the time passed in, so they are tested
without an event loop, like the queue's own policy:

- ``take_joiners``: who joins now. Waiting jobs are taken in the queue's fair run order while
  their rows fit in the free slots (``slots`` rows in flight, by default the queue's
  ``max_batch_rows``; a batch starts with at most that many). The first runnable job that
  cannot join (another kind, or more rows than are free) stops the taking, so nobody overtakes
  it: the batch drains until it fits or, for another kind, until it is empty and that job runs.
- ``due_to_leave``: who leaves now: cancelled jobs and jobs over the time limit (counted from
  when each joined). Jobs whose rows all ended leave as the step returns them.

``ContinuousRunner`` is the asyncio loop that applies them between steps. With
``continuous=False`` nobody joins a running batch: today's static batches, run by the same loop
(so the benchmark compares policies, not code paths). ``TextSteps`` drives a back-end's
``TextStepper`` on the model worker thread, one step per call, and keeps each running job's
partial text for streaming.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from generators.backend import RowUpdate, StepBackend, TextStepper
from generators.queue import (
    JobCancelled,
    JobQueue,
    JobTimeout,
    Overloaded,
    QueueState,
    Ticket,
    current_jobs,
)
from generators.samples import TextPrompt, TextResult, TextSample
from generators.worker import ModelWorker

log = logging.getLogger(__name__)


def take_joiners(
    state: QueueState[Any], key: str, *, slots: int | None = None, continuous: bool = True
) -> list[Ticket[Any]]:
    """Move the waiting jobs that join the running batch (batch key ``key``) now to running."""
    if not continuous:
        return []
    free = (slots or state.max_batch_rows) - sum(t.rows for t in state.running)
    joining: list[Ticket[Any]] = []
    for ticket in state.run_order():
        if ticket.held:
            continue
        if ticket.batch_key != key or ticket.rows > free:
            break
        joining.append(ticket)
        free -= ticket.rows
    state.start(joining)
    return joining


def due_to_leave(
    running: Sequence[Ticket[Any]],
    joined_at: Mapping[str, float],
    now: float,
    timeout_s: float,
    cancelled: Collection[str],
) -> list[tuple[Ticket[Any], Exception]]:
    """Running jobs that leave before the next step, each with the error its requester gets."""
    leaving: list[tuple[Ticket[Any], Exception]] = []
    for ticket in running:
        if ticket.job_id in cancelled:
            leaving.append((ticket, JobCancelled(ticket.job_id)))
        elif now - joined_at.get(ticket.job_id, now) > timeout_s:
            leaving.append((ticket, JobTimeout(f"job took over {timeout_s:g} s")))
    return leaving


class Stepper(Protocol):
    """One decoding step for a running batch: ``joining`` jobs enter, ``leaving`` job ids are
    dropped; returns the results of the jobs whose rows all ended in this step."""

    async def step(
        self, joining: Sequence[Ticket[Any]], leaving: Sequence[str], cancel: threading.Event
    ) -> Mapping[str, Any]: ...


class ContinuousRunner:
    """Runs the queue's batches of one kind as a continuous batch (a ``SessionRunner``)."""

    def __init__(
        self,
        stepper: Stepper,
        *,
        kind: str = "text",
        continuous: bool = True,
        slots: int | None = None,
    ) -> None:
        self.stepper = stepper
        self.kind = kind
        self.continuous = continuous
        self.slots = slots
        self.steps_run = 0

    def __repr__(self) -> str:
        return f"<ContinuousRunner {self.kind} continuous={self.continuous}>"

    def takes(self, batch: Sequence[Ticket[Any]]) -> bool:
        return bool(batch) and batch[0].kind == self.kind

    async def run(self, queue: JobQueue[Any, Any], batch: list[Ticket[Any]]) -> None:
        """Step until no job of the batch is left, letting waiting jobs join between steps."""
        cancel = threading.Event()
        joined_at: dict[str, float] = {}
        queue.batches_run += 1
        joining = _live(queue, batch)
        try:
            while True:
                now = asyncio.get_running_loop().time()
                leaving = self._leave(queue, joined_at, now)
                joining = [t for t in joining if t.job_id not in leaving]
                for ticket in joining:
                    joined_at[ticket.job_id] = queue.running_since = now
                if not queue.state.running and not leaving:
                    return
                await self._step(queue, joining, leaving, joined_at, cancel)
                key = batch[0].batch_key
                taken = take_joiners(queue.state, key, slots=self.slots, continuous=self.continuous)
                joining = _live(queue, taken)
        except asyncio.CancelledError:  # the queue is closing and its grace time is over
            cancel.set()
            _fail_running(queue, Overloaded("closed", 0))
            raise
        except TimeoutError:
            cancel.set()
            _fail_running(queue, JobTimeout(f"a step took over {queue.job_timeout_s:g} s"))
        except Exception as err:
            log.exception("continuous batch failed with %d job(s)", len(queue.state.running))
            _fail_running(queue, err)

    def _leave(
        self, queue: JobQueue[Any, Any], joined_at: dict[str, float], now: float
    ) -> list[str]:
        running = queue.state.running
        cancelled = {t.job_id for t in running if queue.take_cancelled(t.job_id)}
        leaving = due_to_leave(running, joined_at, now, queue.job_timeout_s, cancelled)
        for ticket, error in leaving:
            queue.state.finish([ticket])
            joined_at.pop(ticket.job_id, None)
            queue.settle(ticket.job_id, error)
        return [ticket.job_id for ticket, _ in leaving]

    async def _step(
        self,
        queue: JobQueue[Any, Any],
        joining: list[Ticket[Any]],
        leaving: list[str],
        joined_at: dict[str, float],
        cancel: threading.Event,
    ) -> None:
        context = current_jobs.set(",".join(t.job_id for t in queue.state.running) or "-")
        try:
            step = self.stepper.step(joining, leaving, cancel)
            results = await asyncio.wait_for(step, queue.job_timeout_s)
        finally:
            current_jobs.reset(context)
        self.steps_run += 1
        now = asyncio.get_running_loop().time()
        for ticket in [t for t in queue.state.running if t.job_id in results]:
            queue.state.finish([ticket])
            queue.throughput.observe([ticket], now - joined_at.pop(ticket.job_id, now))
            cancelled = queue.take_cancelled(ticket.job_id)
            queue.settle(
                ticket.job_id, JobCancelled(ticket.job_id) if cancelled else results[ticket.job_id]
            )


def _live(queue: JobQueue[Any, Any], tickets: list[Ticket[Any]]) -> list[Ticket[Any]]:
    """The tickets whose requester still waits; the others are dropped before they start."""
    live = [t for t in tickets if queue.is_live(t.job_id)]
    for ticket in tickets:
        if ticket not in live:
            queue.state.finish([ticket])
            queue.settle(ticket.job_id, JobCancelled(ticket.job_id))
    return live


def _fail_running(queue: JobQueue[Any, Any], error: Exception) -> None:
    running = list(queue.state.running)
    queue.state.finish(running)
    for ticket in running:
        queue.settle(ticket.job_id, error)


@dataclass
class _Job:
    rows: int
    joined: float
    texts: list[str]
    samples: dict[int, TextSample] = field(default_factory=dict)
    batch_rows: int = 0


StepObserver = Callable[[float, int], None]  # seconds of one step, tokens of jobs it finished
JoinHook = Callable[[list[str]], Awaitable[None]]  # job ids about to start (e.g. mark running)
TextListener = Callable[[str, tuple[str, ...]], None]  # a running job's texts so far, per row


class TextSteps:
    """A ``Stepper`` over a text back-end's continuous batch, run on the model worker thread.

    Row keys are ``job_id:index``. ``partial(job_id)`` gives a running job's text so far, one
    string per row, for streaming; a job's ``TextResult`` comes once all its rows ended.
    """

    def __init__(
        self,
        worker: ModelWorker,
        backend: StepBackend,
        observe: StepObserver | None = None,
        on_join: JoinHook | None = None,
    ) -> None:
        self.worker = worker
        self.backend = backend
        self.observe = observe
        self.on_join = on_join
        self.listeners: list[TextListener] = []  # called on the event loop after each step
        self._batch: TextStepper | None = None
        self._jobs: dict[str, _Job] = {}

    def __repr__(self) -> str:
        return f"<TextSteps jobs={len(self._jobs)}>"

    def partial(self, job_id: str) -> tuple[str, ...] | None:
        job = self._jobs.get(job_id)
        return tuple(job.texts) if job is not None else None

    async def step(
        self, joining: Sequence[Ticket[Any]], leaving: Sequence[str], cancel: threading.Event
    ) -> dict[str, TextResult]:
        if joining and self.on_join is not None:
            await self.on_join([t.job_id for t in joining])
        now = time.perf_counter()
        joins: list[tuple[str, TextPrompt]] = []
        for ticket in joining:
            prompts: Sequence[TextPrompt] = ticket.payload
            self._jobs[ticket.job_id] = _Job(len(prompts), now, [""] * len(prompts))
            joins += [(f"{ticket.job_id}:{i}", prompt) for i, prompt in enumerate(prompts)]
        gone = [f"{job_id}:{i}" for job_id in leaving for i in range(self._rows(job_id))]
        for job_id in leaving:
            self._jobs.pop(job_id, None)
        try:
            updates = await self.worker.call(self._run, joins, gone, cancel)
        except BaseException:  # the batch's state is unknown now: start the next one afresh
            self._batch, self._jobs = None, {}
            raise
        finished = self._collect(updates)
        if self.observe is not None:
            tokens = sum(s.new_tokens for result in finished.values() for s in result.samples)
            self.observe(time.perf_counter() - now, tokens)
        return finished

    def _rows(self, job_id: str) -> int:
        job = self._jobs.get(job_id)
        return job.rows if job is not None else 0

    def _run(
        self, joins: list[tuple[str, TextPrompt]], gone: list[str], cancel: threading.Event
    ) -> list[RowUpdate]:  # worker thread
        if self._batch is None:
            self._batch = self.backend.open_batch()
        return self._batch.step(joins, gone, cancel)

    def _collect(self, updates: Sequence[RowUpdate]) -> dict[str, TextResult]:
        """Fold a step's row updates into each job; tell listeners whose text grew; return the
        jobs whose rows all ended."""
        rows_now = sum(job.rows - len(job.samples) for job in self._jobs.values())
        touched: dict[str, _Job] = {}
        for update in updates:
            job_id, _, index = update.key.rpartition(":")
            job = self._jobs.get(job_id)
            if job is None:
                continue
            touched[job_id] = job
            job.texts[int(index)] = update.text
            job.batch_rows = max(job.batch_rows, rows_now)
            if update.done is not None:
                job.samples[int(index)] = update.done
        for job_id, job in touched.items():
            for listener in self.listeners:
                listener(job_id, tuple(job.texts))
        finished: dict[str, TextResult] = {}
        for job_id, job in touched.items():
            if len(job.samples) == job.rows:
                del self._jobs[job_id]
                samples = tuple(job.samples[i] for i in range(job.rows))
                elapsed = time.perf_counter() - job.joined
                finished[job_id] = TextResult(
                    samples, self.backend.model_id, elapsed, job.batch_rows
                )
        return finished
