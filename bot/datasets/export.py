"""Writing one export: check the arguments, stream the rows into a file or an image folder that
appears only when complete, and save the manifest beside it.

Rows come from one read-only snapshot of the database (``snapshot``), one prompt group at a
time, through the consent rules (``consent``) and the format's row writer (``formats``), and
are written as they are made (``sinks``, ``imagefolder``), so memory does not grow with the
number of rows. Members, guilds and channels appear only as keyed hashes (``pseudonyms``).
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bot.datasets.filters import KINDS, ExportFilters
from bot.datasets.formats import format_named
from bot.datasets.formats.base import ExportRun, Format
from bot.datasets.imagefolder import Images
from bot.datasets.manifest import Manifest, filters_json, write_json
from bot.datasets.pseudonyms import Pseudonyms
from bot.datasets.sinks import JsonlSink, ParquetSink, Sink
from bot.datasets.snapshot import iter_groups, read_snapshot
from bot.store.storage import Storage


async def export(
    storage: Storage,
    out: Path,
    *,
    fmt: str,
    filters: ExportFilters,
    secret: str,
    progress: Callable[[int], None] | None = None,
) -> Manifest:
    """Write the ``fmt`` dataset to ``out`` (JSONL; Parquet for ``.parquet``; a folder of PNGs
    with ``metadata.jsonl`` for ``kind="draw"``) and its manifest; returns the manifest.
    ``progress`` is told the rows written so far as they grow."""
    names = Pseudonyms(secret)
    spec = format_named(fmt)
    layout = _layout(out, filters)
    try:
        _check_destination(out, layout)
        out.parent.mkdir(parents=True, exist_ok=True)
        if layout == "imagefolder":
            return await _export_folder(storage, out, spec, filters, names, progress)
        run = ExportRun(spec, filters, names, images=None, progress=progress)
        return await _export_file(storage, out, run, layout)
    except OSError as err:  # name the path asked for, not the hidden partial file
        raise OSError(err.errno, err.strerror or str(err), str(out)) from err


def _check_destination(out: Path, layout: str) -> None:
    """``out`` must not lie under a regular file, nor be a folder when a file is written."""
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, f"{parent} is a file, not a folder", str(out))
    if layout != "imagefolder" and out.is_dir():
        raise IsADirectoryError(errno.EISDIR, "it is a folder; give a file name", str(out))


class InvalidExport(ValueError):
    """The export's arguments do not fit together; the message says what is wrong."""


def _layout(out: Path, filters: ExportFilters) -> str:
    """The layout for these arguments, or ``InvalidExport`` saying what is wrong."""
    if filters.kind is not None and filters.kind not in KINDS:
        raise InvalidExport(f"kind must be one of {', '.join(KINDS)}, got {filters.kind!r}")
    if filters.min_votes < 0:
        raise InvalidExport(f"min_votes must be at least 0, got {filters.min_votes}")
    if filters.kind != "draw":
        return "parquet" if out.suffix == ".parquet" else "jsonl"
    if out.suffix in (".parquet", ".jsonl", ".json"):
        raise InvalidExport(f"images export to a folder (PNG files and metadata.jsonl), not {out}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InvalidExport(f"{out} exists and is not an empty folder")
    return "imagefolder"


async def _write_rows(storage: Storage, run: ExportRun, sink: Sink) -> None:
    """Every row from one read snapshot of the database, in a connection of its own."""
    async with read_snapshot(storage.path) as db:
        async for group in iter_groups(db, run.filters):
            for row in run.fmt.rows(run, run.usable(group)):
                sink.write(row)
                run.rows += 1
            if run.progress is not None:
                run.progress(run.rows)


def _sink(path: Path, spec: Format, layout: str) -> Sink:
    return ParquetSink(path, spec.columns) if layout == "parquet" else JsonlSink(path)


async def _export_file(storage: Storage, out: Path, run: ExportRun, layout: str) -> Manifest:
    pending = out.with_name(f".{out.name}.partial")
    sink = _sink(pending, run.fmt, layout)
    try:
        try:
            await _write_rows(storage, run, sink)
        finally:
            sink.close()
        os.replace(pending, out)
    finally:
        pending.unlink(missing_ok=True)
    manifest = await _manifest(storage, run, out, Path(f"{out}.manifest.json"), layout)
    write_json(manifest.path, manifest.to_json())
    return manifest


async def _export_folder(
    storage: Storage,
    out: Path,
    spec: Format,
    filters: ExportFilters,
    names: Pseudonyms,
    progress: Callable[[int], None] | None,
) -> Manifest:
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    run = ExportRun(spec, filters, names, Images(work, names), progress=progress)
    try:
        sink = JsonlSink(work / "metadata.jsonl")
        try:
            await _write_rows(storage, run, sink)
        finally:
            sink.close()
        manifest = await _manifest(storage, run, out, out / "manifest.json", "imagefolder")
        write_json(work / "manifest.json", manifest.to_json())
        if out.exists():
            out.rmdir()
        os.replace(work, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return manifest


async def _manifest(
    storage: Storage, run: ExportRun, out: Path, path: Path, layout: str
) -> Manifest:
    return Manifest(
        data=out,
        path=path,
        format=run.fmt.name,
        layout=layout,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        schema_version=await storage.schema_version(),
        filters=filters_json(run.filters, run.names),
        rows=run.rows,
        outputs=run.outputs,
        skipped=dict(sorted(run.skipped.items())),
        model_ids=tuple(sorted(run.model_ids)),
    )
