"""The Discord-free service with a real worker thread, a real database and the word filter."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bot.datasets.export import export
from bot.datasets.filters import ExportFilters
from bot.errors import Busy, GenerationFailed, NotAllowed, Refused, UserError
from bot.service.types import Origin
from generators.options import Language, PoemForm
from generators.requests import PoemRequest, SloganRequest
from tests.conftest import ServiceFactory
from tests.fakes import ScriptedBackend

ALICE = Origin(user_id=1, guild_id=10, channel_id=20)
BOB = Origin(user_id=2, guild_id=10, channel_id=20)


async def test_poem_is_generated_moderated_and_stored(make_service: ServiceFactory) -> None:
    service = await make_service()
    request = PoemRequest(topic="春日花烂漫，", form=PoemForm.QIYAN_JUEJU, seed=7)
    pending = service.prepare(request, ALICE)
    await service.start(pending)
    delivery = await service.finish(pending)
    assert delivery.options["language"] == "zh"
    assert delivery.seed == 7
    assert delivery.model_id == "scripted-test-model"
    [shown] = delivery.outputs
    assert shown.text == "verse 7\nline two of 7"
    job = await service.storage.get_job(delivery.job_id)
    assert job is not None and job.status == "done"
    assert (job.user_id, job.guild_id, job.channel_id) == (1, 10, 20)
    assert "七言绝句" in job.prompt
    [stored] = await service.storage.job_outputs(delivery.job_id)
    assert stored.decision == "allow"
    assert set(stored.timings) >= {"queue_s", "generate_s", "total_s", "new_tokens"}


async def test_slogan_candidates_get_consecutive_seeds(make_service: ServiceFactory) -> None:
    backend = ScriptedBackend()
    service = await make_service(backend)
    pending = service.prepare(SloganRequest(product="moon coffee", count=3, seed=100), ALICE)
    await service.start(pending)
    delivery = await service.finish(pending)
    assert [o.candidate for o in delivery.outputs] == [0, 1, 2]
    assert [o.text for o in delivery.outputs] == ["verse 100", "verse 101", "verse 102"]
    assert backend.calls == [3]


async def test_invalid_and_refused_requests_never_reach_the_queue(
    make_service: ServiceFactory,
) -> None:
    service = await make_service()
    with pytest.raises(UserError, match="topic must be at most 200 characters, got 201"):
        service.prepare(PoemRequest(topic="x" * 201), ALICE)
    with pytest.raises(UserError, match="classical Chinese form"):
        service.prepare(
            PoemRequest(topic="spring", form=PoemForm.WUYAN_JUEJU, language=Language.ENGLISH), ALICE
        )
    with pytest.raises(Refused, match="illicit"):
        service.prepare(PoemRequest(topic="how to make a bomb"), ALICE)
    assert service.queue.state.waiting == []


async def test_full_queue_and_member_cap_refuse_at_once(make_service: ServiceFactory) -> None:
    service = await make_service(ScriptedBackend(delay_s=0.3), queue_max_depth=2, queue_per_user=1)
    first = service.prepare(PoemRequest(topic="a"), ALICE)
    with pytest.raises(Busy, match="already have 1 request"):
        service.prepare(PoemRequest(topic="b"), ALICE)
    service.prepare(PoemRequest(topic="c"), BOB)
    with pytest.raises(Busy, match="busy"):
        service.prepare(PoemRequest(topic="d"), Origin(3))
    await service.abandon(first)


async def test_batches_concurrent_requests_into_one_generate_call(
    make_service: ServiceFactory,
) -> None:
    backend = ScriptedBackend(delay_s=0.2)
    service = await make_service(backend, batch_max_rows=8, queue_per_user=5)
    blocker = service.prepare(PoemRequest(topic="first"), Origin(99))
    await service.start(blocker)
    await asyncio.sleep(0.05)  # the first job is running; the next four wait together
    waiting = [service.prepare(PoemRequest(topic=f"t{i}"), Origin(i)) for i in range(4)]
    for pending in waiting:
        await service.start(pending)
    assert [service.progress(p) is not None for p in waiting] == [True] * 4
    results = await asyncio.gather(*(service.finish(p) for p in [blocker, *waiting]))
    assert len(results) == 5
    assert backend.calls == [1, 4]


async def test_failure_and_timeout_are_recorded_and_reported(make_service: ServiceFactory) -> None:
    service = await make_service(ScriptedBackend(fail=True))
    pending = service.prepare(PoemRequest(topic="x"), ALICE)
    await service.start(pending)
    with pytest.raises(GenerationFailed, match="failed on Muse's side"):
        await service.finish(pending)
    job = await service.storage.get_job(pending.record.id)
    assert job is not None and job.status == "failed" and "scripted model failure" in str(job.error)

    slow = await make_service(ScriptedBackend(delay_s=5), job_timeout_s=1.0)
    pending = slow.prepare(PoemRequest(topic="y"), BOB)
    await slow.start(pending)
    with pytest.raises(GenerationFailed, match="took too long"):
        await slow.finish(pending)


async def test_flagged_output_is_held_and_stored(make_service: ServiceFactory) -> None:
    service = await make_service(ScriptedBackend(texts=["what the fuck"]))
    pending = service.prepare(PoemRequest(topic="x"), ALICE)
    await service.start(pending)
    delivery = await service.finish(pending)
    assert delivery.outputs == () and delivery.withheld is not None
    assert "holding it for a moderator" in delivery.withheld
    [stored] = await service.storage.job_outputs(pending.record.id)
    assert stored.decision == "review"
    assert delivery.held_ids == (stored.id,)
    item = await service.reviews.item_for_output(stored.id)
    assert item is not None and item.source == "filter" and item.status == "pending"
    assert item.text == "what the fuck" and "profanity" in item.verdict["categories"]


async def test_partly_flagged_slogans_show_the_rest(make_service: ServiceFactory) -> None:
    service = await make_service(ScriptedBackend(texts=["Fresh every day", "shit coffee"]))
    pending = service.prepare(SloganRequest(product="coffee", count=2), ALICE)
    await service.start(pending)
    delivery = await service.finish(pending)
    assert [o.text for o in delivery.outputs] == ["Fresh every day"]
    assert delivery.held == 1


async def test_empty_output_is_a_failure_not_an_empty_message(make_service: ServiceFactory) -> None:
    service = await make_service(ScriptedBackend(texts=["  \n\x00 "]))
    pending = service.prepare(PoemRequest(topic="x"), ALICE)
    await service.start(pending)
    with pytest.raises(GenerationFailed, match="empty"):
        await service.finish(pending)


async def test_regenerate_is_for_the_requester_and_joins_the_group(
    make_service: ServiceFactory,
) -> None:
    service = await make_service()
    first = service.prepare(PoemRequest(topic="moon", seed=1), ALICE)
    await service.start(first)
    original = await service.finish(first)
    with pytest.raises(NotAllowed):
        await service.regenerate(original.job_id, BOB)
    again = await service.regenerate(original.job_id, ALICE)
    await service.start(again)
    second = await service.finish(again)
    assert second.group_id == original.job_id
    assert second.sample_number == 2
    assert second.options == original.options
    assert second.seed != original.seed
    with pytest.raises(UserError, match="no longer stored"):
        await service.regenerate("0" * 16, ALICE)


async def test_votes_toggle_and_export(make_service: ServiceFactory, tmp_path: Path) -> None:
    service = await make_service()
    pending = service.prepare(SloganRequest(product="tea", count=2, seed=3), ALICE)
    await service.start(pending)
    delivery = await service.finish(pending)
    first = delivery.outputs[0].output_id
    result = await service.vote(first, 2, 1)
    assert result.vote == 1
    assert result.delivery.outputs[0].tally.up == 1
    result = await service.vote(first, 2, 1)
    assert result.vote == 0 and result.delivery.outputs[0].tally.up == 0
    await service.vote(first, 3, -1)
    await service.vote(first, 4, 1)
    out = tmp_path / "out" / "ratings.jsonl"
    rated = ExportFilters(min_votes=1)
    manifest = await export(service.storage, out, fmt="raw", filters=rated, secret="s3cret")
    assert manifest.rows == 1
    [line] = out.read_text(encoding="utf-8").splitlines()
    row = json.loads(line)
    assert (row["votes_up"], row["votes_down"], row["seed"]) == (1, 1, 3)
    assert json.loads(row["options"])["product"] == "tea"
    with pytest.raises(UserError, match="no longer available"):
        await service.vote(123456, 2, 1)
