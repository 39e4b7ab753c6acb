"""/draw's buttons, side by side in one run (part of ``bench.image``; run alone with
``python -m bench.image_edits``):

- seconds per variation set (V: 4 variations, image-to-image at strength 0.7) and per ×2
  upscale (hires fix), against a text-to-image set of 4, on the tiny pipeline of every family
  that has image-to-image (SD, SDXL, SD3, FLUX.1), all at 64 px, alternating rounds;
- peak memory of one ×2 upscale with and without tiled VAE decoding, on the random pipeline of
  realistic shape (SD-1.5's VAE, 128 → 256 px), each in a fresh process that loads the model,
  warms up with one variation at the parent's size (CPU kernels keep reordered copies of the
  weights after their first call), then upscales: peak resident memory during the call,
  sampled every millisecond, over what it was before the call (freed CPU memory is not always
  returned to the system, so one process cannot measure both). Target: tiling at least halves
  that growth (ratio <= 0.5).
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

STEPS, ROUNDS, SIDE = 4, 3, 64
FAMILIES = ("sd2", "sdxl", "sd3", "flux")
MEMORY_TARGET = 0.5
PEAK_PX = 128  # the parent's side for the memory figure: a 256 px upscale (CPU-bound here)


def _quiet() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import diffusers
    import torch
    import transformers

    transformers.utils.logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    diffusers.utils.logging.disable_progress_bar()
    torch.set_num_threads(1)


def _load(path: Path, native_px: int = SIDE, **kw: Any) -> Any:
    from generators.image import DiffusersImageBackend

    return DiffusersImageBackend.load(str(path), device="cpu", native_px=native_px, **kw)


def _rows(backend: Any, operation: str, parent: bytes, seed: int) -> list[Any]:
    import dataclasses

    from bot.service.work import derived_rows
    from generators.requests import DrawRequest

    request = DrawRequest("a lighthouse", steps=STEPS, count=4, seed=seed, source=1,
                          operation=operation)  # fmt: skip
    if operation == "upscale":
        request = dataclasses.replace(request, count=1)
    return list(derived_rows(request, parent, backend.multiple))


def _timed(backend: Any, rows: list[Any]) -> float:
    started = time.perf_counter()
    backend.generate(rows, threading.Event(), lambda s, t: None)
    return time.perf_counter() - started


def seconds_per_family(name: str, folder: Path) -> dict[str, float]:
    """Median seconds of a text-to-image set of 4, a variation set of 4 and one upscale."""
    from generators.samples import DrawRow
    from tests.tiny_families import make_family

    backend = _load(make_family(name, folder / name))
    fresh = [DrawRow("a lighthouse", "", s, SIDE, SIDE, STEPS) for s in range(4)]
    parent = backend.generate(fresh[:1], threading.Event(), lambda s, t: None)[0].png
    times: dict[str, list[float]] = {"draw": [], "vary": [], "upscale": []}
    for seed in range(ROUNDS):  # alternate, so drift hits every side alike
        times["draw"].append(_timed(backend, fresh))
        times["vary"].append(_timed(backend, _rows(backend, "vary-strong", parent, seed)))
        times["upscale"].append(_timed(backend, _rows(backend, "upscale", parent, seed)))
    return {kind: statistics.median(values) for kind, values in times.items()}


def _rss_mib() -> float:
    """This process's resident memory now (Linux), in MiB."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def _peak_child(path: str, tile_above_px: int, parent: bytes, queue: Any) -> None:
    """In a fresh process: load the model, then report the peak RSS growth (MiB, sampled every
    millisecond) and the seconds of one ×2 upscale of ``parent``."""
    _quiet()
    from generators.memory import MemoryPlan

    backend = _load(Path(path), PEAK_PX, memory=MemoryPlan(tile_above_px=tile_above_px))
    rows = _rows(backend, "upscale", parent, 2)
    warm = _rows(backend, "vary-strong", parent, 3)[:1]  # first calls reorder weights (oneDNN)
    backend.generate(warm, threading.Event(), lambda s, t: None)
    before, peak, done = _rss_mib(), [0.0], threading.Event()

    def sample() -> None:
        while not done.wait(0.001):
            peak[0] = max(peak[0], _rss_mib())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    backend.generate(rows, threading.Event(), lambda s, t: None)
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    queue.put((max(0.0, peak[0] - before), elapsed))


def upscale_peaks(folder: Path) -> dict[str, tuple[float, float]]:
    """(peak growth MiB, seconds) of one upscale without and with tiling, fresh processes."""
    from generators.samples import DrawRow
    from tests.tiny_models import make_tiny_sd

    path = make_tiny_sd(folder / "realistic", realistic=True)
    backend = _load(path, PEAK_PX)
    row = DrawRow("a lighthouse", "", 1, backend.native, backend.native, 2)
    parent = backend.generate([row], threading.Event(), lambda s, t: None)[0].png
    spawn = multiprocessing.get_context("spawn")
    found = {}
    for label, tile_above_px in (("untiled", 1 << 20), ("tiled", PEAK_PX)):
        queue = spawn.Queue()
        args = (str(path), tile_above_px, parent, queue)
        child = spawn.Process(target=_peak_child, args=args)
        child.start()
        found[label] = queue.get(timeout=900)
        child.join()
    return found


def main() -> int:
    _quiet()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in FAMILIES:
            s = seconds_per_family(name, folder)
            print(f"[{name} tiny, {SIDE}px, {STEPS} steps] text-to-image set of 4 "
                  f"{s['draw']:.2f} s; variation set of 4 {s['vary']:.2f} s "
                  f"({s['vary'] / s['draw']:.2f}x); upscale x2 {s['upscale']:.2f} s "
                  f"({s['upscale'] / s['draw']:.2f}x)", flush=True)  # fmt: skip
        peaks = upscale_peaks(folder)
    (plain_mib, plain_s), (tiled_mib, tiled_s) = peaks["untiled"], peaks["tiled"]
    ratio = tiled_mib / plain_mib if plain_mib > 0 else 0.0
    verdict = "PASS" if ratio <= MEMORY_TARGET else "FAIL"
    print(f"upscale x2 {PEAK_PX}->{2 * PEAK_PX} px, realistic SD shape: peak RSS growth untiled "
          f"{plain_mib:.0f} MiB ({plain_s:.1f} s), tiled VAE {tiled_mib:.0f} MiB "
          f"({tiled_s:.1f} s): {ratio:.2f}x (target <= {MEMORY_TARGET}) {verdict}")  # fmt: skip
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    raise SystemExit(main())
