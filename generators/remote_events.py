"""A streamed chat completion's server-sent events, read straight off the HTTP response.

The openai SDK's own reader builds a pydantic object per event; with 8 rows streaming at once
py-spy put that at 160 of the event loop's 480 busy samples. Muse keeps the SDK for sending the
request (auth, status errors) and reads the events here as plain JSON.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any


async def server_events(response: Any) -> AsyncIterator[dict[str, Any]]:
    """The JSON payloads of a streamed answer's server-sent events, read off the HTTP response
    (``AsyncStream.response``). Errors come as the SDK's: an
    ``error`` event as ``APIError``, a read timeout or a cut connection as ``APITimeoutError``
    or ``APIConnectionError`` (what ``retry_floor_s`` and the member's message go by)."""
    import ssl

    import anyio
    import httpx2
    import openai

    try:
        async for data in _events(response):
            yield data
    except httpx2.TimeoutException as err:
        raise openai.APITimeoutError(response.request) from err
    except (httpx2.RequestError, anyio.EndOfStream, ssl.SSLError) as err:  # as the SDK's reader
        raise openai.APIConnectionError(request=response.request) from err


async def _events(response: Any) -> AsyncIterator[dict[str, Any]]:
    import openai

    async for line in response.aiter_lines():
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload == "[DONE]":
            return
        data = json.loads(payload)
        if not isinstance(data, dict):
            continue
        if data.get("error"):
            raise openai.APIError(str(data["error"])[:500], response.request, body=data)
        yield data
