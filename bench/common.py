"""Shared set-up for the benchmarks: tiny and realistic random models, a real service."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bot.app import Models, open_service
from bot.config import Settings
from bot.service.core import MuseService
from bot.service.types import Origin
from generators.requests import PoemRequest


def build_models(root: Path) -> dict[str, Path]:
    """``tiny`` (2 layers, hidden 64) and ``realistic`` (24 layers, hidden 576, about 100M)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything here is local; fail fast if not
    import torch
    import transformers

    from tests.tiny_models import make_realistic_lm, make_tiny_lm

    transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    transformers.utils.logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    torch.set_num_threads(int(os.environ.get("MUSE_TORCH_THREADS", "1")))
    tiny = make_tiny_lm(root / "tiny")
    realistic = make_realistic_lm(root / "realistic")
    return {"tiny": tiny, "realistic": realistic}


def load_backend(path: Path) -> Any:
    from generators.text import TransformersTextBackend

    backend = TransformersTextBackend.load(str(path), device="cpu")
    backend.warmup()
    return backend


def parameters(backend: Any) -> int:
    return sum(p.numel() for p in backend.model.parameters())


@asynccontextmanager
async def real_service(backend: Any, **overrides: Any) -> AsyncIterator[MuseService]:
    """The production service (``open_service``) over a temp database, serving ``backend``.
    Forms by construction are off unless asked for: the throughput benches pin row lengths with
    ``poem_max_new_tokens``; ``bench/quality.py`` compares both."""
    overrides.setdefault("text_forms", False)
    with tempfile.TemporaryDirectory() as folder:
        settings = dataclasses.replace(
            Settings(db_path=Path(folder) / "bench.sqlite3", image_model=None), **overrides
        )
        async with open_service(settings, lambda _: Models(backend, 0.01)) as service:
            yield service


async def poem_through_service(service: MuseService, member: int, request: PoemRequest) -> int:
    """One member's poem along the service's whole path; the new tokens its outputs wrote."""
    pending = service.prepare(request, Origin(user_id=member, guild_id=1, channel_id=1))
    await service.start(pending)
    try:
        await service.finish(pending)
    except Exception:  # a poem may be held or refused by moderation; it still ran the whole way
        pass
    outputs = await service.storage.job_outputs(pending.record.id)
    return int(sum(o.timings.get("new_tokens", 0) for o in outputs))


class Ticker:
    """A 10 ms ticker on the event loop; its lateness is the loop's lag."""

    def __init__(self, period_s: float = 0.010) -> None:
        self.period_s = period_s
        self.lags_s: list[float] = []
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            await asyncio.sleep(self.period_s)
            self.lags_s.append(time.perf_counter() - started - self.period_s)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task

    def summary_ms(self) -> str:
        ordered = sorted(self.lags_s)
        p99 = ordered[int(0.99 * (len(ordered) - 1))]
        return (
            f"ticks={len(ordered)} worst={ordered[-1] * 1000:.1f} ms "
            f"p99={p99 * 1000:.1f} ms median={statistics.median(ordered) * 1000:.2f} ms"
        )


async def stream_direct(
    client: Any, model: str, prompt: Any, extra: dict[str, Any] | None = None
) -> tuple[int, float | None]:
    """One row straight to an OpenAI-compatible server, as Muse's backend would send it:
    (tokens written, seconds to the first text, None when none came)."""
    sampling = prompt.sampling
    sent = time.perf_counter()
    stream = await client.chat.completions.create(
        model=model,
        messages=[{"role": m.role, "content": m.content} for m in prompt.messages],
        max_tokens=sampling.max_new_tokens,
        temperature=sampling.temperature,
        top_p=sampling.top_p,
        seed=sampling.seed,
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"top_k": sampling.top_k, **(extra or {})},
    )
    tokens, first = 0, None
    async for chunk in stream:
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter() - sent
        if chunk.usage is not None:
            tokens = chunk.usage.completion_tokens
    return int(tokens), first
