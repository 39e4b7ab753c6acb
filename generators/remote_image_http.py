"""One HTTP request to a picture engine, for ``generators.remote_image``: standard library only
(``http.client``), so a worker thread can hold it, read server-sent progress events line by line
and have its socket shut from another thread when the job is cancelled.

Failures become ``ImageServerError`` with an outcome label of ``generators.remote_health``:
"timeout" (no byte for ``timeout_s``), "connection" (refused, reset, cut mid-answer),
"rate_limited" (429), "server_error" (5xx or an ``error`` event), "refused" (401/403/404),
"bad_request" (400/413/422: the request's own fault) or "error" (an answer that is not the API's).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from generators.remote_health import BAD_REQUEST

RETRYABLE = frozenset({"timeout", "connection", "rate_limited", "server_error"})
_REQUEST_FAULTS = frozenset({400, 413, 422})
DETAIL_MAX_CHARS = 300
Progress = Callable[[int, int], None]


class ImageServerError(RuntimeError):
    """A failed request: ``outcome`` labels it, ``detail`` is for the operator's log,
    ``retry_after_s`` is the server's Retry-After (None without one)."""

    def __init__(self, outcome: str, detail: str, retry_after_s: float | None = None) -> None:
        super().__init__(detail)
        self.outcome = outcome
        self.detail = detail[:DETAIL_MAX_CHARS]
        self.retry_after_s = retry_after_s


def status_outcome(status: int) -> str:
    if status == 429:
        return "rate_limited"
    if status >= 500:
        return "server_error"
    return BAD_REQUEST if status in _REQUEST_FAULTS else "refused"


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def _message(raw: bytes) -> str:
    """The server's own words for an error (OpenAI's ``{"error": {"message"}}``, FastAPI's
    ``{"detail"}``), else the start of the body."""
    text = raw.decode("utf-8", "replace")
    with contextlib.suppress(ValueError, AttributeError, TypeError):
        body = json.loads(text)
        error = body.get("error", body.get("detail", text))
        return str(error.get("message", error) if isinstance(error, dict) else error)
    return " ".join(text.split())[:DETAIL_MAX_CHARS]


class Connections:
    """The sockets of one call's running requests, so that cancel can shut them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: set[http.client.HTTPConnection] = set()
        self.closed = False

    def add(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if self.closed:
                raise ImageServerError("connection", "cancelled")
            self._open.add(conn)

    def discard(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            self._open.discard(conn)
        conn.close()

    def shut(self) -> None:
        """Cut every open request: its reader wakes up with a lost connection."""
        with self._lock:
            self.closed = True
            for conn in self._open:
                if conn.sock is not None:
                    with contextlib.suppress(OSError):
                        conn.sock.shutdown(socket.SHUT_RDWR)


def post(
    url: str, body: dict[str, Any], headers: dict[str, str], timeout_s: float,
    connections: Connections, on_progress: Progress,
) -> dict[str, Any]:  # fmt: skip
    """POST ``body`` as JSON to ``url``; the answer's JSON (or its ``result`` event)."""
    return _exchange("POST", url, json.dumps(body).encode(), headers, timeout_s, connections,
                     on_progress)  # fmt: skip


def get(url: str, headers: dict[str, str], timeout_s: float) -> dict[str, Any]:
    return _exchange("GET", url, None, headers, timeout_s, Connections(), lambda s, t: None)


def _exchange(
    method: str, url: str, data: bytes | None, headers: dict[str, str], timeout_s: float,
    connections: Connections, on_progress: Progress,
) -> dict[str, Any]:  # fmt: skip
    parts = urlsplit(url)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = kind(parts.hostname or "localhost", parts.port, timeout=timeout_s)
    connections.add(conn)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(
            method, path, body=data, headers=headers | {"Content-Type": "application/json"}
        )
        answer = conn.getresponse()
        if answer.status != 200:
            message = f"HTTP {answer.status}: {_message(answer.read())}"
            wait_s = _retry_after(answer.getheader("Retry-After"))
            raise ImageServerError(status_outcome(answer.status), message, wait_s)
        if "text/event-stream" in (answer.getheader("Content-Type") or ""):
            return _events(answer, on_progress)
        return _json(answer.read())
    except TimeoutError as err:
        raise ImageServerError("timeout", f"no answer within {timeout_s:g} s") from err
    except (OSError, http.client.HTTPException) as err:
        raise ImageServerError("connection", f"{type(err).__name__}: {err}") from err
    finally:
        connections.discard(conn)


def _json(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except ValueError as err:
        raise ImageServerError("error", f"an answer that is not JSON: {raw[:100]!r}") from err
    if not isinstance(body, dict):
        raise ImageServerError("error", "an answer that is not a JSON object")
    return body


def _events(answer: http.client.HTTPResponse, on_progress: Progress) -> dict[str, Any]:
    """Read server-sent events until ``result`` (returned) or ``error`` (raised)."""
    event = ""
    for raw in answer:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if line.startswith("event:"):
            event = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            data = _json(line.removeprefix("data:").strip().encode())
            if event == "progress":
                on_progress(int(data.get("step", 0)), int(data.get("steps", 0)))
            elif event == "error":
                raise ImageServerError("server_error", _message(json.dumps(data).encode()))
            elif event in ("result", ""):
                return data
    raise ImageServerError("connection", "the event stream ended without a result")
