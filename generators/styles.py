"""The /draw style presets: words appended to the prompt and to the negative prompt."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StylePreset:
    """A /draw style: words appended to the prompt and a negative prompt."""

    suffix: str
    negative: str


STYLE_PRESETS: dict[str, StylePreset] = {
    "none": StylePreset("", ""),
    "photo": StylePreset(
        "photograph, natural light, 35mm, sharp focus, highly detailed",
        "painting, drawing, illustration, cartoon, blurry, deformed",
    ),
    "anime": StylePreset(
        "anime style, cel shading, vibrant colors, clean line art",
        "photo, realistic, 3d render, blurry, deformed",
    ),
    "watercolor": StylePreset(
        "watercolor painting, soft washes, paper texture, delicate",
        "photo, 3d render, harsh lines, oversaturated",
    ),
    "ink wash 水墨": StylePreset(
        "traditional Chinese ink wash painting, shuimo, monochrome ink, rice paper, brush strokes",
        "photo, color, 3d render, western oil painting",
    ),
    "oil painting": StylePreset(
        "oil painting, impasto, rich colors, canvas texture, classical",
        "photo, 3d render, flat colors, blurry",
    ),
    "pixel art": StylePreset(
        "pixel art, 16-bit, crisp pixels, limited palette",
        "photo, blurry, smooth gradients, realistic",
    ),
    "3d render": StylePreset(
        "3d render, octane, soft studio lighting, detailed materials",
        "photo, painting, flat, blurry",
    ),
    "sketch": StylePreset(
        "pencil sketch, graphite, hatching, on white paper",
        "color, photo, painting, blurry",
    ),
    "poster": StylePreset(
        "flat vector poster, bold shapes, graphic design, limited palette",
        "photo, realistic, noisy, blurry",
    ),
}
