"""The remote picture backend against Muse's real engine (Ray Serve on the CPU, the tiny
pipeline): every /draw operation, seeds, progress, provenance, cancel, and the faults (server
down, slow, 5xx, 429) through a proxy in front of the real engine."""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from generators.backend import GenerationCancelled, ModelLoadError
from generators.edits import plan
from generators.options import ImageSize
from generators.remote_image import ImageServerConfig, RemoteImageBackend, RemoteImageError
from generators.samples import DrawRow
from tests.image_engine import MODEL_ID, FaultProxy
from tests.llama_server import free_port


def backend(url: str, **config: Any) -> RemoteImageBackend:
    return RemoteImageBackend.connect(ImageServerConfig(url, backoff_s=0.05, **config))


def row(seed: int, steps: int = 2, **extra: Any) -> DrawRow:
    return DrawRow("a red lighthouse", "blurry", seed, 64, 64, steps, created_s=1.7e9, **extra)


def chunks(png: bytes) -> dict[str, str]:
    with Image.open(io.BytesIO(png)) as image:
        return {str(k): str(v) for k, v in image.info.items()}


def test_text_to_image_with_seeds_progress_and_provenance(image_engine_url: str) -> None:
    remote = backend(image_engine_url)
    assert remote.model_id == MODEL_ID and remote.family.img2img and remote.family.inpaint
    assert remote.native == 64 and remote.dimensions(ImageSize.SQUARE) == (64, 64)
    steps: list[tuple[int, int]] = []
    first = remote.generate([row(7), row(8)], threading.Event(), lambda *s: steps.append(s))
    again = remote.generate([row(7)], threading.Event(), lambda *s: None)
    assert first[0].png == again[0].png != first[1].png  # seeds reproduce, rows differ
    assert (first[0].width, first[0].height, first[0].seed) == (64, 64, 7)
    assert steps and steps[-1] == (2, 2)
    meta = chunks(first[0].png)
    assert meta["model"] == MODEL_ID and meta["seed"] == "7" and "AI-generated" in meta
    assert json.loads(meta["c2pa.manifest"])  # the provenance manifest
    assert remote.health.requests["ok"] == 3 and remote.problem() is None


def test_variations_upscale_regions_and_zoom_go_through_edits(image_engine_url: str) -> None:
    remote = backend(image_engine_url)
    [parent] = remote.generate([row(3)], threading.Event(), lambda *s: None)
    for operation in ("vary-subtle", "upscale", "region-left", "zoom"):
        edit = plan(operation, parent.png, 1, remote.multiple)
        derived = row(11, 4, init_png=edit.picture, mask_png=edit.mask, mode=edit.mode,
                      strength=edit.strength, operation=operation, parent="muse:output:1",
                      init_sha256="ab" * 32)  # fmt: skip
        derived = DrawRow(**{**derived.__dict__, "width": edit.width, "height": edit.height})
        [sample] = remote.generate([derived], threading.Event(), lambda *s: None)
        assert (sample.width, sample.height) == (edit.width, edit.height)
        manifest = chunks(sample.png)["c2pa.manifest"]
        assert "c2pa.edited" in manifest and "muse:output:1" in manifest, operation
    assert (edit.width, edit.height) == (64, 64)


def test_cancel_stops_a_running_request(image_engine_url: str) -> None:
    remote = backend(image_engine_url)
    cancel = threading.Event()

    def on_step(step: int, total: int) -> None:
        cancel.set()  # after the first step

    started = time.monotonic()
    with pytest.raises(GenerationCancelled):
        remote.generate([row(1, steps=200)], cancel, on_step)
    assert time.monotonic() - started < 30


def test_down_slow_and_5xx_are_retried_then_told_to_members(image_engine_url: str) -> None:
    with pytest.raises(ModelLoadError, match="did not answer"):
        backend(f"http://127.0.0.1:{free_port()}/v1", retries=0)
    with FaultProxy(image_engine_url) as proxy:
        remote = backend(proxy.url, retries=2, api_key="sk-secret-key-0123456789")
        proxy.fail_next = 2  # two 503s, then the engine answers
        [sample] = remote.generate([row(5)], threading.Event(), lambda *s: None)
        assert sample.seed == 5 and remote.health.retries == 2
        assert set(proxy.auth) == {"Bearer sk-secret-key-0123456789"} and len(proxy.auth) == 4
        assert "secret" not in repr(remote.config)
        proxy.fail_next, proxy.status, proxy.retry_after = 1, 429, "0.1"
        remote.generate([row(5)], threading.Event(), lambda *s: None)
        assert remote.health.requests["rate_limited"] == 1
        proxy.fail_next, proxy.status = 10, 500
        with pytest.raises(RemoteImageError, match="failed to draw"):
            remote.generate([row(5)], threading.Event(), lambda *s: None)
        assert remote.problem() is not None  # three failures in a row: /healthz says so
        proxy.fail_next = 0
        slow = backend(proxy.url, retries=1, timeout_s=0.3)
        proxy.delay_s = 1.0
        with pytest.raises(RemoteImageError, match="too long"):
            slow.generate([row(5)], threading.Event(), lambda *s: None)
        assert slow.health.requests["timeout"] == 2


def test_engine_refusals_are_not_retried(image_engine_url: str, tmp_path: Path) -> None:
    remote = backend(image_engine_url)
    bad = row(1, steps=5000)
    with pytest.raises(RemoteImageError, match="refused"):
        remote.generate([bad], threading.Event(), lambda *s: None)
    assert remote.health.requests["bad_request"] == 1 and remote.health.retries == 0
