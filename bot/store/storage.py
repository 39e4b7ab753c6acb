"""SQLite storage through aiosqlite: jobs, outputs with provenance, votes.

All SQL lives here, as small named methods. One aiosqlite connection (one thread) owns the file;
writes take ``_write_lock`` so a read-then-write never interleaves with another write, and every
write is committed before the caller acknowledges anything to a member.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

SCHEMA_V1 = """
CREATE TABLE jobs (
    id          TEXT PRIMARY KEY,
    group_id    TEXT NOT NULL,
    parent_id   TEXT,
    kind        TEXT NOT NULL,
    user_id     INTEGER NOT NULL,
    guild_id    INTEGER,
    channel_id  INTEGER,
    options     TEXT NOT NULL,
    prompt      TEXT NOT NULL,
    seed        INTEGER NOT NULL,
    status      TEXT NOT NULL
                CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    error       TEXT,
    created_at  REAL NOT NULL,
    started_at  REAL,
    finished_at REAL
);
CREATE INDEX jobs_user ON jobs (user_id);
CREATE INDEX jobs_group ON jobs (group_id);
CREATE INDEX jobs_status ON jobs (status);

CREATE TABLE outputs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    candidate   INTEGER NOT NULL,
    text        TEXT NOT NULL,
    model_id    TEXT NOT NULL,
    seed        INTEGER NOT NULL,
    decision    TEXT NOT NULL CHECK (decision IN ('allow', 'review', 'block')),
    verdict     TEXT NOT NULL,
    timings     TEXT NOT NULL,
    created_at  REAL NOT NULL,
    UNIQUE (job_id, candidate)
);

CREATE TABLE votes (
    output_id   INTEGER NOT NULL REFERENCES outputs (id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL,
    value       INTEGER NOT NULL CHECK (value IN (-1, 1)),
    created_at  REAL NOT NULL,
    PRIMARY KEY (output_id, user_id)
);
CREATE INDEX votes_user ON votes (user_id);
"""

SCHEMA_V2 = """
ALTER TABLE outputs ADD COLUMN image_path TEXT;
"""

SCHEMA_V3 = """
ALTER TABLE jobs ADD COLUMN message_channel_id INTEGER;
ALTER TABLE jobs ADD COLUMN message_id INTEGER;
ALTER TABLE outputs ADD COLUMN hidden INTEGER NOT NULL DEFAULT 0;

CREATE TABLE guild_settings (
    guild_id         INTEGER PRIMARY KEY,
    mod_channel_id   INTEGER,
    mod_role_id      INTEGER,
    strictness       TEXT NOT NULL DEFAULT 'standard',
    report_threshold INTEGER NOT NULL DEFAULT 3,
    allowed_channels TEXT NOT NULL DEFAULT '[]',
    updated_at       REAL NOT NULL
);

CREATE TABLE reviews (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    output_id       INTEGER NOT NULL UNIQUE REFERENCES outputs (id) ON DELETE CASCADE,
    source          TEXT NOT NULL CHECK (source IN ('filter', 'report')),
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'approved', 'rejected')),
    created_at      REAL NOT NULL,
    decided_at      REAL,
    decided_by      INTEGER,
    note            TEXT,
    card_channel_id INTEGER,
    card_message_id INTEGER
);
CREATE INDEX reviews_pending ON reviews (status, created_at);

CREATE TABLE reports (
    job_id     TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL,
    reason     TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    PRIMARY KEY (job_id, user_id)
);
CREATE INDEX reports_user ON reports (user_id);

CREATE TABLE audit (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id   INTEGER,
    actor_id   INTEGER NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL,
    reason     TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL
);
CREATE INDEX audit_guild ON audit (guild_id, created_at);
"""

SCHEMA_V4 = """
ALTER TABLE votes ADD COLUMN own INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN compare INTEGER NOT NULL DEFAULT 0;
ALTER TABLE guild_settings ADD COLUMN consent_mode TEXT NOT NULL DEFAULT 'opt-out';

CREATE TABLE edits (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    output_id  INTEGER NOT NULL REFERENCES outputs (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL,
    text       TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX edits_output ON edits (output_id);
CREATE INDEX edits_user ON edits (user_id);

CREATE TABLE picks (
    job_id     TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL,
    source     TEXT NOT NULL CHECK (source IN ('pick', 'compare')),
    output_id  INTEGER REFERENCES outputs (id) ON DELETE CASCADE,
    created_at REAL NOT NULL,
    PRIMARY KEY (job_id, user_id, source)
);
CREATE INDEX picks_user ON picks (user_id);

CREATE TABLE consent (
    user_id    INTEGER PRIMARY KEY,
    choice     TEXT NOT NULL CHECK (choice IN ('in', 'out')),
    updated_at REAL NOT NULL
);
"""

SCHEMA_V5 = """
ALTER TABLE jobs ADD COLUMN reply_handle TEXT;
"""

# When each decision was announced to the front ends (bot/review/events.py); decisions made
# before this column existed were announced already.
SCHEMA_V6 = """
ALTER TABLE reviews ADD COLUMN announced_at REAL;
UPDATE reviews SET announced_at = decided_at WHERE status != 'pending';
CREATE INDEX reviews_unannounced ON reviews (id) WHERE announced_at IS NULL AND status != 'pending';
"""

MIGRATIONS: tuple[str, ...] = (
    SCHEMA_V1, SCHEMA_V2, SCHEMA_V3, SCHEMA_V4, SCHEMA_V5, SCHEMA_V6,
)  # fmt: skip


class StorageError(RuntimeError):
    """The database file cannot be opened or migrated; the message says which and why."""


@dataclass(frozen=True)
class JobRecord:
    id: str
    group_id: str
    parent_id: str | None
    kind: str
    user_id: int
    guild_id: int | None
    channel_id: int | None
    options: dict[str, str]
    prompt: str
    seed: int
    status: str
    created_at: float
    error: str | None = None
    compare: bool = False
    reply_handle: str | None = None  # how the adapter answers this job; cleared when done


@dataclass(frozen=True)
class NewOutput:
    candidate: int
    text: str
    model_id: str
    seed: int
    verdict: dict[str, Any]
    timings: dict[str, float]
    image_path: str | None = None

    @property
    def decision(self) -> str:
        return str(self.verdict["decision"])


@dataclass(frozen=True)
class OutputRecord:
    id: int
    job_id: str
    candidate: int
    text: str
    model_id: str
    seed: int
    decision: str
    timings: dict[str, float]
    image_path: str | None = None
    hidden: bool = False


@dataclass(frozen=True)
class Tally:
    up: int = 0
    down: int = 0


def _job(row: aiosqlite.Row) -> JobRecord:
    return JobRecord(
        id=row["id"],
        group_id=row["group_id"],
        parent_id=row["parent_id"],
        kind=row["kind"],
        user_id=row["user_id"],
        guild_id=row["guild_id"],
        channel_id=row["channel_id"],
        options=json.loads(row["options"]),
        prompt=row["prompt"],
        seed=row["seed"],
        status=row["status"],
        created_at=row["created_at"],
        error=row["error"],
        compare=bool(row["compare"]),
        reply_handle=row["reply_handle"],
    )


def _output(row: aiosqlite.Row) -> OutputRecord:
    return OutputRecord(
        id=row["id"],
        job_id=row["job_id"],
        candidate=row["candidate"],
        text=row["text"],
        model_id=row["model_id"],
        seed=row["seed"],
        decision=row["decision"],
        timings=json.loads(row["timings"]),
        image_path=row["image_path"],
        hidden=bool(row["hidden"]),
    )


class Storage:
    """The database. Open with ``await Storage.open(path)`` or ``async with``."""

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self._db = db
        self.path = path
        self._write_lock = asyncio.Lock()

    @property
    def db(self) -> aiosqlite.Connection:
        """The one connection, for the other stores that share this file (reads only)."""
        return self._db

    @property
    def write_lock(self) -> asyncio.Lock:
        """Held by every write transaction on this file."""
        return self._write_lock

    def __repr__(self) -> str:
        return f"<Storage {self.path}>"

    @classmethod
    async def open(cls, path: Path) -> Storage:
        """Open (creating folders and file) and migrate to the newest schema."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = await aiosqlite.connect(path)
        except (OSError, aiosqlite.Error) as err:
            raise StorageError(f"cannot open database {path}: {err}") from err
        db.row_factory = aiosqlite.Row
        storage = cls(db, path)
        try:
            await storage._configure()
            await storage._migrate()
        except aiosqlite.Error as err:
            await db.close()
            raise StorageError(f"cannot use database {path}: {err}") from err
        return storage

    async def __aenter__(self) -> Storage:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._db.close()

    async def backup(self, out: Path) -> None:
        """A consistent copy of the live database (SQLite's online backup API) at ``out``."""
        out.parent.mkdir(parents=True, exist_ok=True)
        async with aiosqlite.connect(out) as target:
            await self._db.backup(target)

    async def integrity(self) -> str:
        """``ok``, or what ``PRAGMA integrity_check`` found."""
        async with self._db.execute("PRAGMA integrity_check") as cur:
            rows = await cur.fetchall()
        return "; ".join(str(row[0]) for row in rows)

    async def _configure(self) -> None:
        for pragma in (
            "PRAGMA journal_mode = WAL",
            "PRAGMA synchronous = NORMAL",
            "PRAGMA foreign_keys = ON",
            "PRAGMA busy_timeout = 5000",
        ):
            await self._db.execute(pragma)

    async def schema_version(self) -> int:
        async with self._db.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def _migrate(self) -> None:
        version = await self.schema_version()
        if version > len(MIGRATIONS):
            raise StorageError(f"database schema v{version} is newer than this Muse")
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            await self._db.executescript(
                f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;"
            )

    async def write(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One committed statement; returns the number of rows changed."""
        async with self._write_lock:
            cursor = await self._db.execute(sql, params)
            await self._db.commit()
            return cursor.rowcount

    async def insert_job(self, job: JobRecord) -> None:
        await self.write(
            "INSERT INTO jobs (id, group_id, parent_id, kind, user_id, guild_id, channel_id,"
            " options, prompt, seed, status, created_at, compare, reply_handle)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                job.id, job.group_id, job.parent_id, job.kind, job.user_id, job.guild_id,
                job.channel_id, json.dumps(job.options, ensure_ascii=False), job.prompt, job.seed,
                job.status, job.created_at, int(job.compare), job.reply_handle,
            ),
        )  # fmt: skip

    async def mark_running(self, job_ids: Sequence[str], now: float) -> None:
        async with self._write_lock:
            await self._db.executemany(
                "UPDATE jobs SET status = 'running', started_at = ? WHERE id = ?",
                [(now, job_id) for job_id in job_ids],
            )
            await self._db.commit()

    async def finish_job(self, job_id: str, status: str, now: float, error: str | None) -> None:
        await self.write(
            "UPDATE jobs SET status = ?, finished_at = ?, error = ?, reply_handle = NULL"
            " WHERE id = ?",
            (status, now, error, job_id),
        )

    async def add_outputs(self, job_id: str, outputs: Sequence[NewOutput], now: float) -> list[int]:
        """Store a job's outputs and mark it done, in one transaction; returns output ids."""
        ids: list[int] = []
        async with self._write_lock:
            for out in outputs:
                cursor = await self._db.execute(
                    "INSERT INTO outputs (job_id, candidate, text, model_id, seed, decision,"
                    " verdict, timings, created_at, image_path) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (
                        job_id, out.candidate, out.text, out.model_id, out.seed, out.decision,
                        json.dumps(out.verdict, ensure_ascii=False), json.dumps(out.timings), now,
                        out.image_path,
                    ),
                )  # fmt: skip
                ids.append(int(cursor.lastrowid or 0))
            await self._db.execute(
                "UPDATE jobs SET status = 'done', finished_at = ?, reply_handle = NULL"
                " WHERE id = ?",
                (now, job_id),
            )
            await self._db.commit()
        return ids

    async def unfinished_jobs(self) -> list[JobRecord]:
        """Jobs a previous process left queued or running, oldest first."""
        async with self._db.execute(
            "SELECT * FROM jobs WHERE status IN ('queued', 'running') ORDER BY created_at"
        ) as cur:
            return [_job(row) for row in await cur.fetchall()]

    async def get_job(self, job_id: str) -> JobRecord | None:
        async with self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)) as cur:
            row = await cur.fetchone()
        return _job(row) if row else None

    async def job_outputs(self, job_id: str) -> list[OutputRecord]:
        sql = "SELECT * FROM outputs WHERE job_id = ? ORDER BY candidate"
        async with self._db.execute(sql, (job_id,)) as cur:
            return [_output(row) for row in await cur.fetchall()]

    async def get_output(self, output_id: int) -> OutputRecord | None:
        async with self._db.execute("SELECT * FROM outputs WHERE id = ?", (output_id,)) as cur:
            row = await cur.fetchone()
        return _output(row) if row else None

    async def group_size(self, group_id: str) -> int:
        """How many jobs sample the same prompt (the original plus its regenerations)."""
        sql = "SELECT COUNT(*) FROM jobs WHERE group_id = ?"
        async with self._db.execute(sql, (group_id,)) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def toggle_vote(
        self, output_id: int, user_id: int, value: int, now: float, *, own: bool = False
    ) -> int:
        """Set, change or (clicking the same again) remove a vote; returns the vote now held.
        ``own`` marks a vote on one's own output (kept, but flagged for exports and stats)."""
        async with self._write_lock:
            cursor = await self._db.execute(
                "DELETE FROM votes WHERE output_id = ? AND user_id = ? AND value = ?",
                (output_id, user_id, value),
            )
            if cursor.rowcount == 0:
                await self._db.execute(
                    "INSERT INTO votes (output_id, user_id, value, created_at, own)"
                    " VALUES (?,?,?,?,?) ON CONFLICT (output_id, user_id)"
                    " DO UPDATE SET value = excluded.value, created_at = excluded.created_at",
                    (output_id, user_id, value, now, int(own)),
                )
            await self._db.commit()
        return 0 if cursor.rowcount else value

    async def tallies(self, output_ids: Sequence[int]) -> dict[int, Tally]:
        """Vote counts for each output id (zero counts included)."""
        result = {output_id: Tally() for output_id in output_ids}
        if not output_ids:
            return result
        marks = ",".join("?" * len(output_ids))
        sql = (
            "SELECT output_id, SUM(value = 1) AS up, SUM(value = -1) AS down FROM votes"
            f" WHERE output_id IN ({marks}) GROUP BY output_id"
        )
        async with self._db.execute(sql, tuple(output_ids)) as cur:
            for row in await cur.fetchall():
                result[row["output_id"]] = Tally(int(row["up"]), int(row["down"]))
        return result

    async def user_image_paths(self, user_id: int) -> list[str]:
        """Image files of a member's outputs (to delete with their data)."""
        sql = (
            "SELECT o.image_path FROM outputs o JOIN jobs j ON j.id = o.job_id"
            " WHERE j.user_id = ? AND o.image_path IS NOT NULL"
        )
        async with self._db.execute(sql, (user_id,)) as cur:
            return [row[0] for row in await cur.fetchall()]

    async def delete_user_data(self, user_id: int) -> dict[str, int]:
        """Remove a member's jobs, outputs, votes, edits, picks and reports (what others did
        on their outputs goes with the outputs); returns what was deleted."""
        async with self._write_lock:
            counts = {}
            for name, sql in (
                ("votes", "DELETE FROM votes WHERE user_id = ?"),
                ("reports", "DELETE FROM reports WHERE user_id = ?"),
                ("edits", "DELETE FROM edits WHERE user_id = ?"),
                ("picks", "DELETE FROM picks WHERE user_id = ?"),
                (
                    "outputs",
                    "DELETE FROM outputs WHERE job_id IN (SELECT id FROM jobs WHERE user_id = ?)",
                ),
                ("jobs", "DELETE FROM jobs WHERE user_id = ?"),
            ):
                cursor = await self._db.execute(sql, (user_id,))
                counts[name] = cursor.rowcount
            await self._db.commit()
        return counts
