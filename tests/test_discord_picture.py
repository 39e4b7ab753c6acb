"""/draw with an image attachment through real discord.py: the resolved attachment in the
interaction payload, its download from a recorded fake CDN, the result, and private refusals."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from bot.discord.client import MuseBot
from moderation.verdict import Category, Decision, Verdict
from tests.conftest import ServiceFactory
from tests.discord_attachments import CdnHTTP, with_attachment
from tests.discord_harness import Harness
from tests.discord_payloads import APP_ID, JSON, custom_ids

EPHEMERAL = 64
MB = 1024 * 1024


def picture() -> bytes:
    pixels = np.linspace(0, 255, 80 * 60 * 3).reshape(60, 80, 3).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="JPEG")
    return buffer.getvalue()


class BlockingFilter:
    """Blocks every picture, as open_nsfw would an explicit one."""

    def check(self, png: bytes) -> Verdict:
        return Verdict(Decision.BLOCK, (Category.SEXUAL,), {"nsfw": 0.97}, (), ("stub",))


@pytest.fixture(scope="module")
def pipeline(tiny_sd_dir: Path) -> Any:
    from generators.image import DiffusersImageBackend

    return DiffusersImageBackend.load(str(tiny_sd_dir), device="cpu")


async def bot(make_service: ServiceFactory, pipeline: Any, image_filter: Any) -> MuseBot:
    service = await make_service(image_backend=pipeline, image_filter=image_filter)
    return MuseBot(service, service.settings)


def draw_with(h: Harness[MuseBot], attachment: JSON, **options: Any) -> JSON:
    payload = h.slash("draw", {"prompt": "a fox at dusk", "steps": 4, **options})
    return with_attachment(payload, "image", attachment)


async def test_draw_registers_an_image_attachment_and_a_described_strength(
    make_service: ServiceFactory, pipeline: Any, image_filter: Any
) -> None:
    async with Harness(await bot(make_service, pipeline, image_filter)) as h:
        [sync] = h.http.calls_to("PUT", rf"/applications/{APP_ID}/commands$")
    draw = {c["name"]: c for c in sync.json}["draw"]
    options = {o["name"]: o for o in draw["options"]}
    assert options["image"]["type"] == 11 and not options["image"]["required"]
    assert options["image"]["description"] == "A picture to restyle (PNG, JPEG or WebP)"
    strength = options["strength"]
    assert (strength["type"], strength["min_value"], strength["max_value"]) == (10, 0.1, 1.0)
    assert strength["description"].startswith("With a picture: how much may change")
    assert strength["description_localizations"]["zh-CN"].startswith("有图片时")


async def test_draw_from_an_attached_picture_downloads_restyles_and_posts_it(
    make_service: ServiceFactory, pipeline: Any, image_filter: Any
) -> None:
    http = CdnHTTP()
    async with Harness(await bot(make_service, pipeline, image_filter), http) as h:
        attachment = http.host(picture(), "fox.jpg", "image/jpeg")
        payload = draw_with(h, attachment, strength=0.5, seed=3)
        await h.run(payload, timeout=30)
        assert h.errors == []
        assert [c.path for c in http.downloads()] == [attachment["url"]]
        assert h.http.interaction_responses() == [{"type": 5}]  # deferred once, before download
        final = h.http.calls_to("PATCH", r"/messages/@original$")[-1]
    job_id = custom_ids(final.json)[-1].removeprefix("muse:report:")
    assert final.files == [f"muse-{job_id}-1.png"]
    embed = final.json["embeds"][0]
    assert embed["footer"]["text"].startswith("AI-generated · ")
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["from your picture"] == "strength 0.5"
    [png] = h.bot.service.settings.image_dir.rglob(f"{job_id}-1.png")
    with Image.open(png) as image:
        manifest = json.loads(image.text["c2pa.manifest"])  # type: ignore[attr-defined]
    assert manifest["assertions"][0]["data"]["actions"][0]["action"] == "c2pa.edited"


@pytest.mark.parametrize(
    ("data", "content_type", "size", "says"),
    [
        (b"%PDF-1.7", "application/pdf", None, "must be a PNG, JPEG or WebP picture"),
        (b"\x89PNG", "image/png", 9 * MB, "the image is 9.0 MB; the limit is 8.0 MB"),
    ],
)
async def test_a_wrong_type_or_oversized_upload_is_refused_before_download(
    make_service: ServiceFactory,
    pipeline: Any,
    image_filter: Any,
    data: bytes,
    content_type: str,
    size: int | None,
    says: str,
) -> None:
    http = CdnHTTP()
    async with Harness(await bot(make_service, pipeline, image_filter), http) as h:
        attachment = http.host(data, "upload", content_type, size=size)
        await h.run(draw_with(h, attachment))
        [refused] = h.http.interaction_responses()
        assert http.downloads() == []
    assert refused["type"] == 4 and refused["data"]["flags"] == EPHEMERAL
    assert says in refused["data"]["content"]


async def private_notice(h: Harness[MuseBot], payload: JSON) -> str:
    """The ephemeral followup that replaced the deferred placeholder."""
    assert h.http.interaction_responses() == [{"type": 5}]
    assert h.http.calls_to("DELETE", r"/messages/@original$")  # the public placeholder goes
    [notice] = h.http.calls_to("POST", rf"/webhooks/{APP_ID}/{payload['token']}$")
    assert notice.json["flags"] == EPHEMERAL
    return str(notice.json["content"])


@pytest.mark.parametrize(
    ("data", "status", "blocking", "says"),
    [
        (b"<html>not a picture</html>", 200, False, "not a PNG, JPEG or WebP picture"),
        (b"", 404, False, "could not download your picture"),
        (picture(), 200, True, "Your picture was refused by the safety filter"),
    ],
)
async def test_a_bad_or_blocked_picture_is_refused_privately_after_download(
    make_service: ServiceFactory,
    pipeline: Any,
    image_filter: Any,
    data: bytes,
    status: int,
    blocking: bool,
    says: str,
) -> None:
    http = CdnHTTP()
    stub = BlockingFilter() if blocking else image_filter
    async with Harness(await bot(make_service, pipeline, stub), http) as h:
        payload = draw_with(h, http.host(data, "pic.png", "image/png", status=status))
        await h.run(payload)
        assert h.errors == []
        assert len(http.downloads()) == 1
        assert says in await private_notice(h, payload)
        assert not any(call.files for call in h.http.calls)
    assert await h.bot.service.storage.unfinished_jobs() == []
