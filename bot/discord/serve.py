"""``muse run``: serve Discord until SIGTERM or SIGINT, then stop gracefully.

The CLI's one way into the adapter; it imports this module only when ``muse run`` starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Protocol

import aiohttp
import discord
from aiohttp import web

from bot.app import open_service, service_health
from bot.config import Settings
from bot.discord.shards import make_bot
from bot.errors import BotError, ConfigError
from bot.ops.metrics import start_metrics_server
from bot.service.core import MuseService
from bot.web.app import start_web_server

log = logging.getLogger(__name__)


class _Client(Protocol):
    """What serving needs of the bot: discord.py's ``start`` returns once ``close`` is done."""

    async def start(self, token: str) -> None: ...

    async def close(self) -> None: ...


def serve(settings: Settings, *, metrics_host: str, metrics_port: int | None) -> int:
    """Run the bot (exit status 0 after a graceful stop). Discord refusing the token or being
    unreachable is an operator error, raised as a ``BotError``, not a crash."""
    try:
        return asyncio.run(_run(settings, metrics_host, metrics_port))
    except discord.LoginFailure as err:
        raise ConfigError(
            "Discord refused DISCORD_TOKEN; copy a fresh token from the developer portal"
        ) from err
    except (aiohttp.ClientConnectionError, discord.GatewayNotFound) as err:
        raise BotError(
            f"cannot reach Discord ({type(err).__name__}); check the network and try again"
        ) from err


async def _run(settings: Settings, metrics_host: str, metrics_port: int | None) -> int:
    async with (
        open_service(settings, token=True) as service,
        contextlib.AsyncExitStack() as servers,
    ):
        metrics = await _metrics(service, metrics_host, metrics_port)
        if metrics is not None:
            servers.push_async_callback(metrics.cleanup)
        if settings.web_port is not None:  # the moderators' web view, over the same review desk
            web_view = await start_web_server(
                service.reviews, settings.web_token, settings.web_host, settings.web_port
            )
            servers.push_async_callback(web_view.cleanup)
        bot = make_bot(service, settings)
        async with bot:
            await _serve(bot, service, settings)
    return 0


async def _metrics(service: MuseService, host: str, port: int | None) -> web.AppRunner | None:
    if port is None:
        return None
    return await start_metrics_server(service.metrics, service_health(service), host, port)


async def _serve(bot: _Client, service: MuseService, settings: Settings) -> None:
    """Log in and serve; on a signal, finish jobs (up to the grace period) and close."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    runner = asyncio.create_task(bot.start(settings.discord_token), name="muse-discord")
    waiter = asyncio.create_task(stop.wait(), name="muse-signals")
    try:
        done, _ = await asyncio.wait({runner, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if runner in done:
            runner.result()  # a login failure or a crash surfaces here
            return
        log.info(
            "stopping: new commands are told Muse is restarting; finishing jobs (up to %g s)",
            settings.shutdown_grace_s,
        )
        await service.stop(settings.shutdown_grace_s)
        await bot.close()
        await runner
    finally:
        waiter.cancel()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
