"""Queue policy as plain code: no event loop, no clock."""

from __future__ import annotations

import pytest

from generators.queue import Overloaded, QueueState, Throughput, Ticket


def ticket(
    job: str, user: int, *, rows: int = 1, key: str = "text", held: bool = False
) -> Ticket[str]:
    return Ticket(job, user, key, rows, payload=job, held=held)


def state(depth: int = 10, per_user: int = 3, rows: int = 4) -> QueueState[str]:
    return QueueState(max_depth=depth, per_user=per_user, max_batch_rows=rows)


def test_fifo_order_and_positions() -> None:
    q = state(rows=1)
    for i, user in enumerate((1, 2, 3)):
        q.admit(ticket(f"j{i}", user))
    assert [q.position(j) for j in ("j0", "j1", "j2")] == [1, 2, 3]
    assert [t.job_id for t in q.next_batch()] == ["j0"]
    assert q.position("j0") == 0
    assert q.position("j1") == 1
    assert q.position("missing") is None


def test_full_queue_refuses_with_reason() -> None:
    q = state(depth=2, per_user=5)
    q.admit(ticket("a", 1))
    q.admit(ticket("b", 2))
    with pytest.raises(Overloaded) as err:
        q.admit(ticket("c", 3))
    assert err.value.reason == "queue_full"
    assert err.value.limit == 2
    assert len(q.waiting) == 2


def test_per_user_cap_counts_waiting_and_running() -> None:
    q = state(per_user=2, rows=1)
    q.admit(ticket("a", 7))
    q.next_batch()  # a runs
    q.admit(ticket("b", 7))
    with pytest.raises(Overloaded) as err:
        q.admit(ticket("c", 7))
    assert err.value.reason == "user_cap"
    q.admit(ticket("d", 8))  # another member is not affected
    q.finish(q.running)
    q.admit(ticket("c", 7))  # a finished, so 7 has room again


def test_batches_compatible_jobs_within_row_budget() -> None:
    q = state(rows=4)
    q.admit(ticket("a", 1, rows=1))
    q.admit(ticket("img", 2, rows=1, key="image"))
    q.admit(ticket("b", 3, rows=3))
    q.admit(ticket("c", 4, rows=1))  # would make 5 rows
    batch = q.next_batch()
    assert [t.job_id for t in batch] == ["a", "b"]
    assert [t.job_id for t in q.next_batch()] == ["img"]
    assert [t.job_id for t in q.next_batch()] == ["c"]
    assert q.next_batch() == []


def test_oversized_job_still_runs_alone() -> None:
    q = state(rows=2)
    q.admit(ticket("big", 1, rows=5))
    assert [t.job_id for t in q.next_batch()] == ["big"]


def test_held_tickets_keep_their_place_but_do_not_start() -> None:
    q = state()
    q.admit(ticket("held", 1, held=True))
    q.admit(ticket("ready", 2))
    assert [t.job_id for t in q.next_batch()] == ["ready"]
    assert q.next_batch() == []
    assert q.position("held") == 1
    assert q.release("held")
    assert [t.job_id for t in q.next_batch()] == ["held"]


def test_remove_only_takes_waiting_jobs() -> None:
    q = state(rows=1)
    q.admit(ticket("a", 1))
    q.admit(ticket("b", 2))
    q.next_batch()
    assert q.remove("a") is None  # running
    removed = q.remove("b")
    assert removed is not None and removed.job_id == "b"
    assert q.waiting == []


def test_invalid_limits_are_rejected() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        state(depth=0)


def test_one_member_cannot_starve_the_others() -> None:
    q = state(per_user=4, rows=1)
    for i in range(4):
        q.admit(ticket(f"a{i}", 1, key="image"))
    q.admit(ticket("b0", 2, key="image"))
    q.admit(ticket("c0", 3, key="image"))
    assert [t.job_id for t in q.run_order()] == ["a0", "b0", "c0", "a1", "a2", "a3"]
    assert q.position("b0") == 2
    started = [q.next_batch()[0].job_id for _ in range(3)]
    assert started == ["a0", "b0", "c0"]
    q.finish(q.running)
    q.admit(ticket("b1", 2, key="image"))  # b comes back: after a's second turn, not last
    assert [t.job_id for t in q.run_order()] == ["a1", "b1", "a2", "a3"]


def test_batches_fill_fairly_across_members() -> None:
    q = state(per_user=4, rows=2)
    for i in range(3):
        q.admit(ticket(f"a{i}", 1))
    q.admit(ticket("b0", 2))
    assert [t.job_id for t in q.next_batch()] == ["a0", "b0"]


def test_plan_lists_the_batches_up_to_a_job() -> None:
    q = state(rows=2)
    for job, user in (("a", 1), ("b", 2), ("c", 3), ("d", 4), ("e", 5)):
        q.admit(ticket(job, user))
    q.admit(ticket("h", 6, held=True))
    plan = q.plan("e")
    assert [[t.job_id for t in batch] for batch in plan] == [["a", "b"], ["c", "d"], ["e", "h"]]
    assert q.plan("missing") == []
    assert len(q.waiting) == 6  # planning changes nothing


def test_throughput_estimates_follow_measurements() -> None:
    t = Throughput(seconds_per_unit={"text": 0.1})
    text = [ticket("a", 1), ticket("b", 2)]
    text[0].units, text[1].units = 100, 50  # tokens: rows decode in parallel
    assert t.estimate_s(text) == pytest.approx(10.0)
    images = [ticket("i", 1, key="image"), ticket("j", 2, key="image")]
    for image in images:
        image.kind, image.units = "image", 20  # steps x images: they add up
    assert t.estimate_s(images) == pytest.approx(40 * t.default_s)
    t.observe(images, 8.0)
    assert t.seconds_per_unit["image"] == pytest.approx(0.2)
    t.observe(images, 16.0)
    assert 0.2 < t.seconds_per_unit["image"] < 0.4
    assert t.estimate_s([]) == 0.0
