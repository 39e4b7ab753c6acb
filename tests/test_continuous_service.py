"""Continuous batching through the real service on the tiny model: a late request joins the
running batch, and seeds give the texts static batches give."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.errors import Cancelled
from bot.service.core import MuseService
from bot.service.types import Origin, PendingJob
from generators.requests import PoemRequest, SloganRequest
from tests.conftest import ServiceFactory

LONG_SEED = 11  # with this seed the tiny model writes the whole 200 tokens (no early end)


@pytest.fixture(scope="module")
def tiny_backend(tiny_lm_dir: Path) -> Any:
    from generators.text import TransformersTextBackend

    return TransformersTextBackend.load(str(tiny_lm_dir), device="cpu")


async def begin(service: MuseService, request: Any, user: int) -> PendingJob:
    pending = service.prepare(request, Origin(user))
    await service.start(pending)
    return pending


async def until_writing(service: MuseService, pending: PendingJob) -> None:
    while not any(service.executor.text_steps.partial(pending.record.id) or ()):
        await asyncio.sleep(0.001)


async def late_slogan_during_a_poem(service: MuseService) -> tuple[list[str], bool, str]:
    """The texts of a long poem and a slogan asked for while it is being written, whether the
    slogan was done before the poem, and the poem's job id."""
    poem = await begin(service, PoemRequest(topic="moon river", seed=LONG_SEED), 1)
    await until_writing(service, poem)
    slogan = await begin(service, SloganRequest(product="moon coffee", count=2, seed=5), 2)
    slogan_done = await service.finish(slogan)
    poem_running = not poem.future.done()
    poem_done = await service.finish(poem)
    texts = [o.text for o in poem_done.outputs] + [o.text for o in slogan_done.outputs]
    return texts, poem_running, poem.record.id


async def test_a_request_joins_the_running_batch_and_keeps_its_seeded_text(
    make_service: ServiceFactory, tiny_backend: Any
) -> None:
    continuous = await make_service(tiny_backend, poem_max_new_tokens=200, text_forms=False)
    texts, poem_running, poem_id = await late_slogan_during_a_poem(continuous)
    assert poem_running  # the slogan did not wait for the poem's batch to end
    [poem] = await continuous.storage.job_outputs(poem_id)
    assert poem.timings["new_tokens"] == 200
    static = await make_service(
        tiny_backend, poem_max_new_tokens=200, text_batching="static", text_forms=False
    )
    static_texts, poem_running, _ = await late_slogan_during_a_poem(static)
    assert not poem_running  # static: the slogan waited for the poem
    assert static_texts == texts


async def test_cancelling_a_running_job_leaves_the_others_running(
    make_service: ServiceFactory, tiny_backend: Any
) -> None:
    service = await make_service(tiny_backend, poem_max_new_tokens=200)
    first = await begin(service, PoemRequest(topic="moon river", seed=LONG_SEED), 1)
    second = await begin(service, PoemRequest(topic="river moon", seed=LONG_SEED), 2)
    await until_writing(service, second)
    await service.cancel(first.record.id, 1)
    with pytest.raises(Cancelled):
        await service.finish(first)
    delivery = await service.finish(second)
    assert delivery.outputs[0].text
    job = await service.storage.get_job(first.record.id)
    assert job is not None and job.status == "cancelled"
