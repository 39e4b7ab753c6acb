"""Muse's real picture engine (``python -m generators.serve_images``: Ray Serve on the CPU) for
tests and benches, and a fault proxy to put in front of it.

``engine`` starts the CLI as operators do, in its own process group (Ray's helpers with it),
waits for ``/health`` and stops it with SIGTERM (Serve and Ray shut down), then kills whatever
of the group is left. ``FaultProxy`` forwards to the engine byte for byte, or answers 503,
waits, or refuses as told, to test what Muse does when the engine fails.
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from tests.llama_server import free_port

MODEL_ID = "muse-tiny-sd"  # the model id the engine reports


def ray_missing() -> bool:
    """Whether ``ray[serve]`` is not installed (asked without importing it here: the engine
    runs it in its own process)."""
    from importlib.util import find_spec

    return find_spec("ray") is None or find_spec("fastapi") is None


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the picture engine exited with code {process.returncode}")
        with contextlib.suppress(urllib.error.URLError, OSError):
            with urllib.request.urlopen(f"{url}/health", timeout=1) as answer:
                if answer.status == 200:
                    return
        time.sleep(0.2)
    raise RuntimeError(f"the picture engine did not become healthy within {timeout_s:g} s")


@contextlib.contextmanager
def engine(model: Path, *, replicas: int = 1, log: Path | None = None) -> Iterator[str]:
    """Serve ``model`` on a free loopback port; yields the API's base URL (``.../v1``)."""
    port = free_port()
    command = [
        sys.executable, "-m", "generators.serve_images", "--model", str(model),
        "--model-id", MODEL_ID, "--port", str(port), "--replicas", str(replicas),
        "--num-cpus", str(max(2, replicas)), "--object-store-mb", "100", "--device", "cpu",
    ]  # fmt: skip
    env = os.environ | {"OMP_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0"}
    with contextlib.ExitStack() as stack:
        sink = stack.enter_context(open(log, "wb")) if log else subprocess.DEVNULL
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        stack.callback(stop, process)
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, process, timeout_s=180)
        yield f"{url}/v1"


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (a clean Serve and Ray shutdown), then SIGKILL to what is left of the group."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


class FaultProxy:
    """``with FaultProxy(engine_url) as proxy:``, then the client at ``proxy.url``; set
    ``fail_next`` (answer that many requests with ``status``) or ``delay_s`` (wait before
    forwarding). ``requests`` counts what reached the proxy."""

    def __init__(self, target: str) -> None:
        self.target = urlsplit(target)
        self.fail_next = 0
        self.status = 503
        self.retry_after = ""
        self.delay_s = 0.0
        self.requests = 0
        self.auth: list[str] = []  # the Authorization header of each request
        self.in_flight = 0
        self.most_in_flight = 0  # requests forwarded at once, at the most
        self._lock = threading.Lock()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}{self.target.path}"

    def __enter__(self) -> FaultProxy:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                proxy.forward(self, None)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                proxy.forward(self, body)

        return Handler

    def forward(self, handler: http.server.BaseHTTPRequestHandler, body: bytes | None) -> None:
        self.requests += 1
        self.auth.append(handler.headers.get("Authorization", ""))
        if self.fail_next > 0:
            self.fail_next -= 1
            handler.send_response(self.status)
            if self.retry_after:
                handler.send_header("Retry-After", self.retry_after)
            handler.send_header("Content-Length", "2")
            handler.end_headers()
            handler.wfile.write(b"{}")
            return
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(self.delay_s)
            self._relay(handler, body)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _relay(self, handler: http.server.BaseHTTPRequestHandler, body: bytes | None) -> None:
        conn = http.client.HTTPConnection(self.target.hostname or "", self.target.port, timeout=60)
        try:
            headers = {"Content-Type": "application/json"}
            conn.request(handler.command, handler.path, body=body, headers=headers)
            answer = conn.getresponse()
            handler.send_response(answer.status)
            for key, value in answer.getheaders():
                if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                    handler.send_header(key, value)
            handler.send_header("Connection", "close")
            handler.end_headers()
            while chunk := answer.read1(65536):
                handler.wfile.write(chunk)
                handler.wfile.flush()
        except OSError:
            pass  # the client left: so do we
        finally:
            conn.close()
            handler.close_connection = True
