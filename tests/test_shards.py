"""MUSE_SHARDS picks the discord.py client: settings read by ``load_settings``, the bot built by
``make_bot`` (what ``muse run`` does), connected over real sockets to the local FakeDiscord,
whose gateway records each IDENTIFY and the shard it names."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import discord
import pytest

from bot.config import load_settings
from bot.discord.client import MuseBot
from bot.discord.shards import ShardedMuseBot, make_bot
from tests.conftest import ServiceFactory
from tests.discord_server import FakeDiscord
from tests.discord_server_gateway import IDENTIFY

TOKEN = "fake.discord.token"
Connect = Callable[..., Awaitable[tuple[MuseBot, FakeDiscord]]]


@pytest.fixture
async def connect(
    make_service: ServiceFactory, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Connect]:
    """Build the bot from an environment and run it against a FakeDiscord until READY."""
    running: list[tuple[MuseBot, FakeDiscord, asyncio.Task[None]]] = []

    async def start(env: dict[str, str], server: FakeDiscord | None = None) -> Any:
        settings = load_settings(env)
        service = await make_service(shards=settings.shards, shard_ids=settings.shard_ids)
        fake = server or await FakeDiscord().start()  # a given server is already started
        fake.point_discord_py_here(monkeypatch.setattr)
        bot = make_bot(service, service.settings)
        bot._connection.guild_ready_timeout = 0.05

        async def identify_at_once(shard_id: int | None, *, initial: bool = False) -> None:
            """discord.py waits 5 s between shards' IDENTIFYs (Discord's limit); not here."""

        monkeypatch.setattr(bot, "before_identify_hook", identify_at_once)
        task = asyncio.create_task(bot.start(TOKEN), name="muse-bot")
        running.append((bot, fake, task))
        await fake.wait_for(lambda: bot.is_ready() or task.done(), 10, "READY")
        if task.done():
            task.result()
        return bot, fake

    yield start
    for bot, fake, task in running:
        await bot.close()
        await asyncio.wait({task}, timeout=5)
        await fake.stop()


def identified_shards(fake: FakeDiscord) -> list[Any]:
    return [frame.d.get("shard") for frame in fake.frames if frame.op == IDENTIFY]


def synced(fake: FakeDiscord) -> bool:
    return bool(fake.calls_to("PUT", r"/applications/\d+/commands"))


async def test_without_the_setting_one_connection_and_no_shards(connect: Connect) -> None:
    bot, fake = await connect({})
    assert type(bot) is MuseBot and not isinstance(bot, discord.AutoShardedClient)
    assert identified_shards(fake) == [None]
    assert synced(fake)


async def test_a_count_runs_that_many_shards_in_this_process(connect: Connect) -> None:
    bot, fake = await connect({"MUSE_SHARDS": "2"})
    assert isinstance(bot, ShardedMuseBot) and isinstance(bot, discord.AutoShardedClient)
    assert bot.shard_count == 2 and sorted(bot.shards) == [0, 1]
    assert sorted(identified_shards(fake)) == [[0, 2], [1, 2]]
    assert not fake.calls_to("GET", "/gateway/bot$")  # a count needs no recommendation
    assert synced(fake)


async def test_auto_takes_discords_recommended_count(connect: Connect) -> None:
    server = FakeDiscord()
    await server.start()
    limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
    recommended = {"url": server.gateway_url, "shards": 3, "session_start_limit": limit}
    server.fail("GET", "/gateway/bot$", 200, recommended)
    bot, fake = await connect({"MUSE_SHARDS": "auto"}, server)
    assert isinstance(bot, discord.AutoShardedClient) and bot.shard_count == 3
    assert sorted(identified_shards(fake)) == [[0, 3], [1, 3], [2, 3]]


async def test_shard_ids_run_only_those_and_leave_syncing_to_shard_0(connect: Connect) -> None:
    bot, fake = await connect({"MUSE_SHARDS": "4", "MUSE_SHARD_IDS": "2,3"})
    assert isinstance(bot, discord.AutoShardedClient)
    assert bot.shard_count == 4 and bot.shard_ids == [2, 3]
    assert sorted(identified_shards(fake)) == [[2, 4], [3, 4]]
    assert not synced(fake)  # the process running shard 0 syncs the commands
