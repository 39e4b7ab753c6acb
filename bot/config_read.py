"""Reading settings: a reader that collects every problem, and the readers of the setting
groups that need nothing else from ``bot.config``."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from generators.gguf_spec import SYNTAX

OFF = ("off", "none", "0", "false", "no")
_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")

T = TypeVar("T")


class Reader:
    """Collects every problem instead of stopping at the first."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def text(self, key: str, default: str) -> str:
        return self.env.get(key, "").strip() or default

    def flag(self, key: str, default: bool) -> bool:
        raw = self.env.get(key, "").strip().lower()
        if not raw:
            return default
        if raw in ("1", "true", "yes", "on"):
            return True
        if raw in OFF:
            return False
        self.problems.append(f"{key} must be 1 or 0, got {raw!r}")
        return default

    def number(self, key: str, default: T, parse: Callable[[str], T], low: float) -> T:
        raw = self.env.get(key, "").strip()
        if not raw:
            return default
        try:
            value = parse(raw)
        except ValueError:
            self.problems.append(f"{key} must be a number, got {raw!r}")
            return default
        if isinstance(value, float) and not math.isfinite(value):
            self.problems.append(f"{key} must be a finite number, got {raw!r}")
            return default
        if value < low:  # type: ignore[operator]
            self.problems.append(f"{key} must be at least {low:g}, got {raw}")
        return value


def check_model(key: str, value: str, problems: list[str]) -> None:
    """A local folder must exist; anything else must look like a hub id (owner/name). GGUF
    files are told apart before (``_check_text_model``)."""
    path = Path(value).expanduser()
    if path.exists() or value.startswith((".", "/", "~")):
        if not path.is_dir():
            gguf = f", nor a GGUF file ({SYNTAX})" if key == "MUSE_TEXT_MODEL" else ""
            problems.append(f"{key}={value!r} is not a folder holding a model{gguf}")
    elif not _HUB_ID.match(value):
        problems.append(f"{key}={value!r} is neither a local folder nor a hub id like owner/name")


def _backend(read: Reader, key: str, remote: str, url_key: str) -> str:
    """``key``'s value, "local" or ``remote``; a remote one needs an http(s) URL in ``url_key``."""
    backend = read.text(key, "local").lower()
    url = read.text(url_key, "")
    if backend not in ("local", remote):
        read.problems.append(f"{key} must be local or {remote}, got {backend!r}")
    elif backend == remote and not url.startswith(("http://", "https://")):
        read.problems.append(
            f"{key}={remote} needs {url_key} like http://host:8000/v1, got {url!r}"
        )
    return backend


def remote_settings(read: Reader) -> dict[str, Any]:
    """MUSE_TEXT_BACKEND and the OpenAI-compatible server's settings."""
    backend = _backend(read, "MUSE_TEXT_BACKEND", "openai", "MUSE_OPENAI_BASE_URL")
    url, model = read.text("MUSE_OPENAI_BASE_URL", ""), read.text("MUSE_OPENAI_MODEL", "")
    if backend == "openai" and not model:
        read.problems.append("MUSE_TEXT_BACKEND=openai needs MUSE_OPENAI_MODEL (the served name)")
    return {
        "text_backend": backend if backend == "openai" else "local",
        "openai_base_url": url,
        "openai_model": model,
        "openai_api_key": read.env.get("MUSE_OPENAI_API_KEY", "").strip(),
        "openai_timeout_s": read.number("MUSE_OPENAI_TIMEOUT_S", 60.0, float, 1),
        "openai_retries": read.number("MUSE_OPENAI_RETRIES", 3, int, 0),
        "remote_concurrency": read.number("MUSE_REMOTE_CONCURRENCY", 8, int, 1),
    }


# Where `make llama-server` (.ci/llama-server) caches a llama-server built for this host.
LLAMA_SERVER_VERSION = "11434.0.0"  # keep in step with .ci/llama-server


def built_llama_server(cache: Path) -> Path | None:
    """The llama-server that `make llama-server` built under ``cache``, if there is one."""
    binary = cache / f"llama-server-{LLAMA_SERVER_VERSION}" / "llama-server"
    return binary if binary.is_file() else None


def gguf_settings(read: Reader) -> dict[str, Any]:
    """The llama.cpp engine's threads, and its binary: ``MUSE_LLAMA_SERVER`` when it names one,
    ``wheel`` for the xllamacpp wheel's engine, and by default a llama-server built for this
    host by `make llama-server` when there is one (about 10% faster than the wheel's generic
    build here), else the wheel's."""
    raw = read.text("MUSE_LLAMA_SERVER", "")
    if raw.lower() == "wheel":
        binary = None
    elif raw:
        binary = Path(raw).expanduser()
        if not binary.is_file():
            read.problems.append(f"MUSE_LLAMA_SERVER={raw!r} is not a file (a llama-server binary)")
    else:
        cache = read.text("MUSE_CACHE", str(Path.home() / ".cache" / "muse"))
        binary = built_llama_server(Path(cache).expanduser())
    return {"gguf_threads": read.number("MUSE_GGUF_THREADS", 1, int, 1), "llama_server": binary}


def shard_settings(read: Reader) -> dict[str, Any]:
    """MUSE_SHARDS (a count or auto) and MUSE_SHARD_IDS (some of them, for this process)."""
    raw = read.text("MUSE_SHARDS", "").lower()
    shards: int | Literal["auto"] | None = None
    if raw == "auto":
        shards = "auto"
    elif raw:
        shards = read.number("MUSE_SHARDS", 1, int, 1)
    ids_raw = read.text("MUSE_SHARD_IDS", "")
    if not ids_raw:
        return {"shards": shards, "shard_ids": None}
    try:
        ids = tuple(sorted({int(part) for part in ids_raw.split(",")}))
    except ValueError:
        read.problems.append(f"MUSE_SHARD_IDS must be shard numbers like 0,1, got {ids_raw!r}")
        return {"shards": shards, "shard_ids": None}
    if not isinstance(shards, int) or not all(0 <= i < shards for i in ids):
        read.problems.append(
            f"MUSE_SHARD_IDS={ids_raw!r} needs MUSE_SHARDS set to a count above each of them"
        )
    return {"shards": shards, "shard_ids": ids}


def picture_settings(read: Reader) -> dict[str, Any]:
    """Model sizes, /draw's buttons, and memory savers for large pictures."""
    return {
        "image_dir": Path(read.text("MUSE_IMAGE_DIR", "./data/images")).expanduser(),
        "image_offload": read.flag("MUSE_IMAGE_OFFLOAD", False),
        "image_max_steps": read.number("MUSE_IMAGE_MAX_STEPS", 30, int, 1),
        "image_default_steps": read.number("MUSE_IMAGE_DEFAULT_STEPS", 20, int, 1),
        "image_guidance": read.number("MUSE_IMAGE_GUIDANCE", 7.0, float, 0),
        "image_review_at": read.number("MUSE_IMAGE_REVIEW_AT", 0.4, float, 0),
        "image_block_at": read.number("MUSE_IMAGE_BLOCK_AT", 0.8, float, 0),
        "image_native_px": read.number("MUSE_IMAGE_NATIVE_PX", 0, int, 0),
        "image_variations": min(4, read.number("MUSE_IMAGE_VARIATIONS", 4, int, 1)),
        "image_tile_above_px": read.number("MUSE_IMAGE_TILE_ABOVE_PX", 1024, int, 0),
        "image_attention_slicing": read.flag("MUSE_IMAGE_ATTENTION_SLICING", False),
        "image_upscaler": read.text("MUSE_IMAGE_UPSCALER", ""),
    }


def image_engine_settings(read: Reader) -> dict[str, Any]:
    """MUSE_IMAGE_BACKEND and the picture engine's settings (``generators.remote_image``)."""
    backend = _backend(read, "MUSE_IMAGE_BACKEND", "remote", "MUSE_IMAGE_BASE_URL")
    url = read.text("MUSE_IMAGE_BASE_URL", "")
    return {
        "image_backend": "remote" if backend == "remote" else "local",
        "image_base_url": url,
        "image_api_key": read.env.get("MUSE_IMAGE_API_KEY", "").strip(),
        "image_timeout_s": read.number("MUSE_IMAGE_TIMEOUT_S", 120.0, float, 1),
        "image_retries": read.number("MUSE_IMAGE_RETRIES", 3, int, 0),
    }


def challenger_settings(read: Reader) -> dict[str, Any]:
    """MUSE_TEXT_CHALLENGER (a second text model, off when empty) and MUSE_CHALLENGER_SHARE."""
    model = read.text("MUSE_TEXT_CHALLENGER", "") or None
    if model is not None:
        check_model("MUSE_TEXT_CHALLENGER", model, read.problems)
    share = read.number("MUSE_CHALLENGER_SHARE", 1.0, float, 0)
    if share > 1:
        read.problems.append(f"MUSE_CHALLENGER_SHARE must be from 0 to 1, got {share}")
    return {"text_challenger": model, "challenger_share": share}
