"""A member's right to be forgotten: delete everything Muse stored about them."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.service.pictures import picture_path
from bot.store.storage import Storage


async def delete_user_data(
    storage: Storage, user_id: int, image_dir: Path | None = None
) -> dict[str, int]:
    """Remove a member's jobs, outputs, votes and image files, and (with ``image_dir``) the
    pictures they gave /draw that nobody else's job uses; returns what was deleted."""
    paths = [Path(name) for name in await storage.user_image_paths(user_id)]
    pictures = await storage.user_only_pictures(user_id) if image_dir else []
    counts = await storage.delete_user_data(user_id)
    images = await _unlink(paths)
    if image_dir is None:
        return {**counts, "images": images}
    kept = await _unlink([picture_path(image_dir, key) for key in pictures])
    return {**counts, "images": images, "pictures": kept}


async def _unlink(paths: list[Path]) -> int:
    removed = 0
    for path in paths:
        if path.exists():
            await asyncio.to_thread(path.unlink)
            removed += 1
    return removed
