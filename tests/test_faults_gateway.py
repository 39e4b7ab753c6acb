"""Fault injection on Discord's gateway: a real MuseBot against tests.discord_server's
Discord, over a real websocket (zlib-stream) on 127.0.0.1.  Each test drops the connection,
sends RECONNECT or INVALID_SESSION, and asserts that the bot resumes (or identifies again)
and members still get their results.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import discord.client
import pytest

from tests.conftest import ServiceFactory
from tests.discord_live import TOKEN, FastBackoff, Launcher, Live, first_call, launcher
from tests.discord_server_gateway import IDENTIFY, RESUME, RESUME_PATH
from tests.discord_server_rest import CALLBACK
from tests.fakes import ScriptedBackend

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def launch(
    make_service: ServiceFactory, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Launcher]:
    """A MuseBot on a FakeDiscord per call, all closed after the test."""
    async with launcher(make_service, monkeypatch.setattr) as start:
        yield start


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
    monkeypatch.setattr(discord.client, "asyncio", FastBackoff())
    live = await launch()
    session = live.server.session
    assert session is not None
    await live.server.drop_gateway(4009, invalidate=True)
    await live.server.wait_for(lambda: len(live.server.sessions) == 2, what="a new IDENTIFY")
    [resume] = live.server.frames_with(RESUME)
    assert resume.d["session_id"] == session.id
    await live.server.wait_for(lambda: live.bot._connection._ready_task is None, what="READY")
    await _answered_after(live, 1)
