"""Draws as image folders, and every layout loading with ``datasets``."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image

from bot.datasets.export import export
from bot.datasets.filters import ExportFilters
from bot.store.storage import Storage
from tests.export_world import (
    BOB,
    SECRET,
    World,
    build_world,
    draw_world,
    run,
    user,
)


@pytest.fixture
async def world(storage: Storage) -> World:
    return await build_world(storage)


async def test_images_export_as_an_imagefolder(storage: Storage, tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    w = await draw_world(storage, images)
    draws = ExportFilters(kind="draw")
    shapes = {}
    for fmt, used in (("sft", ["d1"]), ("dpo", ["d0", "d1"]), ("kto", ["d0", "d1"]),
                      ("raw", ["d0", "d1"])):  # fmt: skip
        out = tmp_path / f"draw-{fmt}"
        rows, manifest = await run(w, out, fmt, draws)
        assert manifest.layout == "imagefolder" and manifest.path == out / "manifest.json"
        files = {p.name for p in out.iterdir()}
        assert files == {"manifest.json", "metadata.jsonl", *(f"{w.ids[n]}.png" for n in used)}
        shapes[fmt] = rows
    [sft] = shapes["sft"]
    assert sft["file_name"] == f"{w.ids['d1']}.png" and sft["accepted_by"] == ["pick", "votes"]
    assert sft["prompt"] == f"a cat for @user-{user(BOB)}"
    assert [(r["source"], r["chosen_file_name"], r["rejected_file_name"])
            for r in shapes["dpo"]] == [
        ("pick", f"{w.ids['d1']}.png", f"{w.ids['d0']}.png"),
        ("votes", f"{w.ids['d1']}.png", f"{w.ids['d0']}.png"),
    ]  # fmt: skip
    assert [(r["file_name"], r["label"]) for r in shapes["kto"]] == [
        (f"{w.ids['d0']}.png", False), (f"{w.ids['d1']}.png", True)]  # fmt: skip
    assert {r["file_name"] for r in shapes["raw"]} == {f"{w.ids['d0']}.png", f"{w.ids['d1']}.png"}
    copied = (tmp_path / "draw-raw" / f"{w.ids['d0']}.png").read_bytes()
    assert str(BOB).encode() not in copied  # the PNG's own prompt chunk is scrubbed too
    with Image.open(io.BytesIO(copied)) as image:
        assert getattr(image, "text", {})["prompt"].startswith(f"a cat for @user-{user(BOB)}")
    _, manifest = await run(w, tmp_path / "draw-raw-2", "raw", draws)
    assert manifest.skipped == {"blocked": 1, "image_missing": 1}
    _, text_only = await run(w, tmp_path / "all.jsonl", "sft")
    assert text_only.skipped["image_kind"] == 3


async def test_datasets_loads_every_layout(world: World, storage: Storage, tmp_path: Path) -> None:
    import datasets

    datasets.disable_progress_bars()
    cache = str(tmp_path / "hf-cache")
    out = tmp_path / "out"
    expected = {}
    for fmt in ("sft", "dpo", "kto", "raw"):
        rows, _ = await run(world, out / f"{fmt}.jsonl", fmt)
        await export(storage, out / f"{fmt}.parquet", fmt=fmt, filters=ExportFilters(),
                     secret=SECRET)  # fmt: skip
        expected[fmt] = rows
    for fmt, rows in expected.items():
        for kind in ("json", "parquet"):
            suffix = "jsonl" if kind == "json" else "parquet"
            data = datasets.load_dataset(kind, data_files=str(out / f"{fmt}.{suffix}"),
                                         split="train", cache_dir=cache)  # fmt: skip
            assert data.num_rows == len(rows), (fmt, kind)
            first, want = dict(data[0]), dict(rows[0])
            if fmt == "raw" and kind == "json":  # pyarrow reads ISO times as timestamps
                moment = datetime.fromisoformat(want.pop("created_at")).replace(tzinfo=None)
                assert first.pop("created_at") == moment
            assert first == want, (fmt, kind)
    images = tmp_path / "images"
    images.mkdir()
    draws = await draw_world(storage, images)
    await run(draws, tmp_path / "draw-dpo", "dpo", ExportFilters(kind="draw"))
    await run(draws, tmp_path / "draw-raw", "raw", ExportFilters(kind="draw"))
    pairs = datasets.load_dataset("imagefolder", data_dir=str(tmp_path / "draw-dpo"),
                                  split="train", cache_dir=cache)  # fmt: skip
    assert pairs.num_rows == 2 and pairs[0]["chosen"].size == (8, 8)
    assert pairs[0]["rejected"].size == (8, 8) and pairs[0]["source"] == "pick"
