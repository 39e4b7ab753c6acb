"""Every ``muse`` command fails in one line with exit status 2, never a traceback, when a file
cannot be used or the database is damaged; an export never leaves a partial file."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from bot.cli import main
from bot.store.records import JobRecord, NewOutput
from bot.store.storage import Storage

PAGE = 4096


@pytest.fixture
def db(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A database with enough stored poems to span many pages; settings point at it."""
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    path = tmp_path / "muse.sqlite3"
    monkeypatch.setenv("MUSE_DB_PATH", str(path))
    monkeypatch.setenv("MUSE_IMAGE_MODEL", "off")
    monkeypatch.setenv("MUSE_EXPORT_SECRET", "a-long-random-secret")
    asyncio.run(_fill(path))
    return path


async def _fill(path: Path) -> None:
    async with await Storage.open(path) as storage:
        for i in range(120):
            job = JobRecord(
                id=f"{i:016x}", group_id=f"g{i}", parent_id=None, kind="poem", user_id=7,
                guild_id=None, channel_id=None, options={"topic": "moon"}, prompt="moon " * 80,
                seed=i, status="queued", created_at=time.time(),
            )  # fmt: skip
            await storage.insert_job(job)
            verdict = {"decision": "allow"}
            await storage.add_outputs(job.id, [NewOutput(0, "verse " * 80, "m", i, verdict, {})], 0)


def _damage(path: Path, first_page: int = 1) -> None:
    """Scribble over every page from ``first_page`` on (page 0, with the header and the
    schema, stays readable: the file opens, and reading the damaged rows fails)."""
    with path.open("r+b") as raw:
        for page in range(first_page, os.path.getsize(path) // PAGE):
            raw.seek(page * PAGE + 8)
            raw.write(b"\xde\xad\xbe\xef" * 512)


def _one_line_error(capsys: pytest.CaptureFixture[str], *names: str) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("muse: error: "), err
    assert "Traceback" not in err and all(name in err for name in names), err
    return err


def _files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


@pytest.mark.parametrize("where", ["under /proc", "under a file", "an existing folder"])
def test_export_to_a_path_that_cannot_be_written_is_one_line_and_leaves_nothing(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    (tmp_path / "notes.txt").write_text("a regular file")
    (tmp_path / "exports").mkdir()
    out = {
        "under /proc": Path("/proc/muse-ratings.jsonl"),
        "under a file": tmp_path / "notes.txt" / "ratings.jsonl",
        "an existing folder": tmp_path / "exports",
    }[where]
    before = _files(tmp_path)
    assert main(["export", "--out", str(out)]) == 2
    _one_line_error(capsys, str(out), "Choose a path")
    assert _files(tmp_path) == before  # no partial file, no manifest
    assert list((tmp_path / "exports").iterdir()) == []
    assert not Path("/proc/.muse-ratings.jsonl.partial").exists()


def test_export_from_a_damaged_database_is_one_line_and_leaves_nothing(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _damage(db, os.path.getsize(db) // PAGE // 2)  # opens; the outputs' pages are damaged
    before = _files(tmp_path)
    assert main(["export", "--out", str(tmp_path / "ratings.jsonl")]) == 2
    _one_line_error(capsys, str(db), "damaged", "muse restore")
    assert _files(tmp_path) == before


@pytest.mark.parametrize("half", [False, True])
@pytest.mark.parametrize(
    "command", [["stats"], ["delete-user", "7"], ["backup", "{tmp}/copy.sqlite3"]]
)
def test_other_commands_on_a_damaged_database_are_one_line(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str], half: bool
) -> None:
    _damage(db, os.path.getsize(db) // PAGE // 2 if half else 1)
    status = main([arg.format(tmp=tmp_path) for arg in command])
    if half and status == 0:  # this command never read a damaged page
        return
    assert status == 2
    _one_line_error(capsys, str(db), "damaged", "muse restore")


def test_a_backup_under_a_regular_file_is_one_line(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("a regular file")
    assert main(["backup", str(tmp_path / "notes.txt" / "copy.sqlite3")]) == 2
    _one_line_error(capsys, "notes.txt", "Choose a path")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--min-votes", "-1"], "min_votes must be at least 0"),
        (["--kind", "draw", "--out", "{tmp}/pictures.parquet"], "images export to a folder"),
    ],
)
def test_export_arguments_that_do_not_fit_are_one_line(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], says: str
) -> None:
    out = ["--out", str(tmp_path / "ratings.jsonl")] if "--out" not in args else []
    assert main(["export", *out, *[a.format(tmp=tmp_path) for a in args]]) == 2
    _one_line_error(capsys, says)
