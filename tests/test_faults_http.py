"""Fault injection on Discord's REST API: a real MuseBot against tests.discord_server's
Discord, over real sockets on 127.0.0.1.  Each test injects one fault (429s, 5xx, expired
tokens, deleted placeholders) and asserts that the member still gets the result, from the
requests the server recorded and from the SQLite database.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import AsyncIterator
from typing import Any

import discord
import discord.http
import discord.webhook.async_
import pytest

from tests.conftest import ServiceFactory
from tests.discord_live import (
    FOLLOWUP,
    TOKEN,
    FastBackoff,
    Launcher,
    first_call,
    has_embed,
    launcher,
)
from tests.discord_payloads import APP_ID, USER_ID
from tests.discord_server import FakeDiscord
from tests.discord_server_gateway import IDENTIFY
from tests.discord_server_rest import CALLBACK, CHANNEL_MESSAGES, ORIGINAL
from tests.fakes import ScriptedBackend

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def launch(
    make_service: ServiceFactory, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Launcher]:
    """A MuseBot on a FakeDiscord per call, all closed after the test."""
    async with launcher(make_service, monkeypatch.setattr) as start:
        yield start


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
    live.server.fail("PATCH", ORIGINAL, 429, {"retry_after": 0.2}, times=2, when=has_embed)
    token = await live.send(live.slash())
    [job] = await live.settle(jobs=1)
    live.assert_delivered(job, token, to="original")
    finals = [c for c in live.server.calls_to("PATCH", ORIGINAL) if has_embed(c)]
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
    live.server.fail("PATCH", ORIGINAL, status, _5XX_BODIES[status], when=has_embed)
    token = await live.send(live.slash())
    [job] = await live.settle(jobs=1)
    live.assert_delivered(job, token, to="original")
    finals = [c for c in live.server.calls_to("PATCH", ORIGINAL) if has_embed(c)]
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


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> FastBackoff:
    shim = FastBackoff()
    monkeypatch.setattr(discord.webhook.async_, "asyncio", shim)
    monkeypatch.setattr(discord.http, "asyncio", shim)
    return shim


async def test_a_persistent_5xx_on_the_final_edit_is_not_silent(
    launch: Launcher, fast_backoff: FastBackoff
) -> None:
    """All five of discord.py's tries fail: the member is at least told something."""
    live = await launch()
    live.server.fail("PATCH", ORIGINAL, 503, times=5, when=has_embed)
    token = await live.send(live.slash())
    [job] = await live.settle(jobs=1)
    assert job["status"] == "done" and live.outputs(job["id"])  # generated and stored
    finals = [c for c in live.server.calls_to("PATCH", ORIGINAL) if has_embed(c)]
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
    launch: Launcher, fast_backoff: FastBackoff
) -> None:
    live = await launch()
    live.server.fail("PATCH", ORIGINAL, 503, times=5, when=has_embed)
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
    final = next(c for c in live.server.calls_to("PATCH", ORIGINAL) if has_embed(c))
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
    final = next(c for c in live.server.calls_to("PATCH", ORIGINAL) if has_embed(c))
    assert final.status == 404  # 10008 Unknown Message
    assert live.errors() == []


async def test_an_error_reaches_the_member_when_its_placeholder_was_deleted(
    launch: Launcher,
) -> None:
    """Deleting the public "thinking" message fails (10008): the private notice still goes."""
    live = await launch(ScriptedBackend(delay_s=0.5, fail=True))
    token = await live.send(live.slash())
    await first_call(live, "PATCH", ORIGINAL, token)  # the first progress edit
    live.server.delete_original(token)
    [job] = await live.settle(jobs=1)
    assert job["status"] == "failed"
    assert [c.status for c in live.server.calls_to("DELETE", ORIGINAL)] == [404]
    [notice] = live.server.calls_to("POST", FOLLOWUP)
    assert notice.status == 200 and notice.json["content"].startswith("⚠️")
    assert notice.json["flags"] == 64


async def test_an_error_goes_to_the_channel_when_the_token_expired_mid_job(
    launch: Launcher,
) -> None:
    """Discord says 50027 although discord.py thinks the token valid: the notice is posted."""
    live = await launch(ScriptedBackend(delay_s=0.5, fail=True))
    token = await live.send(live.slash())
    await first_call(live, "PATCH", ORIGINAL, token)
    live.server.expire_token(token)
    [job] = await live.settle(jobs=1)
    assert job["status"] == "failed"
    [notice] = live.server.calls_to("POST", CHANNEL_MESSAGES)
    assert notice.status == 200 and notice.json["content"].startswith(f"<@{USER_ID}> ⚠️")
    assert notice.json["allowed_mentions"] == {"parse": []}
