"""Storage on a real SQLite file in tmp_path."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.store.connection import StorageError
from bot.store.records import JobRecord, NewOutput, Tally
from bot.store.schema import MIGRATIONS
from bot.store.storage import Storage


def job(job_id: str, user: int = 1, *, group: str | None = None) -> JobRecord:
    return JobRecord(
        id=job_id,
        group_id=group or job_id,
        parent_id=None if group is None else group,
        kind="poem",
        user_id=user,
        guild_id=10,
        channel_id=20,
        options={"topic": "春日花烂漫，", "form": "七言绝句"},
        prompt="请写一首七言绝句。",
        seed=42,
        status="queued",
        created_at=1.0,
    )


def output(candidate: int = 0, decision: str = "allow") -> NewOutput:
    return NewOutput(candidate, f"text {candidate}", "m", 42 + candidate, {"decision": decision},
                     {"total_s": 1.5})  # fmt: skip


async def test_migrates_a_new_file_and_reopens_it(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "muse.sqlite3"
    async with await Storage.open(path) as db:
        assert await db.schema_version() == len(MIGRATIONS)
        await db.insert_job(job("a"))
    async with await Storage.open(path) as db:
        stored = await db.get_job("a")
    assert stored is not None
    assert stored.options["topic"] == "春日花烂漫，"
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_unusable_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-db.sqlite3"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError, match="cannot use database"):
        await Storage.open(bad)


async def test_job_lifecycle_and_outputs(storage: Storage) -> None:
    await storage.insert_job(job("a"))
    await storage.mark_running(["a"], 2.0)
    assert (await storage.get_job("a")).status == "running"  # type: ignore[union-attr]
    ids = await storage.add_outputs("a", [output(0), output(1, "review")], 3.0)
    stored = await storage.job_outputs("a")
    assert [o.id for o in stored] == ids
    assert [o.decision for o in stored] == ["allow", "review"]
    assert stored[0].timings == {"total_s": 1.5}
    assert (await storage.get_job("a")).status == "done"  # type: ignore[union-attr]
    await storage.insert_job(job("b"))
    await storage.finish_job("b", "failed", 4.0, "timeout")
    failed = await storage.get_job("b")
    assert failed is not None and failed.error == "timeout"


async def test_one_vote_per_member_that_changes_or_is_removed(storage: Storage) -> None:
    await storage.insert_job(job("a"))
    [oid] = await storage.add_outputs("a", [output()], 1.0)
    assert await storage.toggle_vote(oid, 100, 1, 1.0) == 1
    assert await storage.toggle_vote(oid, 200, 1, 1.0) == 1
    assert await storage.tallies([oid]) == {oid: Tally(2, 0)}
    assert await storage.toggle_vote(oid, 100, -1, 2.0) == -1  # change
    assert await storage.tallies([oid]) == {oid: Tally(1, 1)}
    assert await storage.toggle_vote(oid, 100, -1, 3.0) == 0  # same again removes
    assert await storage.tallies([oid, 999]) == {oid: Tally(1, 0), 999: Tally(0, 0)}


async def test_regenerations_share_a_group(storage: Storage) -> None:
    await storage.insert_job(job("a"))
    await storage.insert_job(job("b", group="a"))
    assert await storage.group_size("a") == 2


async def test_delete_user_data_removes_their_jobs_outputs_and_votes(storage: Storage) -> None:
    await storage.insert_job(job("mine", user=1))
    await storage.insert_job(job("theirs", user=2))
    [mine] = await storage.add_outputs("mine", [output()], 1.0)
    [theirs] = await storage.add_outputs("theirs", [output()], 1.0)
    await storage.toggle_vote(theirs, 1, 1, 1.0)  # user 1 voted on someone else's output
    await storage.toggle_vote(mine, 2, 1, 1.0)  # someone voted on user 1's output
    counts = (await storage.delete_user_data(1)).counts
    assert counts == {"votes": 1, "reports": 0, "edits": 0, "picks": 0, "outputs": 1, "jobs": 1}
    assert await storage.get_job("mine") is None
    assert await storage.get_output(mine) is None
    assert await storage.tallies([theirs]) == {theirs: Tally(0, 0)}
    assert await storage.get_job("theirs") is not None
    with sqlite3.connect(storage.path) as raw:
        leftovers = raw.execute(
            "SELECT COUNT(*) FROM jobs WHERE user_id = 1 UNION ALL "
            "SELECT COUNT(*) FROM votes WHERE user_id = 1 OR output_id = ?",
            (mine,),
        ).fetchall()
    assert leftovers == [(0,), (0,)]


async def test_a_v5_file_migrates_to_the_newest_schema_without_reannouncing_decisions(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as raw:
        for number, script in enumerate(MIGRATIONS[:5], start=1):
            raw.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
        raw.execute(
            "INSERT INTO jobs (id, group_id, kind, user_id, options, prompt, seed, status,"
            " created_at) VALUES ('a', 'a', 'poem', 1, '{}', 'p', 1, 'done', 1.0)"
        )
        for candidate in (0, 1):
            raw.execute(
                "INSERT INTO outputs (job_id, candidate, text, model_id, seed, decision, verdict,"
                " timings, created_at) VALUES ('a', ?, 't', 'm', 1, 'review', '{}', '{}', 1.0)",
                (candidate,),
            )
        raw.execute(
            "INSERT INTO reviews (output_id, source, status, created_at, decided_at, decided_by)"
            " VALUES (1, 'filter', 'approved', 2.0, 3.0, 9), (2, 'filter', 'pending', 2.0, NULL,"
            " NULL)"
        )
    async with await Storage.open(path) as db:
        assert await db.schema_version() == len(MIGRATIONS)
        async with db.db.execute("SELECT id, announced_at FROM reviews ORDER BY id") as cur:
            rows = [tuple(row) for row in await cur.fetchall()]
        assert await db.get_job("a") is not None
    assert rows == [(1, 3.0), (2, None)]  # decided before v6: announced already
