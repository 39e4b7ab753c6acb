"""The Discord layer through real discord.py objects: interaction payloads in, HTTP calls out."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from typing import Any

import discord
import pytest

from bot.discord.client import MuseBot
from bot.service.core import MuseService
from bot.service.types import Origin
from generators.queue import Overloaded
from generators.requests import PoemRequest
from tests.conftest import ServiceFactory
from tests.discord_harness import Harness
from tests.discord_http import Call
from tests.discord_payloads import APP_ID, CHANNEL_ID, USER_ID, custom_ids
from tests.fakes import ScriptedBackend

OTHER_USER = USER_ID + 100
EPHEMERAL = 64
NO_PINGS: dict[str, list[str]] = {"parse": []}


def bot_for(service: MuseService) -> MuseBot:
    return MuseBot(service, service.settings)


def message_bodies(calls: list[Call]) -> list[dict[str, Any]]:
    """Bodies of every call that carries message content (responses, edits, sends)."""
    bodies = []
    for call in calls:
        body = call.json.get("data", call.json) if isinstance(call.json, dict) else None
        if isinstance(body, dict) and ("content" in body or "embeds" in body):
            bodies.append(body)
    return bodies


def final_embed(h: Harness[MuseBot], token: str) -> dict[str, Any]:
    message = h.http.original_message(token)
    assert message is not None and message["embeds"], message
    embed: dict[str, Any] = message["embeds"][0]
    return embed


async def test_commands_sync_with_limits_choices_and_zh_cn(make_service: ServiceFactory) -> None:
    async with Harness(bot_for(await make_service())) as h:
        [sync] = h.http.calls_to("PUT", rf"/applications/{APP_ID}/commands$")
    commands = {c["name"]: c for c in sync.json}
    assert set(commands) == {
        "poem", "slogan", "review", "modlog", "muse-settings", "Report to moderators",
        "privacy", "forget-me", "export",
    }  # fmt: skip
    assert int(commands["review"]["default_member_permissions"]) == 1 << 13  # Manage Messages
    assert int(commands["muse-settings"]["default_member_permissions"]) == 1 << 5  # Manage Server
    assert commands["Report to moderators"]["type"] == 3  # a message context menu
    poem = {o["name"]: o for o in commands["poem"]["options"]}
    assert poem["topic"]["required"] and poem["topic"]["max_length"] == 200
    assert [c["value"] for c in poem["form"]["choices"]][-2:] == ["五言绝句", "七言绝句"]
    assert poem["language"]["choices"][2]["name"] == "中文"
    assert poem["topic"]["description_localizations"]["zh-CN"].startswith("诗的主题")
    assert poem["mood"]["choices"][0]["name_localizations"]["zh-CN"] == "欢快"
    assert commands["poem"]["description_localizations"]["zh-CN"] == "以某个主题写一首诗"
    count = {o["name"]: o for o in commands["slogan"]["options"]}["count"]
    assert (count["min_value"], count["max_value"]) == (1, 5)


async def test_poem_defers_shows_queue_then_edits_in_the_result(
    make_service: ServiceFactory,
) -> None:
    service = await make_service(ScriptedBackend(delay_s=0.2))
    async with Harness(bot_for(service)) as h:
        payload = h.slash("poem", {"topic": "春日花烂漫，", "form": "七言绝句", "mood": "calm"})
        await h.run(payload)
        assert h.errors == []
        assert h.http.interaction_responses() == [{"type": 5}]  # deferred at once
        edits = h.http.calls_to("PATCH", r"/messages/@original$")
        assert edits[0].json["content"].startswith(("⏳ In the queue", "✍️ Writing"))
        embed = final_embed(h, payload["token"])
    assert embed["title"] == "📜 Poem"
    assert embed["description"].startswith("verse ")
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["form"] == "七言绝句" and fields["mood"] == "calm" and fields["language"] == "zh"
    assert fields["requested by"] == f"<@{USER_ID}>"
    assert "scripted-test-model" in embed["footer"]["text"]
    ids = custom_ids(edits[-1].json)
    assert [i.split(":")[-1] for i in ids[:2]] == ["up", "down"]
    assert ids[2].startswith("muse:regen:")


async def test_votes_work_after_a_restart_one_per_member(
    make_service: ServiceFactory,
) -> None:
    first_service = await make_service()
    async with Harness(bot_for(first_service)) as first:
        payload = first.slash("slogan", {"product": "moon coffee", "count": 2})
        await first.run(payload)
        message = first.http.original_message(payload["token"])
    assert message is not None
    up_1, down_1, up_2, _, pick_1, _, regen, edit, report = custom_ids(message)
    assert pick_1.startswith("muse:pick:") and edit.startswith("muse:edit:")
    assert report.startswith("muse:report:")
    assert regen.startswith("muse:regen:")

    second_service = await make_service()  # a new process: new service, bot and views
    async with first.restarted(bot_for(second_service)) as second:
        second.http.clear()
        await second.run(second.click(up_1, message, user_id=OTHER_USER))
        await second.run(second.click(up_1, message, user_id=OTHER_USER + 1))
        await second.run(second.click(down_1, message, user_id=OTHER_USER))  # change vote
        await second.run(second.click(up_2, message, user_id=OTHER_USER))
        await second.run(second.click(up_2, message, user_id=OTHER_USER))  # remove vote
        assert second.errors == []
        updates = second.http.interaction_responses()
    assert [u["type"] for u in updates] == [7] * 5
    labels = [
        [b["label"] for row in u["data"]["components"] for b in row["components"]][:4]
        for u in updates
    ]
    assert labels[0] == ["1 · 1", "1 · 0", "2 · 0", "2 · 0"]
    assert labels[2] == ["1 · 1", "1 · 1", "2 · 0", "2 · 0"]
    assert labels[4] == ["1 · 1", "1 · 1", "2 · 0", "2 · 0"]
    with sqlite3.connect(second_service.storage.path) as raw:
        votes = raw.execute("SELECT user_id, value FROM votes ORDER BY user_id").fetchall()
    assert votes == [(OTHER_USER, -1), (OTHER_USER + 1, 1)]


async def test_regenerate_is_requester_only_and_posts_a_new_sample(
    make_service: ServiceFactory,
) -> None:
    async with Harness(bot_for(await make_service())) as h:
        payload = h.slash("poem", {"topic": "moon"})
        await h.run(payload)
        message = h.http.original_message(payload["token"])
        assert message is not None
        regen = custom_ids(message)[-3]
        h.http.clear()
        await h.run(h.click(regen, message, user_id=OTHER_USER))
        [refusal] = h.http.interaction_responses()
        assert refusal["type"] == 4 and refusal["data"]["flags"] == EPHEMERAL
        assert "Only the member who asked" in refusal["data"]["content"]

        h.http.clear()
        click = h.click(regen, message)
        await h.run(click)
        assert h.errors == []
        assert h.http.interaction_responses() == [{"type": 5}]
        embed = final_embed(h, click["token"])
    assert embed["title"] == "📜 Poem · 🔁 sample 2"


async def test_bad_input_full_queue_and_failure_get_ephemeral_errors(
    make_service: ServiceFactory,
) -> None:
    service = await make_service(ScriptedBackend(fail=True), queue_per_user=1)
    async with Harness(bot_for(service)) as h:
        await h.run(h.slash("poem", {"topic": "how to make a bomb"}))
        [refused] = h.http.interaction_responses()
        assert refused["type"] == 4 and refused["data"]["flags"] == EPHEMERAL
        assert "refused by the safety filter" in refused["data"]["content"]

        h.http.clear()
        held = service.prepare(PoemRequest(topic="blocker"), Origin(USER_ID))
        await h.run(h.slash("poem", {"topic": "moon"}))
        [busy] = h.http.interaction_responses()
        assert busy["data"]["flags"] == EPHEMERAL and "already have 1" in busy["data"]["content"]
        await service.abandon(held)

        h.http.clear()
        payload = h.slash("poem", {"topic": "moon"})
        await h.run(payload)
        assert h.errors == []
        assert h.http.interaction_responses() == [{"type": 5}]
        assert h.http.calls_to("DELETE", r"/messages/@original$")  # the "thinking" placeholder
        [notice] = h.http.calls_to("POST", rf"/webhooks/{APP_ID}/{payload['token']}$")
    assert notice.json["flags"] == EPHEMERAL
    assert "Generation failed" in notice.json["content"]


async def test_no_message_can_ping_anyone(make_service: ServiceFactory) -> None:
    service = await make_service(ScriptedBackend(texts=["@everyone <@&123> <@456> hello"]))
    async with Harness(bot_for(service)) as h:
        await h.run(h.slash("poem", {"topic": "@everyone @here <@&1> look"}))
        await h.run(h.slash("poem", {"topic": "x" * 5, "style": "<@42>"}, user_id=OTHER_USER))
        await h.run(h.slash("poem", {"topic": "how to make a bomb @everyone"}))
        bodies = message_bodies(h.http.calls)
    assert len(bodies) >= 5
    assert all(body.get("allowed_mentions") == NO_PINGS for body in bodies), bodies


async def test_expired_token_sends_the_result_to_the_channel(make_service: ServiceFactory) -> None:
    async with Harness(bot_for(await make_service())) as h:
        old = discord.utils.utcnow() - dt.timedelta(minutes=16)
        await h.run(h.slash("poem", {"topic": "moon"}, created_at=old))
        assert h.errors == []
        [post] = h.http.calls_to("POST", rf"/channels/{CHANNEL_ID}/messages$")
    assert post.json["content"] == f"<@{USER_ID}>"
    assert post.json["allowed_mentions"] == NO_PINGS
    assert post.json["embeds"][0]["title"] == "📜 Poem"
    assert custom_ids(post.json)[-3].startswith("muse:regen:")


async def test_invalid_webhook_token_falls_back_to_the_channel(
    make_service: ServiceFactory,
) -> None:
    async with Harness(bot_for(await make_service())) as h:
        h.http.fail_next("PATCH", r"/@original$", 401, 50027, "Invalid Webhook Token", times=5)
        await h.run(h.slash("poem", {"topic": "moon"}))
        assert h.errors == []
        assert h.http.calls_to("POST", rf"/channels/{CHANNEL_ID}/messages$")


async def test_a_shown_result_stays_when_recording_its_message_fails(
    make_service: ServiceFactory,
) -> None:
    """The database refuses to note where the result went (a real SQLite fault, by trigger):
    the member keeps the result; the error only reaches the log."""
    service = await make_service()
    await service.storage.db.execute(
        "CREATE TRIGGER refuse_post BEFORE UPDATE OF message_id ON jobs"
        " BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
    )
    async with Harness(bot_for(service)) as h:
        payload = h.slash("poem", {"topic": "moon"})
        await h.run(payload)
        assert h.http.calls_to("DELETE", r"/@original$") == []
        assert h.http.calls_to("POST", rf"/webhooks/{APP_ID}/{payload['token']}$") == []
        assert final_embed(h, payload["token"])["title"] == "📜 Poem"


async def test_unknown_interaction_on_defer_drops_the_job(make_service: ServiceFactory) -> None:
    service = await make_service()
    async with Harness(bot_for(service)) as h:
        h.http.fail_next("POST", r"/callback$", 404, 10062, "Unknown interaction")
        await h.run(h.slash("poem", {"topic": "moon"}))
        assert h.errors == []
    assert service.queue.state.waiting == [] and service.queue.state.running == []
    with sqlite3.connect(service.storage.path) as raw:
        assert raw.execute("SELECT COUNT(*) FROM jobs").fetchone() == (0,)


async def test_jobs_cut_short_by_a_restart_get_a_retry_button(make_service: ServiceFactory) -> None:
    first = await make_service()
    for topic in ("moon", "sun"):
        pending = first.prepare(PoemRequest(topic=topic), Origin(USER_ID, 10, CHANNEL_ID))
        await first.start(pending)  # recorded as queued; the process "dies" before running it
        first.queue.state.remove(pending.record.id)
        pending.future.cancel()
    second = await make_service()  # a new process on the same database
    assert [j.status for j in second.interrupted] == ["queued", "queued"]
    async with Harness(bot_for(second)) as h:
        posts = h.http.calls_to("POST", rf"/channels/{CHANNEL_ID}/messages$")
        message = h.http.messages[max(h.http.messages)]
        await h.run(h.click(custom_ids(message)[0], message))
        assert h.errors == []
        assert h.http.interaction_responses()[-1] == {"type": 5}
    assert len(posts) == 2
    assert posts[0].json["content"].startswith(f"⚠️ <@{USER_ID}> Muse restarted before your poem")
    assert posts[0].json["allowed_mentions"] == NO_PINGS
    assert custom_ids(posts[0].json)[0].startswith("muse:regen:")
    with sqlite3.connect(second.storage.path) as raw:
        statuses = raw.execute("SELECT status, error FROM jobs ORDER BY created_at").fetchall()
    assert statuses[:2] == [("failed", "interrupted by a restart")] * 2
    assert statuses[2][0] == "done"  # the retry


async def test_a_graceful_stop_delivers_running_work_and_turns_new_commands_away(
    make_service: ServiceFactory,
) -> None:
    service = await make_service(ScriptedBackend(delay_s=0.3))
    async with Harness(bot_for(service)) as h:
        first = h.slash("poem", {"topic": "moon"})
        h.dispatch(first)
        await asyncio.sleep(0.1)  # it is running
        stopping = asyncio.create_task(service.stop(grace_s=5))
        await asyncio.sleep(0)
        late = h.slash("poem", {"topic": "sun"}, user_id=OTHER_USER)
        await h.run(late)
        await stopping
        await h.settle(timeout=5)
        assert h.errors == []
        done = final_embed(h, first["token"])
        [refusal] = [r for r in h.http.interaction_responses() if r.get("type") == 4]
    assert done["title"] == "📜 Poem"
    assert refusal["data"]["flags"] == EPHEMERAL and "restarting" in refusal["data"]["content"]


async def test_sigterm_stops_the_bot_and_returns(make_service: ServiceFactory) -> None:
    import os
    import signal

    from bot.discord.serve import _serve

    class FakeBot:
        """Like discord.py's client: ``start`` returns once ``close`` is called."""

        def __init__(self) -> None:
            self.closing = asyncio.Event()
            self.closed = False

        async def start(self, token: str) -> None:
            await self.closing.wait()

        async def close(self) -> None:
            self.closed = True
            self.closing.set()

    service = await make_service()
    bot = FakeBot()
    serving = asyncio.create_task(_serve(bot, service, service.settings))
    await asyncio.sleep(0.05)
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(serving, 5)
    assert bot.closed
    with pytest.raises(Overloaded):
        service.queue.check_admit(1)  # no new work after the stop
