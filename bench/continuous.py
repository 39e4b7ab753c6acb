"""Continuous batching: 16 poems asked for 200 ms apart, continuous against static batches.

Both runs go through the real service (queue, worker thread, storage) with the same model, the
same seeds and the same step loop; only the admission policy differs (``MUSE_TEXT_BATCHING``):
``static`` lets a batch take no new job until it has ended (today's batching), ``continuous``
lets a job join at the next decoding step. Time to first token is measured from the request to
the first step that gave it a token (what streaming shows); throughput is every new token
stored, over the time from the first request to the last result. Each limit is run with the
same number of rows in flight for both policies (8, the default MUSE_BATCH_MAX_ROWS, and 16,
the default MUSE_TEXT_SLOTS); the "defaults" line compares the two shipped settings.

Target: mean time to first token at least 3x lower, throughput not worse (ratio >= 1 within 5%).

Run: ``python -m bench.continuous``
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import build_models, load_backend, parameters, real_service
from bot.service.types import Origin
from generators.requests import PoemRequest

REQUESTS = 16
GAP_S = 0.2
# New tokens at most per poem: the production cap for the tiny model (about 2 ms a token, so
# a poem overlaps the next arrivals); 48 for the realistic one (about 70 ms a token alone),
# which keeps the run near a minute while every poem still spans many arrivals.
MAX_NEW_TOKENS = {"tiny": 200, "realistic": 48}
ROWS = (8, 16)  # rows in flight at most (MUSE_BATCH_MAX_ROWS): the default, and twice that


@dataclass(frozen=True)
class Run:
    ttft_s: list[float]
    tokens: int
    elapsed_s: float
    steps: int

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.elapsed_s


async def arrivals(backend: Any, mode: str, rows: int, max_new_tokens: int) -> Run:
    """REQUESTS poems, one every GAP_S, through the service in ``mode``."""
    async with real_service(
        backend,
        text_batching=mode,
        batch_max_rows=rows,
        text_slots=rows,
        queue_max_depth=REQUESTS,
        queue_per_user=REQUESTS,
        poem_max_new_tokens=max_new_tokens,
        job_timeout_s=3600,
    ) as service:
        asked: dict[str, float] = {}
        first: dict[str, float] = {}

        def on_text(job_id: str, texts: tuple[str, ...]) -> None:
            first.setdefault(job_id, time.perf_counter())

        service.executor.text_steps.listeners.append(on_text)
        started = time.perf_counter()
        finishing = []
        for i in range(REQUESTS):
            await asyncio.sleep(max(0.0, started + i * GAP_S - time.perf_counter()))
            job = service.prepare(PoemRequest(topic=f"moon {i}", seed=i), Origin(i))
            asked[job.record.id] = time.perf_counter()
            await service.start(job)
            finishing.append(asyncio.ensure_future(service.finish(job)))
        await asyncio.gather(*finishing)
        elapsed = time.perf_counter() - started
        tokens = 0
        for job_id in asked:
            for output in await service.storage.job_outputs(job_id):
                tokens += int(output.timings.get("new_tokens", 0))
        assert service.queue.runner is not None, "this back-end cannot step"
        steps = service.queue.runner.steps_run  # type: ignore[attr-defined]
    ttft = [first[job_id] - asked[job_id] for job_id in asked]
    return Run(ttft, tokens, elapsed, steps)


def describe(mode: str, run: Run) -> str:
    return (
        f"{mode:>10}: mean TTFT {statistics.mean(run.ttft_s):6.3f} s (max {max(run.ttft_s):.3f}) "
        f"· {run.tokens} tokens in {run.elapsed_s:.2f} s = {run.tokens_per_s:7.1f} tokens/s "
        f"· {run.steps} steps"
    )


def ratios(static: Run, continuous: Run) -> tuple[float, float]:
    """(how many times lower the mean TTFT is, throughput ratio), continuous over static."""
    ttft = statistics.mean(static.ttft_s) / statistics.mean(continuous.ttft_s)
    return ttft, continuous.tokens_per_s / static.tokens_per_s


async def compare(backend: Any, name: str, rows: int) -> tuple[Run, Run]:
    tokens = MAX_NEW_TOKENS[name]
    static = await arrivals(backend, "static", rows, tokens)
    continuous = await arrivals(backend, "continuous", rows, tokens)
    ttft_ratio, tps_ratio = ratios(static, continuous)
    print(
        f"[{name}: {parameters(backend) / 1e6:.1f}M params, {tokens} new tokens at most, "
        f"{rows} rows in flight at most]"
    )
    print(describe("static", static))
    print(describe("continuous", continuous))
    print(
        f"{'ratio':>10}: TTFT {ttft_ratio:.2f}x lower (target >= 3x), throughput "
        f"{tps_ratio:.2f}x (target >= 0.95x, noise allowance)"
    )
    return static, continuous


def verdict(static: Run, continuous: Run) -> str:
    ttft_ratio, tps_ratio = ratios(static, continuous)
    return "PASS" if ttft_ratio >= 3 and tps_ratio >= 0.95 else "FAIL"


async def main() -> bool:
    """Print the figures; True when every target is met."""
    print(f"{REQUESTS} poems {GAP_S * 1000:.0f} ms apart, static against continuous batching")
    verdicts = []
    with tempfile.TemporaryDirectory() as folder:
        models = build_models(Path(folder))
        for name in ("tiny", "realistic"):
            backend = load_backend(models[name])
            runs = {rows: await compare(backend, name, rows) for rows in ROWS}
            verdicts += [f"{name}/{rows} rows {verdict(*runs[rows])}" for rows in ROWS]
            default_static, default_continuous = runs[8][0], runs[16][1]
            ttft_ratio, tps_ratio = ratios(default_static, default_continuous)
            print(
                f"{'defaults':>10}: static 8 rows against continuous 16 slots: TTFT "
                f"{ttft_ratio:.2f}x lower, throughput {tps_ratio:.2f}x "
                f"{verdict(default_static, default_continuous)}"
            )
    print("continuous batching:", ", ".join(verdicts))
    return all(v.endswith("PASS") for v in verdicts)


if __name__ == "__main__":
    raise SystemExit(0 if asyncio.run(main()) else 1)
