"""Settings, read once at startup from the environment (and ``.env``) into a frozen dataclass."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bot.config_read import (
    OFF,
    Reader,
    challenger_settings,
    check_model,
    gguf_settings,
    image_engine_settings,
    picture_settings,
    remote_settings,
    shard_settings,
)
from bot.errors import ConfigError
from bot.web.auth import check_token
from generators.gguf_spec import SYNTAX, parse_gguf
from generators.quant import QUANT_CHOICES
from moderation.semantic import DEFAULT_THRESHOLD as EMBED_THRESHOLD

# "auto": the host's default, picked at load time (bot.ops.gguf.text_model_for): a Q4_K_M GGUF
# on llama.cpp on a CPU-only host, the transformers model on a GPU host
DEFAULT_TEXT_MODEL = "auto"
DEFAULT_IMAGE_MODEL = "segmind/tiny-sd"
DEFAULT_DB_PATH = "./data/muse.sqlite3"
DEFAULT_WEB_PORT = 8780  # `muse web` without --port or MUSE_WEB_PORT
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


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
    text_forms: bool = True  # forms kept by construction (generators.constrain)
    progress_interval_s: float = 2.0
    log_level: str = "INFO"
    log_json: bool = False
    image_model: str | None = DEFAULT_IMAGE_MODEL  # None: /draw is turned off
    image_dir: Path = Path("./data/images")
    image_offload: bool = False
    image_max_steps: int = 30
    image_default_steps: int = 20
    image_guidance: float = 7.0
    image_native_px: int = 0  # 0: the model family's native side
    image_variations: int = 4  # pictures per V / Vary Region / Zoom out / Remix
    image_tile_above_px: int = 1024  # tiled VAE decoding above this side (upscales)
    image_attention_slicing: bool = False  # with tiling, for small GPUs
    image_upscaler: str = ""  # hub id or folder of an upscaler pipeline for U; "": hires fix
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
    # semantic layer: the guard model ("auto": Qwen3Guard-Gen-0.6B where it can be had; "off";
    # or a folder / hub id that must load), its latency budget, and the embedding head
    guard_model: str = "auto"
    guard_timeout_s: float = 2.0
    filter_embed: bool = True  # runs on the service's filter thread, off the event loop
    filter_embed_threshold: float = EMBED_THRESHOLD
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
    # pictures on a picture engine (generators.remote_image): Muse's Ray Serve application
    # (generators.serve_images) or another OpenAI images API; "local": the diffusers pipeline
    image_backend: Literal["local", "remote"] = "local"
    image_base_url: str = ""
    image_api_key: str = field(default="", repr=False)
    image_timeout_s: float = 120.0  # per read: connecting, each next step, the answer
    image_retries: int = 3
    # a GGUF MUSE_TEXT_MODEL runs on llama.cpp (generators.llamacpp): its CPU threads, and a
    # llama-server binary to run instead of the xllamacpp wheel's engine (None: the wheel)
    gguf_threads: int = 1
    llama_server: Path | None = None
    shards: int | Literal["auto"] | None = None  # None: one gateway connection, no sharding
    shard_ids: tuple[int, ...] | None = None

    def require_token(self) -> None:
        if not self.discord_token:
            raise ConfigError(
                "DISCORD_TOKEN is not set: put the bot token from the Discord developer portal "
                "in the environment or in .env (see README, 'Create the Discord application')"
            )


def _check_text_model(value: str, problems: list[str]) -> None:
    """``auto``, a GGUF file (generators.gguf_spec), a model folder or a hub id."""
    if value == DEFAULT_TEXT_MODEL:
        return
    try:
        spec = parse_gguf(value)
    except ValueError as err:
        problems.append(f"MUSE_TEXT_MODEL={err}; a GGUF model is {SYNTAX}")
        return
    if spec is None:
        check_model("MUSE_TEXT_MODEL", value, problems)


def _check_gguf_quant(settings: Settings, problems: list[str]) -> None:
    """MUSE_TEXT_QUANT quantizes transformers weights; a GGUF file carries its own."""
    if settings.text_quant != "none" and settings.text_model != DEFAULT_TEXT_MODEL:
        try:
            gguf = parse_gguf(settings.text_model) is not None
        except ValueError:
            return  # already reported
        if gguf:
            problems.append(
                f"MUSE_TEXT_QUANT={settings.text_quant} applies to transformers models; the GGUF "
                f"file {settings.text_model!r} has its own quantization (leave it at none)"
            )


def _optional_dir(read: Reader, key: str) -> Path | None:
    raw = read.text(key, "")
    if not raw:
        return None
    path = Path(raw).expanduser()
    if not path.is_dir():
        read.problems.append(f"{key}={raw!r} is not a folder")
    return path


def _device(read: Reader) -> str:
    device = read.text("MUSE_DEVICE", "auto").lower()
    if not _DEVICE.match(device):
        read.problems.append(f"MUSE_DEVICE must be auto, cpu, cuda, cuda:N or mps, got {device!r}")
    return device


def _text_quant(read: Reader) -> str:
    quant = read.text("MUSE_TEXT_QUANT", "none").lower()
    if quant not in QUANT_CHOICES:
        read.problems.append(f"MUSE_TEXT_QUANT must be none, 8bit or 4bit, got {quant!r}")
    return quant


def _image_model(read: Reader) -> str | None:
    """The image model to load, or None when drawing is turned off (MUSE_IMAGE_MODEL=0)."""
    image_model = read.text("MUSE_IMAGE_MODEL", DEFAULT_IMAGE_MODEL)
    if image_model.lower() in OFF:
        return None
    check_model("MUSE_IMAGE_MODEL", image_model, read.problems)
    return image_model


def _batching_settings(read: Reader) -> dict[str, Any]:
    """Continuous batching (text jobs join a running batch) or static whole batches; forms
    kept by construction or not."""
    mode = read.text("MUSE_TEXT_BATCHING", "continuous").lower()
    if mode not in ("continuous", "static"):
        read.problems.append(f"MUSE_TEXT_BATCHING must be continuous or static, got {mode!r}")
    return {
        "text_batching": mode,
        "text_slots": read.number("MUSE_TEXT_SLOTS", 16, int, 1),
        "text_forms": read.flag("MUSE_TEXT_FORMS", True),  # generators.constrain
    }


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


def _fingerprint_files(read: Reader) -> tuple[Path, ...]:
    """MUSE_COPYRIGHT_FINGERPRINTS: comma-separated files written by moderation.fingerprint."""
    raw = read.text("MUSE_COPYRIGHT_FINGERPRINTS", "")
    paths = tuple(Path(p.strip()).expanduser() for p in raw.split(",") if p.strip())
    for path in paths:
        if not path.is_file():
            read.problems.append(f"MUSE_COPYRIGHT_FINGERPRINTS names {str(path)!r}, not a file")
    return paths


def _guard_settings(read: Reader) -> dict[str, Any]:
    return {
        "copyright_guard": read.flag("MUSE_COPYRIGHT_GUARD", True),
        "copyright_fingerprints": _fingerprint_files(read),
        "image_input_max_bytes": read.number("MUSE_IMAGE_INPUT_MAX_BYTES", 8 << 20, int, 1024),
    }


def _semantic_settings(read: Reader) -> dict[str, Any]:
    """The semantic safety layer: the guard model, its latency budget, the embedding head."""
    return {
        "guard_model": read.text("MUSE_GUARD_MODEL", "auto"),
        "guard_timeout_s": read.number("MUSE_GUARD_TIMEOUT_S", 2.0, float, 0.05),
        "filter_embed": read.flag("MUSE_FILTER_EMBED", True),
        "filter_embed_threshold": read.number(
            "MUSE_FILTER_EMBED_THRESHOLD", EMBED_THRESHOLD, float, 0
        ),
    }


def _web_settings(read: Reader) -> dict[str, Any]:
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


def load_settings(env: Mapping[str, str]) -> Settings:
    """Validate ``env`` once; raise ``ConfigError`` listing every problem."""
    read = Reader(env)
    text_model = read.text("MUSE_TEXT_MODEL", DEFAULT_TEXT_MODEL)
    _check_text_model(text_model, read.problems)
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
        mod_channel_id=read.number("MUSE_MOD_CHANNEL_ID", 0, int, 0) or None,
        votes_per_minute=read.number("MUSE_VOTES_PER_MINUTE", 20, int, 1),
        shutdown_grace_s=read.number("MUSE_SHUTDOWN_GRACE_S", 30.0, float, 0),
        export_secret=read.text("MUSE_EXPORT_SECRET", ""),
        filter_enabled=read.flag("MUSE_FILTER", True),
        filter_ml=read.flag("MUSE_FILTER_ML", True),
        filter_ml_threshold=read.number("MUSE_FILTER_ML_THRESHOLD", 0.9, float, 0),
        filter_classifier_dir=_optional_dir(read, "MUSE_FILTER_CLASSIFIER_DIR"),
        filter_classifier_threshold=read.number("MUSE_FILTER_CLASSIFIER_THRESHOLD", 0.5, float, 0),
        **_guard_settings(read) | _semantic_settings(read),
        **_web_settings(read),
        **picture_settings(read),
        **_batching_settings(read),
        **remote_settings(read)
        | image_engine_settings(read)
        | shard_settings(read)
        | gguf_settings(read)
        | challenger_settings(read),
    )
    for check in (_check_image_limits, _check_gguf_quant, _check_web):
        check(settings, read.problems)
    if read.problems:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(read.problems))
    return settings
