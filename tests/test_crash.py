"""SIGKILL at any moment loses no acknowledged vote, and the database stays intact.

A child process casts votes through ``Storage.toggle_vote`` and prints ``ACK`` after each call
returns (the vote is committed, so Muse may acknowledge it to the member). The test kills it at a
random moment, then checks the file with plain ``sqlite3``.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OUTPUTS = 5
USERS = 7

CHILD = textwrap.dedent(
    """
    import asyncio, random, sys, time
    from pathlib import Path

    from bot.store.records import JobRecord, NewOutput
    from bot.store.storage import Storage

    async def main(path: Path, seed: int) -> None:
        rng = random.Random(seed)
        async with await Storage.open(path) as db:
            job = JobRecord(
                id="00000000000000aa", group_id="g", parent_id=None, kind="poem", user_id=1,
                guild_id=None, channel_id=None, options={}, prompt="p", seed=0, status="queued",
                created_at=time.time(),
            )
            await db.insert_job(job)
            verdict = {"decision": "allow"}
            outputs = [NewOutput(i, f"text {i}", "m", i, verdict, {}) for i in range(%(outputs)d)]
            ids = await db.add_outputs(job.id, outputs, time.time())
            print("READY " + " ".join(map(str, ids)), flush=True)
            while True:
                output_id, user_id = rng.choice(ids), rng.randrange(%(users)d)
                value = rng.choice((1, -1))
                print(f"TRY {output_id} {user_id} {value}", flush=True)
                held = await db.toggle_vote(output_id, user_id, value, time.time())
                print(f"ACK {output_id} {user_id} {held}", flush=True)

    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
    """
) % {"outputs": OUTPUTS, "users": USERS}


Line = tuple[str, int, int, int]


def _parse(line: str) -> Line | None:
    """``TRY``/``ACK`` lines; a line cut short by the kill was never acknowledged."""
    parts = line.split()
    if len(parts) != 4 or not line.endswith("\n") or parts[0] not in ("TRY", "ACK"):
        return None
    return parts[0], int(parts[1]), int(parts[2]), int(parts[3])


def _kill_after_acks(db_path: Path, seed: int, acks_wanted: int) -> list[Line]:
    """Run the child until it has acknowledged ``acks_wanted`` votes, wait a random moment,
    SIGKILL it, and return its TRY (about to vote) and ACK (committed: held value) lines."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db_path), str(seed)],
        stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    lines: list[Line] = []
    try:
        assert child.stdout is not None
        ready = child.stdout.readline()
        assert ready.startswith("READY"), ready
        acks = 0
        for line in child.stdout:
            parsed = _parse(line)
            assert parsed is not None, line
            lines.append(parsed)
            acks += parsed[0] == "ACK"
            if acks >= acks_wanted:
                break
        time.sleep(random.Random(seed).uniform(0, 0.05))  # any moment: mid-write is likely
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    assert child.stdout is not None
    rest = child.stdout.read()  # the same buffered reader: nothing it read ahead is lost
    child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    for line in rest.splitlines(keepends=True):  # printed before the kill landed
        if (parsed := _parse(line)) is not None:
            lines.append(parsed)
    return lines


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sigkill_loses_no_acknowledged_vote(tmp_path: Path, seed: int) -> None:
    db_path = tmp_path / "muse.sqlite3"
    lines = _kill_after_acks(db_path, seed, acks_wanted=200 + 37 * seed)

    held: dict[tuple[int, int], int] = {}  # the vote each acknowledgement reported as held
    in_flight: tuple[int, int, int] | None = None  # tried, not acknowledged: may have committed
    for word, output_id, user_id, value in lines:
        if word == "TRY":
            in_flight = (output_id, user_id, value)
        else:
            assert in_flight is not None and in_flight[:2] == (output_id, user_id)
            held[(output_id, user_id)] = value
            in_flight = None
    with sqlite3.connect(db_path) as raw:  # recovers the WAL like a restarted Muse would
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows = raw.execute("SELECT output_id, user_id, value FROM votes").fetchall()
    stored = {(o, u): v for o, u, v in rows}

    assert sum(word == "ACK" for word, *_ in lines) >= 200
    if in_flight is not None:  # the kill came during this vote: before or after its commit
        output_id, user_id, value = in_flight
        key = (output_id, user_id)
        before = held.get(key, 0)
        after = 0 if before == value else value
        assert stored.get(key, 0) in (before, after), in_flight
        held[key] = stored.get(key, 0)
    assert stored == {key: value for key, value in held.items() if value}
