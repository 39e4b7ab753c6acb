"""A job a restart cut short, through discord.py's real objects: resumed in its placeholder,
posted in the channel when the placeholder is gone, closed and explained when it cannot run."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import pytest

from bot.discord.client import MuseBot
from bot.service.core import MuseService
from bot.service.types import Origin
from generators.requests import PoemRequest
from tests.conftest import ServiceFactory
from tests.discord_harness import Harness
from tests.discord_payloads import APP_ID, JSON, USER_ID
from tests.fakes import ScriptedBackend

OTHER_USER = USER_ID + 100
NO_PINGS: dict[str, list[str]] = {"parse": []}


def bot_for(service: MuseService) -> MuseBot:
    return MuseBot(service, service.settings)


async def _cut_short(make_service: ServiceFactory) -> tuple[Harness[Any], JSON, JSON]:
    """A /poem whose process "died" after its placeholder was posted: the harness (closed), the
    interaction and the placeholder; the job row looks unfinished."""
    first = await make_service()
    async with Harness(bot_for(first)) as h:
        payload = h.slash("poem", {"topic": "moon"})
        h.dispatch(payload)  # deferred and recorded, then the process "dies"
        for _ in range(100):
            placeholder = h.http.original_message(payload["token"])
            if placeholder is not None:
                break
            await asyncio.sleep(0.01)
        await h.settle(timeout=5)
    assert placeholder is not None
    with sqlite3.connect(first.storage.path) as raw:  # as if it had never finished
        raw.execute("UPDATE jobs SET status = 'running', reply_handle = ?",
                    (f"{APP_ID}:{payload['token']}:{placeholder['id']}",))  # fmt: skip
        raw.execute("DELETE FROM outputs")
    return h, payload, placeholder


async def test_a_job_cut_short_resumes_in_its_placeholder_after_a_restart(
    make_service: ServiceFactory,
) -> None:
    h, _payload, placeholder = await _cut_short(make_service)
    second = await make_service()
    assert [j.id for j in second.resumable] and second.interrupted == []
    async with h.restarted(bot_for(second)) as h2:
        h2.http.clear()
        await h2.settle(timeout=5)
        route = rf"/webhooks/{APP_ID}/.+/messages/{placeholder['id']}$"
        for _ in range(300):
            edits = h2.http.calls_to("PATCH", route)
            if any("embeds" in e.json for e in edits) and _delivered(second):
                break
            await asyncio.sleep(0.01)
        assert h2.errors == []
    assert edits[0].json["content"].startswith("⏳ Muse restarted")
    assert edits[-1].json["embeds"][0]["title"] == "📜 Poem"
    assert edits[-1].json["allowed_mentions"] == NO_PINGS
    with sqlite3.connect(second.storage.path) as raw:
        assert raw.execute("SELECT status, reply_handle FROM jobs").fetchall() == [("done", None)]


async def test_a_resumed_job_whose_placeholder_is_gone_is_posted_in_the_channel(
    make_service: ServiceFactory,
) -> None:
    h, payload, placeholder = await _cut_short(make_service)
    route = rf"/webhooks/{APP_ID}/.+/messages/{placeholder['id']}$"
    h.http.fail_next("PATCH", route, 404, 10015, "Unknown Webhook", times=3)
    second = await make_service()
    async with h.restarted(bot_for(second)) as h2:
        h2.http.clear()
        for _ in range(300):
            posted = h2.http.calls_to("POST", rf"/channels/{payload['channel_id']}/messages$")
            if posted:
                break
            await asyncio.sleep(0.01)
        await h2.settle(timeout=5)
        assert h2.errors == []
    assert posted[0].json["content"] == f"<@{USER_ID}>"
    assert posted[0].json["embeds"][0]["title"] == "📜 Poem"
    with sqlite3.connect(second.storage.path) as raw:
        assert raw.execute("SELECT status, message_channel_id FROM jobs").fetchall() == [
            ("done", int(payload["channel_id"]))
        ]


@pytest.mark.parametrize("placeholder_gone", [False, True])
async def test_a_job_that_cannot_be_resumed_is_closed_and_explained(
    make_service: ServiceFactory, placeholder_gone: bool
) -> None:
    h, payload, placeholder = await _cut_short(make_service)
    route = rf"/webhooks/{APP_ID}/.+/messages/{placeholder['id']}$"
    if placeholder_gone:
        h.http.fail_next("PATCH", route, 404, 10008, "Unknown Message", times=3)
    second = await make_service(ScriptedBackend(delay_s=1.0), queue_max_depth=1)
    await second.start(second.prepare(PoemRequest(topic="sun"), Origin(OTHER_USER)))
    for _ in range(100):
        if not second.queue.state.waiting:
            break
        await asyncio.sleep(0.01)
    await second.start(second.prepare(PoemRequest(topic="sea"), Origin(OTHER_USER + 1)))
    assert len(second.queue.state.waiting) == 1  # one running, one waiting: the queue is full
    channel = rf"/channels/{payload['channel_id']}/messages$"
    async with h.restarted(bot_for(second)) as h2:
        h2.http.clear()
        for _ in range(300):
            if answers := h2.http.calls_to("POST" if placeholder_gone else "PATCH",
                                           channel if placeholder_gone else route):  # fmt: skip
                break
            await asyncio.sleep(0.01)
        assert h2.errors == []
    notice = answers[-1].json["content"]
    assert notice.startswith(f"<@{USER_ID}> ⚠️" if placeholder_gone else "⚠️"), notice
    assert "busy" in notice
    with sqlite3.connect(second.storage.path) as raw:
        row = raw.execute("SELECT status, error FROM jobs WHERE id = ?", (first_job(raw),))
        assert row.fetchone() == ("failed", "not resumed: busy")


def _delivered(service: MuseService) -> bool:
    """Every stored result is noted as delivered (Discord accepted it)."""
    with sqlite3.connect(service.storage.path) as raw:
        sql = "SELECT COUNT(*) FROM jobs WHERE status = 'done' AND delivered_at IS NULL"
        return bool(raw.execute(sql).fetchone()[0] == 0)


def first_job(raw: sqlite3.Connection) -> str:
    """The first job stored (the one the restart cut short)."""
    return str(raw.execute("SELECT id FROM jobs ORDER BY created_at LIMIT 1").fetchone()[0])
