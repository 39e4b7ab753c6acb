"""The Discord client: wiring only. Commands live in ``bot.cog``, buttons in ``bot.views``."""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.cog import DrawCommands, TextCommands
from bot.config import Settings
from bot.feedback_ui import (
    CompareButton,
    ConsentButton,
    EditButton,
    ForgetButton,
    PickButton,
    PrivacyCommands,
)
from bot.flow import Presenters
from bot.i18n import MuseTranslator
from bot.moderation_ui import (
    ModButton,
    ModerationCommands,
    PageButton,
    ReportButton,
    report_message,
    send_to_review,
)
from bot.replies import NO_PINGS, report_error
from bot.service import MuseService
from bot.views import CancelButton, RegenerateButton, VoteButton, cancel_view, result_view

log = logging.getLogger(__name__)


class MuseTree(app_commands.CommandTree[Any]):
    """Routes every slash-command error to the one reporting helper."""

    async def on_error(
        self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        await report_error(interaction, error)


def intents() -> discord.Intents:
    """Slash commands and buttons need no privileged intents, only guild metadata."""
    wanted = discord.Intents.none()
    wanted.guilds = True
    return wanted


class MuseBot(commands.Bot):
    """Holds the service and settings that commands and buttons reach through ``client``."""

    def __init__(self, service: MuseService, settings: Settings, *, sync: bool = True) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents(),
            allowed_mentions=NO_PINGS,
            tree_cls=MuseTree,
            help_command=None,
        )
        self.service = service
        self.settings = settings
        self.presenters = Presenters(result_view, cancel_view, send_to_review)
        self.sync_commands = sync

    async def setup_hook(self) -> None:
        await self.add_cog(TextCommands(self.service, self.settings, self.presenters))
        if self.service.image_backend is not None:
            await self.add_cog(DrawCommands(self.service, self.settings, self.presenters))
        await self.add_cog(ModerationCommands(self.service))
        await self.add_cog(PrivacyCommands())
        report = app_commands.ContextMenu(name="Report to moderators", callback=report_message)
        report.guild_only = True
        self.tree.add_command(report)
        self.add_dynamic_items(
            VoteButton, RegenerateButton, CancelButton, ReportButton, ModButton, PageButton,
            PickButton, CompareButton, EditButton, ConsentButton, ForgetButton,
        )  # fmt: skip
        await self.tree.set_translator(MuseTranslator())
        if self.sync_commands:
            await self._sync()
        await self._tell_interrupted()

    async def _tell_interrupted(self) -> None:
        """Jobs a restart cut short get a channel message with a 🔁 Retry button, never silence."""
        for job in self.service.interrupted:
            if job.channel_id is None:
                continue
            view = discord.ui.View(timeout=None)
            view.add_item(RegenerateButton(job.id, "Retry"))
            try:
                await self.get_partial_messageable(job.channel_id).send(
                    f"⚠️ <@{job.user_id}> Muse restarted before your {job.kind} was finished. "
                    "Press 🔁 Retry to ask again.",
                    view=view,
                    allowed_mentions=NO_PINGS,
                )
            except discord.HTTPException as err:
                log.warning(
                    "could not tell %s about interrupted job %s: %s", job.user_id, job.id, err
                )
        self.service.interrupted.clear()

    async def _sync(self) -> None:
        if self.settings.guild_id:
            guild = discord.Object(self.settings.guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d command(s) to guild %s", len(synced), self.settings.guild_id)
        else:
            synced = await self.tree.sync()
            log.info("synced %d global command(s); they may take a while to appear", len(synced))
