"""``muse run`` stopped for real, in a child process (``tests.muse_process``) talking to a
FakeDiscord served here over real sockets, on one SQLite file kept across starts:

- SIGKILL after a result is stored but before Discord accepted it (the edit got a 429 with
  ``retry_after`` 8 s): the next start delivers it, exactly once;
- SIGTERM while a job runs longer than ``MUSE_SHUTDOWN_GRACE_S``: exit status 0, no traceback,
  the job stays recorded, its member is told it will finish after the restart, and it does.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.discord_live import TOKEN, has_embed
from tests.discord_payloads import APP_ID, JSON, slash_payload
from tests.discord_server import FakeDiscord

ROOT = Path(__file__).resolve().parents[1]
STARTUP_S = 60.0  # a cold start imports discord.py, aiohttp and the app on a busy machine


class Muse:
    """One ``muse run`` process over ``db``; its output goes to files in ``folder``."""

    def __init__(self, server: FakeDiscord, db: Path, folder: Path, delay_s: float) -> None:
        self.server, self.folder = server, folder
        self.stderr = folder / f"stderr-{len(list(folder.glob('stderr-*')))}.txt"
        env = {
            **os.environ, "PYTHONPATH": str(ROOT), "DISCORD_TOKEN": TOKEN, "MUSE_DB_PATH": str(db),
            "MUSE_IMAGE_MODEL": "off", "MUSE_FILTER_ML": "0", "MUSE_COPYRIGHT_GUARD": "0",
            "MUSE_SHUTDOWN_GRACE_S": "1", "MUSE_PROGRESS_INTERVAL_S": "1.5",
            "MUSE_TEST_DELAY_S": str(delay_s), "MUSE_TEST_API_BASE": server.api_base,
            "MUSE_TEST_GATEWAY": server.gateway_url, "OMP_NUM_THREADS": "1",
        }  # fmt: skip
        with self.stderr.open("w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.muse_process"], cwd=folder, env=env,
                stdout=subprocess.DEVNULL, stderr=err,
            )  # fmt: skip
        self.sessions = len(server.sessions)

    async def ready(self) -> None:
        """Wait until the process identified on the gateway (its commands are loaded)."""
        await self.wait(lambda: len(self.server.sessions) > self.sessions, "the gateway session")
        await asyncio.sleep(0.5)  # READY is on its way to discord.py

    async def wait(self, predicate: Callable[[], Any], what: str) -> None:
        def done_or_dead() -> bool:
            if self.proc.poll() is not None and not predicate():
                raise AssertionError(f"muse exited ({self.proc.returncode}): {self.log()}")
            return bool(predicate())

        await self.server.wait_for(done_or_dead, STARTUP_S, what)

    async def exit_status(self, timeout_s: float = 30.0) -> int:
        await self.server.wait_for(lambda: self.proc.poll() is not None, timeout_s, "exit")
        return int(self.proc.returncode)

    def log(self) -> str:
        return self.stderr.read_text(encoding="utf-8", errors="replace")[-4000:]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
async def discord_server() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        yield server


def _jobs(db: Path) -> list[sqlite3.Row]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as raw:
        raw.row_factory = sqlite3.Row
        return raw.execute("SELECT * FROM jobs ORDER BY created_at").fetchall()


def _results_shown(server: FakeDiscord, token: str) -> list[Any]:
    """Every write Discord accepted that carries a result embed for this interaction."""
    return [c for c in server.calls if token in c.path and has_embed(c) and c.status == 200]


async def _ask_for_a_poem(server: FakeDiscord) -> JSON:
    payload = slash_payload("poem", {"topic": "moon"}, app_id=APP_ID)
    await server.send_interaction(payload)
    return payload


async def test_a_result_stored_before_discord_accepted_it_is_delivered_once_after_sigkill(
    discord_server: FakeDiscord, tmp_path: Path
) -> None:
    server, db = discord_server, tmp_path / "muse.sqlite3"
    first = Muse(server, db, tmp_path, delay_s=0.2)
    try:
        await first.ready()
        original = r"^/webhooks/\d+/[^/]+/messages/@original$"
        server.fail("PATCH", original, 429, {"retry_after": 8.0})  # the first edit waits 8 s
        payload = await _ask_for_a_poem(server)
        await first.wait(lambda: [j["status"] for j in _jobs(db)] == ["done"], "the job done")
        assert any(c.fault for c in server.calls_to("PATCH", original))
        first.kill()  # SIGKILL: nothing of a clean stop runs
    finally:
        first.kill()
    assert _results_shown(server, payload["token"]) == []  # the member has no result yet
    second = Muse(server, db, tmp_path, delay_s=0.2)
    try:
        await second.ready()
        await second.wait(lambda: _results_shown(server, payload["token"]), "the result")
        await second.wait(lambda: _jobs(db)[0]["delivered_at"] is not None, "delivery noted")
        await asyncio.sleep(1.0)  # time for a second copy, if one were coming
        second.proc.send_signal(signal.SIGTERM)
        assert await second.exit_status() == 0, second.log()
    finally:
        second.kill()
    [shown] = _results_shown(server, payload["token"])
    assert shown.json["embeds"][0]["title"] == "📜 Poem"
    message = server.original_message(payload["token"])
    assert message is not None and message["embeds"][0]["title"] == "📜 Poem"
    [job] = _jobs(db)
    assert job["status"] == "done" and job["reply_handle"] is None


async def test_sigterm_with_a_job_running_past_the_grace_exits_0_and_resumes_it(
    discord_server: FakeDiscord, tmp_path: Path
) -> None:
    server, db = discord_server, tmp_path / "muse.sqlite3"
    first = Muse(server, db, tmp_path, delay_s=60.0)  # far longer than the 1 s grace
    try:
        await first.ready()
        payload = await _ask_for_a_poem(server)
        await first.wait(lambda: [j["status"] for j in _jobs(db)] == ["running"], "running")
        first.proc.send_signal(signal.SIGTERM)
        status = await first.exit_status(timeout_s=20.0)
    finally:
        first.kill()
    log = first.log()
    assert status == 0, log
    assert "Traceback" not in log and "CancelledError" not in log, log
    [job] = _jobs(db)
    assert job["status"] in ("queued", "running") and job["reply_handle"], dict(job)
    told = server.original_message(payload["token"])
    assert told is not None and "finished after the restart" in told["content"], told
    second = Muse(server, db, tmp_path, delay_s=0.2)
    try:
        await second.ready()
        await second.wait(lambda: _results_shown(server, payload["token"]), "the result")
        second.proc.send_signal(signal.SIGTERM)
        assert await second.exit_status() == 0, second.log()
    finally:
        second.kill()
    message = server.original_message(payload["token"])
    assert message is not None and message["embeds"][0]["title"] == "📜 Poem"
    [job] = _jobs(db)
    assert job["status"] == "done" and job["delivered_at"] is not None
