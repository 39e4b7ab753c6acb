"""Prometheus metrics and /healthz over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

from aiohttp.test_utils import TestClient, TestServer

from bot.ops.metrics import Health, metrics_app
from bot.service.types import Origin
from generators.requests import PoemRequest
from generators.worker import ModelWorker
from tests.conftest import ServiceFactory
from tests.fakes import ScriptedBackend


async def test_metrics_count_jobs_verdicts_queue_and_throughput(
    make_service: ServiceFactory,
) -> None:
    service = await make_service(ScriptedBackend(texts=["a fine poem", "what the fuck"]))
    for topic in ("moon", "sun"):
        pending = service.prepare(PoemRequest(topic=topic), Origin(1))
        await service.start(pending)
        await service.finish(pending)
    refused = service.prepare(PoemRequest(topic="t"), Origin(2))  # waits, held
    health = Health(service.worker.is_alive, lambda: service.worker.busy_since, 60)
    async with TestClient(TestServer(metrics_app(service.metrics, health))) as client:
        text = await (await client.get("/metrics")).text()
        ok = await client.get("/healthz")
    await service.abandon(refused)
    assert 'muse_jobs_total{kind="poem",status="done"} 2.0' in text
    assert 'muse_verdicts_total{decision="allow",kind="poem"} 1.0' in text
    assert 'muse_verdicts_total{decision="review",kind="poem"} 1.0' in text
    assert "muse_queue_depth 1.0" in text
    assert "muse_generated_tokens_total 10.0" in text  # ScriptedBackend: 5 tokens a sample
    assert 'muse_job_seconds_count{kind="poem"} 2.0' in text
    assert ok.status == 200


async def test_healthz_fails_when_the_worker_is_stuck_or_dead() -> None:
    worker = ModelWorker()
    worker.start()
    release = threading.Event()
    health = Health(worker.is_alive, lambda: worker.busy_since, stuck_after_s=0.2)
    async with TestClient(TestServer(metrics_app_for(health))) as client:
        assert (await client.get("/healthz")).status == 200
        stuck = asyncio.ensure_future(worker.call(release.wait))
        await _until(lambda: worker.busy_since is not None)
        await asyncio.sleep(0.4)
        response = await client.get("/healthz")
        assert response.status == 503 and "busy for over" in await response.text()
        release.set()
        await stuck
        assert (await client.get("/healthz")).status == 200
        await worker.close()
        await _until(lambda: not worker.is_alive())
        dead = await client.get("/healthz")
        assert dead.status == 503 and "not running" in await dead.text()


async def _until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Wait for a thread-side condition without betting on the machine's speed."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def metrics_app_for(health: Health):  # type: ignore[no-untyped-def]
    from bot.ops.metrics import Metrics

    return metrics_app(Metrics(), health)
