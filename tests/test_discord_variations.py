"""/draw's Midjourney-style buttons through real discord.py: U/V rows, upscale, variations,
Vary Region, Zoom out and Remix, with their lineage, and the buttons still working after a
restart."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.discord.client import MuseBot
from tests.conftest import ServiceFactory
from tests.discord_harness import Harness
from tests.discord_payloads import USER_ID, custom_ids
from tests.test_discord_feedback import modal_submit

OTHER_USER = USER_ID + 100


@pytest.fixture(scope="module")
def pipeline(tiny_sd_dir: Path) -> Any:
    from generators.image import DiffusersImageBackend

    return DiffusersImageBackend.load(str(tiny_sd_dir), device="cpu")


async def bot_for(make_service: ServiceFactory, pipeline: Any, image_filter: Any) -> MuseBot:
    service = await make_service(
        image_backend=pipeline, image_filter=image_filter, image_variations=2
    )
    return MuseBot(service, service.settings, min_edit_interval_s=0)


def rows_of(message: dict[str, Any]) -> list[list[str]]:
    return [[b.get("label") or "" for b in row["components"]] for row in message["components"]]


def db(bot: MuseBot, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(bot.service.storage.path) as raw:
        return raw.execute(sql, args).fetchall()


async def drawn(h: Harness[MuseBot], count: int) -> dict[str, Any]:
    payload = h.slash("draw", {"prompt": "a fox", "steps": 2, "count": count, "seed": 3})
    await h.run(payload, timeout=60)
    assert h.errors == []
    message = h.http.original_message(payload["token"])
    assert message is not None
    return message


async def clicked(h: Harness[MuseBot], custom_id: str, message: dict[str, Any], **kw: Any) -> Any:
    payload = h.click(custom_id, message, **kw)
    await h.run(payload, timeout=60)
    return payload


def png_text(path: str) -> dict[str, str]:
    with Image.open(path) as image:
        return dict(image.text)  # type: ignore[attr-defined]


async def test_a_grid_has_u_and_v_rows_and_u_upscales_with_lineage(
    make_service: ServiceFactory, pipeline: Any, image_filter: Any, tmp_path: Path
) -> None:
    bot = await bot_for(make_service, pipeline, image_filter)
    async with Harness(bot) as h:
        grid = await drawn(h, 2)
        assert rows_of(grid) == [["U1", "U2"], ["V1", "V2"], ["1 · 0"] * 2 + ["2 · 0"] * 2,
                                 ["Reroll", "Remix", "Report"]]  # fmt: skip
        ids = custom_ids(grid)
        assert all(len(i) <= 100 for i in ids) and len(ids) == len(set(ids))
        u2 = ids[1]
        await clicked(h, u2, grid, user_id=OTHER_USER)
        refusal = h.http.interaction_responses()[-1]["data"]
        assert "Only the member" in refusal["content"] and refusal["flags"] == 64
        assert db(bot, "SELECT COUNT(*) FROM jobs WHERE operation IS NOT NULL") == [(0,)]
        payload = await clicked(h, u2, grid)
        assert h.errors == []
        result = h.http.original_message(payload["token"])
        waiting = [c.json for c in h.http.calls_to("PATCH", r"/messages/@original$")
                   if payload["token"] in c.path][:-1]  # fmt: skip
        assert waiting and all(custom_ids(w)[0].startswith("muse:cancel:") for w in waiting)
    assert result is not None
    parent_id = int(u2.split(":")[2])
    [(job_id, source, operation)] = db(bot, "SELECT id, source_output_id, operation FROM jobs"
                                       " WHERE operation IS NOT NULL")  # fmt: skip
    assert (source, operation) == (parent_id, "upscale")
    assert result["embeds"][0]["fields"][-2] == {"name": "made by", "value": "upscale ×2",
                                                  "inline": True}  # fmt: skip
    # A single picture gets one row of actions; an upscale is not offered again.
    assert rows_of(result)[0] == ["Vary (Subtle)", "Vary (Strong)", "Vary Region",
                                  "Zoom Out ×1.5"]  # fmt: skip
    [(path,)] = db(bot, "SELECT image_path FROM outputs WHERE job_id = ?", job_id)
    [(parent_path,)] = db(bot, "SELECT image_path FROM outputs WHERE id = ?", parent_id)
    with Image.open(path) as big, Image.open(parent_path) as small:
        assert big.size == (2 * small.width, 2 * small.height)
    text = png_text(path)
    assert text["operation"] == "upscale ×2" and text["parent"] == f"muse:output:{parent_id}"
    manifest = json.loads(text["c2pa.manifest"])
    [action] = manifest["assertions"][0]["data"]["actions"]
    assert action["action"] == "c2pa.edited"
    [ingredient] = manifest["ingredients"]
    assert ingredient["title"] == f"muse:output:{parent_id}"
    assert (
        ingredient["sha256"]
        == __import__("hashlib").sha256(Path(parent_path).read_bytes()).hexdigest()
    )
    assert db(bot, "SELECT output_id, source FROM picks") == [(parent_id, "pick")]
    await exported_with_lineage(bot, tmp_path, parent_id, int(u2.split(":")[2]) - 1)


async def exported_with_lineage(bot: MuseBot, tmp_path: Path, chosen: int, other: int) -> None:
    """The image-folder export names each picture's parent and operation; U counts as a pick."""
    from bot.datasets.export import export
    from bot.datasets.filters import ExportFilters
    from tests.export_world import SECRET, read

    storage, draws = bot.service.storage, ExportFilters(kind="draw")
    await export(storage, tmp_path / "raw", fmt="raw", filters=draws, secret=SECRET)
    rows = {r["output_id"]: r for r in read(tmp_path / "raw" / "metadata.jsonl")}
    [child] = [r for r in rows.values() if r["operation"]]
    assert (child["parent_output_id"], child["operation"]) == (chosen, "upscale")
    assert rows[chosen]["parent_output_id"] is None and rows[chosen]["operation"] is None
    await export(storage, tmp_path / "dpo", fmt="dpo", filters=draws, secret=SECRET)
    [pair] = read(tmp_path / "dpo" / "metadata.jsonl")
    assert (pair["source"], pair["chosen_file_name"], pair["rejected_file_name"]) == (
        "pick", f"{chosen}.png", f"{other}.png")  # fmt: skip


async def test_v_buttons_vary_after_a_restart(
    make_service: ServiceFactory, pipeline: Any, image_filter: Any
) -> None:
    first = await bot_for(make_service, pipeline, image_filter)
    async with Harness(first) as h:
        grid = await drawn(h, 2)
    second = await bot_for(make_service, pipeline, image_filter)
    async with h.restarted(second) as h2:
        v1 = custom_ids(grid)[2]
        payload = await clicked(h2, v1, grid)
        assert h2.errors == []
        result = h2.http.original_message(payload["token"])
    assert result is not None and len(result["attachments"]) == 2
    assert rows_of(result)[:2] == [["U1", "U2"], ["V1", "V2"]]
    [(operation, seed)] = db(second, "SELECT operation, seed FROM jobs WHERE operation"
                             " IS NOT NULL")  # fmt: skip
    assert operation == "vary-strong"
    texts = [png_text(p) for (p,) in db(second, "SELECT image_path FROM outputs"
                                        " ORDER BY id DESC LIMIT 2")]  # fmt: skip
    assert {t["seed"] for t in texts} == {str(seed), str(seed + 1)}
    assert {t["strength"] for t in texts} == {"0.7"}


async def test_vary_region_zoom_and_remix_on_a_single_picture(
    make_service: ServiceFactory, pipeline: Any, image_filter: Any
) -> None:
    bot = await bot_for(make_service, pipeline, image_filter)
    async with Harness(bot) as h:
        single = await drawn(h, 1)
        assert rows_of(single)[0] == ["Upscale ×2", "Vary (Subtle)", "Vary (Strong)",
                                      "Vary Region", "Zoom Out ×1.5"]  # fmt: skip
        region_id = custom_ids(single)[3]
        asked = await clicked(h, region_id, single)
        assert h.http.interaction_responses()[-1]["data"]["flags"] == 64
        chooser = h.http.original_message(asked["token"])
        assert chooser is not None
        assert rows_of(chooser) == [["Centre", "Left", "Right", "Top", "Bottom"]]
        await clicked(h, custom_ids(chooser)[0], chooser)
        modal = h.http.interaction_responses()[-1]
        assert modal["type"] == 9, modal
        submit = modal_submit(modal, ["a red hat"])
        await h.run(submit, timeout=60)
        region = h.http.original_message(submit["token"])
        payload = await clicked(h, custom_ids(single)[4], single)  # zoom out
        zoom = h.http.original_message(payload["token"])
        remix_id = next(i for i in custom_ids(single) if i.startswith("muse:remix:"))
        await clicked(h, remix_id, single)
        modal = h.http.interaction_responses()[-1]
        await h.run(modal_submit(modal, ["what the fuck", "", "none"]), timeout=60)
        refusal = h.http.interaction_responses()[-1]["data"]
        assert "refused by the safety filter" in refusal["content"] and refusal["flags"] == 64
        await clicked(h, remix_id, single)
        modal = h.http.interaction_responses()[-1]
        submit = modal_submit(modal, ["a fox in snow", "blurry", "watercolor"])
        await h.run(submit, timeout=60)
        remix = h.http.original_message(submit["token"])
        assert h.errors == []
    assert region is not None and zoom is not None and remix is not None
    assert len(region["attachments"]) == len(zoom["attachments"]) == 2
    found = db(bot, "SELECT operation, json_extract(options, '$.prompt'),"
               " json_extract(options, '$.style') FROM jobs WHERE operation IS NOT NULL"
               " ORDER BY created_at, rowid")  # fmt: skip
    assert found == [("region-centre", "a red hat", "none"), ("zoom", "a fox", "none"),
                     ("vary-strong", "a fox in snow", "watercolor")]  # fmt: skip
