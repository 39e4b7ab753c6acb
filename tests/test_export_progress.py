"""A long export shows how far it has got: the exporter reports the rows written as they grow,
and the CLI prints them on stderr, at most every N rows."""

from __future__ import annotations

import io
from pathlib import Path

from bot.cli import RowProgress
from bot.datasets.export import export
from bot.datasets.filters import ExportFilters
from bot.store.storage import Storage
from tests.export_world import SECRET, build_world


async def test_the_exporter_reports_the_rows_as_they_grow(storage: Storage, tmp_path: Path) -> None:
    await build_world(storage)
    seen: list[int] = []
    manifest = await export(storage, tmp_path / "raw.jsonl", fmt="raw", filters=ExportFilters(),
                            secret=SECRET, progress=seen.append)  # fmt: skip
    assert seen and seen == sorted(seen) and seen[-1] == manifest.rows > 1


def test_the_cli_prints_at_most_every_n_rows() -> None:
    stream = io.StringIO()
    progress = RowProgress(stream, every=10)
    for rows in (3, 9, 10, 12, 19, 20, 45):
        progress(rows)
    assert stream.getvalue().splitlines() == [
        "exporting: 10 rows…", "exporting: 20 rows…", "exporting: 45 rows…",
    ]  # fmt: skip
