"""/draw from a picture: the checks on the member's image, and image-to-image on the tiny
pipeline loaded through from_pretrained, with its AI-generated marks."""

from __future__ import annotations

import io
import json
import threading
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from generators.init_image import (
    INPUT_MAX_PIXELS,
    InvalidImage,
    check_attachment,
    load_init_image,
)
from generators.provenance import AI_FLAG_KEY, C2PA_KEY, TRAINED_ALGORITHMIC_MEDIA, XMP_KEY
from generators.samples import DrawRow

MB = 1024 * 1024


def picture(size: tuple[int, int] = (80, 60), fmt: str = "PNG", mode: str = "RGB") -> bytes:
    gradient = np.linspace(0, 255, size[0] * size[1] * 3).reshape(size[1], size[0], 3)
    image = Image.fromarray(gradient.astype(np.uint8), "RGB").convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` with almost no data: a decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_a_picture_is_cropped_and_resized_to_the_models_size() -> None:
    for fmt in ("PNG", "JPEG", "WEBP"):
        checked = load_init_image(picture(fmt=fmt), width=64, height=96, max_bytes=MB)
        with Image.open(io.BytesIO(checked.png)) as image:
            assert (image.format, image.size, image.mode) == ("PNG", (64, 96), "RGB")
        assert len(checked.source_sha256) == 64


def test_transparency_is_flattened_onto_white() -> None:
    clear = Image.new("RGBA", (16, 16), (0, 0, 0, 0))
    buffer = io.BytesIO()
    clear.save(buffer, format="PNG")
    checked = load_init_image(buffer.getvalue(), width=8, height=8, max_bytes=MB)
    with Image.open(io.BytesIO(checked.png)) as image:
        assert image.getpixel((4, 4)) == (255, 255, 255)


@pytest.mark.parametrize(
    ("content_type", "size", "message"),
    [
        ("application/pdf", 1000, "must be a PNG, JPEG or WebP picture, got application/pdf"),
        (None, 1000, "got unknown"),
        ("image/gif", 1000, "got image/gif"),
        ("image/png", 9 * MB, "the image is 9.0 MB; the limit is 8.0 MB"),
    ],
)
def test_declared_type_and_size_are_checked_before_download(
    content_type: str | None, size: int, message: str
) -> None:
    with pytest.raises(InvalidImage, match=message):
        check_attachment(content_type, size, 8 * MB)
    check_attachment("image/jpeg; charset=binary", 1000, 8 * MB)


def test_non_images_oversized_files_and_damaged_files_are_refused() -> None:
    with pytest.raises(InvalidImage, match="not a PNG, JPEG or WebP picture"):
        load_init_image(b"%PDF-1.7 not an image", width=64, height=64, max_bytes=MB)
    with pytest.raises(InvalidImage, match=r"the limit is 0\.0 MB"):
        load_init_image(picture(), width=64, height=64, max_bytes=10)
    gif = picture(fmt="GIF", mode="P")
    with pytest.raises(InvalidImage, match="not a PNG, JPEG or WebP"):
        load_init_image(gif, width=64, height=64, max_bytes=MB)
    truncated = picture((200, 200))[:400]
    with pytest.raises(InvalidImage, match="damaged"):
        load_init_image(truncated, width=64, height=64, max_bytes=MB)


def test_a_decompression_bomb_is_refused_from_its_header_before_decoding() -> None:
    bomb = png_header_only(5_000, 5_000)  # 25 M pixels declared in a ~100-byte file
    assert len(bomb) < 200 and 5_000 * 5_000 > INPUT_MAX_PIXELS
    with pytest.raises(InvalidImage, match="5000×5000 pixels"):
        load_init_image(bomb, width=64, height=64, max_bytes=MB)
    huge = png_header_only(20_000, 20_000)  # beyond Pillow's own MAX_IMAGE_PIXELS too
    assert Image.MAX_IMAGE_PIXELS and 20_000 * 20_000 > 2 * Image.MAX_IMAGE_PIXELS
    with pytest.raises(InvalidImage, match="too large to decode safely"):
        load_init_image(huge, width=64, height=64, max_bytes=MB)


def test_an_animation_is_refused() -> None:
    frames = [Image.new("RGB", (8, 8), color) for color in ("red", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="PNG", save_all=True, append_images=frames[1:])
    with pytest.raises(InvalidImage, match="animated"):
        load_init_image(buffer.getvalue(), width=8, height=8, max_bytes=MB)


def test_a_multi_picture_jpeg_is_a_still_photo_and_its_primary_picture_is_used() -> None:
    """Stereo cameras and some phones save MPO (JPEG with extra pictures): not an animation."""
    primary, extra = Image.new("RGB", (40, 40), "red"), Image.new("RGB", (40, 40), "blue")
    buffer = io.BytesIO()
    primary.save(buffer, format="MPO", save_all=True, append_images=[extra])
    init = load_init_image(buffer.getvalue(), width=8, height=8, max_bytes=MB)
    r, g, b = Image.open(io.BytesIO(init.png)).convert("RGB").getpixel((4, 4))  # type: ignore[misc]
    assert r > 200 and g < 50 and b < 50


@pytest.fixture(scope="module")
def backend(tiny_sd_dir: Path) -> Any:
    from generators.image import DiffusersImageBackend

    return DiffusersImageBackend.load(str(tiny_sd_dir), device="cpu")


def restyle_row(seed: int, strength: float, init: bytes, steps: int = 4) -> DrawRow:
    return DrawRow("a fox, watercolor", "blurry", seed, 64, 64, steps, 1_780_000_000.0, init,
                   strength, "ab" * 32)  # fmt: skip


def test_image_to_image_shares_the_weights_and_follows_strength(backend: Any) -> None:
    init = load_init_image(picture(), width=64, height=64, max_bytes=MB).png
    steps: list[tuple[int, int]] = []
    [weak] = backend.generate([restyle_row(3, 0.5, init)], threading.Event(),
                              lambda s, t: steps.append((s, t)))  # fmt: skip
    assert steps == [(1, 2), (2, 2)]  # 4 steps x strength 0.5
    img2img = backend.image_to_image()
    assert img2img is backend.image_to_image() and img2img.unet is backend.pipe.unet
    [again] = backend.generate([restyle_row(3, 0.5, init)], threading.Event(), lambda s, t: None)
    assert weak.png == again.png
    other = load_init_image(picture((60, 80)), width=64, height=64, max_bytes=MB).png
    [moved] = backend.generate([restyle_row(3, 0.5, other)], threading.Event(), lambda s, t: None)
    assert moved.png != weak.png  # the picture steers the result (the random VAE says no more)
    with Image.open(io.BytesIO(weak.png)) as image:
        text = image.text  # type: ignore[attr-defined]
    assert (text["strength"], text["init_image_sha256"]) == ("0.5", "ab" * 32)
    manifest = json.loads(text[C2PA_KEY])
    assert manifest["assertions"][0]["data"]["actions"][0]["action"] == "c2pa.edited"
    assert manifest["ingredients"][0]["sha256"] == "ab" * 32


def test_every_png_carries_the_ai_generated_marks(backend: Any) -> None:
    row = DrawRow("a lighthouse", "", 9, 64, 64, 2, 1_780_000_000.0)
    [sample] = backend.generate([row], threading.Event(), lambda s, t: None)
    with Image.open(io.BytesIO(sample.png)) as image:
        image.load()
        text = image.text  # type: ignore[attr-defined]
    assert text[AI_FLAG_KEY].startswith("yes: made by Muse")
    assert backend.model_id in text[AI_FLAG_KEY]
    assert b"tEXtAI-generated\x00yes" in sample.png  # a plain tEXt chunk any tool can read
    assert f'Iptc4xmpExt:DigitalSourceType="{TRAINED_ALGORITHMIC_MEDIA}"' in text[XMP_KEY]
    assert 'xmp:CreateDate="2026-05-28T' in text[XMP_KEY]
    manifest = json.loads(text[C2PA_KEY])
    [action] = manifest["assertions"][0]["data"]["actions"]
    assert action["action"] == "c2pa.created"
    assert action["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
    assert action["when"].startswith("2026-05-28T")
    assert manifest["assertions"][1]["data"]["model_id"] == backend.model_id
    assert manifest["signature"] is None
