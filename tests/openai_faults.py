"""A scripted OpenAI-compatible endpoint on 127.0.0.1, for fault tests only (429, 5xx, hangs,
cut streams, a 401 that echoes the key). The real server in the tests is llama.cpp's.

Each request to ``/v1/chat/completions`` takes the next ``Step`` from the script (the last one
repeats); every request body and ``Authorization`` header is recorded.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Step:
    """What the server does with one request."""

    status: int = 200  # 200: stream ``words`` as server-sent events
    words: tuple[str, ...] = ("moon ", "over ", "water")
    model: str = "served-model-7b"
    headers: dict[str, str] = field(default_factory=dict)
    body: str = '{"error": {"message": "scripted failure"}}'
    hang_s: float = 0.0  # wait this long before answering (or between words)
    cut_after: int | None = None  # drop the connection after this many words
    echo_key: bool = False  # put the Authorization header into the error body
    refuse: str | None = None  # answer 400 (as OpenAI's API does) when the body has this field
    no_llguidance: bool = False  # answer 400 to an llguidance grammar, as llama.cpp built without


class ScriptedOpenAI:
    """``async with ScriptedOpenAI([...]) as server:`` then point a client at ``server.url``."""

    def __init__(self, script: list[Step]) -> None:
        self.script = script
        self.requests: list[dict[str, Any]] = []
        self.auth: list[str] = []
        self.in_flight = 0
        self.most_in_flight = 0  # requests being answered at once, at the most
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> ScriptedOpenAI:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/v1"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _next(self) -> Step:
        index = min(len(self.requests) - 1, len(self.script) - 1)
        return self.script[index]

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(await request.json())
        self.auth.append(request.headers.get("Authorization", ""))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return await self._answer(request, self._next())
        finally:
            self.in_flight -= 1

    async def _answer(self, request: web.Request, step: Step) -> web.StreamResponse:
        if step.refuse is not None and step.refuse in self.requests[-1]:
            message = f"Unrecognized request argument supplied: {step.refuse}"
            body = json.dumps({"error": {"message": message, "type": "invalid_request_error"}})
            return web.Response(status=400, text=body, content_type="application/json")
        if step.no_llguidance and str(self.requests[-1].get("grammar", "")).startswith("%llg"):
            message = (
                "Failed to initialize samplers: failed to parse grammar: llguidance is not enabled"
            )
            body = json.dumps({"error": {"code": 400, "message": message}})
            return web.Response(status=400, text=body, content_type="application/json")
        if step.status != 200:
            if step.hang_s:
                await asyncio.sleep(step.hang_s)
            body = step.body
            if step.echo_key:
                key = request.headers.get("Authorization", "")
                body = json.dumps({"error": {"message": f"Incorrect API key provided: {key}"}})
            return web.Response(
                status=step.status, text=body, headers=step.headers, content_type="application/json"
            )
        return await self._stream(request, step)

    async def _stream(self, request: web.Request, step: Step) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for index, word in enumerate(step.words):
            if step.cut_after is not None and index >= step.cut_after:
                request.transport.close()  # type: ignore[union-attr]
                return response
            if step.hang_s:
                await asyncio.sleep(step.hang_s)
            await response.write(_event(step.model, {"content": word}, None))
        await response.write(_event(step.model, {}, "length"))
        usage = {"prompt_tokens": 11, "completion_tokens": len(step.words), "total_tokens": 0}
        await response.write(_event(step.model, None, None, usage))
        await response.write(b"data: [DONE]\n\n")
        return response


def _event(
    model: str,
    delta: dict[str, str] | None,
    finish: str | None,
    usage: dict[str, int] | None = None,
) -> bytes:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    chunk = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": choices,
        "usage": usage,
    }
    return f"data: {json.dumps(chunk)}\n\n".encode()
