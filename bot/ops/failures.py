"""The one line an operator sees when a command fails, instead of a traceback."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.store.connection import database_line


def operator_line(err: BaseException, db_path: Path | None = None) -> str:
    """Muse's own message, or the file or database that could not be used and what to do."""
    if isinstance(err, sqlite3.Error):
        return database_line(err, db_path)
    if isinstance(err, OSError) and not isinstance(err, TimeoutError):
        path = err.filename if err.filename is not None else "a file"
        return (
            f"cannot use {path}: {err.strerror or err}. Choose a path in a writable folder "
            "(a file name where a file is written: not a folder, nor under a file)"
        )
    return str(err)
