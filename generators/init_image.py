"""A member's picture for /draw's image-to-image mode: checked, decoded safely, and sized.

Checks, each refusing with ``InvalidImage`` (a message safe to show):

1. before downloading: the declared content type is PNG, JPEG or WebP and the declared size is
   within the byte limit (``check_attachment``);
2. after downloading: the bytes are within the limit, Pillow recognises a PNG, JPEG or WebP
   file, it is a single still frame (of a multi-picture JPEG, the primary picture is used),
   and its header's width × height is at most ``INPUT_MAX_PIXELS``, all read from the header
   **before** the pixels are decoded, so a small file that would expand to gigabytes (a
   decompression bomb) is never decoded; Pillow's own ``DecompressionBombError`` / warning
   are refused the same way;
3. decoding: a truncated or damaged file is refused.

The picture is then turned upright (EXIF orientation), flattened onto white if it has
transparency, centre-cropped to the requested shape and resized to the model's size, and
encoded as PNG. The safety filter (``moderation.image``) checks that PNG before it is used.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from generators.options import InvalidRequest

CONTENT_TYPES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}
INPUT_MAX_PIXELS = 4096 * 4096  # decoded size limit: 64 MiB of RGBA at most
DEFAULT_MAX_BYTES = 8 * 1024 * 1024


class InvalidImage(InvalidRequest):
    """The member's picture cannot be used; the message says why and is safe to show."""


@dataclass(frozen=True)
class InitImage:
    """The checked picture, as PNG at the model's size, and the SHA-256 of the upload."""

    png: bytes
    width: int
    height: int
    source_sha256: str


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def check_attachment(content_type: str | None, size_bytes: int, max_bytes: int) -> None:
    """Refuse a non-image or oversized attachment from what Discord declares, before download."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind not in CONTENT_TYPES:
        shown = kind or "unknown"
        raise InvalidImage(f"the image must be a PNG, JPEG or WebP picture, got {shown}")
    _check_size(size_bytes, max_bytes)


def _check_size(size_bytes: int, max_bytes: int) -> None:
    if size_bytes > max_bytes:
        raise InvalidImage(
            f"the image is {_megabytes(size_bytes)}; the limit is {_megabytes(max_bytes)}"
        )


def _open(data: bytes) -> Image.Image:
    """Read the header only; refuse unknown formats, animations and decompression bombs."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=list(CONTENT_TYPES.values()))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise InvalidImage("the image is too large to decode safely") from err
    except (UnidentifiedImageError, OSError) as err:
        raise InvalidImage("the attachment is not a PNG, JPEG or WebP picture") from err
    width, height = image.size
    if width * height > INPUT_MAX_PIXELS:
        raise InvalidImage(
            f"the image is {width}×{height} pixels; the limit is {INPUT_MAX_PIXELS:,} pixels"
        )
    # A multi-picture JPEG (MPO: stereo cameras, phones' depth maps) is a still photo whose
    # first picture is the primary one; only that frame is decoded.
    if getattr(image, "n_frames", 1) > 1 and image.format != "MPO":
        raise InvalidImage("animated images are not supported; send a still picture")
    return image


def _decode(image: Image.Image) -> Image.Image:
    try:
        image.load()
        upright = ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError) as err:  # truncated or corrupt data
        raise InvalidImage("the image file is damaged and cannot be read") from err
    if upright.mode in ("RGBA", "LA") or "transparency" in upright.info:
        rgba = upright.convert("RGBA")
        flat = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(flat, rgba).convert("RGB")
    return upright.convert("RGB")


def load_init_image(data: bytes, *, width: int, height: int, max_bytes: int) -> InitImage:
    """The checked picture, centre-cropped and resized to ``width`` × ``height``, as PNG."""
    _check_size(len(data), max_bytes)
    with _open(data) as image:
        rgb = _decode(image)
    fitted = ImageOps.fit(rgb, (width, height), method=Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    fitted.save(buffer, format="PNG")
    return InitImage(buffer.getvalue(), width, height, hashlib.sha256(data).hexdigest())
