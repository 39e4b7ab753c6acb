"""Opening the database file: one aiosqlite connection, its write lock, pragmas and migrations.

One aiosqlite connection (one thread) owns the file; writes take ``_write_lock`` so a
read-then-write never interleaves with another write, and every write is committed before the
caller acknowledges anything to a member. The query groups (``bot.store.jobs``, ``votes``,
``members``) are mixins on ``StoreBase``; ``bot.store.storage.Storage`` joins them.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import aiosqlite

from bot.store.schema import MIGRATIONS

JOIN_TIMEOUT_S = 5.0


class StorageError(RuntimeError):
    """The database file cannot be opened or migrated; the message says which and why."""


def database_line(err: sqlite3.Error, path: Path | None) -> str:
    """A database that cannot be used: which, why, and what to do (damaged, or otherwise)."""
    name = path or "(MUSE_DB_PATH)"
    if getattr(err, "sqlite_errorname", "") in ("SQLITE_CORRUPT", "SQLITE_NOTADB"):
        return (
            f"cannot use database {name}: it is damaged ({err}); restore a backup with "
            "`muse restore BACKUP`, or salvage it with `sqlite3 FILE .recover`"
        )
    return (
        f"cannot use database {name}: {err}; check that the file is readable and writable "
        "and that no other program holds it"
    )


class JobGone(LookupError):
    """The job was deleted (``/forget-me``) while it ran; nothing of it may be stored."""


async def _join_worker(connection: aiosqlite.Connection) -> None:
    """Wait for the worker thread of a connection that failed to open.

    aiosqlite stops that thread but does not wait for it, and has no public ``join``
    (omnilib/aiosqlite#387); a thread still running when the loop closes raises "Event loop is
    closed" in the thread.
    """
    thread = getattr(connection, "_thread", None)
    if isinstance(thread, threading.Thread) and thread.is_alive():
        await asyncio.to_thread(thread.join, JOIN_TIMEOUT_S)


class StoreBase:
    """The open file. Open with ``await Storage.open(path)`` or ``async with``."""

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
        return f"<{type(self).__name__} {self.path}>"

    @classmethod
    async def open(cls, path: Path) -> Self:
        """Open (creating folders and file) and migrate to the newest schema."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StorageError(f"cannot open database {path}: {err}") from err
        connecting = aiosqlite.connect(path)
        try:
            db = await connecting
        except (OSError, aiosqlite.Error) as err:
            await _join_worker(connecting)
            raise StorageError(f"cannot open database {path}: {err}") from err
        db.row_factory = aiosqlite.Row
        storage = cls(db, path)
        try:
            await storage._configure()
            await storage._migrate()
        except aiosqlite.Error as err:
            await db.close()
            raise StorageError(database_line(err, path)) from err
        return storage

    async def __aenter__(self) -> Self:
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
