"""Production wiring with ``MUSE_IMAGE_BACKEND=remote``: ``open_service`` connects to the real
picture engine (through a fault proxy), /draw runs through the queue, filter and store, and
when the engine fails members get a short message while /healthz and /metrics tell the
operator."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.app import Models, open_service, service_health
from bot.config import Settings
from bot.errors import GenerationFailed
from bot.service.types import Origin
from generators.backend import ModelLoadError
from generators.requests import DrawRequest
from tests.fakes import ScriptedBackend
from tests.image_engine import MODEL_ID, FaultProxy
from tests.llama_server import free_port


def remote_settings(tmp_path: Path, url: str) -> Settings:
    return Settings(
        db_path=tmp_path / "muse.sqlite3", image_dir=tmp_path / "images", filter_ml=False,
        image_backend="remote", image_base_url=url, image_retries=1, image_timeout_s=5,
        copyright_guard=False, guard_model="off",
    )  # fmt: skip


def text_only(settings: Settings) -> Models:
    return Models(ScriptedBackend(), 0.0)


async def draw(service: Any, seed: int, steps: int = 2, user: int = 1) -> Any:
    request = DrawRequest(prompt="a calm harbour", seed=seed, steps=steps)
    pending = service.prepare(request, Origin(user))
    await service.start(pending)
    return await service.finish(pending)


async def test_draw_through_the_engine_then_its_failure_is_reported(
    image_engine_url: str, tmp_path: Path
) -> None:
    with FaultProxy(image_engine_url) as proxy:
        async with open_service(remote_settings(tmp_path, proxy.url), text_only) as service:
            delivery = await draw(service, 4)
            assert delivery.model_id == MODEL_ID and delivery.outputs[0].image_path
            assert service_health(service).problem() is None
            proxy.delay_s = 0.5  # two batches (other steps): both on the engine at once
            await asyncio.gather(draw(service, 1, 2, user=2), draw(service, 1, 3, user=3))
            assert proxy.most_in_flight == 2 and service.worker.busy_since is None
            proxy.delay_s = 0.0
            proxy.fail_next = 100
            for seed in (5, 6):
                with pytest.raises(GenerationFailed, match="picture server failed"):
                    await draw(service, seed)
            problem = service_health(service).problem()
            assert problem is not None and "picture engine" in problem
            metrics = service.metrics.render().decode()
            assert 'muse_image_server_requests_total{outcome="server_error"} 4.0' in metrics
            assert "muse_image_server_retries_total 2.0" in metrics


async def test_an_engine_that_is_down_stops_startup(tmp_path: Path) -> None:
    settings = remote_settings(tmp_path, f"http://127.0.0.1:{free_port()}/v1")
    with pytest.raises(ModelLoadError, match="MUSE_IMAGE_BASE_URL"):
        async with open_service(settings, text_only):
            pass
