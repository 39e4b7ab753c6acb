"""Every diffusers family Muse covers, as a tiny random pipeline loaded through the real
``AutoPipelineForText2Image.from_pretrained`` and driven through /draw in discord.py: sizes,
what each family supports (negative prompt, guidance, image-to-image, inpainting), the buttons
that follow from it, and reproducible seeds."""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

import pytest
from PIL import Image

from bot.discord.client import MuseBot
from generators.families import Family
from generators.options import ImageSize
from generators.samples import DrawRow
from tests.conftest import ServiceFactory
from tests.discord_harness import Harness
from tests.discord_payloads import custom_ids
from tests.tiny_families import make_family

# family: (its name, native side of the tiny config, multiple, negative, guidance, img2img,
# inpaint). FLUX.1's native side is 1024 px (128 latents x 8); tests set MUSE_IMAGE_NATIVE_PX.
EXPECTED = {
    "sd2": ("Stable Diffusion", 64, 16, True, True, True, True),
    "sdxl": ("SDXL", 64, 16, True, True, True, True),
    "sd3": ("SD3", 64, 16, True, True, True, True),
    "flux": ("FLUX.1", 1024, 16, False, False, True, True),
    "pixart-sigma": ("PixArt-Σ", 256, 16, True, True, False, False),
    "sana": ("Sana", 128, 8, True, True, False, False),
}
NATIVE_PX = {"flux": 64}


def size_of(path: str) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


def image_paths(service: Any) -> list[str]:
    """Every stored picture, oldest first."""
    with sqlite3.connect(service.storage.path) as raw:
        return [p for (p,) in raw.execute("SELECT image_path FROM outputs ORDER BY id")]


@pytest.fixture(scope="module", params=sorted(EXPECTED))
def family_backend(request: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Any]:
    from generators.families import detect
    from generators.image import DiffusersImageBackend

    name = request.param
    folder = make_family(name, tmp_path_factory.mktemp(name) / name)
    backend = DiffusersImageBackend.load(str(folder), device="cpu",
                                         native_px=NATIVE_PX.get(name, 0))  # fmt: skip
    native = detect(backend.pipe).native  # without the override
    return name, (backend, native)


def test_each_family_is_read_from_its_pipeline(family_backend: tuple[str, Any]) -> None:
    name, (backend, native) = family_backend
    family: Family = backend.family
    title, side, multiple, negative, guidance, img2img, inpaint = EXPECTED[name]
    assert (family.name, native, family.multiple) == (title, side, multiple)
    assert (family.negative, family.guidance) == (negative, guidance)
    assert (family.img2img, family.inpaint) == (img2img, inpaint)
    width, height = backend.dimensions(ImageSize.PORTRAIT)
    assert width % multiple == 0 and height % multiple == 0 and height > width


def test_same_seed_gives_the_same_png(family_backend: tuple[str, Any]) -> None:
    _, (backend, _) = family_backend
    width, height = backend.dimensions(ImageSize.SQUARE)
    rows = [DrawRow("a fox", "blurry", 7, width, height, 2)]
    steps: list[tuple[int, int]] = []
    first = backend.generate(rows, threading.Event(), lambda s, t: steps.append((s, t)))
    again = backend.generate(rows, threading.Event(), lambda s, t: None)
    other = backend.generate([DrawRow("a fox", "blurry", 8, width, height, 2)],
                             threading.Event(), lambda s, t: None)  # fmt: skip
    assert first[0].png == again[0].png != other[0].png
    assert steps[-1] == (2, 2)


async def test_draw_and_its_buttons_follow_the_family(
    family_backend: tuple[str, Any], make_service: ServiceFactory, image_filter: Any
) -> None:
    _name, (backend, _) = family_backend
    service = await make_service(image_backend=backend, image_filter=image_filter,
                                 image_variations=1)  # fmt: skip
    bot = MuseBot(service, service.settings, min_edit_interval_s=0)
    async with Harness(bot) as h:
        payload = h.slash("draw", {"prompt": "a fox", "steps": 2, "seed": 1, "negative": "fog"})
        await h.run(payload, timeout=60)
        message = h.http.original_message(payload["token"])
        if not backend.family.negative:  # refused and explained, never silently dropped
            assert message is not None and "has no negative prompt" in message["content"]
            payload = h.slash("draw", {"prompt": "a fox", "steps": 2, "seed": 1})
            await h.run(payload, timeout=60)
            message = h.http.original_message(payload["token"])
        assert h.errors == []
        assert message is not None and len(message["attachments"]) == 1
        fields = {f["name"]: f["value"] for f in message["embeds"][0]["fields"]}
        labels = [b.get("label") for row in message["components"] for b in row["components"]]
        if backend.family.img2img:
            vary = next(i for i in custom_ids(message) if i.endswith(":vs"))
            follow = h.click(vary, message)
            await h.run(follow, timeout=60)
            varied = h.http.original_message(follow["token"])
            assert h.errors == [] and varied is not None and len(varied["attachments"]) == 1
            sizes = [size_of(path) for path in image_paths(service)]
            assert sizes[0] == sizes[1] == backend.dimensions(ImageSize.SQUARE)
    assert ("Vary (Subtle)" in labels) == backend.family.img2img
    assert ("Upscale ×2" in labels) == backend.family.img2img
    assert ("Vary Region" in labels) == ("Zoom Out ×1.5" in labels) == backend.family.inpaint
    assert "Remix" in labels and "Reroll" in labels
    if not backend.family.guidance:
        assert fields["guidance"].startswith("not used")
    if not backend.family.negative:
        assert fields["negative prompt"].startswith("not used")
