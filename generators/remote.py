"""Text generation on an OpenAI-compatible server: vLLM, TGI, llama.cpp's llama-server, ...

Each row is one streamed ``/v1/chat/completions`` request with the row's seed and sampling
settings; the rows of a call run concurrently and the server batches them itself, so calls run
on the event loop and never occupy the local model worker thread. Timeouts, lost connections,
429 and 5xx answers are retried with exponential backoff (``Retry-After`` honoured); then the row
fails with ``RemoteGenerationError``, whose message is safe to show a member. The API key is
never logged and never part of an error message. Every request's outcome is recorded in
``health`` (``generators.remote_health``) for ``/healthz`` and ``/metrics``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any

from generators.backend import ModelLoadError, TokenCallback
from generators.forms import best
from generators.remote_events import server_events
from generators.remote_fields import RowGrammar, ServerFields
from generators.remote_health import OK, ServerHealth, outcome_of
from generators.samples import ChatMessage, SamplingParams, TextPrompt, TextSample

log = logging.getLogger(__name__)

# Special-token spellings of common chat templates (ChatML, Llama 2/3, Gemma, Mistral, DeepSeek).
# The server renders the template, so member text could otherwise open a turn of its own.
_SPECIAL = re.compile(
    r"<\|[^<>|\s]{1,40}\|>|<｜[^<>｜]{1,40}｜>|</?s>|\[/?INST\]|<(?:start|end)_of_turn>"
)
WARMUP = TextPrompt(
    messages=(ChatMessage("user", "Count from one to twenty in words."),),
    plain="One, two, three",
    sampling=SamplingParams(seed=0, max_new_tokens=12),
)


class RemoteGenerationError(RuntimeError):
    """A row failed on the text server (after retries, where retrying made sense).

    ``str(err)`` is written for members; ``detail`` is for the operator's log. Neither ever
    holds the API key."""

    def __init__(self, message: str, detail: str) -> None:
        super().__init__(message)
        self.detail = detail


@dataclass(frozen=True)
class RemoteConfig:
    """Where the server is and how patiently to talk to it."""

    base_url: str
    model: str
    api_key: str = field(default="", repr=False)
    timeout_s: float = 60.0  # per request: connecting, and the wait for each next token
    retries: int = 3  # extra attempts after a retryable failure
    backoff_s: float = 0.5  # first pause; doubles each retry
    max_backoff_s: float = 8.0  # cap of that doubling; a longer Retry-After is still waited
    # for, up to timeout_s: a 429 asking for more gives up at once ("overloaded")


def defuse(text: str) -> str:
    """Break special-token spellings with a word joiner (U+2060) after their first character."""
    return _SPECIAL.sub(lambda m: m.group(0)[0] + "\u2060" + m.group(0)[1:], text)


def scrub(text: str, secret: str) -> str:
    """``text`` with every occurrence of ``secret`` (and of its tail) masked."""
    if not secret:
        return text
    text = text.replace(secret, "***")
    return text.replace(secret[-8:], "***") if len(secret) > 12 else text


@dataclass
class _Stream:
    """What one streamed answer has delivered so far."""

    text: str = ""
    chunks: int = 0
    prompt_tokens: int = 0
    new_tokens: int | None = None
    finish: str | None = None
    model: str | None = None

    def sample(self, seed: int, reason: str | None = None) -> TextSample:
        tokens = self.new_tokens if self.new_tokens is not None else self.chunks
        finish = reason or _FINISH.get(self.finish or "", self.finish or "stop")
        return TextSample(self.text, seed, self.prompt_tokens, tokens, finish)


_FINISH = {"stop": "stop", "eos": "stop", "eos_token": "stop", "length": "length"}


class OpenAITextBackend:
    """Rows go to an OpenAI-compatible server through the official async ``openai`` client."""

    def __init__(self, client: Any, config: RemoteConfig) -> None:
        self.client = client
        self.config = config
        self._model_id = config.model  # replaced by the model the server says it ran
        self.fields = ServerFields()  # the extra fields it takes (top_k, grammars, ...)
        self.health = ServerHealth()

    def __repr__(self) -> str:
        return f"<OpenAITextBackend {self.config.base_url} model={self._model_id!r}>"

    @property
    def model_id(self) -> str:
        return self._model_id

    def problem(self) -> str | None:
        """Why the server counts as failing, for ``/healthz`` (one line), or None."""
        problem = self.health.problem()
        return None if problem is None else f"the text server at {self.config.base_url}: {problem}"

    @classmethod
    def connect(cls, config: RemoteConfig) -> OpenAITextBackend:
        """A client for ``config`` (the ``openai`` import stays out of module import time)."""
        import openai

        key = config.api_key or "none"  # servers without keys ignore it; the client needs one
        client = openai.AsyncOpenAI(
            base_url=config.base_url,
            api_key=key,
            max_retries=0,  # retries are ours, so they are counted, logged and bounded once
            timeout=openai.Timeout(config.timeout_s, connect=min(10.0, config.timeout_s)),
        )
        return cls(client, config)

    async def close(self) -> None:
        await self.client.close()

    async def warmup(self) -> float:
        """One short generation, so a wrong address, key or model fails at boot; seconds per
        token after the first (the queue's first wait estimates: counted from the start, a
        2-token answer's connection and prompt made a 1.7 s poem "about 96 s")."""
        times: list[float] = []
        try:
            await self.generate(
                [WARMUP], threading.Event(), lambda *_: times.append(time.perf_counter())
            )
        except RemoteGenerationError as err:
            raise ModelLoadError(
                f"the text server at {self.config.base_url} did not answer a test request for "
                f"model {self.config.model!r}: {err.detail}"
            ) from err
        if len(times) < 2:
            return 0.0  # nothing to measure: the queue's default estimate stays
        return (times[-1] - times[0]) / (len(times) - 1)

    async def generate(
        self,
        prompts: Sequence[TextPrompt],
        cancel: threading.Event,
        on_token: TokenCallback | None = None,
    ) -> list[TextSample]:
        """All rows concurrently; the first row that fails for good fails the call."""
        tasks = [
            asyncio.create_task(self._best_row(index, prompt, cancel, on_token))
            for index, prompt in enumerate(prompts)
        ]
        try:
            return list(await asyncio.gather(*tasks))
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _best_row(
        self,
        index: int,
        prompt: TextPrompt,
        cancel: threading.Event,
        on_token: TokenCallback | None,
    ) -> TextSample:
        """One row, or the best of a few candidates where its form asks for it
        (``best.best_row``); the row itself streams."""
        if prompt.form is None:
            return await self._row(index, prompt, cancel, on_token)

        def sample(row: TextPrompt, streamed: bool) -> Awaitable[TextSample]:
            return self._row(index, row, cancel, on_token if streamed else None)

        found = await best.best_row(prompt, prompt.form, self.fields.grammar, sample, cancel)
        if found.resampled:
            self.health.record_resample()
        return found.sample

    async def _row(
        self,
        index: int,
        prompt: TextPrompt,
        cancel: threading.Event,
        on_token: TokenCallback | None,
    ) -> TextSample:
        """One row, with retries for failures that are worth retrying."""
        for attempt in range(self.config.retries + 1):
            if cancel.is_set():
                return TextSample("", prompt.sampling.seed, 0, 0, "cancelled")
            try:
                sample = await self._stream(index, prompt, cancel, on_token)
            except Exception as err:
                error = err  # raised on below, outside this block: no chained context with
                # the server's text (a 401 body may echo the key)
            else:
                self.health.record(OK)
                return sample
            self.health.record(outcome_of(error), self._describe(error))
            floor_s = retry_floor_s(error)
            last = attempt == self.config.retries
            if floor_s is None or last or floor_s > self.config.timeout_s:
                raise self._give_up(error, attempt)
            self.health.record_retry()
            delay_s = retry_delay_s(floor_s, attempt, self.config)
            log.warning(
                "text server: %s; retry %d/%d in %.1f s",
                self._describe(error),
                attempt + 1,
                self.config.retries,
                delay_s,
            )
            await self._pause(delay_s, cancel)
        raise AssertionError("unreachable")  # the loop returns or raises

    def _request(self, prompt: TextPrompt, grammar: RowGrammar | None) -> dict[str, Any]:
        sampling = prompt.sampling
        return {
            "model": self.config.model,
            "messages": [{"role": m.role, "content": defuse(m.content)} for m in prompt.messages],
            "max_tokens": sampling.max_new_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "seed": sampling.seed,
            "stream": True,
            "stream_options": {"include_usage": True},
            "extra_body": self.fields.extra(prompt, grammar),
        }

    async def _open(self, prompt: TextPrompt) -> Any:
        """Start a streamed answer; a server that refuses one of our extra fields gets the
        request again without it, from then on (``ServerFields``)."""
        import openai

        for _ in range(4):
            grammar = await self.fields.grammar_of(prompt)
            try:
                return await self.client.chat.completions.create(**self._request(prompt, grammar))
            except (openai.BadRequestError, openai.UnprocessableEntityError) as err:
                if not self.fields.drop_refused(str(err.message)):
                    raise
        grammar = await self.fields.grammar_of(prompt)
        return await self.client.chat.completions.create(**self._request(prompt, grammar))

    async def _stream(
        self,
        index: int,
        prompt: TextPrompt,
        cancel: threading.Event,
        on_token: TokenCallback | None,
    ) -> TextSample:
        got = _Stream()
        stream = await self._open(prompt)
        async with stream:
            async for data in server_events(stream.response):
                if _absorb(got, data) and on_token is not None:
                    on_token(index, got.text, got.chunks)
                if cancel.is_set():
                    break
        if got.model:
            self._model_id = got.model
        return got.sample(prompt.sampling.seed, "cancelled" if cancel.is_set() else None)

    def _describe(self, err: Exception) -> str:
        """The operator's one-line account of ``err``, API key masked."""
        import openai

        if isinstance(err, openai.APIStatusError):
            text = f"HTTP {err.status_code}: {err.message}"
        else:
            text = f"{type(err).__name__}: {err}"
        return scrub(text, self.config.api_key)[:500]

    def _give_up(self, err: Exception, attempt: int) -> RemoteGenerationError:
        detail = self._describe(err)
        tries = f" after {attempt + 1} attempts" if attempt else ""
        log.error("text server failed%s: %s", tries, detail)
        return RemoteGenerationError(_member_message(err), detail + tries)

    @staticmethod
    async def _pause(delay_s: float, cancel: threading.Event) -> None:
        """Sleep ``delay_s``, waking early (within 0.1 s) when the job is cancelled."""
        deadline = time.monotonic() + delay_s
        while not cancel.is_set() and (left := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(0.1, left))


def _absorb(got: _Stream, data: dict[str, Any]) -> bool:
    """Add one event to ``got``; whether it brought text."""
    got.model = data.get("model") or got.model
    usage = data.get("usage")
    if usage:
        got.prompt_tokens = int(usage.get("prompt_tokens") or 0)
        got.new_tokens = int(usage.get("completion_tokens") or 0)
    choices = data.get("choices") or ()
    if not choices:
        return False
    choice = choices[0]
    content = (choice.get("delta") or {}).get("content")
    if content:
        got.text += content
        got.chunks += 1
    if choice.get("finish_reason"):
        got.finish = choice["finish_reason"]
    return bool(content)


def retry_floor_s(err: Exception) -> float | None:
    """None when ``err`` is not worth retrying (a 4xx other than 429, a bug); else the least
    pause before the retry: the server's ``Retry-After`` for a 429, 0 for timeouts, lost
    connections and 5xx."""
    import openai

    if isinstance(err, openai.APITimeoutError | openai.APIConnectionError):
        return 0.0
    if isinstance(err, openai.RateLimitError):
        return _retry_after_s(err.response.headers)
    if isinstance(err, openai.APIStatusError) and err.status_code >= 500:
        return 0.0
    return None


def retry_delay_s(floor_s: float, attempt: int, config: RemoteConfig) -> float:
    """The pause before retry ``attempt + 1``: our backoff (doubling from ``backoff_s``, capped
    at ``max_backoff_s``), or the server's ``Retry-After`` (``floor_s``) when that is longer.
    The cap is on our own backoff only: retrying before ``Retry-After`` would just be refused."""
    return max(floor_s, min(config.backoff_s * 2.0**attempt, config.max_backoff_s))


def _retry_after_s(headers: Any) -> float:
    """Seconds from a ``Retry-After`` header (0 when absent or not a number)."""
    try:
        return max(0.0, float(headers.get("retry-after", "")))
    except (AttributeError, TypeError, ValueError):
        return 0.0


def _member_message(err: Exception) -> str:
    import openai

    if isinstance(err, openai.RateLimitError):
        return "The text server is overloaded right now. Try again in a minute."
    if isinstance(err, openai.APITimeoutError):
        return "The text server did not answer in time. Try again in a minute."
    if isinstance(err, openai.APIConnectionError):
        return "The text server could not be reached. Try again in a minute."
    if isinstance(err, openai.APIStatusError) and err.status_code >= 500:
        return "The text server had an error. Try again in a minute."
    return "The text server refused the request. The operator has the details in the log."
