"""/draw's buttons through the service: what each operation makes, who may use it, the
queue's per-member limit, a reroll and a restart of a derived job, and the edit pictures."""

from __future__ import annotations

import dataclasses
import io
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.errors import Busy, NotAllowed, UserError
from bot.service.derive import Remix, actions, derive
from bot.service.types import Origin
from generators.edits import plan, region_box, zoom_canvas
from generators.families import Family
from generators.requests import DrawRequest
from tests.conftest import ServiceFactory

ALICE = Origin(user_id=1, guild_id=10, channel_id=20)
BOB = Origin(user_id=2, guild_id=10, channel_id=20)


@pytest.fixture(scope="module")
def pipeline(tiny_sd_dir: Path) -> Any:
    from generators.image import DiffusersImageBackend

    return DiffusersImageBackend.load(str(tiny_sd_dir), device="cpu")


def pixels(png: bytes) -> bytes:
    with Image.open(io.BytesIO(png)) as image:
        return image.tobytes()


async def run(service: Any, pending: Any) -> Any:
    await service.start(pending)
    return await service.finish(pending)


def png_of(path: str | None) -> bytes:
    assert path is not None
    return Path(path).read_bytes()


async def test_derived_jobs_reroll_and_resume_from_their_parent(
    make_service: ServiceFactory, pipeline: Any, image_filter: Any
) -> None:
    service = await make_service(image_backend=pipeline, image_filter=image_filter,
                                 image_variations=2, queue_per_user=1)  # fmt: skip
    parent = await run(service, service.prepare(DrawRequest("a fox", steps=2, seed=4), ALICE))
    source = parent.outputs[0].output_id
    with pytest.raises(NotAllowed):
        await derive(service, source, "zoom", BOB)
    with pytest.raises(UserError, match="operation must be one of"):
        await derive(service, source, "rotate", ALICE)
    pending = await derive(service, source, "zoom", ALICE, Remix(prompt="a fox at sea"))
    with pytest.raises(Busy):  # the per-member queue limit holds for buttons too
        await derive(service, source, "vary-subtle", ALICE)
    zoom = await run(service, pending)
    assert zoom.options["made by"] == "zoom out ×1.5" and zoom.options["prompt"] == "a fox at sea"
    assert [Image.open(io.BytesIO(png_of(o.image_path))).size for o in zoom.outputs] == [
        (64, 64), (64, 64)]  # fmt: skip
    job = await service.storage.get_job(zoom.job_id)
    assert job is not None and (job.source_output_id, job.operation) == (source, "zoom")
    reroll = await run(service, await service.regenerate(zoom.job_id, ALICE))
    assert reroll.options["made by"] == "zoom out ×1.5"
    rerolled = await service.storage.get_job(reroll.job_id)
    assert rerolled is not None and rerolled.source_output_id == source
    before = png_of(zoom.outputs[0].image_path)
    with sqlite3.connect(service.storage.path) as raw:  # as if cut short by a restart
        raw.execute("DELETE FROM outputs WHERE job_id = ?", (job.id,))
    resumed = await service.finish(await service.resume(job))
    again = await service.storage.job_outputs(resumed.job_id)
    assert pixels(png_of(again[0].image_path)) == pixels(before)  # same parent, op and seeds


async def test_a_model_without_inpainting_refuses_region_and_zoom(
    make_service: ServiceFactory, pipeline: Any, image_filter: Any
) -> None:
    service = await make_service(image_backend=pipeline, image_filter=image_filter)
    parent = await run(service, service.prepare(DrawRequest("a fox", steps=2, seed=4), ALICE))
    pipeline.family = dataclasses.replace(pipeline.family, inpaint=False)
    try:
        with pytest.raises(UserError, match="cannot change a picture that way"):
            await derive(service, parent.outputs[0].output_id, "region-left", ALICE)
        assert (await service.delivery(await service.storage.get_job(parent.job_id))).actions == (  # type: ignore[arg-type]
            "vary", "upscale", "remix")  # fmt: skip
    finally:
        pipeline.family = dataclasses.replace(pipeline.family, inpaint=True)


def test_buttons_follow_what_the_family_can_do() -> None:
    both = Family("SD", 512, 64, True, True, True, True, True)
    none = dataclasses.replace(both, img2img=False, inpaint=False)
    assert actions(both, None) == ("vary", "upscale", "remix", "region", "zoom")
    assert actions(both, "upscale") == ("vary", "remix", "region", "zoom")
    assert actions(none, None) == ("remix",)


def test_edit_pictures() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (96, 64), (200, 10, 10)).save(buffer, format="PNG")
    parent = buffer.getvalue()
    canvas, mask = zoom_canvas(parent)
    with Image.open(io.BytesIO(canvas)) as c, Image.open(io.BytesIO(mask)) as m:
        assert c.size == m.size == (96, 64)
        assert m.getpixel((0, 0)) == 255 and m.getpixel((48, 32)) == 0  # border redrawn
    assert region_box(96, 64, "left") == (0, 0, 48, 64)
    assert region_box(96, 64, "centre") == (24, 16, 72, 48)
    how = plan("upscale", parent, 4, 16)
    assert (how.width, how.height, how.samples, how.mode) == (192, 128, 1, "upscale")
    big = io.BytesIO()
    Image.new("RGB", (1536, 1024)).save(big, format="PNG")
    with pytest.raises(ValueError, match="already as large"):
        plan("upscale", big.getvalue(), 1, 16)
