"""Feedback through real discord.py: picks, A/B, edits, privacy, forget-me, rater limits."""

from __future__ import annotations

import sqlite3
from typing import Any

import discord

from bot.discord.client import MuseBot
from tests.conftest import ServiceFactory
from tests.discord_harness import Harness
from tests.discord_payloads import USER_ID, base_payload, custom_ids
from tests.fakes import ScriptedBackend

MEMBER = USER_ID + 5
EPHEMERAL = 64


async def bot_with(make_service: ServiceFactory, **kw: Any) -> MuseBot:
    service = await make_service(ScriptedBackend(), **kw)
    return MuseBot(service, service.settings)


async def result(h: Harness[MuseBot], command: str, options: dict[str, Any]) -> dict[str, Any]:
    payload = h.slash(command, options)
    await h.run(payload)
    message = h.http.original_message(payload["token"])
    assert message is not None and message["embeds"], message
    return message


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for row in message["components"] for b in row["components"]]


def last(h: Harness[MuseBot]) -> dict[str, Any]:
    return h.http.interaction_responses()[-1]


def rows(bot: MuseBot, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(bot.service.storage.path) as raw:
        return raw.execute(sql).fetchall()


def modal_submit(modal: dict[str, Any], values: list[str], **where: Any) -> dict[str, Any]:
    payload = base_payload(5, **where)
    inputs = [row["components"][0]["custom_id"] for row in modal["data"]["components"]]
    payload["data"] = {
        "custom_id": modal["data"]["custom_id"],
        "components": [
            {"type": 1, "components": [{"type": 4, "custom_id": cid, "value": value}]}
            for cid, value in zip(inputs, values, strict=True)
        ],
    }
    return payload


async def test_the_requester_picks_the_best_candidate(make_service: ServiceFactory) -> None:
    bot = await bot_with(make_service)
    async with Harness(bot) as h:
        message = await result(h, "slogan", {"product": "tea", "count": 3})
        picks = [b for b in buttons(message) if b["custom_id"].startswith("muse:pick:")]
        assert [b["label"] for b in picks] == ["Pick 1", "Pick 2", "Pick 3"]
        await h.run(h.click(picks[1]["custom_id"], message, user_id=MEMBER))
        assert "Only the member who asked" in last(h)["data"]["content"]
        await h.run(h.click(picks[1]["custom_id"], message))
        update = last(h)
        assert h.errors == []
    assert update["type"] == 7
    picked = next(b for b in buttons(update["data"]) if b["custom_id"] == picks[1]["custom_id"])
    assert picked["style"] == discord.ButtonStyle.success.value
    assert "**2.** verse" in update["data"]["embeds"][0]["description"]
    assert "✅" in update["data"]["embeds"][0]["description"].splitlines()[1]
    assert rows(bot, "SELECT source, user_id FROM picks") == [("pick", USER_ID)]


async def test_members_judge_an_ab_comparison_once_each(make_service: ServiceFactory) -> None:
    bot = await bot_with(make_service)
    async with Harness(bot) as h:
        message = await result(h, "poem", {"topic": "moon", "compare": True})
        embed = message["embeds"][0]
        assert embed["title"] == "📜 Poem · A or B?"
        assert embed["description"].startswith("**A**\nverse")
        ab = [b for b in buttons(message) if b["custom_id"].startswith("muse:ab:")]
        assert [b["label"] for b in ab] == ["A is better · 0", "B is better · 0", "Tie · 0"]
        await h.run(h.click(ab[1]["custom_id"], message, user_id=MEMBER))
        await h.run(h.click(ab[1]["custom_id"], message, user_id=MEMBER + 1))
        await h.run(h.click(ab[2]["custom_id"], message, user_id=MEMBER))  # changes their mind
        labels = [
            b["label"] for b in buttons(last(h)["data"]) if b["custom_id"].startswith("muse:ab:")
        ]
        assert h.errors == []
    assert labels == ["A is better · 0", "B is better · 1", "Tie · 1"]
    assert len(rows(bot, "SELECT * FROM picks WHERE source = 'compare'")) == 2


async def test_the_requester_edits_and_the_correction_is_kept(make_service: ServiceFactory) -> None:
    bot = await bot_with(make_service)
    async with Harness(bot) as h:
        message = await result(h, "poem", {"topic": "moon"})
        edit = next(b for b in buttons(message) if b["custom_id"].startswith("muse:edit:"))
        await h.run(h.click(edit["custom_id"], message, user_id=MEMBER))
        assert "Only the member who asked" in last(h)["data"]["content"]
        await h.run(h.click(edit["custom_id"], message))
        modal = last(h)
        assert modal["type"] == 9
        box = modal["data"]["components"][0]["components"][0]
        assert box["value"].startswith("verse ")  # pre-filled with the output
        await h.run(modal_submit(modal, ["A better moon\nrises slowly"]))
        update = last(h)
        await h.run(h.click(edit["custom_id"], message))
        await h.run(modal_submit(last(h), ["what the fuck"]))
        refusal = last(h)
        assert h.errors == []
    assert update["type"] == 7
    assert update["data"]["embeds"][0]["title"] == "📜 Poem · ✏️ edited"
    assert update["data"]["embeds"][0]["description"] == "A better moon\nrises slowly"
    assert (
        refusal["data"]["flags"] == EPHEMERAL and "edit was refused" in refusal["data"]["content"]
    )
    assert rows(bot, "SELECT user_id, text FROM edits") == [
        (USER_ID, "A better moon\nrises slowly")
    ]


async def test_privacy_shows_what_is_stored_and_records_consent(
    make_service: ServiceFactory,
) -> None:
    bot = await bot_with(make_service)
    async with Harness(bot) as h:
        await result(h, "poem", {"topic": "moon"})
        await h.run(h.slash("privacy"))
        shown = last(h)["data"]
        assert shown["flags"] == EPHEMERAL
        assert (
            "requests: 1 · outputs: 1" in shown["content"] and "**included in**" in shown["content"]
        )
        message = h.http.original_message(list(h.http.interactions)[-1])
        assert message is not None
        await h.run(h.click("muse:consent:out", message))
        assert "**left out of**" in last(h)["data"]["content"]
        assert h.errors == []
    assert rows(bot, "SELECT user_id, choice FROM consent") == [(USER_ID, "out")]


async def test_forget_me_deletes_everything_after_confirmation(
    make_service: ServiceFactory,
) -> None:
    bot = await bot_with(make_service)
    async with Harness(bot) as h:
        message = await result(h, "slogan", {"product": "tea", "count": 2})
        ids = custom_ids(message)
        await h.run(h.click(ids[0], message))  # their own vote
        await h.run(h.click(ids[4], message))  # their pick
        await h.run(h.slash("forget-me"))
        prompt = h.http.original_message(list(h.http.interactions)[-1])
        assert prompt is not None
        [confirm] = custom_ids(prompt)
        await h.run(h.click(confirm, prompt, user_id=MEMBER))
        assert "belongs to another member" in last(h)["data"]["content"]
        await h.run(h.click(confirm, prompt))
        done = last(h)["data"]["content"]
        assert h.errors == []
    assert done.startswith("🗑️ Deleted: 1 votes, 0 reports, 0 edits, 1 picks, 2 outputs, 1 jobs")
    for table in ("jobs", "outputs", "votes", "picks", "edits"):
        assert rows(bot, f"SELECT COUNT(*) FROM {table}") == [(0,)], table


async def test_own_votes_are_marked_and_fast_voting_is_limited(
    make_service: ServiceFactory,
) -> None:
    bot = await bot_with(make_service, votes_per_minute=2)
    async with Harness(bot) as h:
        message = await result(h, "poem", {"topic": "moon"})
        up, down = custom_ids(message)[:2]
        await h.run(h.click(up, message))  # the requester's own vote
        await h.run(h.click(up, message, user_id=MEMBER))
        await h.run(h.click(down, message, user_id=MEMBER))
        await h.run(h.click(up, message, user_id=MEMBER))  # third vote within a minute
        limited = last(h)["data"]
        assert h.errors == []
    assert limited["flags"] == EPHEMERAL and "voting very fast" in limited["content"]
    assert rows(bot, "SELECT user_id, value, own FROM votes ORDER BY user_id") == [
        (USER_ID, 1, 1), (MEMBER, -1, 0),
    ]  # fmt: skip


async def test_an_admin_switches_the_server_to_opt_in(make_service: ServiceFactory) -> None:
    bot = await bot_with(make_service)
    admin = discord.Permissions.all().value
    async with Harness(bot) as h:
        await h.run(h.slash("muse-settings consent", {"mode": "opt-in"}, permissions=admin))
        assert "**Dataset consent:** opt-in" in last(h)["data"]["content"]
        await h.run(h.slash("privacy"))
        assert "**left out of**" in last(h)["data"]["content"]  # never opted in
        assert h.errors == []
