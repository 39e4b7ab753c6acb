"""A member's right to be forgotten: delete what Muse stored (their dataset choice stays)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from bot.errors import Cancelled
from bot.service.pictures import picture_path
from bot.store.connection import JobGone
from bot.store.records import NewOutput
from bot.store.storage import Storage

FORGOTTEN = "🗑️ Your data was deleted while this request ran, so none of its results were kept."


async def delete_user_data(
    storage: Storage, user_id: int, image_dir: Path | None = None
) -> dict[str, int]:
    """Remove a member's jobs, outputs, votes and image files, and (with ``image_dir``) the
    pictures they gave /draw that nobody else's job uses; returns what was deleted."""
    gone = await storage.delete_user_data(user_id)
    images = await _unlink([Path(name) for name in gone.image_paths])
    if image_dir is None:
        return {**gone.counts, "images": images}
    kept = await _unlink([picture_path(image_dir, key) for key in gone.pictures])
    return {**gone.counts, "images": images, "pictures": kept}


class Cancels(Protocol):
    """What forgetting needs of the queue: stop one waiting or running job."""

    def cancel(self, job_id: str) -> bool: ...


async def forget_member(
    storage: Storage, queue: Cancels, user_id: int, image_dir: Path | None = None
) -> dict[str, int]:
    """/forget-me in the running bot: stop the member's waiting and running requests (no compute
    is spent on them), then delete their data; returns what was stopped and deleted."""
    stopped = sum(queue.cancel(job_id) for job_id in await storage.live_job_ids(user_id))
    counts = await delete_user_data(storage, user_id, image_dir)
    return {"stopped requests": stopped, **counts} if stopped else counts


async def cancelled_notice(storage: Storage, job_id: str) -> str:
    """What a member whose job was cancelled is told (forgetting them cancels it too)."""
    return "❌ Cancelled." if await storage.get_job(job_id) is not None else FORGOTTEN


async def store_outputs(
    storage: Storage, job_id: str, outputs: Sequence[NewOutput], now: float
) -> list[int]:
    """Store a finished job's outputs; when its member was forgotten while it ran, delete the
    image files it wrote and tell them (``Cancelled``) instead."""
    try:
        return await storage.add_outputs(job_id, outputs, now)
    except JobGone as err:
        await _unlink([Path(out.image_path) for out in outputs if out.image_path])
        raise Cancelled(FORGOTTEN) from err


async def _unlink(paths: list[Path]) -> int:
    removed = 0
    for path in paths:
        if path.exists():
            await asyncio.to_thread(path.unlink)
            removed += 1
    return removed
