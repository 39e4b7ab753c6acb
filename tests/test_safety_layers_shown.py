"""Moderators see which safety layer held an output ("list: profanity", "intent: violence") on
the review card (real discord.py through the harness), in the web view and in the audit log."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.review.reviews import ReviewDesk
from bot.store.storage import Storage
from bot.web.app import WebView
from bot.web.auth import Guard
from moderation.text import build_text_filter
from tests.conftest import ServiceFactory
from tests.discord_harness import Harness
from tests.test_discord_moderation import (
    MOD_CHANNEL,
    MODERATOR,
    bot_with,
    cards,
    held_poem,
    stored_message,
)
from tests.web_seed import TOKEN, Clock, held, sign_in


async def test_the_card_and_the_audit_log_name_the_layer(make_service: ServiceFactory) -> None:
    text_filter = build_text_filter(ml=False, embed=False)
    threat = "I will stab my neighbour tomorrow and burn his house down"
    bot = await bot_with(make_service, [threat], text_filter=text_filter)
    async with Harness(bot) as h:
        await held_poem(h)
        [card] = cards(h)
        fields = {f["name"]: f["value"] for f in card["embeds"][0]["fields"]}
        assert fields["decided by"] == "intent: violence"
        stored = stored_message(h, MOD_CHANNEL)
        await h.run(h.click("muse:mod:1:ok:c", stored, user_id=MODERATOR, channel_id=MOD_CHANNEL))
        assert h.errors == []
    with sqlite3.connect(bot.service.storage.path) as raw:
        audit = raw.execute("SELECT action, target FROM audit WHERE action = 'approved'")
        assert audit.fetchall() == [("approved", "output 1 (held by intent: violence)")]


@pytest.fixture
async def client(storage: Storage) -> AsyncIterator[TestClient[Any, Any]]:
    clock = Clock()
    view = WebView(ReviewDesk(storage, clock), Guard(TOKEN, clock), clock)
    async with TestClient(TestServer(view.app())) as test_client:
        yield test_client


async def test_the_web_view_names_the_layer(storage: Storage, client: TestClient[Any, Any]) -> None:
    desk = ReviewDesk(storage, Clock())
    verdict = build_text_filter(ml=False).check("you are a shithead").to_json()
    verdict["decision"] = "review"
    await held(desk, "moon", "you are a shithead", verdict=verdict)
    await sign_in(client)
    page = await (await client.get("/")).text()
    assert "decided by list: profanity" in page
