"""Lanes: the local worker runs one batch at a time, a remote text server several at once (up
to its limit), and neither waits for the other."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from generators.queue import JobCancelled, JobQueue, QueueState, Throughput, Ticket

Batch = list[Ticket[int]]


def remote(job_id: str, user: int) -> Ticket[int]:
    """A remote text job: its own batch key, so each job is one batch (the server batches)."""
    return Ticket(job_id, user, f"remote:{job_id}", 1, 0, lane="remote")


class Gate:
    """An execute that records which jobs run at once and waits until released."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.running: set[str] = set()
        self.most = 0
        self.seen: list[str] = []

    async def __call__(self, batch: Batch, cancel: threading.Event) -> Sequence[int]:
        ids = {t.job_id for t in batch}
        self.running |= ids
        self.seen += sorted(ids)
        self.most = max(self.most, len([j for j in self.running if j.startswith("r")]))
        try:
            while not self.open.is_set() and not cancel.is_set():
                await asyncio.sleep(0.005)
        finally:
            self.running -= ids
        return [1] * len(batch)


def make_queue(execute: Gate, remote_limit: int) -> JobQueue[int, int]:
    return JobQueue(
        execute,
        max_depth=32,
        per_user=4,
        max_batch_rows=8,
        job_timeout_s=5,
        lane_limits={"remote": remote_limit},
    )


async def until(condition: object, timeout_s: float = 2.0) -> None:
    async def poll() -> None:
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.005)

    await asyncio.wait_for(poll(), timeout_s)


def test_next_batch_skips_full_lanes() -> None:
    state: QueueState[int] = QueueState(max_depth=8, per_user=4, max_batch_rows=4)
    state.admit(remote("r1", 1))
    state.admit(Ticket("local", 2, "text", 1, 0))
    assert [t.job_id for t in state.next_batch(full_lanes={"remote"})] == ["local"]
    assert state.next_batch(full_lanes={"remote", "local"}) == []
    assert [t.job_id for t in state.next_batch()] == ["r1"]


async def test_remote_jobs_run_concurrently_up_to_the_limit() -> None:
    gate = Gate()
    async with make_queue(gate, remote_limit=3) as queue:
        futures = [queue.submit(remote(f"r{i}", i)) for i in range(7)]
        await until(lambda: len(gate.running) == 3)
        await asyncio.sleep(0.05)
        assert len(gate.running) == 3  # the other four wait for a free place
        assert queue.position("r6") == 4
        gate.open.set()
        assert await asyncio.gather(*futures) == [1] * 7
    assert gate.most == 3


async def test_local_work_runs_alongside_remote_work_but_one_batch_at_a_time() -> None:
    gate = Gate()
    async with make_queue(gate, remote_limit=4) as queue:
        local = [queue.submit(Ticket(f"img{i}", 10 + i, f"image:{i}", 1, 0)) for i in range(2)]
        far = [queue.submit(remote(f"r{i}", i)) for i in range(2)]
        await until(lambda: {"img0", "r0", "r1"} <= gate.running)
        assert "img1" not in gate.running  # the worker thread's lane runs one batch
        gate.open.set()
        await asyncio.gather(*local, *far)


async def test_cancelling_one_remote_job_stops_only_its_batch() -> None:
    gate = Gate()
    async with make_queue(gate, remote_limit=2) as queue:
        first, second = queue.submit(remote("r1", 1)), queue.submit(remote("r2", 2))
        await until(lambda: gate.running == {"r1", "r2"})
        assert queue.cancel("r1")
        with pytest.raises(JobCancelled):
            await first
        assert gate.running == {"r2"}
        gate.open.set()
        assert await second == 1


async def test_wait_estimate_spreads_the_work_ahead_over_the_lane() -> None:
    gate = Gate()
    rate = Throughput(seconds_per_unit={"text": 1.0})
    queue = JobQueue(
        gate, max_depth=32, per_user=4, max_batch_rows=8, job_timeout_s=5, throughput=rate,
        lane_limits={"remote": 2},
    )  # fmt: skip
    async with queue:
        for i in range(4):
            queue.submit(remote(f"r{i}", i))
        await until(lambda: len(gate.running) == 2)
        waits = [queue.wait_s(f"r{i}") for i in range(4)]
        gate.open.set()
        await queue.drain()
    running, third, fourth = waits[0], waits[2], waits[3]
    assert running is not None and third is not None and fourth is not None
    assert running <= 1.0 and 1.5 < third <= 2.0  # two running over two places, then its own
    assert third < fourth <= 2.5


async def test_close_lets_every_running_batch_finish() -> None:
    gate = Gate()
    queue = make_queue(gate, remote_limit=3)
    queue.start()
    futures = [queue.submit(remote(f"r{i}", i)) for i in range(3)]
    await until(lambda: len(gate.running) == 3)
    closing = asyncio.create_task(queue.close(timeout_s=2))
    await asyncio.sleep(0.02)
    assert not closing.done()
    gate.open.set()
    await closing
    assert [f.result() for f in futures] == [1, 1, 1]
