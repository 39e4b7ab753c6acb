"""/draw through the service: the tiny pipeline, the real open_nsfw filter, real files."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.datasets.export import export
from bot.datasets.filters import ExportFilters
from bot.errors import Cancelled, UserError
from bot.service.privacy import delete_user_data
from bot.service.types import Origin
from generators.options import ImageSize
from generators.requests import DrawRequest
from tests.conftest import ServiceFactory

ALICE = Origin(user_id=1, guild_id=10, channel_id=20)
BOB = Origin(user_id=2, guild_id=10, channel_id=20)


@pytest.fixture(scope="module")
def pipeline(tiny_sd_dir: Path) -> Any:
    from generators.image import DiffusersImageBackend

    return DiffusersImageBackend.load(str(tiny_sd_dir), device="cpu")


async def draw(service: Any, request: DrawRequest, origin: Origin = ALICE) -> Any:
    pending = service.prepare(request, origin)
    await service.start(pending)
    return await service.finish(pending)


async def test_images_are_judged_saved_and_shown(
    make_service: ServiceFactory, pipeline: Any, image_filter: Any
) -> None:
    service = await make_service(image_backend=pipeline, image_filter=image_filter)
    request = DrawRequest(prompt="a lighthouse", size=ImageSize.LANDSCAPE, steps=2, count=2, seed=9)
    delivery = await draw(service, request)
    assert [o.seed for o in delivery.outputs] == [9, 10]
    assert delivery.options["size"] == "landscape" and delivery.kind == "draw"
    for out in delivery.outputs:
        assert out.image_path is not None
        image = Image.open(io.BytesIO(Path(out.image_path).read_bytes()))
        assert image.size == (96, 64)
        assert image.text["seed"] == str(out.seed)  # type: ignore[attr-defined]
    stored = await service.storage.job_outputs(delivery.job_id)
    assert all(o.decision == "allow" for o in stored)
    job = await service.storage.get_job(delivery.job_id)
    assert job is not None and job.prompt == "a lighthouse" and job.options["steps"] == "2"


async def test_same_seed_same_image_through_the_service(
    make_service: ServiceFactory, pipeline: Any, image_filter: Any
) -> None:
    clock = itertools.count(1_780_000_000, 100)
    service = await make_service(image_backend=pipeline, image_filter=image_filter)
    service.clock = lambda: float(next(clock))  # each job is made at a later time
    first = await draw(service, DrawRequest(prompt="moon", steps=2, seed=3))
    again = await draw(service, DrawRequest(prompt="moon", steps=2, seed=3))
    with Image.open(first.outputs[0].image_path) as a, Image.open(again.outputs[0].image_path) as b:
        assert a.tobytes() == b.tobytes()  # same pixels; only the creation time differs
        changed = {k for k in a.text if a.text[k] != b.text[k]}  # type: ignore[attr-defined]
    assert changed == {"XML:com.adobe.xmp", "c2pa.manifest"}


@pytest.mark.parametrize(
    ("review_at", "block_at", "decision", "kept"),
    [(0.0, 1.0, "review", True), (0.0, 0.0, "block", False)],
)
async def test_doubtful_images_are_held_and_bad_ones_never_kept(
    make_service: ServiceFactory,
    pipeline: Any,
    image_filter: Any,
    review_at: float,
    block_at: float,
    decision: str,
    kept: bool,
) -> None:
    service = await make_service(
        image_backend=pipeline,
        image_filter=image_filter,
        image_review_at=review_at,
        image_block_at=block_at,
    )
    pending = service.prepare(DrawRequest(prompt="a cat", steps=1), ALICE)
    await service.start(pending)
    delivery = await service.finish(pending)
    assert delivery.outputs == ()
    assert delivery.withheld is not None
    assert ("moderator" if kept else "blocked") in delivery.withheld
    [stored] = await service.storage.job_outputs(pending.record.id)
    assert stored.decision == decision
    assert (stored.image_path is not None) is kept
    assert delivery.held_ids == ((stored.id,) if kept else ())
    review = await service.reviews.item_for_output(stored.id)
    assert (review is not None and review.status == "pending") is kept
    with sqlite3.connect(service.storage.path) as raw:
        verdict = json.loads(raw.execute("SELECT verdict FROM outputs").fetchone()[0])
    assert "nsfw" in verdict["scores"] and verdict["components"][0].startswith("open_nsfw")


async def test_prompt_filter_and_limits_apply_before_queueing(
    make_service: ServiceFactory, pipeline: Any, image_filter: Any
) -> None:
    service = await make_service(
        image_backend=pipeline, image_filter=image_filter, image_max_steps=8
    )
    with pytest.raises(UserError, match="steps must be between 1 and 8, got 9"):
        service.prepare(DrawRequest(prompt="x", steps=9), ALICE)
    with pytest.raises(UserError, match="refused by the safety filter"):
        service.prepare(DrawRequest(prompt="lolicon", steps=2), ALICE)
    with pytest.raises(UserError, match="style must be one of"):
        service.prepare(DrawRequest(prompt="x", style="cubism", steps=2), ALICE)
    assert service.queue.state.waiting == []


async def test_drawing_off_is_a_clear_refusal(make_service: ServiceFactory) -> None:
    service = await make_service()
    with pytest.raises(UserError, match="Drawing is turned off"):
        service.prepare(DrawRequest(prompt="x"), ALICE)


async def test_cancel_while_queued_and_while_running(
    make_service: ServiceFactory, pipeline: Any, image_filter: Any
) -> None:
    service = await make_service(
        image_backend=pipeline, image_filter=image_filter, image_max_steps=400
    )
    running = service.prepare(DrawRequest(prompt="long", steps=400), ALICE)
    await service.start(running)
    queued = service.prepare(DrawRequest(prompt="next", steps=2), BOB)
    await service.start(queued)
    for _ in range(200):  # wait for the first denoising steps
        progress = service.progress(running)
        if progress is not None and progress.step >= 2:
            break
        await asyncio.sleep(0.01)
    assert progress is not None and progress.position == 0 and progress.steps == 400
    assert service.progress(queued).position == 1  # type: ignore[union-attr]
    with pytest.raises(UserError, match="Only the member"):
        await service.cancel(queued.record.id, ALICE.user_id)
    await service.cancel(queued.record.id, BOB.user_id)
    await service.cancel(running.record.id, ALICE.user_id)
    for pending in (running, queued):
        with pytest.raises(Cancelled):
            await service.finish(pending)
        job = await service.storage.get_job(pending.record.id)
        assert job is not None and job.status == "cancelled"
    assert service.queue.state.running == []


async def test_export_and_forget_cover_images(
    make_service: ServiceFactory, pipeline: Any, image_filter: Any, tmp_path: Path
) -> None:
    service = await make_service(image_backend=pipeline, image_filter=image_filter)
    delivery = await draw(service, DrawRequest(prompt="a bridge", steps=1, seed=4))
    path = Path(delivery.outputs[0].image_path)
    await service.vote(delivery.outputs[0].output_id, BOB.user_id, 1)
    folder = tmp_path / "draw-dataset"
    manifest = await export(
        service.storage, folder, fmt="raw", filters=ExportFilters(kind="draw"), secret="s"
    )
    assert manifest.rows == 1 and manifest.layout == "imagefolder"
    row = json.loads((folder / "metadata.jsonl").read_text(encoding="utf-8"))
    assert (folder / row["file_name"]).read_bytes() == path.read_bytes()
    assert row["kind"] == "draw" and row["seed"] == 4
    counts = await delete_user_data(service.storage, ALICE.user_id)
    assert counts["images"] == 1 and counts["jobs"] == 1
    assert not path.exists()
