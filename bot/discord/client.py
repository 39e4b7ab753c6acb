"""The Discord client: wiring only.

Commands live in ``bot.discord.cog``, buttons in ``bot.discord.views``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.config import Settings
from bot.discord.cog import DrawCommands, TextCommands
from bot.discord.draw_buttons import DYNAMIC_ITEMS
from bot.discord.feedback_ui import (
    CompareButton,
    ConsentButton,
    EditButton,
    ForgetButton,
    PickButton,
    PrivacyCommands,
)
from bot.discord.flow import (
    MIN_EDIT_INTERVAL_S,
    Presenters,
    attachments,
    mark_delivered,
    parse_reply_handle,
    record_shown_post,
)
from bot.discord.i18n import MuseTranslator
from bot.discord.mod_commands import ModerationCommands
from bot.discord.options import check_option_types
from bot.discord.render import result_embed
from bot.discord.replies import NO_PINGS, Attachment, files_of, report_error
from bot.discord.reports import ReportButton, report_message
from bot.discord.review_cards import ModButton, PageButton, send_to_review
from bot.discord.review_sync import ReviewSync
from bot.discord.views import CancelButton, RegenerateButton, VoteButton, cancel_view, result_view
from bot.errors import UserError, Withheld
from bot.service.core import MuseService
from bot.service.types import Delivery
from bot.store.records import JobRecord

log = logging.getLogger(__name__)


class MuseTree(app_commands.CommandTree[Any]):
    """Routes every slash-command error to the one reporting helper."""

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        check_option_types(interaction)  # a wrong-typed value never reaches a command
        return True

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

    def __init__(
        self,
        service: MuseService,
        settings: Settings,
        *,
        sync: bool = True,
        min_edit_interval_s: float = MIN_EDIT_INTERVAL_S,
        **shards: Any,
    ) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents(),
            allowed_mentions=NO_PINGS,
            tree_cls=MuseTree,
            help_command=None,
            **shards,  # shard_count / shard_ids for ShardedMuseBot (bot.discord.shards)
        )
        self.service = service
        self.settings = settings
        self.presenters = Presenters(result_view, cancel_view, send_to_review, min_edit_interval_s)
        if settings.progress_interval_s < min_edit_interval_s:
            log.warning(
                "progress interval %.2f s is below Discord's edit rate (about 5 edits per 5 s "
                "per message); the placeholder is edited every %.1f s instead",
                settings.progress_interval_s,
                min_edit_interval_s,
            )
        self._resuming: set[asyncio.Task[None]] = set()
        self.sync_commands = sync
        self.review_sync = ReviewSync(self, service)

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
            PickButton, CompareButton, EditButton, ConsentButton, ForgetButton, *DYNAMIC_ITEMS,
        )  # fmt: skip
        await self.tree.set_translator(MuseTranslator())
        if self.sync_commands:
            await self._sync()
        await self._tell_interrupted()
        await self.review_sync.start()
        if self.service.undelivered:
            log.info(
                "delivering %d result(s) stored before a restart", len(self.service.undelivered)
            )
        for job in self.service.undelivered:  # stored before a restart, never shown
            self._spawn(self._redeliver(job), job)
        for job in self.service.resumable:
            self._spawn(self._resume(job), job)
        self.service.undelivered.clear()
        self.service.resumable.clear()

    def _spawn(self, work: Coroutine[Any, Any, None], job: JobRecord) -> None:
        task = asyncio.create_task(work, name=f"muse-resume-{job.id}")
        self._resuming.add(task)
        task.add_done_callback(self._resuming.discard)

    async def close(self) -> None:
        """Stop resumptions still in flight and the review sync, then disconnect."""
        await self.review_sync.close()
        for task in list(self._resuming):
            task.cancel()
        await asyncio.gather(*self._resuming, return_exceptions=True)
        await super().close()

    async def _resume(self, job: JobRecord) -> None:
        """Answer a job that a restart cut short in its original placeholder (or the channel)."""
        try:
            pending = await self.service.resume(job)
            await self._edit_quietly(job, "⏳ Muse restarted; finishing your request…")
            delivery = await self.service.finish(pending)
            if delivery.held_ids:
                await send_to_review(self, self.service, delivery)
            await self._show_resumed(job, delivery)
        except UserError as err:
            await self._answer_resumed(job, f"⚠️ {err}")

    async def _redeliver(self, job: JobRecord) -> None:
        """A result stored before a restart that Discord never accepted, shown now."""
        await self._show_resumed(job, await self.service.delivery(job))

    async def _show_resumed(self, job: JobRecord, delivery: Delivery) -> None:
        """A stored result, shown once: marked as delivered once Discord accepted it."""
        if delivery.withheld:
            await self._answer_resumed(job, f"⚠️ {Withheld(delivery.withheld)}")
            await mark_delivered(self.service, job.id)
            return
        message = await self._answer_resumed(job, delivery)
        if message is not None:
            await record_shown_post(self.service, job.id, message)

    async def _edit_quietly(self, job: JobRecord, text: str) -> None:
        app_id, token, message_id = parse_reply_handle(job.reply_handle or "")
        try:
            webhook = discord.Webhook.partial(app_id, token, client=self)
            await webhook.edit_message(message_id, content=text)
        except discord.HTTPException as err:  # the job still runs; the result finds its way
            log.info("could not mark message %s as resuming: %s", message_id, err)

    async def _answer_resumed(
        self, job: JobRecord, answer: Delivery | str
    ) -> discord.Message | None:
        """Show the result (or a notice) in the job's placeholder, or in its channel, mentioning
        the member, when the placeholder or its token is gone; None when neither works."""
        text = answer if isinstance(answer, str) else None
        shown: dict[str, Any] = {}  # a result's embed and buttons; a notice clears the ❌
        files: list[Attachment] = []
        if isinstance(answer, Delivery):
            shown = {"embed": result_embed(answer), "view": result_view(answer)}
            files = await asyncio.to_thread(attachments, answer)
        try:
            if job.reply_handle:
                app_id, token, message_id = parse_reply_handle(job.reply_handle)
                webhook = discord.Webhook.partial(app_id, token, client=self)
                return await webhook.edit_message(
                    message_id, content=text, attachments=files_of(files),
                    allowed_mentions=NO_PINGS, **({"view": None} | shown),
                )  # fmt: skip
        except discord.HTTPException as err:
            log.warning("could not answer resumed job %s in place: %s", job.id, err)
        if job.channel_id is None:
            return None
        mention = f"<@{job.user_id}>"
        try:
            return await self.get_partial_messageable(job.channel_id).send(
                f"{mention} {text}" if text else mention, files=files_of(files),
                allowed_mentions=NO_PINGS, **shown,
            )  # fmt: skip
        except discord.HTTPException as err:
            log.warning("could not answer resumed job %s in its channel: %s", job.id, err)
            return None

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
