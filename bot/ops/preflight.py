"""Startup checks that run before anything heavy loads, so that every problem is reported at
once and within seconds: ``muse run`` has a token, the picture folder is writable, and each
model setting names a usable folder or file, or a hub id that is in the local Hugging Face
cache or can be downloaded. The hub is probed once, with a short timeout, instead of letting
huggingface_hub retry every file for about a minute; when it cannot be reached, cached models
load from the cache without asking it (``Access.local_only``)."""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.config import Settings
from bot.errors import ConfigError
from generators.gguf_spec import parse_gguf

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 4.0
TOKEN_PROBLEM = (
    "DISCORD_TOKEN is not set: put the bot token from the Discord developer portal in the "
    "environment or in .env (see README, 'Create the Discord application')"
)


class StartupError(ConfigError):
    """One or more problems found before loading; the message lists all of them."""


@dataclass(frozen=True)
class Access:
    """How the models may be fetched: ``local_only`` when the hub is offline or unreachable
    and every hub model is cached, so loaders never wait on the network."""

    local_only: bool = False


@dataclass(frozen=True)
class ModelSource:
    """One model to load: its setting, the hub id or path, and the file a complete model of its
    kind has (for a GGUF model in a hub repo: the file itself)."""

    setting: str
    value: str
    marker: str

    @property
    def is_path(self) -> bool:
        return Path(self.value).expanduser().exists() or self.value.startswith((".", "/", "~"))

    def local_problem(self) -> str | None:
        """For a path: what is wrong with it, or None."""
        path = Path(self.value).expanduser()
        if path.is_file() and path.suffix == ".gguf" and self.setting == "MUSE_TEXT_MODEL":
            return None
        if not (path / self.marker).is_file():
            return f"{self.setting}={self.value!r} is not a model folder (it has no {self.marker})"
        return None

    def download(self) -> str:
        """The command that puts it in the local cache."""
        if self.marker.endswith(".gguf"):
            return f"hf download {self.value} {self.marker}"
        return f"hf download {self.value}"


def _text_source(settings: Settings) -> ModelSource:
    """The text model as loaded: ``auto`` made concrete for this host, a GGUF file by its repo
    and file name (or its path), any other model by its folder or hub id."""
    from bot.ops.gguf import text_model_for

    value = text_model_for(settings)
    spec = parse_gguf(value)  # validated with the settings
    if spec is None:
        return ModelSource("MUSE_TEXT_MODEL", value, "config.json")
    if spec.path is not None:
        return ModelSource("MUSE_TEXT_MODEL", str(spec.path), "")
    return ModelSource("MUSE_TEXT_MODEL", spec.repo, spec.filename)


def model_sources(settings: Settings) -> list[ModelSource]:
    """The models ``load_models`` (or the GGUF engine) will load with these settings."""
    sources = []
    if settings.text_backend == "local":
        sources.append(_text_source(settings))
    if settings.image_model is not None and settings.image_backend == "local":
        sources.append(ModelSource("MUSE_IMAGE_MODEL", settings.image_model, "model_index.json"))
    return sources


def hub_reachable(endpoint: str, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """Whether the hub answers at all (any HTTP status counts), within ``timeout_s``."""
    request = urllib.request.Request(endpoint, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False


def _is_cached(source: ModelSource) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(source.value, source.marker), str)


def _hub_state() -> tuple[bool, str]:
    """(``HF_HUB_OFFLINE`` is set, the hub's address), as huggingface_hub read them."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE), str(constants.ENDPOINT)


def _missing_problem(source: ModelSource, why: str) -> str:
    return (
        f"{source.setting}={source.value!r} is not in the local Hugging Face cache and {why}: "
        f"download it once while online (`{source.download()}`), or point "
        f"{source.setting} at a local folder"
    )


def _image_dir_problem(settings: Settings) -> str | None:
    if settings.image_model is None:
        return None
    probe = settings.image_dir / ".muse-write-check"
    try:
        settings.image_dir.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as err:
        return f"MUSE_IMAGE_DIR={settings.image_dir} is not writable: {err}"
    return None


def _model_problems(settings: Settings, probe: Callable[[str], bool]) -> tuple[list[str], Access]:
    sources = model_sources(settings)
    problems = [p for s in sources if s.is_path for p in [s.local_problem()] if p]
    hub = [s for s in sources if not s.is_path]
    if not hub:
        return problems, Access()
    missing = [s for s in hub if not _is_cached(s)]
    offline, endpoint = _hub_state()
    if offline:
        why = "HF_HUB_OFFLINE is set"
    elif probe(endpoint):
        return problems, Access()
    else:
        why = f"the hub ({endpoint}) cannot be reached"
        if not missing:
            log.warning("%s cannot be reached: loading the cached models without it", endpoint)
    problems += [_missing_problem(s, why) for s in missing]
    return problems, Access(local_only=True)


def check_startup(
    settings: Settings,
    *,
    models: bool = True,
    token: bool = False,
    probe: Callable[[str], bool] = hub_reachable,
) -> Access:
    """Every problem found before loading, raised at once as a ``StartupError``; otherwise
    how the models may be fetched. ``models`` False skips the model settings (a caller that
    loads its own models); ``token`` checks ``DISCORD_TOKEN`` (``muse run``)."""
    problems = [TOKEN_PROBLEM] if token and not settings.discord_token else []
    problems += [p for p in [_image_dir_problem(settings)] if p]
    access = Access()
    if models:
        found, access = _model_problems(settings, probe)
        problems += found
    if len(problems) == 1:
        raise StartupError(f"cannot start: {problems[0]}")
    if problems:
        raise StartupError("cannot start:\n  - " + "\n  - ".join(problems))
    return access
