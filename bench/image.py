"""/draw benchmarks, side by side in one run, on a random pipeline of realistic shape
(SD-1.5 VAE, half-width SD-1.5 UNet, 256 px) and on the tiny test pipeline:

- service overhead: one image through the service (queue, worker thread, open_nsfw check,
  PNG file, database) against a bare pipeline call with the same settings. Target <= 1.10x.
- event-loop lag while images generate: worst lag of a 10 ms ticker. Target < 50 ms.
- a batch of 4 images against 4 single calls: throughput ratio (reported);
- /draw's buttons (``bench.image_edits``): seconds per variation set and per ×2 upscale on the
  tiny pipeline of each family, and peak memory of an upscale with and without tiled VAE.

Run: ``python -m bench.image``
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import Ticker
from bot.app import Models, open_service
from bot.config import Settings
from bot.service.core import MuseService
from bot.service.types import Origin
from generators.requests import DrawRequest
from generators.samples import DrawRow
from tests.fakes import ScriptedBackend

STEPS = 4
ROUNDS = 3


def build(root: Path) -> dict[str, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import diffusers
    import torch
    import transformers

    from generators.image import DiffusersImageBackend
    from tests.tiny_models import make_tiny_sd

    transformers.utils.logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    diffusers.utils.logging.disable_progress_bar()
    torch.set_num_threads(1)
    paths = {
        "tiny": make_tiny_sd(root / "tiny"),
        "realistic": make_tiny_sd(root / "realistic", realistic=True),
    }
    return {name: DiffusersImageBackend.load(str(p), device="cpu") for name, p in paths.items()}


def bare(backend: Any, seed: int) -> float:
    import torch

    side = backend.native
    started = time.perf_counter()
    backend.pipe(
        prompt=["a lighthouse at dusk"],
        negative_prompt=[""],
        width=side,
        height=side,
        num_inference_steps=STEPS,
        guidance_scale=backend.guidance,
        generator=[torch.Generator("cpu").manual_seed(seed)],
    )
    return time.perf_counter() - started


async def through_service(service: MuseService, seed: int, count: int = 1) -> float:
    started = time.perf_counter()
    request = DrawRequest(prompt="a lighthouse at dusk", steps=STEPS, count=count, seed=seed)
    pending = service.prepare(request, Origin(1))
    await service.start(pending)
    try:
        await service.finish(pending)
    except Exception:  # a random image may be held by the filter; it was judged and stored
        pass
    return time.perf_counter() - started


def batch_ratio(backend: Any) -> float:
    side = backend.native
    rows = [DrawRow("a lighthouse", "", seed, side, side, STEPS) for seed in range(4)]
    started = time.perf_counter()
    for row in rows:
        backend.generate([row], threading.Event(), lambda s, t: None)
    singles = time.perf_counter() - started
    started = time.perf_counter()
    backend.generate(rows, threading.Event(), lambda s, t: None)
    return singles / (time.perf_counter() - started)


async def measure(name: str, backend: Any, folder: Path) -> tuple[float, float]:
    """(service / bare time ratio, worst loop lag in ms while drawing)."""
    settings = Settings(
        db_path=folder / f"{name}.sqlite3",
        image_dir=folder / f"{name}-images",
        image_model=str(folder),  # any existing folder: turns the image filter on
    )
    models = Models(ScriptedBackend(), 0.01, backend, 0.1)
    service_s, bare_s = [], []
    async with open_service(dataclasses.replace(settings), lambda _: models) as service:
        ticker = Ticker()
        ticker.start()
        for seed in range(ROUNDS):  # alternate, so drift hits both sides alike
            bare_s.append(await asyncio.to_thread(bare, backend, seed))
            service_s.append(await through_service(service, seed))
        lag_ticker = Ticker()
        await ticker.stop()
        lag_ticker.start()
        await through_service(service, 99, count=2)  # only the service runs: loop lag
        await lag_ticker.stop()
    ratio = statistics.median(service_s) / statistics.median(bare_s)
    print(
        f"[{name}: {backend.native}px, {STEPS} steps] bare pipeline median "
        f"{statistics.median(bare_s):.2f} s, service median {statistics.median(service_s):.2f} s, "
        f"overhead {ratio:.3f}x; loop lag while drawing {lag_ticker.summary_ms()}; "
        f"batch of 4 vs 4 singles {batch_ratio(backend):.2f}x"
    )
    return ratio, max(lag_ticker.lags_s) * 1000


async def main() -> bool:
    """Print the figures; True when the target is met."""
    with tempfile.TemporaryDirectory() as folder:
        backends = build(Path(folder))
        results = {name: await measure(name, b, Path(folder)) for name, b in backends.items()}
    ratios = {name: ratio for name, (ratio, _) in results.items()}
    worst_lag_ms = max(lag for _, lag in results.values())
    verdict = "PASS" if ratios["realistic"] <= 1.10 else "FAIL"
    lag_verdict = "PASS" if worst_lag_ms < 50 else "FAIL"
    print(f"loop lag while drawing: worst {worst_lag_ms:.1f} ms (target < 50 ms) {lag_verdict}")
    print(
        f"image service overhead: realistic {ratios['realistic']:.3f}x (target <= 1.10x) "
        f"{verdict}; tiny {ratios['tiny']:.3f}x (on a 64 px test image the fixed per-image "
        "costs dominate: open_nsfw check, PNG file, database)"
    )
    return verdict == lag_verdict == "PASS"


if __name__ == "__main__":
    from bench import image_edits

    passed = asyncio.run(main())
    raise SystemExit(max(0 if passed else 1, image_edits.main()))
