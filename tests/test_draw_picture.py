"""/draw from a member's picture through the service: checks, the image filter, image-to-image
on the tiny pipeline, rerolls, the request's rules, and /forget-me."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from bot.errors import Refused, UserError
from bot.service.pictures import picture_path
from bot.service.privacy import delete_user_data
from bot.service.types import Origin
from generators.options import InvalidRequest
from generators.requests import DrawRequest
from generators.samples import DrawRow
from moderation.verdict import Category, Decision, Verdict
from tests.conftest import ServiceFactory

ALICE = Origin(user_id=1, guild_id=10, channel_id=20)
BOB = Origin(user_id=2, guild_id=10, channel_id=20)


def picture(size: tuple[int, int] = (90, 70), fmt: str = "PNG") -> bytes:
    pixels = np.linspace(0, 255, size[0] * size[1] * 3).reshape(size[1], size[0], 3)
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8), "RGB").save(buffer, format=fmt)
    return buffer.getvalue()


class BlockingFilter:
    """An image filter that blocks everything (open_nsfw will not score a gradient as nsfw)."""

    def __init__(self) -> None:
        self.seen: list[bytes] = []

    def check(self, png: bytes) -> Verdict:
        self.seen.append(png)
        return Verdict(Decision.BLOCK, (Category.SEXUAL,), {"nsfw": 0.99}, (), ("stub",))


@pytest.fixture(scope="module")
def pipeline(tiny_sd_dir: Path) -> Any:
    from generators.image import DiffusersImageBackend

    return DiffusersImageBackend.load(str(tiny_sd_dir), device="cpu")


async def restyle(service: Any, request: DrawRequest, data: bytes, origin: Origin = ALICE) -> Any:
    request = await service.pictures.accept(data, request, service.strictness(origin.guild_id))
    pending = service.prepare(request, origin)
    await service.start(pending)
    return await service.finish(pending)


async def test_a_picture_is_restyled_kept_for_rerolls_and_marked_as_an_edit(
    make_service: ServiceFactory, pipeline: Any, image_filter: Any
) -> None:
    service = await make_service(image_backend=pipeline, image_filter=image_filter)
    request = DrawRequest(prompt="a fox", style="watercolor", steps=4, seed=5, strength=0.5)
    delivery = await restyle(service, request, picture())
    job = await service.storage.get_job(delivery.job_id)
    assert job is not None and job.options["strength"] == "0.5"
    key = job.options["picture"]
    stored = picture_path(service.settings.image_dir, key)
    with Image.open(stored) as kept:
        assert kept.size == (64, 64)
    assert delivery.options["from your picture"] == "strength 0.5"
    with Image.open(Path(delivery.outputs[0].image_path)) as image:
        text = image.text  # type: ignore[attr-defined]
    assert "Denoising strength: 0.5" in text["parameters"]
    assert "watercolor painting" in text["parameters"]  # the style preset still applies
    manifest = json.loads(text["c2pa.manifest"])
    assert manifest["assertions"][0]["data"]["actions"][0]["action"] == "c2pa.edited"
    assert manifest["ingredients"][0]["sha256"] == key.split("-")[0]
    again = service.prepare(  # 🔁 rebuilds the request from its stored fields, picture included
        DrawRequest.from_fields(job.options), ALICE
    )
    row = again.rows[0]
    assert isinstance(row, DrawRow) and row.init_png == stored.read_bytes()
    assert row.strength == 0.5
    await service.start(again)
    await service.finish(again)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"GIF89a not really", "not a PNG, JPEG or WebP picture"),
        (picture((30, 30), "JPEG") * 200, "the limit is"),
    ],
)
async def test_bad_pictures_are_refused_before_any_work(
    make_service: ServiceFactory, pipeline: Any, image_filter: Any, data: bytes, message: str
) -> None:
    service = await make_service(
        image_backend=pipeline, image_filter=image_filter, image_input_max_bytes=100_000
    )
    with pytest.raises(UserError, match=message):
        await service.pictures.accept(
            data, DrawRequest(prompt="x", steps=2), service.strictness(10)
        )
    with pytest.raises(UserError, match="must be a PNG, JPEG or WebP picture, got text/html"):
        service.pictures.check_attachment("text/html", 10)
    with pytest.raises(UserError, match=r"the limit is 0\.1 MB"):
        service.pictures.check_attachment("image/png", 200_000)
    assert not (service.settings.image_dir / "inputs").exists()


async def test_a_picture_the_image_filter_blocks_is_refused_and_not_kept(
    make_service: ServiceFactory, pipeline: Any
) -> None:
    stub = BlockingFilter()
    service = await make_service(image_backend=pipeline, image_filter=stub)
    with pytest.raises(Refused, match="Your picture was refused by the safety filter"):
        await service.pictures.accept(picture(), DrawRequest(prompt="x"), service.strictness(10))
    assert len(stub.seen) == 1 and Image.open(io.BytesIO(stub.seen[0])).size == (64, 64)
    assert not (service.settings.image_dir / "inputs").exists()


def test_strength_needs_a_picture_and_at_least_one_step() -> None:
    with pytest.raises(InvalidRequest, match="strength applies to a picture"):
        DrawRequest(prompt="x", strength=0.5).check_inputs()
    key = "a" * 64 + "-64x64"
    with pytest.raises(InvalidRequest, match=r"steps × strength must make at least one step"):
        DrawRequest(prompt="x", picture=key, steps=4, strength=0.2).check_inputs()
    with pytest.raises(InvalidRequest, match=r"strength must be between 0\.1 and 1\.0, got 1\.5"):
        DrawRequest(prompt="x", picture=key, strength=1.5).check_inputs()
    with pytest.raises(InvalidRequest, match="stored picture's key"):
        DrawRequest(prompt="x", picture="../../etc/passwd").check_inputs()
    request = DrawRequest(prompt="x", picture=key)
    request.check_inputs()
    assert request.denoise == 0.6
    stored = DrawRequest.from_fields(request.fields())  # the default is stored explicitly
    assert stored == dataclasses.replace(request, strength=0.6)


async def test_forget_me_deletes_a_members_own_pictures_only(
    make_service: ServiceFactory, pipeline: Any, image_filter: Any
) -> None:
    service = await make_service(image_backend=pipeline, image_filter=image_filter)
    mine, shared = picture((90, 70)), picture((70, 90))
    request = DrawRequest(prompt="x", steps=2)
    own = await restyle(service, request, mine)
    await restyle(service, request, shared)
    await restyle(service, request, shared, BOB)
    job = await service.storage.get_job(own.job_id)
    assert job is not None
    inputs = service.settings.image_dir / "inputs"
    assert len(list(inputs.rglob("*.png"))) == 2
    counts = await delete_user_data(service.storage, ALICE.user_id, service.settings.image_dir)
    assert counts["pictures"] == 1 and counts["jobs"] == 2
    [left] = list(inputs.rglob("*.png"))
    assert left.stem != job.options["picture"]  # Bob's job still uses the shared picture
