"""GGUF models on llama.cpp: an engine process Muse starts, watches and restarts on loopback.

``LlamaEngine`` runs llama.cpp's server as a child process bound to 127.0.0.1 (the ``xllamacpp``
wheel through ``generators.llama_child``, or a ``llama-server`` binary named by
``MUSE_LLAMA_SERVER``), waits for its ``/health``, keeps the last lines of its log, and starts it
again on the same port when it dies. ``LlamaCppTextBackend`` is the OpenAI-compatible backend
(``generators.remote``: streaming, per-row seeds, cancel, timeouts, health counts, the grammar a
request carries) pointed at that engine, without retries: a row that was running when the engine
died fails at once with a message saying so, and the next job runs on the restarted engine.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import socket
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generators.backend import ModelLoadError, TokenCallback
from generators.remote import OpenAITextBackend, RemoteConfig, RemoteGenerationError
from generators.remote_fields import RowGrammar
from generators.samples import TextPrompt, TextSample

log = logging.getLogger(__name__)
LOG_LINES = 20  # the engine's last log lines kept for the operator when it dies
PROMPT_CHUNK_TOKENS = 256  # prompt tokens the engine reads a step (see engine_command)
NO_PROMPT_CACHE = {"cache_prompt": False}
CRASHED = "The text engine stopped while writing this. It is restarting; try again in a moment."


@dataclass(frozen=True)
class EngineConfig:
    """What the engine serves and how."""

    model: Path  # the GGUF file
    alias: str  # the model name its answers carry
    threads: int = 1
    slots: int = 8  # rows decoded together (llama.cpp's parallel slots)
    ctx_per_slot: int = 2048  # tokens of context each slot holds: prompt and answer
    binary: Path | None = None  # a llama-server binary; None: the xllamacpp wheel
    start_timeout_s: float = 180.0
    restart_delay_s: float = 1.0  # first pause before a restart; doubles while it keeps dying


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def engine_command(config: EngineConfig, port: int) -> list[str]:
    """The child's command line: the wheel's engine module, or the named binary. Either loads
    the GGUF into its own memory instead of mapping the file (llama.cpp's ``--load-mode
    none``): on SmolLM2's Q4_1 that decoded 8 rows at once 2.8% faster on one thread (4 rounds
    each, 99.1-103.4 against 99.4-100.9 tok/s), for a start that reads 80 MB once. And it
    reads at most ``PROMPT_CHUNK_TOKENS`` prompt tokens a step (``--batch-size``, 2048 by
    default), so of 8 requests that came together the first prompts start writing while the
    rest are read: the median first token came 20% sooner on 2 threads (1010 against 1270 ms)
    and 26% on one (1577 against 2136), at the same tokens/s (157 against 157, 100 against 98)."""
    common = ["--model", str(config.model), "--alias", config.alias, "--port", str(port)]
    threads, ctx = str(config.threads), str(config.slots * config.ctx_per_slot)
    chunk = str(PROMPT_CHUNK_TOKENS)
    if config.binary is None:
        module = [sys.executable, "-m", "generators.llama_child", *common]
        slots = ["--slots", str(config.slots)]
        return [*module, "--threads", threads, *slots, "--ctx-size", ctx, "--batch-size", chunk]
    return [
        str(config.binary), *common, "--host", "127.0.0.1", "--threads", threads,
        "--parallel", str(config.slots), "--ctx-size", ctx, "--jinja", "--no-webui",
        "--load-mode", "none", "--batch-size", chunk, "--ubatch-size", chunk,
    ]  # fmt: skip


def _answers(url: str) -> bool:
    """True when ``url`` answers 200 within 2 s."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


class LlamaEngine:
    """One llama.cpp server process on a loopback port, restarted whenever it dies."""

    def __init__(self, config: EngineConfig, port: int | None = None) -> None:
        self.config = config
        self.port = port or free_port()
        self.starts = 0  # processes started; above 1 once it has been restarted
        self.last_exit: int | None = None
        self.log_tail: collections.deque[str] = collections.deque(maxlen=LOG_LINES)
        self._process: asyncio.subprocess.Process | None = None
        self._ready = asyncio.Event()
        self._stopping = False
        self._watch: asyncio.Task[None] | None = None
        self._log_task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        state = "ready" if self.ready else "down"
        return (
            f"<LlamaEngine {self.config.model.name} port={self.port} {state} starts={self.starts}>"
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def ready(self) -> bool:
        """Serving: started, and its process has not exited (even if the watcher has not yet
        woken up to notice, as when a dropped connection reports the crash first)."""
        process = self._process
        return self._ready.is_set() and process is not None and process.returncode is None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    async def start(self) -> None:
        """Start the engine and wait until it answers ``/health``; ``ModelLoadError`` if not."""
        await self._spawn()
        self._watch = asyncio.create_task(self._watch_loop(), name="llama-engine-watch")

    async def _spawn(self) -> None:
        self._ready.clear()
        self.starts += 1
        self._process = await asyncio.create_subprocess_exec(
            *engine_command(self.config, self.port),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self._log_task = asyncio.create_task(self._drain(self._process), name="llama-engine-log")
        await self._wait_healthy(self._process)
        self._ready.set()
        log.info("llama.cpp engine ready on port %d (pid %d)", self.port, self._process.pid)

    async def _drain(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        async for line in process.stdout:
            self.log_tail.append(line.decode("utf-8", "replace").rstrip())

    async def _wait_healthy(self, process: asyncio.subprocess.Process) -> None:
        deadline = time.monotonic() + self.config.start_timeout_s
        url = f"http://127.0.0.1:{self.port}/health"
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise ModelLoadError(self._failed(f"exited with code {process.returncode}"))
            if await asyncio.to_thread(_answers, url):
                return
            await asyncio.sleep(0.1)
        process.kill()
        raise ModelLoadError(
            self._failed(f"did not answer within {self.config.start_timeout_s:g} s")
        )

    def _failed(self, what: str) -> str:
        tail = "\n    ".join(list(self.log_tail)[-8:]) or "(no output)"
        return (
            f"the llama.cpp engine for {self.config.model} {what}; its last log lines:\n    {tail}"
        )

    async def _watch_loop(self) -> None:
        """Restart the engine whenever it exits, pausing longer while it keeps dying."""
        delay_s = self.config.restart_delay_s
        while self._process is not None:
            started = time.monotonic()
            code = await self._process.wait()
            self._ready.clear()
            if self._stopping:
                return
            self.last_exit = code
            log.error("%s; restarting in %.0f s", self._failed(f"exited with code {code}"), delay_s)
            await asyncio.sleep(delay_s)
            lived_s = time.monotonic() - started
            delay_s = self.config.restart_delay_s if lived_s > 60 else min(delay_s * 2, 60.0)
            try:
                await self._spawn()
            except ModelLoadError as err:
                log.error("restarting the llama.cpp engine failed: %s", err)

    async def died_since(self, starts: int, wait_s: float = 1.0) -> bool:
        """True when the engine has exited since its start number ``starts``; waits up to
        ``wait_s`` for the exit to be noticed (a dropped connection can come first)."""
        deadline = time.monotonic() + wait_s
        while self.ready and self.starts == starts:
            if self._process is not None and self._process.returncode is not None:
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    def problem(self) -> str | None:
        """Why the engine cannot serve now (one line), or None while it is up."""
        if self.ready:
            return None
        code = "" if self.last_exit is None else f" after it exited with code {self.last_exit}"
        return f"the llama.cpp engine is not running{code} (start {self.starts}, restarting)"

    async def stop(self) -> None:
        """Stop the engine: SIGTERM, then SIGKILL after 10 s."""
        self._stopping = True
        process = self._process
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
        if self._watch is not None:
            self._watch.cancel()
            await asyncio.gather(self._watch, return_exceptions=True)


class LlamaCppTextBackend(OpenAITextBackend):
    """The OpenAI-compatible backend on an engine of Muse's own (``LlamaEngine``)."""

    def __init__(self, client: object, config: RemoteConfig, engine: LlamaEngine) -> None:
        super().__init__(client, config)
        self.engine = engine
        self.health.restarts = lambda: max(0, engine.starts - 1)

    def __repr__(self) -> str:
        return f"<LlamaCppTextBackend {self.engine!r}>"

    @classmethod
    async def start(cls, config: EngineConfig, timeout_s: float = 60.0) -> LlamaCppTextBackend:
        """Start the engine and a client for it (no retries: see the module docstring)."""
        engine = LlamaEngine(config)
        await engine.start()
        remote = RemoteConfig(engine.base_url, config.alias, timeout_s=timeout_s, retries=0)
        plain = OpenAITextBackend.connect(remote)
        return cls(plain.client, remote, engine)

    def problem(self) -> str | None:
        return self.engine.problem() or super().problem()

    def _request(self, prompt: TextPrompt, grammar: RowGrammar | None) -> dict[str, Any]:
        """As the OpenAI backend's, with llama.cpp's prompt cache off: a prompt whose cached
        keys were computed in another batch samples differently, and a seed must give the
        same text alone or in a batch (measured on SmolLM2's Q4_1 GGUF)."""
        request = super()._request(prompt, grammar)
        request["extra_body"] = {**(request.get("extra_body") or {}), **NO_PROMPT_CACHE}
        return request

    async def _open(self, prompt: TextPrompt) -> Any:
        """As the OpenAI backend's, sent once more on a new connection when the engine, still
        up, closed the pooled keep-alive connection the request went out on without answering
        ("Server disconnected without sending a response"; seen in bench.cpu_serving). A row
        the engine answered, or one that timed out, is never sent twice."""
        import openai

        try:
            return await super()._open(prompt)
        except openai.APITimeoutError:
            raise
        except openai.APIConnectionError as err:
            if not self.engine.ready:
                raise
            log.warning("llama.cpp engine closed a connection unanswered (%r); sending again", err)
            self.health.record_retry()
            return await super()._open(prompt)

    async def generate(
        self,
        prompts: Sequence[TextPrompt],
        cancel: threading.Event,
        on_token: TokenCallback | None = None,
    ) -> list[TextSample]:
        """As the OpenAI backend; a failure while the engine died says so to the member."""
        starts = self.engine.starts
        try:
            return await super().generate(prompts, cancel, on_token)
        except RemoteGenerationError as err:
            if not await self.engine.died_since(starts):
                raise
            raise RemoteGenerationError(CRASHED, err.detail) from None

    async def close(self) -> None:
        await super().close()
        await self.engine.stop()
