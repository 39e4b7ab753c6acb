"""The one sequence every generation follows in Discord, from a slash command or a button:

defer (thinking) → record and release the job → show queue position and progress,
with ❌ Cancel → the result (with its images) or an error
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import discord

from bot.discord.render import progress_text, result_embed
from bot.discord.replies import Attachment, send_result, show_progress
from bot.errors import Cancelled, Interrupted, Withheld
from bot.service.core import MuseService
from bot.service.types import Delivery, PendingJob
from generators.queue import current_jobs

log = logging.getLogger(__name__)


# Discord lets a bot edit one message about 5 times per 5 s; progress and streamed text edits
# of the placeholder are never closer together than this, whatever MUSE_PROGRESS_INTERVAL_S says.
MIN_EDIT_INTERVAL_S = 1.0


@dataclass(frozen=True)
class Presenters:
    """How results look and where held ones go; supplied by the client (breaks import cycles).
    ``min_edit_interval_s`` is the floor of the placeholder's edit interval."""

    result_view: Callable[[Delivery], discord.ui.View]
    cancel_view: Callable[[str], discord.ui.View]
    send_to_review: Callable[[discord.Client, MuseService, Delivery], Awaitable[None]]
    min_edit_interval_s: float = MIN_EDIT_INTERVAL_S


def edit_interval_s(progress_interval_s: float, floor_s: float = MIN_EDIT_INTERVAL_S) -> float:
    """Seconds between edits of a placeholder: the configured interval, at least ``floor_s``."""
    return max(progress_interval_s, floor_s)


async def run_job(
    interaction: discord.Interaction[Any],
    service: MuseService,
    pending: PendingJob,
    progress_interval_s: float,
    show: Presenters,
    callback: Any = None,
) -> None:
    """Acknowledge at once (unless the caller already deferred, with ``callback``), then
    deliver the admitted job's result in place of the placeholder."""
    context = current_jobs.set(pending.record.id)  # every log line below names the job
    interval_s = edit_interval_s(progress_interval_s, show.min_edit_interval_s)
    try:
        async with service.delivering():
            await _run_job(interaction, service, pending, interval_s, show, callback)
    finally:
        current_jobs.reset(context)


async def _run_job(
    interaction: discord.Interaction[Any],
    service: MuseService,
    pending: PendingJob,
    progress_interval_s: float,
    show: Presenters,
    callback: Any,
) -> None:
    try:
        callback = callback or await interaction.response.defer(thinking=True)
    except discord.HTTPException as err:  # too late to acknowledge: nobody will see a result
        log.warning("could not defer interaction %s: %s", interaction.id, err)
        await service.abandon(pending)
        return
    await service.start(pending, reply_handle=reply_handle(interaction, callback))
    waiting_view = show.cancel_view(pending.record.id)
    try:
        delivery = await _await_with_progress(
            interaction, service, pending, progress_interval_s, waiting_view
        )
    except (Cancelled, Interrupted) as err:  # Interrupted: the next start resumes the job
        await show_progress(interaction, str(err), None)
        return
    if delivery.held_ids:
        await show.send_to_review(interaction.client, service, delivery)
    if delivery.withheld:
        await mark_delivered(service, delivery.job_id)  # the notice is all there is to show
        raise Withheld(delivery.withheld)
    files = await asyncio.to_thread(attachments, delivery)
    embed, view = result_embed(delivery), show.result_view(delivery)
    message = await send_result(interaction, embed=embed, view=view, attachments=files)
    if message is not None:
        await record_shown_post(service, delivery.job_id, message)


async def record_shown_post(service: MuseService, job_id: str, message: discord.Message) -> None:
    """Note that Discord accepted the result (so no restart delivers it again) and where it is
    shown (for reports). The member already has it, so a failure here is only logged:
    reporting it would replace the shown result with an error."""
    await asyncio.shield(mark_delivered(service, job_id))  # a stop now must not undo it
    try:
        await service.reviews.record_post(job_id, message.channel.id, message.id)
    except sqlite3.Error:
        log.exception("result of job %s is shown but its message was not recorded", job_id)


async def mark_delivered(service: MuseService, job_id: str) -> None:
    """The job's answer reached its member; a failure to note it is only logged."""
    try:
        await service.storage.mark_delivered(job_id, service.clock())
    except sqlite3.Error:
        log.exception("result of job %s is shown but not marked as delivered", job_id)


def reply_handle(interaction: discord.Interaction[Any], callback: Any) -> str | None:
    """``app:token:message`` of the placeholder, so a restarted Muse can still answer there
    (the token lives 15 minutes and is cleared from the database once the result is shown)."""
    message_id = getattr(callback, "message_id", None)
    if message_id is None:
        return None
    return f"{interaction.application_id}:{interaction.token}:{message_id}"


def parse_reply_handle(handle: str) -> tuple[int, str, int]:
    app_id, token, message_id = handle.split(":")
    return int(app_id), token, int(message_id)


def attachments(delivery: Delivery) -> list[Attachment]:
    """The shown images as (PNG bytes, file name), numbered like their vote buttons."""
    found = []
    for out in delivery.outputs:
        if out.image_path and Path(out.image_path).is_file():
            name = f"muse-{delivery.job_id}-{out.candidate + 1}.png"
            found.append((Path(out.image_path).read_bytes(), name))
    return found


async def _await_with_progress(
    interaction: discord.Interaction[Any],
    service: MuseService,
    pending: PendingJob,
    interval_s: float,
    waiting_view: discord.ui.View,
) -> Delivery:
    """Wait for the job, editing the placeholder at most once per ``interval_s`` when its
    position, progress or streamed text changes."""
    task = asyncio.ensure_future(service.finish(pending))
    shown = ""
    while True:
        status = service.progress(pending)
        if status is not None:
            text = progress_text(status, pending.record.kind)
            if text != shown:
                await show_progress(interaction, text, waiting_view)
                shown = text
        done, _ = await asyncio.wait({task}, timeout=interval_s)
        if done:
            return task.result()
