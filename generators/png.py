"""PNG bytes with text chunks, shared by the local pipeline (``generators.image``) and the
remote picture engine's client (``generators.remote_image``); no torch here."""

from __future__ import annotations

import io
from importlib.metadata import PackageNotFoundError, version

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from generators.provenance import AI_FLAG_KEY


def muse_version() -> str:
    try:
        return version("muse-bot")
    except PackageNotFoundError:
        return "dev"


def encode_png(image: Image.Image, metadata: dict[str, str]) -> bytes:
    """PNG bytes with ``metadata`` as text chunks (deterministic for the same pixels)."""
    info = PngInfo()
    for key, value in metadata.items():
        if key == AI_FLAG_KEY:
            info.add_text(key, value)  # tEXt (iTXt if the model id is not Latin-1)
        else:
            info.add_itxt(key, value)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()
