"""A result counts as delivered only once Discord accepted it: the stored state, its migration,
and which stored results a start delivers (through the service, on a real SQLite file)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from bot.service.types import Origin
from bot.store.records import JobRecord, NewOutput
from bot.store.schema import MIGRATIONS, SCHEMA_V7
from bot.store.storage import Storage
from generators.requests import PoemRequest
from tests.conftest import ServiceFactory

DELIVERY = MIGRATIONS.index(SCHEMA_V7)  # the migration's place, however it is renumbered


def _job(job_id: str, *, handle: str | None, channel: int | None) -> JobRecord:
    return JobRecord(
        id=job_id, group_id=job_id, parent_id=None, kind="poem", user_id=1, guild_id=None,
        channel_id=channel, options={"topic": "moon"}, prompt="moon", seed=1, status="queued",
        created_at=time.time(), reply_handle=handle,
    )  # fmt: skip


async def test_a_stored_result_stays_undelivered_with_its_handle_until_marked(
    storage: Storage,
) -> None:
    outputs = [NewOutput(0, "verse", "m", 1, {"decision": "allow"}, {})]
    for job in (
        _job("placeholder", handle="1:tok:2", channel=5),
        _job("channel-only", handle=None, channel=5),
        _job("command-line", handle=None, channel=None),  # muse try: nowhere to deliver
    ):
        await storage.insert_job(job)
        await storage.add_outputs(job.id, outputs, time.time())
    undelivered = await storage.undelivered_results()
    assert [j.id for j in undelivered] == ["placeholder", "channel-only"]
    assert undelivered[0].reply_handle == "1:tok:2"  # still there to answer in place
    await storage.mark_delivered("placeholder", time.time())
    assert [j.id for j in await storage.undelivered_results()] == ["channel-only"]
    assert (await storage.get_job("placeholder")).reply_handle is None  # type: ignore[union-attr]


async def test_a_start_collects_the_results_that_never_reached_discord(
    make_service: ServiceFactory,
) -> None:
    first = await make_service()
    pending = first.prepare(PoemRequest(topic="moon"), Origin(1, 10, 20))
    await first.start(pending, reply_handle="1:tok:2")
    await first.finish(pending)  # stored; the adapter never showed it (the process "died")
    second = await make_service()  # a new process on the same file
    assert [j.id for j in second.undelivered] == [pending.record.id]
    assert second.resumable == [] and second.interrupted == []


def test_schema_v7_counts_earlier_results_as_delivered_and_drops_u_fffd(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as raw:
        for number, script in enumerate(MIGRATIONS[:DELIVERY], start=1):
            raw.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
        raw.execute(
            "INSERT INTO jobs (id, group_id, kind, user_id, channel_id, options, prompt, seed,"
            " status, created_at, finished_at) VALUES ('a', 'a', 'poem', 1, 5, '{}', 'p\ufffd',"
            " 1, 'done', 1.0, 2.0), ('b', 'b', 'poem', 1, 5, '{}', 'p', 1, 'running', 1.0, NULL)"
        )
        raw.execute(
            "INSERT INTO outputs (job_id, candidate, text, model_id, seed, decision, verdict,"
            " timings, created_at) VALUES ('a', 0, 'moon\ufffd', 'm', 1, 'allow', '{}', '{}', 1)"
        )
    with sqlite3.connect(path) as raw:
        raw.executescript(f"BEGIN;\n{SCHEMA_V7}\nCOMMIT;")
        jobs = raw.execute("SELECT id, prompt, delivered_at FROM jobs ORDER BY id").fetchall()
        assert jobs == [("a", "p", 2.0), ("b", "p", None)]
        assert raw.execute("SELECT text FROM outputs").fetchall() == [("moon",)]
