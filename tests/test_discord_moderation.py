"""Moderator review through real discord.py: cards, approve/reject, /review, reports, settings,
and permission refusals that hold server-side."""

from __future__ import annotations

import sqlite3
from typing import Any

import discord

from bot.discord.client import MuseBot
from bot.review.reviews import GuildSettings
from bot.service.core import MuseService
from tests.conftest import ServiceFactory
from tests.discord_harness import Harness
from tests.discord_payloads import APP_ID, CHANNEL_ID, GUILD_ID, USER_ID, base_payload, custom_ids
from tests.fakes import ScriptedBackend

MOD_CHANNEL = CHANNEL_ID + 50
MODERATOR = USER_ID + 1
MEMBER = USER_ID + 2
MEMBER_PERMS = discord.Permissions(view_channel=True, send_messages=True).value
EPHEMERAL = 64


async def bot_with(make_service: ServiceFactory, texts: list[str], **kw: Any) -> MuseBot:
    service = await make_service(ScriptedBackend(texts=texts), **kw)
    await service.reviews.save_settings(
        GuildSettings(GUILD_ID, mod_channel_id=MOD_CHANNEL, report_threshold=2), MODERATOR
    )
    return MuseBot(service, service.settings)


def cards(h: Harness[MuseBot]) -> list[dict[str, Any]]:
    return [c.json for c in h.http.calls_to("POST", rf"/channels/{MOD_CHANNEL}/messages$")]


def posts(h: Harness[MuseBot]) -> list[dict[str, Any]]:
    return [c.json for c in h.http.calls_to("POST", rf"/channels/{CHANNEL_ID}/messages$")]


def stored_message(h: Harness[MuseBot], channel_id: int, index: int = -1) -> dict[str, Any]:
    return [m for m in h.http.messages.values() if m["channel_id"] == str(channel_id)][index]


def modal_submit(custom_id: str, input_id: str, value: str, **where: Any) -> dict[str, Any]:
    payload = base_payload(5, **where)
    row = {"type": 1, "components": [{"type": 4, "custom_id": input_id, "value": value}]}
    payload["data"] = {"custom_id": custom_id, "components": [row]}
    return payload


async def held_poem(h: Harness[MuseBot]) -> dict[str, Any]:
    """A member asks for a poem whose output the filter holds; returns the card posted."""
    await h.run(h.slash("poem", {"topic": "moon"}, user_id=MEMBER, permissions=MEMBER_PERMS))
    [card] = cards(h)
    return card


async def test_held_output_goes_to_a_card_and_the_requester_is_told(
    make_service: ServiceFactory,
) -> None:
    async with Harness(await bot_with(make_service, ["what the fuck, moon"])) as h:
        payload = h.slash("poem", {"topic": "moon"}, user_id=MEMBER, permissions=MEMBER_PERMS)
        await h.run(payload)
        assert h.errors == []
        [card] = cards(h)
        [notice] = h.http.calls_to("POST", rf"/webhooks/{APP_ID}/{payload['token']}$")
        assert posts(h) == []
    assert (
        notice.json["flags"] == EPHEMERAL and "holding it for a moderator" in notice.json["content"]
    )
    embed = card["embeds"][0]
    assert embed["title"].startswith("🛡️ Review #1 · poem · held by the safety filter")
    assert embed["description"] == "||what the fuck, moon||"
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["requested by"] == f"<@{MEMBER}>" and fields["categories"] == "profanity"
    assert custom_ids(card) == ["muse:mod:1:ok:c", "muse:mod:1:no:c"]
    assert card["allowed_mentions"] == {"parse": []}


async def test_moderator_approves_and_the_output_is_published(
    make_service: ServiceFactory,
) -> None:
    bot = await bot_with(make_service, ["what the fuck, moon"])
    async with Harness(bot) as h:
        await held_poem(h)
        card = stored_message(h, MOD_CHANNEL)
        await h.run(h.click("muse:mod:1:ok:c", card, user_id=MODERATOR, channel_id=MOD_CHANNEL))
        assert h.errors == []
        [update] = h.http.interaction_responses()[-1:]
        [post] = posts(h)
    assert update["type"] == 7 and update["data"]["components"] == []
    decision = {f["name"]: f["value"] for f in update["data"]["embeds"][0]["fields"]}["decision"]
    assert decision == f"✅ approved by <@{MODERATOR}>"
    assert post["embeds"][0]["description"] == "what the fuck, moon"
    assert post["content"] == f"<@{MEMBER}>" and post["allowed_mentions"] == {"parse": []}
    assert any(i.startswith("muse:vote:") for i in custom_ids(post))
    with sqlite3.connect(bot.service.storage.path) as raw:
        audit = raw.execute("SELECT actor_id, action, target FROM audit WHERE action = 'approved'")
        assert audit.fetchall() == [(MODERATOR, "approved", "output 1")]
        assert raw.execute("SELECT decision FROM outputs").fetchall() == [("allow",)]


async def test_moderator_rejects_and_the_requester_is_told(make_service: ServiceFactory) -> None:
    async with Harness(await bot_with(make_service, ["what the fuck, moon"])) as h:
        await held_poem(h)
        card = stored_message(h, MOD_CHANNEL)
        await h.run(h.click("muse:mod:1:no:c", card, user_id=MODERATOR, channel_id=MOD_CHANNEL))
        assert h.errors == []
        [notice] = posts(h)
    assert notice["content"] == f"⛔ A moderator did not approve the poem requested by <@{MEMBER}>."
    assert notice["allowed_mentions"] == {"parse": []} and not notice.get("embeds")


async def test_members_without_permission_are_refused_server_side(
    make_service: ServiceFactory,
) -> None:
    bot = await bot_with(make_service, ["what the fuck, moon"])
    async with Harness(bot) as h:
        await held_poem(h)
        card = stored_message(h, MOD_CHANNEL)
        click = h.click("muse:mod:1:ok:c", card, user_id=MEMBER, permissions=MEMBER_PERMS)
        await h.run(click)
        await h.run(h.slash("review", user_id=MEMBER, permissions=MEMBER_PERMS))
        await h.run(h.slash("muse-settings show", permissions=MEMBER_PERMS))
        refusals = h.http.interaction_responses()[-3:]
        assert posts(h) == []
    for refusal in refusals:
        assert refusal["type"] == 4 and refusal["data"]["flags"] == EPHEMERAL
    assert "Only moderators" in refusals[0]["data"]["content"]
    assert "Only moderators" in refusals[1]["data"]["content"]
    assert "Only server admins" in refusals[2]["data"]["content"]
    item = await bot.service.reviews.item(1)
    assert item is not None and item.status == "pending"


async def test_review_lists_pending_items_and_acts_on_them(make_service: ServiceFactory) -> None:
    texts = [f"fuck number {i}" for i in range(6)]
    bot = await bot_with(make_service, texts, queue_per_user=6)
    async with Harness(bot) as h:
        for i in range(6):
            await h.run(h.slash("poem", {"topic": f"t{i}"}, user_id=MEMBER + i))
        h.http.clear()
        await h.run(h.slash("review", user_id=MODERATOR))
        [listing] = h.http.interaction_responses()
        assert listing["data"]["flags"] == EPHEMERAL
        embed = listing["data"]["embeds"][0]
        assert embed["title"] == "🛡️ Pending review · 6 item(s) · page 1/2"
        assert [f["name"].split(" · ")[0] for f in embed["fields"]] == ["#1", "#2", "#3", "#4"]
        ids = custom_ids(listing["data"])
        assert ids[:2] == ["muse:mod:1:ok:l0", "muse:mod:1:no:l0"] and ids[-1] == "muse:reviews:1"
        message = h.http.original_message(listing_token(h))
        assert message is not None
        await h.run(h.click("muse:reviews:1", message, user_id=MODERATOR))
        page_two = h.http.interaction_responses()[-1]["data"]["embeds"][0]
        assert [f["name"].split(" · ")[0] for f in page_two["fields"]] == ["#5", "#6"]
        assert custom_ids(message)[:2] == ["muse:mod:5:ok:l1", "muse:mod:5:no:l1"]
        await h.run(h.click("muse:mod:5:ok:l1", message, user_id=MODERATOR))
        after = h.http.interaction_responses()[-1]["data"]["embeds"][0]
        assert after["title"] == "🛡️ Pending review · 5 item(s) · page 2/2"
        assert [f["name"].split(" · ")[0] for f in after["fields"]] == ["#6"]
        card_edits = h.http.calls_to("PATCH", rf"/channels/{MOD_CHANNEL}/messages/\d+$")
        assert card_edits and card_edits[-1].json["components"] == []
        assert h.errors == []


def listing_token(h: Harness[MuseBot]) -> str:
    return str(list(h.http.interactions)[-1])


async def test_reports_queue_the_output_and_enough_of_them_hide_it(
    make_service: ServiceFactory,
) -> None:
    bot = await bot_with(make_service, ["a gentle moon poem"])
    async with Harness(bot) as h:
        payload = h.slash("poem", {"topic": "moon"})
        await h.run(payload)
        post = h.http.original_message(payload["token"])
        assert post is not None
        report_id = custom_ids(post)[-1]
        assert report_id.startswith("muse:report:")
        await h.run(h.click(report_id, post))  # the requester cannot report their own result
        assert "can't report your own" in h.http.interaction_responses()[-1]["data"]["content"]
        for reporter in (MEMBER, MEMBER + 1):
            await h.run(h.click(report_id, post, user_id=reporter, permissions=MEMBER_PERMS))
            modal = h.http.interaction_responses()[-1]
            assert modal["type"] == 9
            modal_id = modal["data"]["custom_id"]
            input_id = modal["data"]["components"][0]["components"][0]["custom_id"]
            submit = modal_submit(modal_id, input_id, "not nice", user_id=reporter,
                                  permissions=MEMBER_PERMS)  # fmt: skip
            await h.run(submit)
            thanks = h.http.interaction_responses()[-1]
            assert (
                thanks["data"]["flags"] == EPHEMERAL and "moderators" in thanks["data"]["content"]
            )
        assert h.errors == []
        [hide] = [c for c in h.http.calls_to("PATCH", rf"/channels/{CHANNEL_ID}/messages/\d+$")]
        assert hide.json["content"].startswith("🚫 Hidden after reports")
        assert hide.json["embeds"] == [] and hide.json["components"] == []
        [card] = cards(h)
    assert "reported by members" in card["embeds"][0]["title"]
    reports = {f["name"]: f["value"] for f in card["embeds"][0]["fields"]}["reports (1)"]
    assert reports == f"<@{MEMBER}>: not nice"
    item = await bot.service.reviews.item(1)
    assert item is not None and len(item.reports) == 2


async def test_the_context_menu_reports_a_result_message(make_service: ServiceFactory) -> None:
    bot = await bot_with(make_service, ["a gentle moon poem"])
    async with Harness(bot) as h:
        payload = h.slash("poem", {"topic": "moon"})
        await h.run(payload)
        post = h.http.original_message(payload["token"])
        assert post is not None
        menu = base_payload(2, user_id=MEMBER, permissions=MEMBER_PERMS)
        menu["data"] = {
            "id": "1", "name": "Report to moderators", "type": 3, "target_id": post["id"],
            "resolved": {"messages": {post["id"]: post}},
        }  # fmt: skip
        await h.run(menu)
        assert h.errors == []
        assert h.http.interaction_responses()[-1]["type"] == 9


async def test_admins_change_settings_and_they_apply(make_service: ServiceFactory) -> None:
    bot = await bot_with(make_service, ["what the fuck"])
    async with Harness(bot) as h:
        options: dict[str, str | int] = {"strictness": "relaxed", "report_threshold": 5}
        admin = discord.Permissions.all().value
        await h.run(h.slash("muse-settings moderation", options, permissions=admin))
        [reply] = h.http.interaction_responses()
        assert reply["data"]["flags"] == EPHEMERAL
        assert "**Strictness:** relaxed" in reply["data"]["content"]
        await h.run(h.slash("poem", {"topic": "moon"}))  # profanity is allowed when relaxed
        assert h.errors == []
        assert cards(h) == []
    saved = bot.service.reviews.guilds.get(GUILD_ID)
    assert saved.report_threshold == 5 and saved.mod_channel_id == MOD_CHANNEL
    service: MuseService = bot.service
    entries = await service.reviews.audit_log(GUILD_ID, 5)
    assert entries[0].action == "settings" and "strictness=relaxed" in entries[0].reason


FORGED_IDS = [
    "muse:mod:1:ok:l",  # a list button without its page
    "muse:reviews:99999999999999999999",  # a page past SQLite's integers
    "muse:vote:99999999999999999999999:up",  # an output id past SQLite's integers
    "muse:mod:١:ok:c",  # non-ASCII digits
]


async def test_buttons_with_malformed_custom_ids_are_ignored(make_service: ServiceFactory) -> None:
    """custom_ids are untrusted: one no Muse message can carry matches no button (no crash)."""
    bot = await bot_with(make_service, ["what the fuck, moon"])
    async with Harness(bot) as h:
        await held_poem(h)
        card = stored_message(h, MOD_CHANNEL)
        buttons = [{"type": 2, "style": 2, "label": "x", "custom_id": c} for c in FORGED_IDS]
        forged = {**card, "components": [{"type": 1, "components": buttons}]}
        h.http.clear()
        for custom_id in FORGED_IDS:
            await h.run(h.click(custom_id, forged, user_id=MODERATOR))
        assert h.errors == []
        assert h.http.interaction_responses() == []
    item = await bot.service.reviews.item(1)
    assert item is not None and item.status == "pending"


async def test_approval_posts_anew_when_the_hidden_post_was_deleted(
    make_service: ServiceFactory,
) -> None:
    """The result's message (hidden after reports, say) is gone: approving posts it again."""
    bot = await bot_with(make_service, ["what the fuck, moon"])
    async with Harness(bot) as h:
        await held_poem(h)
        item = await bot.service.reviews.item(1)
        assert item is not None
        await bot.service.reviews.record_post(item.job_id, CHANNEL_ID, 424242)  # never existed
        card = stored_message(h, MOD_CHANNEL)
        await h.run(h.click("muse:mod:1:ok:c", card, user_id=MODERATOR, channel_id=MOD_CHANNEL))
        [post] = posts(h)
    assert post["embeds"][0]["description"] == "what the fuck, moon"
    assert await bot.service.reviews.post_of(item.job_id) != (CHANNEL_ID, 424242)
