"""Drive a real discord.py bot (login, setup_hook, interactions, views) with no network.

:class:`Harness` logs a real bot in against a :class:`tests.discord_http.RecordingHTTP` (the
fake REST API), feeds it payloads from :mod:`tests.discord_payloads` and waits for the tasks
they spawn.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

import discord

from tests.discord_http import RecordingHTTP
from tests.discord_payloads import JSON, OptionValue, component_payload, slash_payload

BotT = TypeVar("BotT", bound=discord.Client)
OtherBotT = TypeVar("OtherBotT", bound=discord.Client)


def install(bot: discord.Client, http: RecordingHTTP) -> None:
    """Make ``bot.login()`` log in against ``http`` instead of Discord (no gateway involved)."""
    client = bot.http

    async def static_login(token: str) -> Any:
        vars(client)["_HTTPClient__session"] = http  # Interaction and Webhook use it too
        client._global_over = asyncio.Event()
        client._global_over.set()
        client.token = token
        return await client.request(discord.http.Route("GET", "/users/@me"))

    client.static_login = static_login  # type: ignore[method-assign]


def dispatch(bot: discord.Client, payload: JSON) -> None:
    """Feed an INTERACTION_CREATE payload through discord.py's real parser (spawns tasks)."""
    bot._connection.parse_interaction_create(payload)  # type: ignore[arg-type]


def _is_background(task: asyncio.Task[Any]) -> bool:
    """View timeout timers live for minutes; settle() must not wait for them."""
    return getattr(task.get_coro(), "__qualname__", "").endswith("__timeout_task_impl")


class _ErrorLog(logging.Handler):
    """Collects exceptions discord.py logs instead of raising (command/view/event errors)."""

    def __init__(self, sink: list[BaseException]) -> None:
        super().__init__(logging.ERROR)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            self.sink.append(record.exc_info[1])


class Harness(Generic[BotT]):
    """A real bot logged in against a :class:`RecordingHTTP`; use ``async with``."""

    def __init__(self, bot: BotT, http: RecordingHTTP | None = None) -> None:
        self.bot = bot
        self.http = http or RecordingHTTP()
        self.errors: list[BaseException] = []
        self._log = _ErrorLog(self.errors)
        self._baseline: set[asyncio.Task[Any]] | None = None

    async def __aenter__(self) -> Harness[BotT]:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> Harness[BotT]:
        """Run the real ``login()``: user + app info from the fake API, then ``setup_hook``."""
        install(self.bot, self.http)
        logging.getLogger("discord").addHandler(self._log)
        await self.bot.login("harness.token")
        return self

    async def close(self) -> None:
        """Close the bot (no aiohttp session exists, so nothing leaks)."""
        await self.bot.close()
        logging.getLogger("discord").removeHandler(self._log)

    def restarted(self, bot: OtherBotT) -> Harness[OtherBotT]:
        """An unstarted harness for a fresh ``bot`` against the same fake Discord.

        Only the :class:`RecordingHTTP` (Discord's side: messages, ids, call log) is shared.
        """
        return Harness(bot, self.http)

    def slash(
        self, name: str, options: Mapping[str, OptionValue] | None = None, **where: Any
    ) -> JSON:
        """:func:`slash_payload` with this bot's tree and application id."""
        where.setdefault("app_id", self.bot.application_id or self.http.app_id)
        return slash_payload(name, options, tree=self.bot._connection._command_tree, **where)

    def click(self, custom_id: str, message: Mapping[str, Any], **where: Any) -> JSON:
        """:func:`component_payload` for a button on ``message`` with this bot's app id."""
        where.setdefault("app_id", self.bot.application_id or self.http.app_id)
        return component_payload(custom_id, message=message, **where)

    def dispatch(self, payload: JSON) -> None:
        """Register the interaction with the fake API and hand it to discord.py."""
        if self._baseline is None:
            self._baseline = asyncio.all_tasks()
        self.http.interactions[payload["token"]] = copy.deepcopy(payload)
        dispatch(self.bot, payload)

    async def settle(
        self, timeout: float = 5.0, ignore: Callable[[asyncio.Task[Any]], bool] = _is_background
    ) -> None:
        """Wait until every task spawned since the first un-settled dispatch has finished.

        Exceptions escaping those tasks are appended to :attr:`errors`.
        """
        baseline = asyncio.all_tasks() if self._baseline is None else self._baseline
        self._baseline = None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            await asyncio.sleep(0)
            pending = {
                t
                for t in asyncio.all_tasks() - baseline
                if t is not asyncio.current_task() and not ignore(t)
            }
            if not pending:
                return
            if loop.time() >= deadline:
                names = sorted(
                    f"{t.get_name()}={getattr(t.get_coro(), '__qualname__', '?')}" for t in pending
                )
                raise TimeoutError(f"interaction tasks still running: {names}")
            done, _ = await asyncio.wait(pending, timeout=deadline - loop.time())
            for task in done:
                if not task.cancelled() and (exc := task.exception()) is not None:
                    self.errors.append(exc)

    async def run(self, payload: JSON, *, timeout: float = 5.0) -> None:
        """``dispatch`` then ``settle``."""
        self.dispatch(payload)
        await self.settle(timeout)
