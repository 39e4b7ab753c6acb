"""Settings, read once at startup from the environment (and ``.env``) into a frozen dataclass."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from bot.errors import ConfigError
from bot.web.auth import check_token
from generators.quant import QUANT_CHOICES

DEFAULT_TEXT_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"
DEFAULT_IMAGE_MODEL = "segmind/tiny-sd"
OFF = ("off", "none", "0", "false", "no")
DEFAULT_DB_PATH = "./data/muse.sqlite3"
DEFAULT_WEB_PORT = 8780  # `muse web` without --port or MUSE_WEB_PORT
_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")

T = TypeVar("T")


@dataclass(frozen=True)
class Settings:
    """Everything Muse reads from its environment. Keys are listed in ``.env.example``."""

    discord_token: str = ""
    text_model: str = DEFAULT_TEXT_MODEL
    text_challenger: str | None = (
        None  # served beside text_model in A/B matches (bot.service.arena)
    )
    challenger_share: float = 1.0  # of compare requests, the share that is such a match
    db_path: Path = Path(DEFAULT_DB_PATH)
    device: str = "auto"
    text_quant: str = "none"  # none | 8bit | 4bit (generators.quant)
    guild_id: int | None = None
    queue_max_depth: int = 32
    queue_per_user: int = 2
    batch_max_rows: int = 8
    job_timeout_s: float = 180.0
    torch_threads: int = 1
    poem_max_new_tokens: int = 200
    slogan_max_new_tokens: int = 40
    progress_interval_s: float = 2.0
    log_level: str = "INFO"
    log_json: bool = False
    image_model: str | None = DEFAULT_IMAGE_MODEL  # None: /draw is turned off
    image_dir: Path = Path("./data/images")
    image_offload: bool = False
    image_max_steps: int = 30
    image_default_steps: int = 20
    image_guidance: float = 7.0
    image_review_at: float = 0.4
    image_block_at: float = 0.8
    mod_channel_id: int | None = None  # default for guilds that set none with /muse-settings
    votes_per_minute: int = 20
    shutdown_grace_s: float = 30.0
    export_secret: str = ""
    filter_enabled: bool = True
    filter_ml: bool = True
    filter_ml_threshold: float = 0.9
    filter_classifier_dir: Path | None = None
    filter_classifier_threshold: float = 0.5
    # copyright guard (moderation/copyright.py) and /draw from a member's picture
    copyright_guard: bool = True
    copyright_fingerprints: tuple[Path, ...] = ()  # the operator's own fingerprint files
    image_input_max_bytes: int = 8 * 1024 * 1024
    # the moderators' web view (bot/web): its token, address, and port (None: `muse run` has none)
    web_token: str = field(default="", repr=False)
    web_host: str = "127.0.0.1"
    web_port: int | None = None
    # continuous batching (issue 10): "continuous" lets text jobs join a running batch at the
    # next decoding step; "static" keeps whole batches (jobs wait for the batch to end)
    text_batching: str = "continuous"
    text_slots: int = 16  # rows of text in flight at most when continuous
    # Scale out: an OpenAI-compatible text server, and Discord shards (README, "Running at scale").
    text_backend: Literal["local", "openai"] = "local"
    openai_base_url: str = ""
    openai_model: str = ""
    openai_api_key: str = field(default="", repr=False)
    openai_timeout_s: float = 60.0
    openai_retries: int = 3
    remote_concurrency: int = 8
    shards: int | Literal["auto"] | None = None  # None: one gateway connection, no sharding
    shard_ids: tuple[int, ...] | None = None

    def require_token(self) -> None:
        if not self.discord_token:
            raise ConfigError(
                "DISCORD_TOKEN is not set: put the bot token from the Discord developer portal "
                "in the environment or in .env (see README, 'Create the Discord application')"
            )


class _Reader:
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


def _check_model(key: str, value: str, problems: list[str]) -> None:
    """A local folder must exist; anything else must look like a hub id (owner/name)."""
    path = Path(value).expanduser()
    if path.exists() or value.startswith((".", "/", "~")):
        if not path.is_dir():
            problems.append(f"{key}={value!r} is not a folder holding a model")
    elif not _HUB_ID.match(value):
        problems.append(f"{key}={value!r} is neither a local folder nor a hub id like owner/name")


def _optional_dir(read: _Reader, key: str) -> Path | None:
    raw = read.text(key, "")
    if not raw:
        return None
    path = Path(raw).expanduser()
    if not path.is_dir():
        read.problems.append(f"{key}={raw!r} is not a folder")
    return path


def _device(read: _Reader) -> str:
    device = read.text("MUSE_DEVICE", "auto").lower()
    if not _DEVICE.match(device):
        read.problems.append(f"MUSE_DEVICE must be auto, cpu, cuda, cuda:N or mps, got {device!r}")
    return device


def _text_quant(read: _Reader) -> str:
    quant = read.text("MUSE_TEXT_QUANT", "none").lower()
    if quant not in QUANT_CHOICES:
        read.problems.append(f"MUSE_TEXT_QUANT must be none, 8bit or 4bit, got {quant!r}")
    return quant


def _image_model(read: _Reader) -> str | None:
    """The image model to load, or None when drawing is turned off (MUSE_IMAGE_MODEL=0)."""
    image_model = read.text("MUSE_IMAGE_MODEL", DEFAULT_IMAGE_MODEL)
    if image_model.lower() in OFF:
        return None
    _check_model("MUSE_IMAGE_MODEL", image_model, read.problems)
    return image_model


def _batching_settings(read: _Reader) -> dict[str, Any]:
    """Continuous batching (text jobs join a running batch) or static whole batches."""
    mode = read.text("MUSE_TEXT_BATCHING", "continuous").lower()
    if mode not in ("continuous", "static"):
        read.problems.append(f"MUSE_TEXT_BATCHING must be continuous or static, got {mode!r}")
    return {"text_batching": mode, "text_slots": read.number("MUSE_TEXT_SLOTS", 16, int, 1)}


def _check_image_limits(settings: Settings, problems: list[str]) -> None:
    if settings.image_default_steps > settings.image_max_steps:
        problems.append(
            f"MUSE_IMAGE_DEFAULT_STEPS ({settings.image_default_steps}) is above "
            f"MUSE_IMAGE_MAX_STEPS ({settings.image_max_steps})"
        )
    if not settings.image_review_at <= settings.image_block_at <= 1:
        problems.append(
            "image thresholds need MUSE_IMAGE_REVIEW_AT <= MUSE_IMAGE_BLOCK_AT <= 1, got "
            f"{settings.image_review_at} and {settings.image_block_at}"
        )


def _fingerprint_files(read: _Reader) -> tuple[Path, ...]:
    """MUSE_COPYRIGHT_FINGERPRINTS: comma-separated files written by moderation.fingerprint."""
    raw = read.text("MUSE_COPYRIGHT_FINGERPRINTS", "")
    paths = tuple(Path(p.strip()).expanduser() for p in raw.split(",") if p.strip())
    for path in paths:
        if not path.is_file():
            read.problems.append(f"MUSE_COPYRIGHT_FINGERPRINTS names {str(path)!r}, not a file")
    return paths


def _guard_settings(read: _Reader) -> dict[str, Any]:
    return {
        "copyright_guard": read.flag("MUSE_COPYRIGHT_GUARD", True),
        "copyright_fingerprints": _fingerprint_files(read),
        "image_input_max_bytes": read.number("MUSE_IMAGE_INPUT_MAX_BYTES", 8 << 20, int, 1024),
    }


def _web_settings(read: _Reader) -> dict[str, Any]:
    """The web view's three settings (checked together by ``_check_web``)."""
    return {
        "web_token": read.text("MUSE_WEB_TOKEN", ""),
        "web_host": read.text("MUSE_WEB_HOST", "127.0.0.1"),
        "web_port": read.number("MUSE_WEB_PORT", 0, int, 1) or None,
    }


def _check_web(settings: Settings, problems: list[str]) -> None:
    """A port needs a good token (checked again by the web view itself), and must exist."""
    if settings.web_port is None:
        return
    if settings.web_port > 65535:
        problems.append(f"MUSE_WEB_PORT must be at most 65535, got {settings.web_port}")
    try:
        check_token(settings.web_token)
    except ConfigError as err:
        problems.append(f"MUSE_WEB_PORT is set, but {err}")


def _remote(read: _Reader) -> dict[str, Any]:
    """MUSE_TEXT_BACKEND and the OpenAI-compatible server's settings."""
    backend = read.text("MUSE_TEXT_BACKEND", "local").lower()
    url, model = read.text("MUSE_OPENAI_BASE_URL", ""), read.text("MUSE_OPENAI_MODEL", "")
    if backend not in ("local", "openai"):
        read.problems.append(f"MUSE_TEXT_BACKEND must be local or openai, got {backend!r}")
    elif backend == "openai" and not url.startswith(("http://", "https://")):
        read.problems.append(
            "MUSE_TEXT_BACKEND=openai needs MUSE_OPENAI_BASE_URL like http://host:8000/v1, "
            f"got {url!r}"
        )
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


def _shards(read: _Reader) -> dict[str, Any]:
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


def _challenger(read: _Reader) -> dict[str, Any]:
    """MUSE_TEXT_CHALLENGER (a second text model, off when empty) and MUSE_CHALLENGER_SHARE."""
    model = read.text("MUSE_TEXT_CHALLENGER", "") or None
    if model is not None:
        _check_model("MUSE_TEXT_CHALLENGER", model, read.problems)
    share = read.number("MUSE_CHALLENGER_SHARE", 1.0, float, 0)
    if share > 1:
        read.problems.append(f"MUSE_CHALLENGER_SHARE must be from 0 to 1, got {share}")
    return {"text_challenger": model, "challenger_share": share}


def load_settings(env: Mapping[str, str]) -> Settings:
    """Validate ``env`` once; raise ``ConfigError`` listing every problem."""
    read = _Reader(env)
    text_model = read.text("MUSE_TEXT_MODEL", DEFAULT_TEXT_MODEL)
    _check_model("MUSE_TEXT_MODEL", text_model, read.problems)
    image_model = _image_model(read)
    settings = Settings(
        discord_token=read.text("DISCORD_TOKEN", ""),
        text_model=text_model,
        db_path=Path(read.text("MUSE_DB_PATH", DEFAULT_DB_PATH)).expanduser(),
        device=_device(read),
        text_quant=_text_quant(read),
        guild_id=read.number("MUSE_GUILD_ID", 0, int, 0) or None,
        queue_max_depth=read.number("MUSE_QUEUE_MAX_DEPTH", 32, int, 1),
        queue_per_user=read.number("MUSE_QUEUE_PER_USER", 2, int, 1),
        batch_max_rows=read.number("MUSE_BATCH_MAX_ROWS", 8, int, 1),
        job_timeout_s=read.number("MUSE_JOB_TIMEOUT_S", 180.0, float, 1),
        torch_threads=read.number("MUSE_TORCH_THREADS", 1, int, 1),
        poem_max_new_tokens=read.number("MUSE_POEM_MAX_NEW_TOKENS", 200, int, 8),
        slogan_max_new_tokens=read.number("MUSE_SLOGAN_MAX_NEW_TOKENS", 40, int, 4),
        progress_interval_s=read.number("MUSE_PROGRESS_INTERVAL_S", 2.0, float, 1.5),
        log_level=read.text("MUSE_LOG_LEVEL", "INFO").upper(),
        log_json=read.flag("MUSE_LOG_JSON", False),
        image_model=image_model,
        image_dir=Path(read.text("MUSE_IMAGE_DIR", "./data/images")).expanduser(),
        image_offload=read.flag("MUSE_IMAGE_OFFLOAD", False),
        image_max_steps=read.number("MUSE_IMAGE_MAX_STEPS", 30, int, 1),
        image_default_steps=read.number("MUSE_IMAGE_DEFAULT_STEPS", 20, int, 1),
        image_guidance=read.number("MUSE_IMAGE_GUIDANCE", 7.0, float, 0),
        image_review_at=read.number("MUSE_IMAGE_REVIEW_AT", 0.4, float, 0),
        image_block_at=read.number("MUSE_IMAGE_BLOCK_AT", 0.8, float, 0),
        mod_channel_id=read.number("MUSE_MOD_CHANNEL_ID", 0, int, 0) or None,
        votes_per_minute=read.number("MUSE_VOTES_PER_MINUTE", 20, int, 1),
        shutdown_grace_s=read.number("MUSE_SHUTDOWN_GRACE_S", 30.0, float, 0),
        export_secret=read.text("MUSE_EXPORT_SECRET", ""),
        filter_enabled=read.flag("MUSE_FILTER", True),
        filter_ml=read.flag("MUSE_FILTER_ML", True),
        filter_ml_threshold=read.number("MUSE_FILTER_ML_THRESHOLD", 0.9, float, 0),
        filter_classifier_dir=_optional_dir(read, "MUSE_FILTER_CLASSIFIER_DIR"),
        filter_classifier_threshold=read.number("MUSE_FILTER_CLASSIFIER_THRESHOLD", 0.5, float, 0),
        **_guard_settings(read),
        **_web_settings(read),
        **_batching_settings(read),
        **_remote(read) | _shards(read) | _challenger(read),
    )
    _check_image_limits(settings, read.problems)
    _check_web(settings, read.problems)
    if read.problems:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(read.problems))
    return settings
