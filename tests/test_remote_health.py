"""/healthz and /metrics follow the remote text server (MUSE_TEXT_BACKEND=openai): failing after
its requests keep failing, healthy again after one answer; nothing changes for a local model."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import Models, open_service, service_health
from bot.config import Settings
from bot.errors import GenerationFailed
from bot.ops.metrics import metrics_app
from generators.remote_health import ServerHealth
from tests.fakes import ScriptedBackend
from tests.openai_faults import Step
from tests.test_remote_service import KEY, ask, remote_service


class Clock:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


def test_a_run_of_failures_is_a_problem_until_an_answer_or_the_window_ends() -> None:
    clock = Clock()
    health = ServerHealth(unhealthy_after=3, window_s=60, clock=clock)
    health.record("server_error", "HTTP 503: down")
    health.record("timeout", "APITimeoutError: Request timed out.")
    assert health.problem() is None  # two failures are not yet a run
    health.record("bad_request", "HTTP 400: prompt too long")  # the request's fault: neutral
    health.record("connection", "APIConnectionError:\nConnection error.")
    clock.now_s += 5
    assert health.problem() == (
        "its last 3 requests failed (latest 5 s ago: APIConnectionError: Connection error.)"
    )
    health.record("ok")
    assert health.problem() is None and health.failures_in_a_row == 0
    for _ in range(3):
        health.record("refused", "HTTP 401: bad key")
    assert health.problem() is not None
    clock.now_s += 61
    assert health.problem() is None  # too old to vouch for: nothing was asked since
    assert health.requests["refused"] == 3 and health.requests["ok"] == 1


async def test_healthz_fails_while_the_text_server_fails_and_recovers_after_an_answer(
    tmp_path: Path,
) -> None:
    failing = [Step(status=503, body='{"error": {"message": "overloaded"}}')] * 3
    script = [Step(), *failing, Step()]  # warm-up, a job's three tries, then answers again
    async with remote_service(tmp_path, script, openai_retries=2) as (service, server):
        app = metrics_app(service.metrics, service_health(service))
        async with TestClient(TestServer(app)) as client:
            assert (await client.get("/healthz")).status == 200
            with pytest.raises(GenerationFailed):
                await ask(service, 1)
            sick = await client.get("/healthz")
            reason = await sick.text()
            metrics = await (await client.get("/metrics")).text()
            await ask(service, 2)
            well = await client.get("/healthz")
            well_text = await well.text()
            requests_seen = len(server.requests)
    assert sick.status == 503 and reason.count("\n") == 1
    assert reason.startswith(f"unhealthy: the text server at {server.url}: its last 3 requests")
    assert "HTTP 503" in reason and "overloaded" in reason and KEY not in reason
    assert well.status == 200 and well_text == "ok\n"
    assert requests_seen == 1 + 3 + 1  # the checks themselves sent nothing
    assert 'muse_text_server_requests_total{outcome="server_error"} 3.0' in metrics
    assert 'muse_text_server_requests_total{outcome="ok"} 1.0' in metrics
    assert "muse_text_server_retries_total 2.0" in metrics
    assert "muse_text_server_failures_in_a_row 3.0" in metrics


async def test_a_local_model_keeps_the_old_checks_and_metrics(settings: Settings) -> None:
    local = dataclasses.replace(settings, text_backend="local", image_model=None, filter_ml=False)
    async with open_service(local, load=lambda _: Models(ScriptedBackend(), 0.01)) as service:
        health = service_health(service)
        async with TestClient(TestServer(metrics_app(service.metrics, health))) as client:
            ok = await client.get("/healthz")
            metrics = await (await client.get("/metrics")).text()
    assert health.text_server is None and ok.status == 200
    assert "muse_text_server" not in metrics and "muse_jobs_total" in metrics
