"""What /draw's buttons do to a picture Muse drew: the operations and the pictures they start from.

Each operation turns one parent picture (the PNG Muse stored) into rows for the pipeline:

- ``vary-subtle`` / ``vary-strong`` (V1–V4, Remix): image-to-image of the parent with new seeds
  at a low or high strength;
- ``upscale`` (U1–U4): a "hires fix": the parent resized ×2 (Lanczos), then image-to-image at
  a low strength, which adds detail at the new size;
- ``region-<name>`` (Vary Region): inpainting of a preset region (centre, left, right, top,
  bottom), with a mask that is white where the picture is redrawn;
- ``zoom`` (Zoom out ×1.5): outpainting: the parent shrunk to 1/1.5 in the middle of a canvas
  of its own size, the border (filled with a blurred stretch of the parent, so colours carry on)
  redrawn by inpainting.

Pure Pillow, no pipeline here; ``generators.image`` runs the rows.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFilter

from generators.options import InvalidRequest

SUBTLE, STRONG, UPSCALE_STRENGTH, REDRAW_STRENGTH = 0.35, 0.7, 0.3, 0.95
UPSCALE_FACTOR, ZOOM_FACTOR = 2, 1.5
MAX_SIDE = 2048  # an upscale that would pass this is refused
REGIONS = ("centre", "left", "right", "top", "bottom")
OPERATIONS = ("vary-subtle", "vary-strong", "upscale", "zoom", *(f"region-{r}" for r in REGIONS))
SEAM_PX = 8  # the redrawn border reaches this far into the kept picture, to hide the seam


@dataclass(frozen=True)
class EditPlan:
    """How an operation runs: the picture to start from, its mask, size, strength, samples."""

    mode: str  # "img2img", "upscale" or "inpaint"
    picture: bytes
    mask: bytes | None
    width: int
    height: int
    strength: float
    samples: int


def check_operation(operation: str) -> None:
    if operation not in OPERATIONS:
        raise InvalidRequest(f"operation must be one of {', '.join(OPERATIONS)}, got {operation!r}")


def describe(operation: str) -> str:
    """How the operation is named to members and in the provenance."""
    if operation.startswith("region-"):
        return f"vary region ({operation.removeprefix('region-')})"
    names = {"vary-subtle": "vary (subtle)", "vary-strong": "vary (strong)"}
    return names.get(
        operation, {"upscale": "upscale ×2", "zoom": "zoom out ×1.5"}.get(operation, "")
    )


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _open(png: bytes) -> Image.Image:
    with Image.open(io.BytesIO(png)) as image:
        return image.convert("RGB")


def region_box(width: int, height: int, region: str) -> tuple[int, int, int, int]:
    """The (left, top, right, bottom) box of a preset region: a half, or the middle half."""
    boxes = {
        "centre": (width // 4, height // 4, width * 3 // 4, height * 3 // 4),
        "left": (0, 0, width // 2, height),
        "right": (width // 2, 0, width, height),
        "top": (0, 0, width, height // 2),
        "bottom": (0, height // 2, width, height),
    }
    if region not in boxes:
        raise InvalidRequest(f"region must be one of {', '.join(REGIONS)}, got {region!r}")
    return boxes[region]


def region_mask(width: int, height: int, region: str) -> bytes:
    """A mask PNG, white (redrawn) inside the region, black elsewhere."""
    mask = Image.new("L", (width, height), 0)
    ImageDraw.Draw(mask).rectangle(region_box(width, height, region), fill=255)
    return _png(mask)


def zoom_canvas(picture: bytes, factor: float = ZOOM_FACTOR) -> tuple[bytes, bytes]:
    """The parent shrunk by ``factor`` in the middle of a canvas of its size, and the mask of
    the border to redraw (reaching ``SEAM_PX`` into the kept picture)."""
    parent = _open(picture)
    width, height = parent.size
    inner = (max(1, round(width / factor)), max(1, round(height / factor)))
    canvas = parent.resize((width, height)).filter(ImageFilter.GaussianBlur(radius=width / 16))
    left, top = (width - inner[0]) // 2, (height - inner[1]) // 2
    canvas.paste(parent.resize(inner, Image.Resampling.LANCZOS), (left, top))
    mask = Image.new("L", (width, height), 255)
    keep = (left + SEAM_PX, top + SEAM_PX, left + inner[0] - SEAM_PX, top + inner[1] - SEAM_PX)
    ImageDraw.Draw(mask).rectangle(keep, fill=0)
    return _png(canvas), _png(mask)


def plan(operation: str, picture: bytes, samples: int, multiple: int) -> EditPlan:
    """How ``operation`` runs on the parent ``picture`` (PNG)."""
    check_operation(operation)
    width, height = _open(picture).size
    if operation.startswith("vary-"):
        strength = SUBTLE if operation == "vary-subtle" else STRONG
        return EditPlan("img2img", picture, None, width, height, strength, samples)
    if operation == "upscale":
        big_w, big_h = (_fit(side * UPSCALE_FACTOR, multiple) for side in (width, height))
        if max(big_w, big_h) > MAX_SIDE:
            raise InvalidRequest(f"this picture is already as large as Muse draws ({MAX_SIDE} px)")
        return EditPlan("upscale", picture, None, big_w, big_h, UPSCALE_STRENGTH, 1)
    if operation == "zoom":
        canvas, mask = zoom_canvas(picture)
        return EditPlan("inpaint", canvas, mask, width, height, REDRAW_STRENGTH, samples)
    mask = region_mask(width, height, operation.removeprefix("region-"))
    return EditPlan("inpaint", picture, mask, width, height, REDRAW_STRENGTH, samples)


def _fit(side: int, multiple: int) -> int:
    return max(multiple, side // multiple * multiple)
