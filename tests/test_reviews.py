"""The review desk on a real database: holds, decisions, reports, settings, audit."""

from __future__ import annotations

import pytest

from bot.errors import NotAllowed, UserError
from bot.review.reviews import GuildSettings
from bot.service.types import Origin
from generators.requests import PoemRequest, SloganRequest
from moderation.policy import Strictness
from tests.conftest import ServiceFactory
from tests.fakes import ScriptedBackend

GUILD = 10
ALICE = Origin(1, GUILD, 20)


async def test_each_output_is_held_once_and_decided_once(make_service: ServiceFactory) -> None:
    service = await make_service(ScriptedBackend(texts=["shit one", "fine two"]))
    pending = service.prepare(SloganRequest(product="tea", count=2), ALICE)
    await service.start(pending)
    delivery = await service.finish(pending)
    [held] = delivery.held_ids
    again = await service.reviews.hold([held])  # holding twice keeps one review
    assert [i.review_id for i in again] == [1]
    items, total = await service.reviews.pending(GUILD, 0, 10)
    assert total == 1 and items[0].output_id == held
    with pytest.raises(UserError, match="does not exist in this server"):
        await service.reviews.decide(1, 99, GUILD + 1, approve=True)
    decided = await service.reviews.decide(1, 99, GUILD, approve=True, note="fine in context")
    assert decided.status == "approved" and decided.decided_by == 99
    with pytest.raises(UserError, match="already approved"):
        await service.reviews.decide(1, 98, GUILD, approve=False)
    after = await service.delivery(pending.record)
    assert [o.text for o in after.outputs] == ["shit one", "fine two"]
    [entry] = await service.reviews.audit_log(GUILD, 5)
    assert (entry.actor_id, entry.action, entry.reason) == (99, "approved", "fine in context")


async def test_reports_count_distinct_members_and_hide_at_the_threshold(
    make_service: ServiceFactory,
) -> None:
    service = await make_service(ScriptedBackend(texts=["a poem"] * 1))
    await service.reviews.save_settings(GuildSettings(GUILD, report_threshold=2), 99)
    pending = service.prepare(PoemRequest(topic="moon"), ALICE)
    await service.start(pending)
    await service.finish(pending)
    job_id = pending.record.id
    with pytest.raises(NotAllowed, match="your own"):
        await service.reviews.report(job_id, ALICE.user_id, "", GUILD)
    first = await service.reviews.report(job_id, 2, "rude", GUILD)
    assert (first.reporters, first.hidden) == (1, False)
    repeat = await service.reviews.report(job_id, 2, "still rude", GUILD)
    assert repeat.reporters == 1  # one report per member
    second = await service.reviews.report(job_id, 3, "", GUILD)
    assert (second.reporters, second.hidden) == (2, True)
    assert (await service.delivery(pending.record)).outputs == ()  # hidden pending review
    [item] = second.items
    assert item.source == "report" and [r for _, r in item.reports] == ["still rude", ""]
    third = await service.reviews.report(job_id, 4, "", GUILD)
    assert (third.reporters, third.hidden) == (3, False)  # already hidden: no second edit


async def test_settings_persist_and_steer_the_service(
    make_service: ServiceFactory,
) -> None:
    service = await make_service(ScriptedBackend(texts=["damn fine"]))
    settings = GuildSettings(GUILD, strictness=Strictness.STRICT, allowed_channels=(21,))
    await service.reviews.save_settings(settings, 99)
    with pytest.raises(NotAllowed, match="not enabled in this channel"):
        service.prepare(PoemRequest(topic="moon"), ALICE)  # channel 20 is not allowed
    with pytest.raises(UserError, match="refused"):
        service.prepare(PoemRequest(topic="fuck"), Origin(1, GUILD, 21))  # strict: blocked
    service.prepare(PoemRequest(topic="moon"), Origin(1, None, 5))  # DMs are not restricted
    fresh = await make_service()
    assert fresh.reviews.guilds.get(GUILD) == settings  # read back at startup
