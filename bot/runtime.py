"""Opening and closing Muse's resources in one visible place."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from bot.config import Settings
from bot.service import MuseService
from bot.storage import Storage
from generators.backend import TextBackend
from generators.worker import ModelWorker
from moderation.wordlist import WordListFilter

log = logging.getLogger(__name__)


def load_text_backend(settings: Settings) -> tuple[TextBackend, float]:
    """Load and warm up the text model (on the worker thread); returns it and s per token."""
    import torch  # heavy imports stay out of module import time
    import transformers

    from generators.text import TransformersTextBackend

    transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    torch.set_num_threads(settings.torch_threads)
    backend = TransformersTextBackend.load(settings.text_model, device=settings.device)
    token_s = backend.warmup()
    log.info("warm-up generation: %.1f ms per token", token_s * 1000)
    return backend, token_s


BackendLoader = Callable[[Settings], tuple[TextBackend, float]]


@asynccontextmanager
async def open_service(
    settings: Settings, load: BackendLoader = load_text_backend
) -> AsyncIterator[MuseService]:
    """Database, model worker (``load`` runs on it) and queue, closed in reverse order."""
    storage = await Storage.open(settings.db_path)
    worker = ModelWorker()
    worker.start()
    try:
        backend, token_s = await worker.call(load, settings)
        service = MuseService(
            settings=settings,
            storage=storage,
            worker=worker,
            backend=backend,
            text_filter=WordListFilter(),
            initial_batch_s=token_s * settings.poem_max_new_tokens,  # until measured
        )
        async with service:
            yield service
    finally:
        await worker.close()
        await storage.close()
