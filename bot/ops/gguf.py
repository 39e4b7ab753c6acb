"""Which text model this host runs, and starting llama.cpp for a GGUF one."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.config import DEFAULT_TEXT_MODEL, Settings
from generators.backend import ModelLoadError
from generators.gguf_spec import CPU_TEXT_MODEL, GPU_TEXT_MODEL, GgufSpec, parse_gguf

if TYPE_CHECKING:
    from generators.llamacpp import LlamaCppTextBackend

log = logging.getLogger(__name__)


def has_accelerator(device: str) -> bool:
    """Whether ``MUSE_DEVICE`` means a GPU; ``auto`` asks torch (imported only then)."""
    if device != "auto":
        return device != "cpu"
    import torch

    return bool(torch.cuda.is_available() or torch.backends.mps.is_available())


def text_model_for(settings: Settings) -> str:
    """``MUSE_TEXT_MODEL``, with ``auto`` made concrete: the Q4_K_M GGUF on llama.cpp on a
    CPU-only host (about 5x faster there than transformers), transformers on a GPU host."""
    if settings.text_model != DEFAULT_TEXT_MODEL:
        return settings.text_model
    return GPU_TEXT_MODEL if has_accelerator(settings.device) else CPU_TEXT_MODEL


def local_gguf(settings: Settings) -> GgufSpec | None:
    """The GGUF file Muse serves itself, or None (a transformers model, or a remote server)."""
    if settings.text_backend != "local":
        return None
    return parse_gguf(text_model_for(settings))  # validated with the settings


async def start_gguf(settings: Settings, spec: GgufSpec) -> LlamaCppTextBackend:
    """Fetch the file if it is a hub file and start llama.cpp on it; the caller warms the
    backend up and closes it (which stops the engine)."""
    import asyncio

    from generators.gguf_spec import resolve_gguf
    from generators.llamacpp import EngineConfig, LlamaCppTextBackend

    try:
        path = await asyncio.to_thread(resolve_gguf, spec)
    except OSError as err:
        raise ModelLoadError(
            f"cannot load text model {str(spec)!r}: {err}. Download it once while online, or "
            "point MUSE_TEXT_MODEL at a .gguf file on disk"
        ) from err
    config = EngineConfig(
        model=path,
        alias=spec.name,
        threads=settings.gguf_threads,
        slots=settings.remote_concurrency,
        binary=settings.llama_server,
    )
    backend = await LlamaCppTextBackend.start(config, timeout_s=settings.openai_timeout_s)
    engine = config.binary or "the xllamacpp wheel's engine"
    log.info("llama.cpp (%s) serves %s with %d thread(s)", engine, path, config.threads)
    return backend
