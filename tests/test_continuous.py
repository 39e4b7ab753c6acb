"""Continuous batching in the queue: the join/leave policy as plain code, then the runner."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from generators.continuous import ContinuousRunner, due_to_leave, take_joiners
from generators.queue import JobCancelled, JobQueue, JobTimeout, Overloaded, QueueState, Ticket


def text(job_id: str, user: int, rows: int = 1, steps: int = 3, held: bool = False) -> Ticket[int]:
    return Ticket(job_id, user, "text", rows, steps, held=held)


def image(job_id: str, user: int) -> Ticket[int]:
    return Ticket(job_id, user, "image:64", 1, 0, kind="image")


def state_with(*tickets: Ticket[int], max_rows: int = 4) -> QueueState[int]:
    state: QueueState[int] = QueueState(max_depth=16, per_user=4, max_batch_rows=max_rows)
    for ticket in tickets:
        state.admit(ticket)
    return state


def test_joiners_fill_free_slots_in_fair_order() -> None:
    state = state_with(text("a", 1, rows=2), text("b", 1), text("c", 2), text("d", 3))
    assert [t.job_id for t in state.next_batch()] == ["a", "c", "d"]  # b is a's member's 2nd
    assert [t.job_id for t in take_joiners(state, "text")] == []  # 4 of 4 rows in use
    state.finish([state.running[0]])
    assert [t.job_id for t in take_joiners(state, "text")] == ["b"]
    assert state.waiting == []


def test_a_job_of_another_kind_ahead_stops_the_joining() -> None:
    state = state_with(text("a", 1), image("img", 2), text("late", 3))
    state.next_batch()  # a and late (static batches may skip past the image)
    state.admit(text("later", 4))
    assert take_joiners(state, "text") == []  # the image waits first; nobody overtakes it


def test_a_job_too_big_for_the_free_slots_is_not_overtaken() -> None:
    state = state_with(text("a", 1, rows=3), text("big", 2, rows=2), text("small", 3))
    state.next_batch()
    assert [t.job_id for t in state.running] == ["a", "small"]
    state.admit(text("tiny", 4))
    assert take_joiners(state, "text") == []  # 0 free; then big waits, tiny does not jump it
    state.finish([state.running[1]])
    assert take_joiners(state, "text") == []  # 1 free: big still does not fit, tiny waits too
    state.finish([state.running[0]])
    assert [t.job_id for t in take_joiners(state, "text")] == ["big", "tiny"]


def test_held_jobs_keep_their_place_but_do_not_join() -> None:
    state = state_with(text("a", 1), text("held", 2, held=True), text("c", 3))
    assert [t.job_id for t in state.next_batch()] == ["a", "c"]
    state.admit(text("d", 4))
    assert [t.job_id for t in take_joiners(state, "text")] == ["d"]
    assert [t.job_id for t in state.waiting] == ["held"]


def test_static_batches_take_no_joiners() -> None:
    state = state_with(text("a", 1))
    state.next_batch()
    state.admit(text("b", 2))
    assert take_joiners(state, "text", continuous=False) == []


def test_cancelled_and_timed_out_jobs_leave() -> None:
    a, b, c = text("a", 1), text("b", 2), text("c", 3)
    joined = {"a": 0.0, "b": 5.0, "c": 9.0}
    leaving = due_to_leave([a, b, c], joined, now=10.5, timeout_s=10.0, cancelled={"c"})
    assert [(t.job_id, type(err)) for t, err in leaving] == [
        ("a", JobTimeout),
        ("c", JobCancelled),
    ]


class CountingStepper:
    """Each job needs ``payload`` steps; its result is ``payload * 10``. Records every call."""

    def __init__(self, step_s: float = 0.01, fail_at: int = -1) -> None:
        self.step_s = step_s
        self.fail_at = fail_at
        self.left: dict[str, int] = {}
        self.calls: list[tuple[list[str], list[str], list[str]]] = []  # joining, leaving, running

    async def step(
        self, joining: Sequence[Ticket[Any]], leaving: Sequence[str], cancel: threading.Event
    ) -> Mapping[str, Any]:
        for job_id in leaving:
            self.left.pop(job_id)
        for ticket in joining:
            self.left[ticket.job_id] = ticket.payload
        self.calls.append(([t.job_id for t in joining], list(leaving), sorted(self.left)))
        if len(self.calls) == self.fail_at:
            raise RuntimeError("model broke")
        await asyncio.sleep(self.step_s)
        done = {}
        for job_id in list(self.left):
            self.left[job_id] -= 1
            if self.left[job_id] == 0:
                done[job_id] = len(self.calls) * 1000 + 1
                del self.left[job_id]
        return done


def make_queue(
    stepper: CountingStepper, *, continuous: bool = True, execute: Any = None, **limits: float
) -> JobQueue[int, int]:
    defaults: dict[str, Any] = dict(max_depth=8, per_user=4, max_batch_rows=4, job_timeout_s=5)
    defaults.update(limits)

    async def no_static(batch: list[Ticket[int]], cancel: threading.Event) -> list[int]:
        return [-1] * len(batch)

    runner = ContinuousRunner(stepper, continuous=continuous)
    return JobQueue(execute or no_static, runner=runner, **defaults)


async def test_a_late_job_joins_at_the_next_step_and_ends_first() -> None:
    stepper = CountingStepper()
    async with make_queue(stepper) as queue:
        long = queue.submit(text("long", 1, steps=30))
        await asyncio.sleep(0.05)
        short = queue.submit(text("short", 2, steps=2))
        done, _ = await asyncio.wait({long, short}, return_when=asyncio.FIRST_COMPLETED)
        assert done == {short}
        await long
    joined = next(i for i, call in enumerate(stepper.calls) if call[0] == ["short"])
    assert "long" in stepper.calls[joined][2]  # joined while long was running
    assert queue.batches_run == 1


async def test_static_mode_makes_the_late_job_wait_for_the_batch() -> None:
    stepper = CountingStepper()
    async with make_queue(stepper, continuous=False) as queue:
        long = queue.submit(text("long", 1, steps=10))
        await asyncio.sleep(0.03)
        short = queue.submit(text("short", 2, steps=2))
        done, _ = await asyncio.wait({long, short}, return_when=asyncio.FIRST_COMPLETED)
        assert done == {long}
        await short
    assert queue.batches_run == 2


async def test_cancel_takes_a_running_job_out_at_the_next_step() -> None:
    stepper = CountingStepper()
    async with make_queue(stepper) as queue:
        a = queue.submit(text("a", 1, steps=40))
        b = queue.submit(text("b", 2, steps=20))
        await asyncio.sleep(0.05)
        assert queue.cancel("a")
        with pytest.raises(JobCancelled):
            await a
        assert not b.done()
        await b
    assert any(call[1] == ["a"] for call in stepper.calls)


async def test_a_job_over_its_time_limit_fails_and_the_others_go_on() -> None:
    stepper = CountingStepper(step_s=0.02)
    async with make_queue(stepper, job_timeout_s=0.3) as queue:
        slow = queue.submit(text("slow", 1, steps=1000))
        await asyncio.sleep(0.2)
        quick = queue.submit(text("quick", 2, steps=3))
        with pytest.raises(JobTimeout):
            await slow
        assert await quick > 0


async def test_a_failing_step_fails_every_running_job_and_the_queue_goes_on() -> None:
    stepper = CountingStepper(fail_at=3)
    async with make_queue(stepper) as queue:
        a, b = queue.submit(text("a", 1, steps=9)), queue.submit(text("b", 2, steps=9))
        for future in (a, b):
            with pytest.raises(RuntimeError, match="model broke"):
                await future
        assert await queue.submit(text("c", 3, steps=2)) > 0


async def test_an_image_waiting_ahead_runs_once_the_text_batch_drains() -> None:
    order: list[str] = []
    stepper = CountingStepper()

    async def draw(batch: list[Ticket[int]], cancel: threading.Event) -> list[int]:
        order.append(batch[0].job_id)
        return [7] * len(batch)

    async with make_queue(stepper, execute=draw) as queue:
        first = queue.submit(text("a", 1, steps=10))
        await asyncio.sleep(0.03)
        picture = queue.submit(image("img", 2))
        late = queue.submit(text("late", 3, steps=2))
        await asyncio.gather(first, picture, late)
    assert order == ["img"]
    assert all("late" not in call[2] for call in stepper.calls if "a" in call[2])


async def test_the_queue_still_refuses_at_once_when_full() -> None:
    stepper = CountingStepper()
    async with make_queue(stepper, max_depth=1, max_batch_rows=1) as queue:
        running = queue.submit(text("a", 1, steps=20))
        await asyncio.sleep(0.03)
        queue.submit(text("b", 2))
        with pytest.raises(Overloaded, match="queue_full"):
            queue.submit(text("c", 3))
        await running
        await queue.drain()
