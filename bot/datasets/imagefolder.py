"""The image-folder layout for draws: PNG copies beside ``metadata.jsonl``, mentions scrubbed.

Each format writes its draw rows with a ``file_name`` (DPO: ``chosen_file_name`` and
``rejected_file_name``) naming a copy made here, so ``datasets.load_dataset("imagefolder")``
loads the folder as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.datasets.items import Item
from bot.datasets.pseudonyms import MENTION_BYTES, Pseudonyms


class Images:
    """PNG files copied into the export folder once each, mentions scrubbed from their text."""

    def __init__(self, folder: Path, names: Pseudonyms) -> None:
        self.folder = folder
        self.names = names

    def file_name(self, item: Item) -> str | None:
        """The copy's name inside the folder, or None when the source file is gone."""
        name = f"{item.output_id}.png"
        target = self.folder / name
        if target.exists():
            return name
        source = Path(item.image_path or "")
        if not item.image_path or not source.is_file():
            return None
        data = source.read_bytes()
        if MENTION_BYTES.search(data):
            data = _scrub_png(data, self.names)
        target.write_bytes(data)
        return name


def _scrub_png(data: bytes, names: Pseudonyms) -> bytes:
    """Re-encode a PNG whose text chunks mention a member, with the mentions hashed."""
    import io

    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    with Image.open(io.BytesIO(data)) as image:
        info = PngInfo()
        text: dict[str, Any] = getattr(image, "text", {})
        for key, value in text.items():
            info.add_itxt(key, names.scrub(str(value)))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()
