"""Batching: 16 concurrent requests with batching on, against the same requests one by one.

Both runs go through the real service (queue, worker thread, storage) with the same seeds.
Target: at least 2x throughput on the realistic (about 100M parameter) model.

Run: ``python -m bench.batching``
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import build_models, load_backend, parameters, real_service
from bot.errors import UserError
from bot.service.types import Origin
from generators.requests import PoemRequest

REQUESTS = 16
MAX_NEW_TOKENS = 32


async def throughput(backend: Any, batch_rows: int) -> tuple[float, int, str]:
    """(requests per second, model calls, outcomes) for REQUESTS concurrent poems; model calls
    are the decoding steps of the continuous batch (prefills included), or ``generate`` calls.
    A request the service refused to deliver (a random model's text held by the filter, or
    empty) still ran, so it counts, and the outcomes say how many; any other error stops the
    bench, since a request that crashed early would inflate the rate."""
    async with real_service(
        backend,
        batch_max_rows=batch_rows,
        text_slots=batch_rows,  # rows in flight also when continuous batching lets jobs join
        queue_max_depth=REQUESTS,
        poem_max_new_tokens=MAX_NEW_TOKENS,
        job_timeout_s=3600,
    ) as service:
        started = time.perf_counter()
        pending = [
            service.prepare(PoemRequest(topic=f"moon {i}", seed=i), Origin(i))
            for i in range(REQUESTS)
        ]
        for job in pending:
            await service.start(job)
        results = await asyncio.gather(
            *(service.finish(job) for job in pending), return_exceptions=True
        )
        elapsed = time.perf_counter() - started
        runner: Any = service.queue.runner
        calls = runner.steps_run if runner is not None else service.queue.batches_run
    crashed = [r for r in results if isinstance(r, BaseException) and not isinstance(r, UserError)]
    if crashed:
        raise RuntimeError(f"{len(crashed)} of {REQUESTS} requests failed") from crashed[0]
    outcomes = Counter(type(r).__name__ if isinstance(r, UserError) else "done" for r in results)
    return REQUESTS / elapsed, calls, ", ".join(f"{n} {k}" for k, n in sorted(outcomes.items()))


async def main() -> bool:
    """Print the figures; True when the target is met."""
    with tempfile.TemporaryDirectory() as folder:
        models = build_models(Path(folder))
        ratios = {}
        for name in ("tiny", "realistic"):
            backend = load_backend(models[name])
            one_rps, one_batches, one_outcomes = await throughput(backend, batch_rows=1)
            batch_rps, batches, outcomes = await throughput(backend, batch_rows=8)
            ratios[name] = batch_rps / one_rps
            print(
                f"[{name}: {parameters(backend) / 1e6:.1f}M params] one by one "
                f"{one_rps:.2f} req/s ({one_batches} model calls; {one_outcomes}); batched "
                f"{batch_rps:.2f} req/s ({batches} calls; {outcomes}); ratio {ratios[name]:.2f}x"
            )
    verdict = "PASS" if ratios["realistic"] >= 2 else "FAIL"
    print(
        f"batching throughput ratio: tiny {ratios['tiny']:.2f}x, realistic "
        f"{ratios['realistic']:.2f}x (target >= 2x on realistic) {verdict}"
    )
    return verdict == "PASS"


if __name__ == "__main__":
    raise SystemExit(0 if asyncio.run(main()) else 1)
