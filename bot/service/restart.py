"""What a previous process left behind, sorted at start: jobs to run again, jobs to close as
interrupted, and finished results that never reached their member."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.store.records import JobRecord
from bot.store.storage import Storage

RESUME_WINDOW_S = 12 * 60  # interaction tokens last 15 minutes; leave time to generate


@dataclass
class Leftovers:
    """``resumable``: cut short, still answerable, run again; ``interrupted``: cut short and
    too old (closed as failed); ``undelivered``: done, but Discord never had the result."""

    resumable: list[JobRecord] = field(default_factory=list)
    interrupted: list[JobRecord] = field(default_factory=list)
    undelivered: list[JobRecord] = field(default_factory=list)


async def sort_leftovers(storage: Storage, now: float) -> Leftovers:
    """Sort the stored jobs a previous process did not finish answering; closes those that
    cannot be resumed as failed."""
    left = Leftovers(undelivered=await storage.undelivered_results())
    for job in await storage.unfinished_jobs():
        if job.reply_handle and now - job.created_at < RESUME_WINDOW_S:
            left.resumable.append(job)
        else:
            await storage.finish_job(job.id, "failed", now, "interrupted by a restart")
            left.interrupted.append(job)
    return left
