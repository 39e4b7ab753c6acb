"""A stop whose grace ends while a job still runs: the job stays recorded for the next start,
its requester hears so, and the queue is closed once, quietly."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from bot.errors import Interrupted
from bot.service.types import Origin
from generators.requests import PoemRequest
from tests.conftest import ServiceFactory
from tests.fakes import ScriptedBackend


async def test_a_job_running_past_the_grace_is_left_to_resume_and_the_queue_closes_once(
    make_service: ServiceFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = ScriptedBackend(delay_s=30.0)
    service = await make_service(backend)
    closes: list[float] = []
    close = service.queue.close

    async def counted_close(timeout_s: float = 30.0) -> None:
        closes.append(timeout_s)
        await close(timeout_s)

    monkeypatch.setattr(service.queue, "close", counted_close)
    running = service.prepare(PoemRequest(topic="moon"), Origin(1, 10, 20))
    await service.start(running, reply_handle="1:tok:2")
    waiting = service.prepare(PoemRequest(topic="sun"), Origin(2, 10, 20))
    await service.start(waiting, reply_handle="1:tok:3")
    while not backend.calls:  # the first one is on the model
        await asyncio.sleep(0.01)
    await service.stop(grace_s=0.2)
    for pending in (running, waiting):
        with pytest.raises(Interrupted, match="finished after the restart"):
            await asyncio.wait_for(service.finish(pending), 10)  # never left unanswered
    await service.__aexit__(None, None, None)  # what open_service does after the stop
    assert closes == [0.2]
    with sqlite3.connect(service.storage.path) as raw:
        rows = raw.execute("SELECT status, reply_handle FROM jobs ORDER BY created_at")
        assert rows.fetchall() == [("running", "1:tok:2"), ("queued", "1:tok:3")]
