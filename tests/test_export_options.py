"""The export's filters, manifest and argument errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.datasets.export import export
from bot.datasets.filters import ExportFilters
from bot.store.schema import MIGRATIONS
from bot.store.storage import Storage
from tests.export_world import (
    MODEL,
    OPT_IN_GUILD,
    SECRET,
    T0,
    World,
    build_world,
    guild,
    read,
    run,
)


@pytest.fixture
async def world(storage: Storage) -> World:
    return await build_world(storage)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (ExportFilters(kind="slogan"), {"b0", "b1"}),
        (ExportFilters(since=datetime.fromtimestamp(T0 + 5, UTC)), {"a2"}),
        (ExportFilters(since=datetime.fromtimestamp(T0 + 5, UTC).replace(tzinfo=None)), {"a2"}),
        (ExportFilters(guild_id=OPT_IN_GUILD), {"optin_yes"}),
        (ExportFilters(min_votes=2), {"a0", "a2", "approved"}),
        (ExportFilters(min_score=0.0), {"a0", "a2", "approved", "optin_yes"}),
        (ExportFilters(min_score=0.5, kind="poem"), {"a0", "approved", "optin_yes"}),
    ],
)
async def test_filters(
    world: World, tmp_path: Path, filters: ExportFilters, expected: set[str]
) -> None:
    rows, manifest = await run(world, tmp_path / "raw.jsonl", "raw", filters)
    name = {oid: n for n, oid in world.ids.items()}
    assert {name[r["output_id"]] for r in rows} == expected
    assert manifest.filters["kind"] == filters.kind
    if filters.guild_id:
        assert manifest.filters["guild"] == guild(filters.guild_id)


async def test_manifest(world: World, tmp_path: Path) -> None:
    out = tmp_path / "sft.jsonl"
    _, manifest = await run(world, out, "sft", ExportFilters(min_votes=0, kind="poem"))
    saved = json.loads((tmp_path / "sft.jsonl.manifest.json").read_text(encoding="utf-8"))
    assert saved == manifest.to_json()
    assert manifest.path == tmp_path / "sft.jsonl.manifest.json"
    assert saved["muse_export_version"] == 1 and saved["schema_version"] == len(MIGRATIONS)
    assert saved["format"] == "sft" and saved["layout"] == "jsonl"
    assert saved["model_ids"] == [MODEL]
    assert saved["counts"]["rows"] == 5 == len(read(out))
    assert saved["filters"] == {"kind": "poem", "since": None, "guild": None, "min_votes": 0,
                                "min_score": None}  # fmt: skip
    created = datetime.fromisoformat(saved["created_at"])
    assert created.tzinfo is not None and abs(created - datetime.now(UTC)).total_seconds() < 60


async def test_bad_arguments_are_clear_errors(world: World, tmp_path: Path) -> None:
    cases = [
        ("csv", ExportFilters(), tmp_path / "a.jsonl", "format must be one of"),
        ("raw", ExportFilters(kind="song"), tmp_path / "a.jsonl", "kind must be one of"),
        ("raw", ExportFilters(kind="draw"), tmp_path / "a.parquet", "export to a folder"),
    ]
    for fmt, filters, out, message in cases:
        with pytest.raises(ValueError, match=message):
            await export(world.storage, out, fmt=fmt, filters=filters, secret=SECRET)
