"""A job asked in Discord keeps the channel's (and, when cached, the guild's) name, so the web
view can say where it came from in words."""

from __future__ import annotations

import sqlite3

from bot.discord.client import MuseBot
from tests.conftest import ServiceFactory
from tests.discord_harness import Harness
from tests.discord_payloads import CHANNEL_ID, GUILD_ID
from tests.fakes import ScriptedBackend


async def test_a_poem_records_where_it_was_asked_by_name(make_service: ServiceFactory) -> None:
    service = await make_service(ScriptedBackend())
    async with Harness(MuseBot(service, service.settings)) as h:
        await h.run(h.slash("poem", {"topic": "moon"}))
        assert h.errors == []
    with sqlite3.connect(service.storage.path) as db:
        row = db.execute(
            "SELECT guild_id, channel_id, guild_name, channel_name FROM jobs"
        ).fetchone()
    guild_id, channel_id, guild_name, channel_name = row
    assert (guild_id, channel_id, channel_name) == (GUILD_ID, CHANNEL_ID, "general")
    assert isinstance(guild_name, str)  # the guild is not cached in the harness: '' then
