"""Fault injection: a real MuseBot on real discord.py against tests.discord_server's Discord.

Real sockets on 127.0.0.1, real HTTP and a real gateway websocket (zlib-stream).  Each test
injects one fault (429s, 5xx, expired tokens, deleted placeholders, gateway drops, RECONNECT,
INVALID_SESSION) and asserts that the member still gets the result, from the requests the
server recorded and from the SQLite database.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import discord
import discord.client
import discord.http
import discord.webhook.async_
import pytest

from bot.discord.client import MuseBot
from bot.service.core import MuseService
from tests.conftest import ServiceFactory
from tests.discord_payloads import APP_ID, CHANNEL_ID, USER_ID, slash_payload
from tests.discord_server import FakeDiscord
from tests.discord_server_gateway import IDENTIFY, RESUME, RESUME_PATH
from tests.discord_server_rest import CALLBACK, CHANNEL_MESSAGES, ORIGINAL, Call
from tests.fakes import ScriptedBackend

pytestmark = pytest.mark.timeout(30)

TOKEN = "fake.discord.token"
FOLLOWUP = r"^/webhooks/\d+/[^/]+$"
JSON = dict[str, Any]
_INVOKER_TASKS = ("CommandTree-invoker", "discord-ui-view-dispatch", "discord.py: ")


def _has_embed(call: Call) -> bool:
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


@pytest.fixture
async def launch(
    make_service: ServiceFactory, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Launcher]:
    """Start a FakeDiscord and a real MuseBot on it; wait for READY; close both afterwards."""
    started: list[Live] = []

    async def start(
        backend: Any = None, *, server: FakeDiscord | None = None, **overrides: Any
    ) -> Live:
        service = await make_service(backend or ScriptedBackend(), **overrides)
        baseline = asyncio.all_tasks()  # the service's own queue task is the fixture's to close
        fake = await (server or FakeDiscord()).start()
        fake.point_discord_py_here(monkeypatch.setattr)
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


# -- the baseline ------------------------------------------------------------------------------
async def test_a_slash_command_over_real_sockets_is_deferred_then_edited(launch: Launcher) -> None:
    live = await launch(ScriptedBackend(delay_s=0.2))
    [identify] = live.server.frames_with(IDENTIFY)
    assert identify.d["token"] == TOKEN and identify.d["intents"] == 1  # guilds only
    assert live.server.connections[0].query == {
        "v": "10", "encoding": "json", "compress": "zlib-stream",
    }  # fmt: skip
    assert [c.path for c in live.server.calls[:2]] == ["/users/@me", "/oauth2/applications/@me"]
    assert live.server.calls_to("PUT", rf"^/applications/{APP_ID}/commands$")
    token = await live.send(live.slash())
    [job] = await live.settle(jobs=1)
    live.assert_delivered(job, token, to="original")
    [callback] = live.server.calls_to("POST", CALLBACK)
    assert callback.json == {"type": 5} and callback.params == {"with_response": "1"}
    assert live.errors() == []


# -- 429s ------------------------------------------------------------------------------------------
async def test_429_on_the_interaction_callback_is_retried_after_retry_after(
    launch: Launcher,
) -> None:
    live = await launch()
    live.server.fail("POST", CALLBACK, 429, {"retry_after": 0.3})
    token = await live.send(live.slash())
    [job] = await live.settle(jobs=1)
    live.assert_delivered(job, token, to="original")
    limited, accepted = live.server.calls_to("POST", CALLBACK)
    assert (limited.status, accepted.status) == (429, 200)
    assert accepted.at - limited.at >= 0.3 - 0.01
    assert live.errors() == []


async def test_429s_on_the_final_edit_are_retried_and_the_result_delivered(
    launch: Launcher,
) -> None:
    live = await launch()
    live.server.fail("PATCH", ORIGINAL, 429, {"retry_after": 0.2}, times=2, when=_has_embed)
    token = await live.send(live.slash())
    [job] = await live.settle(jobs=1)
    live.assert_delivered(job, token, to="original")
    finals = [c for c in live.server.calls_to("PATCH", ORIGINAL) if _has_embed(c)]
    assert [c.status for c in finals] == [429, 429, 200]
    assert all(b.at - a.at >= 0.2 - 0.01 for a, b in itertools.pairwise(finals))
    assert live.server.calls_to("POST", CHANNEL_MESSAGES) == []


@pytest.mark.parametrize("is_global", [False, True], ids=["bucket", "global"])
async def test_429_on_a_channel_message_is_retried(launch: Launcher, is_global: bool) -> None:
    live = await launch(server=FakeDiscord(callback_deadline_s=None))
    live.server.fail("POST", CHANNEL_MESSAGES, 429, {"retry_after": 0.2, "global": is_global})
    old = discord.utils.utcnow() - dt.timedelta(minutes=16)  # token expired: goes to channel
    token = await live.send(live.slash(created_at=old))
    [job] = await live.settle(jobs=1)
    live.assert_delivered(job, token, to="channel")
    limited, sent = live.server.calls_to("POST", CHANNEL_MESSAGES)
    assert (limited.status, sent.status) == (429, 200) and sent.at - limited.at >= 0.19
    assert live.errors() == []


async def test_429s_on_followup_and_delete_of_an_error_notice_are_retried(
    launch: Launcher,
) -> None:
    live = await launch(ScriptedBackend(fail=True))
    live.server.fail("DELETE", ORIGINAL, 429, {"retry_after": 0.1})
    live.server.fail("POST", FOLLOWUP, 429, {"retry_after": 0.1})
    token = await live.send(live.slash())
    [job] = await live.settle(jobs=1)
    assert job["status"] == "failed"
    assert [c.status for c in live.server.calls_to("DELETE", ORIGINAL)] == [429, 204]
    limited, sent = live.server.calls_to("POST", FOLLOWUP)
    assert (limited.status, sent.status) == (429, 200) and token in sent.path
    assert sent.json["content"].startswith("⚠️") and sent.json["flags"] == 64  # ephemeral
    assert live.server.original_message(token) is None  # the "thinking" placeholder is gone


# -- 5xx ---------------------------------------------------------------------------------------
_5XX_BODIES: dict[int, Any] = {
    500: {"message": "500: Internal Server Error", "code": 0},
    502: "<html><head><title>502 Bad Gateway</title></head></html>",  # Cloudflare's HTML
    503: {"message": "upstream connect error", "code": 0},
    504: "<html><head><title>504 Gateway Time-out</title></head></html>",
}


@pytest.mark.parametrize("status", sorted(_5XX_BODIES))
async def test_a_5xx_on_the_final_edit_is_retried_and_the_result_delivered(
    launch: Launcher, status: int
) -> None:
    live = await launch()
    live.server.fail("PATCH", ORIGINAL, status, _5XX_BODIES[status], when=_has_embed)
    token = await live.send(live.slash())
    [job] = await live.settle(jobs=1)
    live.assert_delivered(job, token, to="original")
    finals = [c for c in live.server.calls_to("PATCH", ORIGINAL) if _has_embed(c)]
    assert [c.status for c in finals] == [status, 200]
    assert finals[1].at - finals[0].at >= 0.99  # discord.py's webhook backoff: 1 + 2n s


async def test_a_500_on_the_interaction_callback_is_retried_within_3_seconds(
    launch: Launcher,
) -> None:
    live = await launch()
    live.server.fail("POST", CALLBACK, 500)
    token = await live.send(live.slash())
    [job] = await live.settle(jobs=1)
    live.assert_delivered(job, token, to="original")
    assert [c.status for c in live.server.calls_to("POST", CALLBACK)] == [500, 200]


class _FastBackoff:
    """Stands in for ``asyncio`` inside discord.py's HTTP modules: sleeps of a second or more
    (its 5xx backoff, 1 + 2n s: 25 s over five tries) are 50 times shorter; others unchanged."""

    def __init__(self) -> None:
        self.requested: list[float] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    async def sleep(self, delay: float, result: Any = None) -> Any:
        self.requested.append(delay)
        return await asyncio.sleep(delay / 50 if delay >= 1 else delay, result)


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> _FastBackoff:
    shim = _FastBackoff()
    monkeypatch.setattr(discord.webhook.async_, "asyncio", shim)
    monkeypatch.setattr(discord.http, "asyncio", shim)
    return shim


async def test_a_persistent_5xx_on_the_final_edit_is_not_silent(
    launch: Launcher, fast_backoff: _FastBackoff
) -> None:
    """All five of discord.py's tries fail: the member is at least told something."""
    live = await launch()
    live.server.fail("PATCH", ORIGINAL, 503, times=5, when=_has_embed)
    token = await live.send(live.slash())
    [job] = await live.settle(jobs=1)
    assert job["status"] == "done" and live.outputs(job["id"])  # generated and stored
    finals = [c for c in live.server.calls_to("PATCH", ORIGINAL) if _has_embed(c)]
    assert [c.status for c in finals] == [503] * 5
    assert [d for d in fast_backoff.requested if d >= 1][:5] == [1, 3, 5, 7, 9]
    told = [  # a followup on the interaction or a channel message, after the last failed try
        c
        for c in live.server.calls_to("POST", rf"^/webhooks/\d+/{token}$|{CHANNEL_MESSAGES}")
        if c.status < 300 and c.at > finals[-1].at
    ]
    assert told, "after the failed edit the member heard nothing"
    assert told[0].json["content"].startswith(("⚠️", f"<@{USER_ID}>"))


async def test_a_persistent_5xx_on_the_final_edit_still_delivers_the_result(
    launch: Launcher, fast_backoff: _FastBackoff
) -> None:
    live = await launch()
    live.server.fail("PATCH", ORIGINAL, 503, times=5, when=_has_embed)
    token = await live.send(live.slash())
    [job] = await live.settle(jobs=1)
    live.assert_delivered(job, token, to="channel")


async def test_a_503_on_a_channel_message_still_delivers_the_result(launch: Launcher) -> None:
    """discord.py's HTTPClient retries 500/502/504/524 but raises on a 503 at once."""
    live = await launch(server=FakeDiscord(callback_deadline_s=None))
    live.server.fail("POST", CHANNEL_MESSAGES, 503)
    old = discord.utils.utcnow() - dt.timedelta(minutes=16)
    token = await live.send(live.slash(created_at=old))
    [job] = await live.settle(jobs=1)
    live.assert_delivered(job, token, to="channel")


# -- expired interactions and deleted placeholders ---------------------------------------------
async def test_an_interaction_from_16_minutes_ago_gets_its_result_in_the_channel(
    launch: Launcher,
) -> None:
    """Stands in for a job that outlived its token: the callback is accepted (no 3 s check)."""
    live = await launch(server=FakeDiscord(callback_deadline_s=None))
    old = discord.utils.utcnow() - dt.timedelta(minutes=16)
    token = await live.send(live.slash(created_at=old))
    [job] = await live.settle(jobs=1)
    live.assert_delivered(job, token, to="channel")
    assert live.server.calls_to("PATCH", ORIGINAL) == []  # discord.py knows it expired
    assert live.errors() == []


async def test_a_token_that_expires_mid_job_sends_the_result_to_the_channel(
    launch: Launcher,
) -> None:
    """Discord says 50027 Invalid Webhook Token although discord.py thinks it still valid."""
    live = await launch(ScriptedBackend(delay_s=0.5))
    token = await live.send(live.slash())
    await first_call(live, "PATCH", ORIGINAL, token)  # the first progress edit
    live.server.expire_token(token)
    [job] = await live.settle(jobs=1)
    live.assert_delivered(job, token, to="channel")
    final = next(c for c in live.server.calls_to("PATCH", ORIGINAL) if _has_embed(c))
    assert final.status == 401
    assert live.errors() == []


async def test_a_deleted_placeholder_sends_the_result_to_the_channel(launch: Launcher) -> None:
    live = await launch(ScriptedBackend(delay_s=0.5))
    token = await live.send(live.slash())
    await first_call(live, "POST", CALLBACK, token)
    await live.server.wait_for(lambda: live.server.original_message(token) is not None)
    live.server.delete_original(token)
    [job] = await live.settle(jobs=1)
    live.assert_delivered(job, token, to="channel")
    final = next(c for c in live.server.calls_to("PATCH", ORIGINAL) if _has_embed(c))
    assert final.status == 404  # 10008 Unknown Message
    assert live.errors() == []


# -- the gateway -------------------------------------------------------------------------------
async def _resume_seen(live: Live, count: int = 1) -> None:
    await live.server.wait_for(
        lambda: len(live.server.frames_with(RESUME)) >= count and live.server.connection,
        what="RESUME",
    )


async def _answered_after(live: Live, jobs: int, *tokens: str) -> None:
    """A new interaction on the (re)connected gateway is answered, and so are ``tokens``."""
    token = await live.send(live.slash("after the reconnect"))
    rows = await live.settle(jobs=jobs)
    by_seed = {r["seed"]: r for r in rows}
    for row, tok in zip(rows, [*tokens, token], strict=True):
        live.assert_delivered(by_seed[row["seed"]], tok, to="original")


@pytest.mark.parametrize("code", [4000, 1001])
async def test_a_gateway_close_mid_job_is_resumed(launch: Launcher, code: int) -> None:
    live = await launch(ScriptedBackend(delay_s=0.4))
    server = live.server
    token = await live.send(live.slash())
    await first_call(live, "POST", CALLBACK, token)
    session = server.session
    assert session is not None
    seq = session.seq
    await server.drop_gateway(code)
    await _resume_seen(live)
    [resume] = server.frames_with(RESUME)
    assert resume.d == {"token": TOKEN, "session_id": session.id, "seq": seq}
    assert resume.path == RESUME_PATH and resume.connection == 2  # READY's resume_gateway_url
    await _answered_after(live, 2, token)
    assert len(server.frames_with(IDENTIFY)) == 1 and len(server.sessions) == 1
    assert live.errors() == []


async def test_an_interaction_sent_while_disconnected_is_replayed_on_resume(
    launch: Launcher,
) -> None:
    live = await launch()
    await live.server.drop_gateway(4000)
    assert live.server.connection is None
    token = await live.send(live.slash())  # buffered: Discord replays it after RESUME
    [job] = await live.settle(jobs=1)
    live.assert_delivered(job, token, to="original")
    [resume] = live.server.frames_with(RESUME)
    assert resume.d["seq"] == 2  # READY and GUILD_CREATE seen; the interaction was not


async def test_op_7_reconnect_mid_job_is_resumed(launch: Launcher) -> None:
    live = await launch(ScriptedBackend(delay_s=0.4))
    token = await live.send(live.slash())
    await first_call(live, "POST", CALLBACK, token)
    session = live.server.session
    assert session is not None
    seq = session.seq
    await live.server.send_reconnect()
    await _resume_seen(live)
    [resume] = live.server.frames_with(RESUME)
    assert resume.d == {"token": TOKEN, "session_id": session.id, "seq": seq}
    assert resume.path == RESUME_PATH
    await _answered_after(live, 2, token)
    assert len(live.server.frames_with(IDENTIFY)) == 1


async def test_op_9_resumable_is_resumed(launch: Launcher) -> None:
    live = await launch()
    await live.server.invalidate_session(resumable=True)
    await _resume_seen(live)
    await _answered_after(live, 1)
    assert len(live.server.frames_with(IDENTIFY)) == 1


async def test_op_9_not_resumable_identifies_again(launch: Launcher) -> None:
    """discord.py's default ``before_identify_hook`` sleeps 5 s before any non-initial
    IDENTIFY: the bot is offline that long, and interactions in that window are lost."""
    live = await launch()
    first = live.server.session
    sent = time.monotonic()
    await live.server.invalidate_session(resumable=False)
    await live.server.wait_for(lambda: len(live.server.sessions) == 2, 10, "a new IDENTIFY")
    assert live.server.frames_with(RESUME) == []
    first_identify, identify = live.server.frames_with(IDENTIFY)
    assert [first_identify.path, identify.path] == ["/gateway", "/gateway"]  # the default URL
    assert identify.at - sent >= 5.0
    assert live.server.session is not first
    await live.server.wait_for(lambda: live.bot._connection._ready_task is None, what="READY")
    await _answered_after(live, 1)


async def test_a_session_timeout_close_resumes_is_refused_and_identifies(
    launch: Launcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """4009: discord.py tries RESUME; the server answers op 9 d=false; it IDENTIFYs (the 5 s
    wait before that IDENTIFY is shortened here)."""
    monkeypatch.setattr(discord.client, "asyncio", _FastBackoff())
    live = await launch()
    session = live.server.session
    assert session is not None
    await live.server.drop_gateway(4009, invalidate=True)
    await live.server.wait_for(lambda: len(live.server.sessions) == 2, what="a new IDENTIFY")
    [resume] = live.server.frames_with(RESUME)
    assert resume.d["session_id"] == session.id
    await live.server.wait_for(lambda: live.bot._connection._ready_task is None, what="READY")
    await _answered_after(live, 1)
