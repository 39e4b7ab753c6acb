"""A real MuseBot on real discord.py, connected over real sockets to a running
:class:`tests.discord_server.FakeDiscord`: the kit the fault-injection tests share."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bot.discord.client import MuseBot
from bot.service.core import MuseService
from tests.conftest import ServiceFactory
from tests.discord_payloads import APP_ID, CHANNEL_ID, JSON, USER_ID, slash_payload
from tests.discord_server import FakeDiscord
from tests.discord_server_rest import Call
from tests.fakes import ScriptedBackend

TOKEN = "fake.discord.token"
FOLLOWUP = r"^/webhooks/\d+/[^/]+$"
_INVOKER_TASKS = ("CommandTree-invoker", "discord-ui-view-dispatch", "discord.py: ")


def has_embed(call: Call) -> bool:
    """The request carries an embed (the final result, not a progress edit)."""
    return isinstance(call.json, dict) and bool(call.json.get("embeds"))


class _LogSink(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class Live:
    """A running MuseBot connected to a running FakeDiscord."""

    server: FakeDiscord
    bot: MuseBot
    service: MuseService
    task: asyncio.Task[None]
    logs: _LogSink
    baseline: set[asyncio.Task[Any]] = field(default_factory=set)

    def slash(self, topic: str = "moon", **where: Any) -> JSON:
        return slash_payload("poem", {"topic": topic}, tree=self.bot.tree, app_id=APP_ID, **where)

    async def send(self, payload: JSON) -> str:
        await self.server.send_interaction(payload)
        return str(payload["token"])

    def jobs(self) -> list[sqlite3.Row]:
        with sqlite3.connect(self.service.storage.path) as raw:
            raw.row_factory = sqlite3.Row
            return raw.execute("SELECT * FROM jobs ORDER BY created_at").fetchall()

    def outputs(self, job_id: str) -> list[sqlite3.Row]:
        with sqlite3.connect(self.service.storage.path) as raw:
            raw.row_factory = sqlite3.Row
            sql = "SELECT * FROM outputs WHERE job_id = ? ORDER BY candidate"
            return raw.execute(sql, (job_id,)).fetchall()

    def errors(self) -> list[str]:
        return [r.getMessage() for r in self.logs.records if r.levelno >= logging.ERROR]

    async def settle(self, jobs: int, timeout: float = 15.0) -> list[sqlite3.Row]:
        """Wait until ``jobs`` jobs are finished and every interaction task has ended."""

        def busy() -> bool:
            return any(
                t.get_name().startswith(_INVOKER_TASKS) and not t.done()
                for t in asyncio.all_tasks()
            )

        def settled() -> bool:
            rows = self.jobs()
            return (
                len(rows) >= jobs
                and all(r["status"] not in ("queued", "running") for r in rows)
                and not self.service._deliveries
                and not busy()
            )

        await self.server.wait_for(settled, timeout, f"{jobs} job(s) to be finished")
        if self.task.done():
            self.task.result()  # the bot's connection loop must still be running
        return self.jobs()

    def result_message(self, job: sqlite3.Row) -> JSON | None:
        """The stored message showing ``job``'s result embed (its footer names the seed)."""
        for message in self.server.messages.values():
            for embed in message["embeds"]:
                if f"seed {job['seed']} ·" in (embed.get("footer") or {}).get("text", ""):
                    return message
        return None

    def assert_delivered(self, job: sqlite3.Row, token: str, *, to: str) -> JSON:
        """``job`` is done, its outputs stored, and its result shown ``to`` the "original"
        interaction message or the "channel"; the database points at that message."""
        assert job["status"] == "done", dict(job)
        outputs = self.outputs(job["id"])
        assert outputs and outputs[0]["text"].startswith("verse ")
        message = self.result_message(job)
        assert message is not None, f"result of job {job['id']} was never shown"
        assert message["embeds"][0]["description"].startswith(outputs[0]["text"].split("\n")[0])
        assert (job["message_channel_id"], job["message_id"]) == (CHANNEL_ID, int(message["id"]))
        if to == "original":
            assert message is self.server.original_message(token)
        else:
            assert "webhook_id" not in message and message["channel_id"] == str(CHANNEL_ID)
            assert message["content"] == f"<@{USER_ID}>"
        return message

    async def close(self) -> None:
        await self.bot.close()
        done, _ = await asyncio.wait({self.task}, timeout=5)
        assert done, "the bot's connection loop did not end after close()"
        await self.server.stop()
        logging.getLogger("discord").removeHandler(self.logs)
        logging.getLogger("bot").removeHandler(self.logs)
        await asyncio.sleep(0)
        leaked = {t for t in asyncio.all_tasks() - self.baseline if t is not asyncio.current_task()}
        leaked = {t for t in leaked if not t.done()}
        assert not leaked, f"tasks left running: {sorted(t.get_name() for t in leaked)}"
        self.task.result()  # start() ended without an error


Launcher = Callable[..., Awaitable[Live]]


@contextlib.asynccontextmanager
async def launcher(
    make_service: ServiceFactory, setattr_: Callable[[Any, str, Any], None]
) -> AsyncIterator[Launcher]:
    """Start FakeDiscords with a real MuseBot on each and wait for READY; close them all at
    the end. Pass ``monkeypatch.setattr`` as ``setattr_`` so pointing discord.py is undone."""
    started: list[Live] = []

    async def start(
        backend: Any = None, *, server: FakeDiscord | None = None, **overrides: Any
    ) -> Live:
        service = await make_service(backend or ScriptedBackend(), **overrides)
        baseline = asyncio.all_tasks()  # the service's own queue task is the fixture's to close
        fake = await (server or FakeDiscord()).start()
        fake.point_discord_py_here(setattr_)
        bot = MuseBot(service, service.settings)
        bot._connection.guild_ready_timeout = 0.05  # READY waits this long for GUILD_CREATEs
        logs = _LogSink()
        logging.getLogger("discord").addHandler(logs)
        logging.getLogger("bot").addHandler(logs)
        task = asyncio.create_task(bot.start(TOKEN), name="muse-bot")
        live = Live(fake, bot, service, task, logs, baseline)
        started.append(live)
        await fake.wait_for(lambda: bot.is_ready() or task.done(), 10, "READY")
        if task.done():
            task.result()
        return live

    yield start
    for live in started:
        await live.close()


async def first_call(live: Live, method: str, path: str, token: str) -> Call:
    await live.server.wait_for(
        lambda: any(token in c.path for c in live.server.calls_to(method, path)),
        what=f"{method} {path} for {token}",
    )
    return next(c for c in live.server.calls_to(method, path) if token in c.path)


class FastBackoff:
    """Stands in for ``asyncio`` inside discord.py's HTTP modules: sleeps of a second or more
    (its 5xx backoff, 1 + 2n s: 25 s over five tries) are 50 times shorter; others unchanged."""

    def __init__(self) -> None:
        self.requested: list[float] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    async def sleep(self, delay: float, result: Any = None) -> Any:
        self.requested.append(delay)
        return await asyncio.sleep(delay / 50 if delay >= 1 else delay, result)
