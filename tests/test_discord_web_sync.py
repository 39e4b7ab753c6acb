"""Discord and the web view stay in step: a web approval is published in Discord and updates the
card, a Discord decision leaves the web list, and decisions stored by a separate ``muse web``
process are published by the running bot (or by the next one to start)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from bot.discord.client import MuseBot
from bot.review.reviews import ReviewDesk
from bot.web.app import WebView
from bot.web.auth import Guard
from tests.conftest import ServiceFactory
from tests.discord_harness import Harness
from tests.discord_payloads import GUILD_ID
from tests.test_discord_moderation import (
    MEMBER,
    MEMBER_PERMS,
    MOD_CHANNEL,
    MODERATOR,
    bot_with,
    cards,
    posts,
    stored_message,
)
from tests.web_seed import TOKEN, sign_in

HELD = ("what the fuck, moon", "shit, this rain")


async def two_held_poems(h: Harness[MuseBot]) -> None:
    for topic in ("moon", "rain"):
        await h.run(h.slash("poem", {"topic": topic}, user_id=MEMBER, permissions=MEMBER_PERMS))
    assert len(cards(h)) == 2


def decisions_on_cards(h: Harness[MuseBot]) -> list[str]:
    edits = h.http.calls_to("PATCH", rf"/channels/{MOD_CHANNEL}/messages/\d+$")
    fields = [{f["name"]: f["value"] for f in e.json["embeds"][0]["fields"]} for e in edits]
    return [f["decision"] for f in fields if "decision" in f]


async def test_web_and_discord_decisions_reach_each_other(make_service: ServiceFactory) -> None:
    bot = await bot_with(make_service, list(HELD))
    view = WebView(bot.service.reviews, Guard(TOKEN))
    async with Harness(bot) as h, TestClient(TestServer(view.app())) as web:
        await two_held_poems(h)
        signed = await sign_in(web)
        approve = {"action": "approve", "csrf": signed.csrf}
        await web.post("/reviews/1", data=approve, allow_redirects=False)
        await bot.service.reviews.events.settled()
        [post] = posts(h)
        assert post["embeds"][0]["description"] == "what the fuck, moon"
        assert decisions_on_cards(h) == ["✅ approved by the web view"]
        await h.run(h.slash("review", user_id=MODERATOR))
        listing = h.http.interaction_responses()[-1]["data"]["embeds"][0]
        assert [f["name"].split(" · ")[0] for f in listing["fields"]] == ["#2"]

        card = stored_message(h, MOD_CHANNEL)  # #2's card: a moderator rejects it in Discord
        await h.run(h.click("muse:mod:2:no:c", card, user_id=MODERATOR, channel_id=MOD_CHANNEL))
        status = await (await web.get("/api/status")).json()
        assert status["pending"] == [] and status["pending_total"] == 0
        assert "⛔ A moderator did not approve" in posts(h)[-1]["content"]
        assert decisions_on_cards(h) == ["✅ approved by the web view"]  # no echo on #2's card
        assert h.errors == []


async def test_decisions_of_a_separate_web_process_are_published(
    make_service: ServiceFactory,
) -> None:
    bot = await bot_with(make_service, list(HELD))
    other_process = ReviewDesk(bot.service.storage, bot.service.clock)  # nobody listens there
    async with Harness(bot) as h:
        await two_held_poems(h)
    await other_process.decide(1, 0, GUILD_ID, approve=True, via="web")  # while the bot is down
    restarted = MuseBot(bot.service, bot.service.settings)
    restarted.review_sync.interval_s = 0.05
    async with h.restarted(restarted) as h2:
        await h2.settle()
        assert [p["embeds"][0]["description"] for p in posts(h2)] == ["what the fuck, moon"]
        await other_process.decide(2, 0, GUILD_ID, approve=True, via="web")  # while it runs
        assert await wait_for(lambda: len(posts(h2)) == 2)
        assert posts(h2)[-1]["embeds"][0]["description"] == "shit, this rain"
        assert decisions_on_cards(h2) == ["✅ approved by the web view"] * 2
        assert h2.errors == []


async def wait_for(condition: Any, timeout_s: float = 5.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True
