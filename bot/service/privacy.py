"""A member's right to be forgotten: delete everything Muse stored about them."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.store.storage import Storage


async def delete_user_data(storage: Storage, user_id: int) -> dict[str, int]:
    """Remove a member's jobs, outputs, votes and image files; returns what was deleted."""
    paths = await storage.user_image_paths(user_id)
    counts = await storage.delete_user_data(user_id)
    removed = 0
    for name in paths:
        path = Path(name)
        if path.exists():
            await asyncio.to_thread(path.unlink)
            removed += 1
    return {**counts, "images": removed}
