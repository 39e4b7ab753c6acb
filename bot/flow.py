"""The one sequence every generation follows in Discord, from a slash command or a button:

defer (thinking) → record and release the job → show queue position → result or error
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import discord

from bot.render import progress_text, result_embed
from bot.replies import send_result, show_progress
from bot.service import Delivery, MuseService, PendingJob

log = logging.getLogger(__name__)

ViewFactory = Callable[[Delivery], discord.ui.View]


async def run_job(
    interaction: discord.Interaction[Any],
    service: MuseService,
    pending: PendingJob,
    progress_interval_s: float,
    view_factory: ViewFactory,
) -> None:
    """Acknowledge at once, then deliver the admitted job's result in place of the placeholder."""
    try:
        await interaction.response.defer(thinking=True)
    except discord.HTTPException as err:  # too late to acknowledge: nobody will see a result
        log.warning("could not defer interaction %s: %s", interaction.id, err)
        await service.abandon(pending)
        return
    await service.start(pending)
    delivery = await _await_with_progress(interaction, service, pending, progress_interval_s)
    await send_result(interaction, embed=result_embed(delivery), view=view_factory(delivery))


async def _await_with_progress(
    interaction: discord.Interaction[Any],
    service: MuseService,
    pending: PendingJob,
    interval_s: float,
) -> Delivery:
    """Wait for the job, editing the placeholder when its position or estimate changes."""
    task = asyncio.ensure_future(service.finish(pending))
    shown = ""
    while True:
        status = service.progress(pending)
        if status is not None:
            text = progress_text(*status)
            if text != shown:
                await show_progress(interaction, text)
                shown = text
        done, _ = await asyncio.wait({task}, timeout=interval_s)
        if done:
            return task.result()
