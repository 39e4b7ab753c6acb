"""Opening and closing Muse's resources in one visible place: what builds the service,
beside the CLI that runs it (``bot.ops`` stays below the service and never imports it)."""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import warnings
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.ops.gguf import local_gguf, start_gguf, text_model_for
from bot.ops.logs import one_line_per_record
from bot.ops.metrics import Health
from bot.ops.preflight import Access, check_startup
from bot.service.arena import effective_roles
from bot.service.core import MuseService
from bot.store.storage import Storage
from generators.backend import AsyncTextBackend, ImageBackend, ModelLoadError, TextBackend
from generators.forms.grammar import warm_row_grammars
from generators.queue import Throughput
from generators.worker import ModelWorker
from moderation.base import ImageFilter, TextFilter
from moderation.copyright import GuardedTextFilter, load_copyright_guard
from moderation.disabled import DisabledFilter
from moderation.guard import guard_or_none
from moderation.image import OpenNsfwFilter
from moderation.text import build_text_filter, describe_filter

if TYPE_CHECKING:
    from generators.remote import OpenAITextBackend
    from generators.remote_image import RemoteImageBackend

log = logging.getLogger(__name__)


@dataclass
class Models:
    """What the worker thread loaded, with warm-up rates for the first wait estimates.
    ``text`` is None when the text model is served elsewhere (``MUSE_TEXT_BACKEND=openai``)."""

    text: TextBackend | AsyncTextBackend | None
    token_s: float
    image: ImageBackend | None = None
    step_s: float = 0.0
    challenger: TextBackend | None = None  # MUSE_TEXT_CHALLENGER (bot.service.arena)


def _quiet_ml_logs() -> None:
    """No progress bars, no library warnings below errors, each line once (through Muse's
    handler), and not huggingface_hub's notice about an argument diffusers still passes."""
    import transformers

    transformers.utils.logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    warnings.filterwarnings("ignore", message="The `local_dir_use_symlinks` argument")
    one_line_per_record()


def load_models(settings: Settings, access: Access | None = None) -> Models:
    """Load and warm up the local models (on the worker thread, which then owns them);
    with ``access.local_only`` from the Hugging Face cache without asking the hub."""
    if settings.text_challenger is not None and settings.text_backend != "local":
        raise ModelLoadError("MUSE_TEXT_CHALLENGER is served locally: set MUSE_TEXT_BACKEND=local")
    local_only = access is not None and access.local_only
    local_text = settings.text_backend == "local" and local_gguf(settings) is None
    if not local_text and (settings.image_model is None or settings.image_backend == "remote"):
        return Models(None, 0.0)  # nothing runs here: torch is not even imported
    import torch  # heavy imports stay out of module import time

    _quiet_ml_logs()
    torch.set_num_threads(settings.torch_threads)
    models = Models(None, 0.0)
    if local_text:
        _load_text(settings, models, local_only)
    if settings.image_model is None or settings.image_backend == "remote":
        return models  # /draw is off, or drawn elsewhere (connect_image_engine)
    _load_image(settings, models, local_only)
    return models


def _load_text(settings: Settings, models: Models, local_only: bool) -> None:
    """The transformers text model (and the challenger), warmed up."""
    from generators.text import TransformersTextBackend

    log.info("loading the text model %s and warming it up", settings.text_model)
    text = TransformersTextBackend.load(
        text_model_for(settings),
        device=settings.device,
        quant=settings.text_quant,
        local_files_only=local_only,
    )
    models.text, models.token_s = text, text.warmup()
    log.info("text warm-up: %.1f ms per token", models.token_s * 1000)
    if settings.text_challenger is not None:
        models.challenger = TransformersTextBackend.load(
            settings.text_challenger, device=settings.device, quant=settings.text_quant
        )


def _load_image(settings: Settings, models: Models, local_only: bool) -> None:
    """The diffusers pipeline, warmed up at its native size."""
    import diffusers

    diffusers.utils.logging.disable_progress_bar()
    from generators.image import DiffusersImageBackend
    from generators.memory import MemoryPlan

    log.info("loading the image model %s and warming it up", settings.image_model)
    image = DiffusersImageBackend.load(
        str(settings.image_model),
        device=settings.device,
        offload=settings.image_offload,
        guidance=settings.image_guidance,
        local_files_only=local_only,
        native_px=settings.image_native_px,
        memory=MemoryPlan(settings.image_tile_above_px, settings.image_attention_slicing),
        upscaler=settings.image_upscaler,
    )
    models.image, models.step_s = image, image.warmup()
    log.info("image warm-up: %.2f s per step at native size", models.step_s)


async def connect_remote(settings: Settings, models: Models) -> OpenAITextBackend | None:
    """With ``MUSE_TEXT_BACKEND=openai`` (and no text model loaded), the server's client; with
    a GGUF text model, llama.cpp started here (``bot.ops.gguf``). Checked with one short
    request; the caller closes it."""
    gguf = local_gguf(settings)
    if models.text is not None or (gguf is None and settings.text_backend != "openai"):
        return None
    from generators.remote import OpenAITextBackend, RemoteConfig

    config = RemoteConfig(
        settings.openai_base_url,
        settings.openai_model,
        settings.openai_api_key,
        timeout_s=settings.openai_timeout_s,
        retries=settings.openai_retries,
    )
    remote = OpenAITextBackend.connect(config) if gguf is None else await start_gguf(settings, gguf)
    try:
        models.text, models.token_s = remote, await remote.warmup()
    except ModelLoadError:
        await remote.close()
        raise
    if settings.text_forms:
        await asyncio.to_thread(warm_row_grammars)
    log.info("text server %s serves %r", remote.config.base_url, remote.model_id)
    return remote


def connect_image_engine(settings: Settings, models: Models) -> RemoteImageBackend | None:
    """With ``MUSE_IMAGE_BACKEND=remote``, the picture engine's client, checked with one small
    picture; None when /draw is off (``MUSE_IMAGE_MODEL=off``) or drawn here."""
    if settings.image_model is None:
        log.info("MUSE_IMAGE_MODEL is off: /draw is disabled")
        return None
    if settings.image_backend != "remote":
        return None
    from generators.remote_image import ImageServerConfig, RemoteImageBackend

    config = ImageServerConfig(
        settings.image_base_url, settings.image_api_key, timeout_s=settings.image_timeout_s,
        retries=settings.image_retries, guidance=settings.image_guidance,
        native_px=settings.image_native_px,
    )  # fmt: skip
    engine = RemoteImageBackend.connect(config)
    models.image, models.step_s = engine, engine.warmup()
    log.info("picture engine %s serves %r", config.base_url, engine.model_id)
    return engine


FILTER_OFF_WARNING = (
    "SAFETY FILTER IS OFF (MUSE_FILTER=0): prompts and outputs are posted unchecked. "
    "Use this only on a private test server."
)


def load_text_filter(settings: Settings) -> TextFilter:
    """The combined text filter with the copyright guard beside it; a configured part that
    cannot load is a startup error."""
    if not settings.filter_enabled:
        log.warning(FILTER_OFF_WARNING)
        return DisabledFilter()
    classifier = settings.filter_classifier_dir
    text_filter = build_text_filter(
        ml=settings.filter_ml,
        ml_threshold=settings.filter_ml_threshold,
        classifier_dir=str(classifier) if classifier else None,
        classifier_threshold=settings.filter_classifier_threshold,
        embed=settings.filter_embed,
        embed_threshold=settings.filter_embed_threshold,
        guard=guard_or_none(settings.guard_model, timeout_s=settings.guard_timeout_s),
    )
    if not settings.copyright_guard:
        log.warning("the copyright guard is off (MUSE_COPYRIGHT_GUARD=0)")
        return text_filter
    return GuardedTextFilter(text_filter, load_copyright_guard(settings.copyright_fingerprints))


def load_image_filter(settings: Settings) -> ImageFilter | None:
    """The image classifier when /draw is on; failing to load it is a startup error."""
    if settings.image_model is None:
        return None
    if not settings.filter_enabled:
        return DisabledFilter()
    return OpenNsfwFilter.load(review_at=settings.image_review_at, block_at=settings.image_block_at)


ModelLoader = Callable[[Settings], Models]


def freeze_startup_objects() -> None:
    """Move everything built at startup (models, libraries) out of the garbage collector's
    reach, so its full collections stay short instead of stalling the event loop."""
    gc.collect()
    gc.freeze()
    log.info("froze %d startup objects for the garbage collector", gc.get_freeze_count())


@asynccontextmanager
async def open_service(
    settings: Settings, load: ModelLoader = load_models, *, token: bool = False
) -> AsyncIterator[MuseService]:
    """Database, model worker (``load`` runs on it) and queue, closed in reverse order. First
    ``check_startup`` reports every problem it finds at once (the model settings only when
    ``load`` is ``load_models``; ``DISCORD_TOKEN`` when ``token``)."""
    own_models = load is load_models
    access = await asyncio.to_thread(check_startup, settings, models=own_models, token=token)
    if own_models:
        load = functools.partial(load_models, access=access)
    text_filter, image_filter = load_text_filter(settings), load_image_filter(settings)
    storage = await Storage.open(settings.db_path)
    settings = await effective_roles(storage, settings)  # after a `muse promote`
    worker = ModelWorker()
    worker.start()
    remote = None
    try:
        models = await worker.call(load, settings)
        log.info("safety layers active: %s", describe_filter(text_filter))
        remote = await connect_remote(settings, models)
        engine = await asyncio.to_thread(connect_image_engine, settings, models)
        if models.text is None:
            raise ModelLoadError("no text back-end was loaded")
        rates = {"text": models.token_s, "image": models.step_s}
        service = MuseService(
            settings=settings,
            storage=storage,
            worker=worker,
            backend=models.text,
            text_filter=text_filter,
            image_backend=models.image,
            image_filter=image_filter if models.image is not None else None,
            throughput=Throughput(seconds_per_unit={k: v for k, v in rates.items() if v > 0}),
        )
        service.executor.challenger = models.challenger
        if remote is not None:
            service.metrics.watch_text_server(remote.health)
        if engine is not None:
            service.metrics.watch_image_server(engine.health)
        freeze_startup_objects()
        async with service:
            yield service
    finally:
        if remote is not None:
            await remote.close()
        await worker.close()
        await storage.close()


def service_health(service: MuseService) -> Health:
    """``/healthz``'s checks: the worker thread, and the text server when it is remote."""
    from generators.remote import OpenAITextBackend  # no openai import: that stays lazy

    worker = service.worker
    remote = service.backend if isinstance(service.backend, OpenAITextBackend) else None
    engine = getattr(service.image_backend, "problem", None)  # a remote picture engine's
    return Health(
        worker.is_alive,
        lambda: worker.busy_since,
        service.settings.job_timeout_s + 60,
        text_server=None if remote is None else remote.problem,
        image_server=engine,
    )
