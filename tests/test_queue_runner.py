"""The asyncio runner around QueueState: one batch at a time, timeouts, close, drain."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from generators.queue import JobCancelled, JobQueue, JobTimeout, Overloaded, Ticket

Batch = list[Ticket[int]]


def make_queue(execute: object, **limits: float) -> JobQueue[int, int]:
    defaults: dict[str, float] = dict(max_depth=8, per_user=4, max_batch_rows=4, job_timeout_s=5)
    defaults.update(limits)
    return JobQueue(execute, **defaults)  # type: ignore[arg-type]


async def test_runs_batches_and_settles_each_future() -> None:
    seen: list[list[str]] = []

    async def execute(batch: Batch, cancel: threading.Event) -> Sequence[int]:
        seen.append([t.job_id for t in batch])
        return [t.payload * 10 for t in batch]

    async with make_queue(execute) as queue:
        futures = [queue.submit(Ticket(f"j{i}", i, "k", 1, i)) for i in range(6)]
        assert await asyncio.gather(*futures) == [0, 10, 20, 30, 40, 50]
    assert seen[0] == ["j0", "j1", "j2", "j3"]
    assert seen[1] == ["j4", "j5"]


async def test_refuses_at_once_when_full() -> None:
    gate = asyncio.Event()

    async def execute(batch: Batch, cancel: threading.Event) -> Sequence[int]:
        await gate.wait()
        return [0] * len(batch)

    async with make_queue(execute, max_depth=1, max_batch_rows=1) as queue:
        first = queue.submit(Ticket("a", 1, "k", 1, 0))
        await asyncio.sleep(0)  # a starts running
        queue.submit(Ticket("b", 2, "k", 1, 0))
        with pytest.raises(Overloaded, match="queue_full"):
            queue.submit(Ticket("c", 3, "k", 1, 0))
        gate.set()
        await first
        await queue.drain()


async def test_timeout_fails_the_job_and_signals_cancel() -> None:
    cancelled = threading.Event()

    async def execute(batch: Batch, cancel: threading.Event) -> Sequence[int]:
        try:
            await asyncio.sleep(10)
        finally:
            cancelled.set()
        return [0]

    async with make_queue(execute, job_timeout_s=0.05) as queue:
        with pytest.raises(JobTimeout):
            await queue.submit(Ticket("slow", 1, "k", 1, 0))
    assert cancelled.is_set()


async def test_failure_reaches_every_job_of_the_batch_and_the_queue_goes_on() -> None:
    calls = 0

    async def execute(batch: Batch, cancel: threading.Event) -> Sequence[int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("model exploded")
        return [1] * len(batch)

    async with make_queue(execute) as queue:
        failing = [queue.submit(Ticket(f"f{i}", i, "k", 1, 0)) for i in range(2)]
        results = await asyncio.gather(*failing, return_exceptions=True)
        assert all(isinstance(r, RuntimeError) for r in results)
        assert await queue.submit(Ticket("ok", 9, "k", 1, 0)) == 1


async def test_cancel_removes_a_waiting_job_and_stops_a_running_one() -> None:
    gate = asyncio.Event()

    async def execute(batch: Batch, cancel: threading.Event) -> Sequence[int]:
        await gate.wait()
        return [0] * len(batch)

    async with make_queue(execute, max_batch_rows=1) as queue:
        running = queue.submit(Ticket("a", 1, "k", 1, 0))
        await asyncio.sleep(0)
        waiting = queue.submit(Ticket("b", 2, "k", 1, 0))
        assert queue.position("b") == 1
        assert queue.cancel("b")
        with pytest.raises(JobCancelled):
            await waiting
        assert queue.cancel("a")  # running: the batch's cancel event is set, the result dropped
        gate.set()
        with pytest.raises(JobCancelled):
            await running
        assert not queue.cancel("a")  # gone


async def test_close_refuses_new_work_and_fails_held_jobs() -> None:
    async def execute(batch: Batch, cancel: threading.Event) -> Sequence[int]:
        return [0] * len(batch)

    queue = make_queue(execute)
    queue.start()
    held = queue.submit(Ticket("held", 1, "k", 1, 0, held=True))
    await queue.close(timeout_s=1)
    with pytest.raises(Overloaded, match="closed"):
        await held
    with pytest.raises(Overloaded, match="closed"):
        queue.submit(Ticket("late", 2, "k", 1, 0))


async def test_jobs_whose_requester_left_are_skipped() -> None:
    ran: list[str] = []
    gate = asyncio.Event()

    async def execute(batch: Batch, cancel: threading.Event) -> Sequence[int]:
        ran.extend(t.job_id for t in batch)
        await gate.wait()
        return [0] * len(batch)

    async with make_queue(execute, max_batch_rows=1) as queue:
        first = queue.submit(Ticket("a", 1, "k", 1, 0))
        await asyncio.sleep(0)
        gone = queue.submit(Ticket("b", 2, "k", 1, 0))
        gone.cancel()
        gate.set()
        await first
        await queue.drain()
    assert ran == ["a"]
