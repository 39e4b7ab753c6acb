"""Remote backend overhead: 32 concurrent poems through Muse (validation, filter, queue, remote
backend, moderation, storage) against the same 32 requests sent straight to the server with the
``openai`` client, both against one real llama.cpp server, alternating in one run.

Both sides send identical requests (messages, seed, sampling, token cap); the bench prints the
tokens each side got back, so a difference in work would show. One uncounted round of each side
warms the server's prompt caches first. The model is the realistic random Llama (SmolLM2-135M's
width, 24 layers, about 100M parameters) in F32. The server gets one thread
(``MUSE_LLAMA_THREADS``), leaving the other core of a 2-core host to Muse, as a GPU server would
not share Muse's CPU. Target: at most 1.10x.

Needs ``llama-server`` (``.ci/llama-server`` builds it). Run: ``python -m bench.remote``
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import poem_through_service, stream_direct
from bot.app import open_service
from bot.config import Settings
from bot.service.core import MuseService
from generators.prompts import poem_prompt
from generators.requests import PoemRequest
from generators.samples import SamplingParams

REQUESTS = 32
NEW_TOKENS = 48
ROUNDS = 3
TOPICS = ("moon", "river", "coffee", "garden", "rocket", "ocean", "morning", "shadow")


def requests() -> list[PoemRequest]:
    return [PoemRequest(topic=TOPICS[i % len(TOPICS)], seed=1000 + i) for i in range(REQUESTS)]


Round = tuple[float, int, float]  # wall seconds, tokens received, this process's CPU seconds


async def direct(base_url: str, model: str) -> Round:
    """The same rows Muse would send, straight to the server."""
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key="none", max_retries=0)
    prompts = [poem_prompt(r, SamplingParams(r.seed or 0, NEW_TOKENS)) for r in requests()]

    async def one(prompt: Any) -> int:
        tokens, _ = await stream_direct(client, model, prompt)
        return tokens

    started, cpu = time.perf_counter(), time.process_time()
    counts = await asyncio.gather(*(one(p) for p in prompts))
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    await client.close()
    return elapsed, sum(counts), cpu


async def through_muse(service: MuseService) -> Round:
    """32 members ask at once; each request is validated, filtered, queued, generated on the
    server, moderated and stored."""

    async def one(index: int, request: PoemRequest) -> int:
        return await poem_through_service(service, index + 1, request)

    started, cpu = time.perf_counter(), time.process_time()
    counts = await asyncio.gather(*(one(i, r) for i, r in enumerate(requests())))
    return time.perf_counter() - started, sum(counts), time.process_time() - cpu


async def measure(base_url: str, folder: Path) -> bool:
    """Print both sides' figures; True when the target is met."""
    settings = Settings(
        db_path=folder / "bench.sqlite3",
        image_model=None,
        text_backend="openai",
        openai_base_url=base_url,
        openai_model="muse-bench",
        remote_concurrency=REQUESTS,
        queue_max_depth=REQUESTS,
        poem_max_new_tokens=NEW_TOKENS,
        text_forms=False,  # the same free-form 48-token request as the direct side
    )
    rounds: dict[str, list[Round]] = {"direct": [], "muse": []}
    async with open_service(settings) as service:
        model = service.model_id  # what the server reported at the start-up check
        await direct(base_url, model)  # uncounted: fills the server's prompt caches
        await through_muse(service)
        for _ in range(ROUNDS):  # alternate, so drift hits both sides alike
            rounds["direct"].append(await direct(base_url, model))
            rounds["muse"].append(await through_muse(service))
    ratio = _median(rounds["muse"], 0) / _median(rounds["direct"], 0)
    print(
        f"[{REQUESTS} concurrent poems, {NEW_TOKENS} new tokens max, {ROUNDS} rounds, llama.cpp "
        f"serving {model!r} (random ~100M Llama, F32) with {os.environ['MUSE_LLAMA_THREADS']} "
        "thread(s)]\n"
        f"  direct openai client: {_describe(rounds['direct'])}\n"
        f"  through Muse:         {_describe(rounds['muse'])}\n"
        f"remote overhead: {ratio:.3f}x (target <= 1.10x) {'PASS' if ratio <= 1.10 else 'FAIL'}"
    )
    return ratio <= 1.10


def _median(rounds: list[Round], field: int) -> float:
    return statistics.median(r[field] for r in rounds)


def _describe(rounds: list[Round]) -> str:
    walls = " ".join(f"{r[0]:.2f}" for r in rounds)
    return (
        f"median {_median(rounds, 0):.2f} s (rounds {walls}), "
        f"{_median(rounds, 1):.0f} tokens/round, client CPU {_median(rounds, 2):.2f} s/round"
    )


def main() -> bool:
    """Build the model and server, measure; True when the target is met."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("MUSE_LLAMA_THREADS", "1")
    from tests.llama_server import find_binary, serve
    from tests.tiny_gguf import hf_to_gguf
    from tests.tiny_models import make_realistic_lm

    binary = find_binary()
    if binary is None:
        raise SystemExit("llama-server not found: run .ci/llama-server or set MUSE_LLAMA_SERVER")
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        gguf = hf_to_gguf(make_realistic_lm(folder / "realistic"), folder / "realistic.gguf")
        with serve(binary, gguf, slots=REQUESTS, ctx_per_slot=1024) as base_url:
            return asyncio.run(measure(base_url, folder))


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
