"""⚠ Reports: any member can send a posted result to the moderators, from its button or
the "Report to moderators" message context menu; a modal asks for an optional reason.

    muse:report:<job_id>                   ⚠ Report on a posted result (opens a modal)
"""

from __future__ import annotations

import re
from typing import Any

import discord

from bot.discord.buttons import MuseButton
from bot.discord.context import app_of
from bot.discord.replies import NO_PINGS, report_error
from bot.discord.review_cards import hide_post, post_card
from bot.errors import NotAllowed, UserError

REPORT_TEMPLATE = r"muse:report:(?P<job_id>[0-9a-f]{16})"


class ReportModal(discord.ui.Modal, title="Report to moderators"):
    """An optional reason; the result joins the review queue."""

    reason: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label="What is wrong with it? (optional)",
        style=discord.TextStyle.paragraph,
        required=False,
        max_length=500,
    )

    def __init__(self, job_id: str) -> None:
        super().__init__(timeout=600)
        self.job_id = job_id

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        service = app_of(interaction).service
        result = await service.reviews.report(
            self.job_id, interaction.user.id, self.reason.value or "", interaction.guild_id
        )
        await interaction.response.send_message(
            "Thanks, the moderators will take a look.", ephemeral=True, allowed_mentions=NO_PINGS
        )
        if result.hidden and result.post is not None:
            await hide_post(interaction.client, result.post)
        for item in result.items:
            if item.card is None:
                await post_card(interaction.client, service, item)

    async def on_error(  # type: ignore[override]  # Modal's own signature has no item
        self, interaction: discord.Interaction[Any], error: Exception, /
    ) -> None:
        await report_error(interaction, error)


async def open_report(interaction: discord.Interaction[Any], job_id: str | None) -> None:
    """Check the report is possible, then ask for a reason."""
    service = app_of(interaction).service
    job = await service.storage.get_job(job_id) if job_id else None
    if job is None or job.guild_id != interaction.guild_id:
        raise UserError("That message is not a Muse result in this server.")
    if job.user_id == interaction.user.id:
        raise NotAllowed("You can't report your own result; ask a moderator instead.")
    await interaction.response.send_modal(ReportModal(job.id))


class ReportButton(MuseButton, template=REPORT_TEMPLATE):
    """⚠ Report: any member can send a posted result to the moderators."""

    def __init__(self, job_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.secondary,
                emoji="⚠️",
                label="Report",
                custom_id=f"muse:report:{job_id}",
            )
        )
        self.job_id = job_id

    @classmethod
    def from_match(cls, match: re.Match[str]) -> ReportButton:
        return cls(match["job_id"])

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        await open_report(interaction, self.job_id)


async def report_message(interaction: discord.Interaction[Any], message: discord.Message) -> None:
    """The "Report to moderators" message context menu."""
    job_id = await app_of(interaction).service.reviews.job_for_message(message.id)
    await open_report(interaction, job_id)
