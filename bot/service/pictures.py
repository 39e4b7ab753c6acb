"""A member's picture for /draw: checked, judged by the image filter, and kept for rerolls.

The adapter calls ``check_attachment`` with what the upload declares before downloading it,
then ``accept`` with the bytes (``muse try draw --image`` does the same with a file, through
``check_upload`` before the models load). ``accept`` refuses anything
``generators.init_image`` refuses, and anything the image filter does not allow, as a private
``UserError``; otherwise it stores the picture (at the model's size, as PNG) under
``MUSE_IMAGE_DIR/inputs`` and returns the request with the picture's key, which is stored with
the job so 🔁 and restarts can use it again. The file is written only once the job is recorded
(``keep``, from ``MuseService.start``): a request refused before then leaves no picture that no
job refers to. ``/forget-me`` deletes the pictures only that member's requests use.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from pathlib import Path

from bot.config import Settings
from bot.errors import Refused, UserError
from bot.service.types import Rows
from generators.init_image import InvalidImage, check_attachment, load_init_image
from generators.requests import DrawRequest, Request
from generators.samples import DrawRow
from moderation.base import ImageFilter
from moderation.policy import Strictness, apply_image_policy

PICTURE_DIR = "inputs"
FRESH_KEPT = 8  # accepted pictures whose request was not prepared yet (refused ones drop out)


def check_upload(content_type: str | None, size_bytes: int, max_bytes: int) -> None:
    """Refuse a non-image or oversized upload (from what it declares) before it is read."""
    try:
        check_attachment(content_type, size_bytes, max_bytes)
    except InvalidImage as err:
        raise UserError(f"That picture cannot be used: {err}.") from err


def picture_path(image_dir: Path, key: str) -> Path:
    """Where the picture with ``key`` (``sha256-WxH``) is kept."""
    return image_dir / PICTURE_DIR / key[:2] / f"{key}.png"


class Pictures:
    """Members' pictures for image-to-image; ``dimensions`` gives the model's size for a shape."""

    def __init__(
        self,
        settings: Settings,
        image_filter: ImageFilter | None,
        dimensions: Callable[[DrawRequest], tuple[int, int]],
    ) -> None:
        self.settings = settings
        self.image_filter = image_filter
        self.dimensions = dimensions
        self._fresh: dict[str, bytes] = {}  # accepted, not yet read by ``prepare``

    def check_attachment(self, content_type: str | None, size_bytes: int) -> None:
        """Refuse a non-image or oversized upload before it is downloaded."""
        check_upload(content_type, size_bytes, self.settings.image_input_max_bytes)

    async def accept(
        self, data: bytes, request: DrawRequest, strictness: Strictness
    ) -> DrawRequest:
        """``request`` with the checked, filtered and stored picture's key."""
        if self.image_filter is None:
            raise UserError("Drawing is turned off on this Muse.")
        width, height = self.dimensions(request)
        limit = self.settings.image_input_max_bytes
        try:
            picture = await asyncio.to_thread(
                load_init_image, data, width=width, height=height, max_bytes=limit
            )
        except InvalidImage as err:
            raise UserError(f"That picture cannot be used: {err}.") from err
        standard = (self.settings.image_review_at, self.settings.image_block_at)
        verdict = apply_image_policy(
            await asyncio.to_thread(self.image_filter.check, picture.png), strictness, standard
        )
        if not verdict.allowed:
            raise Refused("Your picture was refused by the safety filter, so Muse did not use it.")
        key = f"{picture.source_sha256}-{width}x{height}"
        self._fresh[key] = picture.png
        while len(self._fresh) > FRESH_KEPT:
            del self._fresh[next(iter(self._fresh))]
        return dataclasses.replace(request, picture=key)

    def read(self, key: str) -> bytes:
        """The picture's PNG bytes: just accepted, or stored (a small file, read when a job's
        rows are built)."""
        if (fresh := self._fresh.pop(key, None)) is not None:
            return fresh
        try:
            return picture_path(self.settings.image_dir, key).read_bytes()
        except OSError as err:
            raise UserError(
                "The picture for this request is no longer stored; attach it again."
            ) from err

    async def keep(self, request: Request, rows: Rows) -> None:
        """Store a recorded job's picture (from its rows) for rerolls and restarts."""
        first = rows[0]
        if isinstance(request, DrawRequest) and request.picture and isinstance(first, DrawRow):
            if first.init_png is not None:
                path = picture_path(self.settings.image_dir, request.picture)
                await asyncio.to_thread(_keep, path, first.init_png)


def _keep(path: Path, png: bytes) -> None:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
