"""Moderator review in Discord: review cards, /review, ⚠ reports, /modlog and /muse-settings.

    muse:mod:<review_id>:ok|no:c|l<page>   ✅/⛔ on a review card (c) or a /review page (l)
    muse:reviews:<page>                    ◀/▶ paging of /review
    muse:report:<job_id>                   ⚠ Report on a posted result (opens a modal)

Every moderator action is checked here, server-side, whatever Discord's command visibility says.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import tempfile
from pathlib import Path
from typing import Any, cast

import discord
from discord import app_commands
from discord.app_commands import Choice, Range
from discord.ext import commands

from bot.datasets.export import export
from bot.datasets.filters import ExportFilters
from bot.datasets.formats import FORMATS
from bot.discord.buttons import MuseButton
from bot.discord.context import HasService, app_of
from bot.discord.flow import attachments
from bot.discord.render import result_embed
from bot.discord.replies import NO_PINGS, files_of, report_error
from bot.errors import NotAllowed, UserError
from bot.review.reviews import GuildSettings, ReviewItem
from bot.service.core import MuseService
from moderation.policy import Strictness

log = logging.getLogger(__name__)

MOD_TEMPLATE = r"muse:mod:(?P<review_id>\d+):(?P<action>ok|no):(?P<where>c|l)(?P<page>\d*)"
PAGE_TEMPLATE = r"muse:reviews:(?P<page>\d+)"
REPORT_TEMPLATE = r"muse:report:(?P<job_id>[0-9a-f]{16})"
PER_PAGE = 4
HIDDEN_TEXT = "🚫 Hidden after reports from several members, pending moderator review."


def is_moderator(interaction: discord.Interaction[Any], guild: GuildSettings) -> bool:
    """Manage Messages in this channel, or the guild's configured moderator role."""
    if interaction.guild_id is None:
        return False
    if interaction.permissions.manage_messages:
        return True
    roles = getattr(interaction.user, "roles", [])
    return guild.mod_role_id is not None and any(r.id == guild.mod_role_id for r in roles)


def require_moderator(interaction: discord.Interaction[Any]) -> GuildSettings:
    guild = app_of(interaction).service.reviews.guilds.get(interaction.guild_id)
    if not is_moderator(interaction, guild):
        raise NotAllowed("Only moderators (Manage Messages or the moderator role) can do that.")
    return guild


def require_admin(interaction: discord.Interaction[Any]) -> None:
    if interaction.guild_id is None or not interaction.permissions.manage_guild:
        raise NotAllowed("Only server admins (Manage Server) can change Muse's settings.")


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def card_embed(item: ReviewItem) -> discord.Embed:
    """What a moderator needs: the output (spoilered), prompt, verdict, requester, reports."""
    why = "held by the safety filter" if item.source == "filter" else "reported by members"
    embed = discord.Embed(title=f"🛡️ Review #{item.review_id} · {item.kind} · {why}")
    if item.text:
        embed.description = f"||{_fit(item.text, 3900)}||"
    verdict = item.verdict
    categories = ", ".join(verdict.get("categories", [])) or "—"
    scores = ", ".join(f"{k} {v:.2f}" for k, v in verdict.get("scores", {}).items()) or "—"
    embed.add_field(name="requested by", value=f"<@{item.requester_id}>", inline=True)
    embed.add_field(name="channel", value=f"<#{item.channel_id}>", inline=True)
    embed.add_field(name="filter decision", value=str(verdict.get("decision", "—")), inline=True)
    embed.add_field(name="categories", value=categories, inline=True)
    embed.add_field(name="scores", value=_fit(scores, 1024), inline=True)
    matched = ", ".join(verdict.get("matched", []))
    if matched:
        embed.add_field(name="matched", value=f"||{_fit(matched, 1000)}||", inline=True)
    embed.add_field(name="prompt", value=_fit(item.prompt, 1024) or "—", inline=False)
    if item.reports:
        lines = [f"<@{user}>: {reason or '(no reason)'}" for user, reason in item.reports]
        embed.add_field(name=f"reports ({len(lines)})", value=_fit("\n".join(lines), 1024))
    if item.status != "pending":
        mark = "✅ approved" if item.status == "approved" else "⛔ rejected"
        embed.add_field(name="decision", value=f"{mark} by <@{item.decided_by}>", inline=False)
    return embed


def card_view(item: ReviewItem) -> discord.ui.View | None:
    if item.status != "pending":
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(ModButton(item.review_id, approve=True, where="c"))
    view.add_item(ModButton(item.review_id, approve=False, where="c"))
    return view


def _card_files(item: ReviewItem) -> list[discord.File]:
    if not item.image_path or not Path(item.image_path).is_file():
        return []
    name = f"SPOILER_review-{item.review_id}.png"  # spoiler-tagged for moderators
    return [discord.File(item.image_path, filename=name)]


async def send_to_review(client: discord.Client, service: MuseService, delivery: Any) -> None:
    """Post a review card for each held output that has none yet."""
    for output_id in delivery.held_ids:
        item = await service.reviews.item_for_output(output_id)
        if item is not None and item.card is None and item.status == "pending":
            await post_card(client, service, item)


async def post_card(client: discord.Client, service: MuseService, item: ReviewItem) -> None:
    guild = service.reviews.guilds.get(item.guild_id)
    channel_id = guild.mod_channel_id or service.settings.mod_channel_id
    if not channel_id:
        log.warning("review %s is waiting but no moderator channel is set", item.review_id)
        return
    try:
        message = await client.get_partial_messageable(channel_id).send(
            embed=card_embed(item),
            view=card_view(item) or discord.utils.MISSING,
            files=await asyncio.to_thread(_card_files, item),
            allowed_mentions=NO_PINGS,
        )
    except discord.HTTPException as err:
        log.warning("could not post review card %s: %s", item.review_id, err)
        return
    await service.reviews.set_card(item.review_id, channel_id, message.id)


async def publish(client: discord.Client, service: MuseService, item: ReviewItem) -> None:
    """After approval: show the job's visible outputs where it was requested."""
    job = await service.storage.get_job(item.job_id)
    if job is None or job.channel_id is None:
        return
    delivery = await service.delivery(job)
    files = await asyncio.to_thread(attachments, delivery)
    embed = result_embed(delivery)
    view = cast("HasService", client).presenters.result_view(delivery)
    post = await service.reviews.post_of(job.id)
    channel = client.get_partial_messageable(job.channel_id)
    if post is not None:
        message = client.get_partial_messageable(post[0]).get_partial_message(post[1])
        await message.edit(content=None, embed=embed, view=view, attachments=files_of(files))
        return
    sent = await channel.send(
        content=f"<@{job.user_id}>", embed=embed, view=view, files=files_of(files),
        allowed_mentions=NO_PINGS,
    )  # fmt: skip
    await service.reviews.record_post(job.id, job.channel_id, sent.id)


async def tell_rejected(client: discord.Client, item: ReviewItem) -> None:
    if item.channel_id is None:
        return
    await client.get_partial_messageable(item.channel_id).send(
        f"⛔ A moderator did not approve the {item.kind} requested by <@{item.requester_id}>.",
        allowed_mentions=NO_PINGS,
    )


async def hide_post(client: discord.Client, post: tuple[int, int]) -> None:
    message = client.get_partial_messageable(post[0]).get_partial_message(post[1])
    await message.edit(content=HIDDEN_TEXT, embeds=[], attachments=[], view=None)


async def review_page(
    service: MuseService, guild_id: int | None, page: int
) -> tuple[discord.Embed, discord.ui.View]:
    """One /review page: pending items oldest first, each with ✅/⛔, and ◀/▶."""
    items, total = await service.reviews.pending(guild_id, page, PER_PAGE)
    pages = max(1, -(-total // PER_PAGE))
    embed = discord.Embed(title=f"🛡️ Pending review · {total} item(s) · page {page + 1}/{pages}")
    if not items:
        embed.description = "Nothing is waiting. 🎉"
    view = discord.ui.View(timeout=None)
    for row, item in enumerate(items):
        what = _fit(item.text, 200) if item.text else "(image)"
        reports = f" · {len(item.reports)} report(s)" if item.reports else ""
        embed.add_field(
            name=f"#{item.review_id} · {item.kind} · <t:{int(item.created_at)}:R>{reports}",
            value=f"<@{item.requester_id}> · ||{what}||",
            inline=False,
        )
        for approve in (True, False):
            button = ModButton(item.review_id, approve=approve, where=f"l{page}")
            button.item.row = row
            view.add_item(button)
    if pages > 1:
        for target, emoji in ((page - 1, "◀"), (page + 1, "▶")):
            nav = PageButton(target, emoji, disabled=not 0 <= target < pages)
            nav.item.row = 4
            view.add_item(nav)
    return embed, view


class ModButton(MuseButton, template=MOD_TEMPLATE):
    """✅ Approve or ⛔ Reject one review item, moderators only."""

    def __init__(self, review_id: int, *, approve: bool, where: str) -> None:
        action = "ok" if approve else "no"
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.success if approve else discord.ButtonStyle.danger,
                label=f"{'Approve' if approve else 'Reject'} #{review_id}",
                emoji="✅" if approve else "⛔",
                custom_id=f"muse:mod:{review_id}:{action}:{where}",
            )
        )
        self.review_id, self.approve, self.where = review_id, approve, where

    @classmethod
    def from_match(cls, match: re.Match[str]) -> ModButton:
        where = match["where"] + match["page"]
        return cls(int(match["review_id"]), approve=match["action"] == "ok", where=where)

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        require_moderator(interaction)
        service = app_of(interaction).service
        item = await service.reviews.decide(
            self.review_id, interaction.user.id, interaction.guild_id, self.approve
        )
        if self.where == "c":
            await interaction.response.edit_message(embed=card_embed(item), view=None)
        else:
            embed, view = await review_page(service, interaction.guild_id, int(self.where[1:]))
            await interaction.response.edit_message(embed=embed, view=view)
            await _refresh_card(interaction.client, item)
        if self.approve:
            await publish(interaction.client, service, item)
        else:
            await tell_rejected(interaction.client, item)


async def _refresh_card(client: discord.Client, item: ReviewItem) -> None:
    if item.card is None:
        return
    message = client.get_partial_messageable(item.card[0]).get_partial_message(item.card[1])
    try:
        await message.edit(embed=card_embed(item), view=None)
    except discord.HTTPException as err:
        log.info("could not update review card %s: %s", item.review_id, err)


class PageButton(MuseButton, template=PAGE_TEMPLATE):
    """◀/▶ through /review's pages."""

    def __init__(self, page: int, emoji: str = "▶", *, disabled: bool = False) -> None:
        super().__init__(
            discord.ui.Button(
                emoji=emoji, disabled=disabled, custom_id=f"muse:reviews:{max(0, page)}"
            )
        )
        self.page = max(0, page)

    @classmethod
    def from_match(cls, match: re.Match[str]) -> PageButton:
        return cls(int(match["page"]))

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        require_moderator(interaction)
        service = app_of(interaction).service
        embed, view = await review_page(service, interaction.guild_id, self.page)
        await interaction.response.edit_message(embed=embed, view=view)


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


async def _send_export(interaction: discord.Interaction[Any], out: Path, rows: int) -> None:
    """Attach the file when Discord allows its size; otherwise point to the CLI."""
    size = out.stat().st_size
    summary = f"{rows} row(s), {size / 1e6:.1f} MB."
    if size <= interaction.filesize_limit:
        await interaction.followup.send(
            f"📦 {summary}", file=discord.File(out), ephemeral=True, allowed_mentions=NO_PINGS
        )
        return
    await interaction.followup.send(
        f"📦 {summary} That is above this server's upload limit; ask the operator to run "
        f"`muse export --guild {interaction.guild_id} --format ...` on the host.",
        ephemeral=True,
        allowed_mentions=NO_PINGS,
    )


STRICTNESS_CHOICES = [Choice(name=s.value, value=s.value) for s in Strictness]


class ModerationCommands(commands.Cog):
    """/review and /modlog for moderators, /muse-settings for admins."""

    def __init__(self, service: MuseService) -> None:
        self.service = service

    @app_commands.command(name="review", description="Held and reported results, oldest first")
    @app_commands.default_permissions(manage_messages=True)
    @app_commands.guild_only()
    async def review(self, interaction: discord.Interaction[Any]) -> None:
        require_moderator(interaction)
        embed, view = await review_page(self.service, interaction.guild_id, 0)
        await interaction.response.send_message(
            embed=embed, view=view, ephemeral=True, allowed_mentions=NO_PINGS
        )

    @app_commands.command(name="modlog", description="Recent moderation decisions")
    @app_commands.default_permissions(manage_messages=True)
    @app_commands.guild_only()
    async def modlog(self, interaction: discord.Interaction[Any]) -> None:
        require_moderator(interaction)
        entries = await self.service.reviews.audit_log(interaction.guild_id, 15)
        lines = [
            f"<t:{int(e.created_at)}:R> <@{e.actor_id}> **{e.action}** {e.target}"
            + (f" — {_fit(e.reason, 120)}" if e.reason else "")
            for e in entries
        ]
        embed = discord.Embed(title="📜 Moderation log", description="\n".join(lines) or "Empty.")
        await interaction.response.send_message(
            embed=embed, ephemeral=True, allowed_mentions=NO_PINGS
        )

    @app_commands.command(name="export", description="Download this server's feedback dataset")
    @app_commands.describe(
        format="sft: accepted outputs; dpo: preferences; kto: thumbs; raw: everything",
        min_votes="Only outputs with at least this many votes (own votes excluded)",
    )
    @app_commands.choices(format=[Choice(name=f, value=f) for f in FORMATS])
    @app_commands.default_permissions(manage_messages=True)
    @app_commands.guild_only()
    async def export_command(
        self,
        interaction: discord.Interaction[Any],
        format: str = "raw",
        min_votes: Range[int, 0, 1000] = 0,
    ) -> None:
        require_moderator(interaction)
        secret = self.service.settings.export_secret
        if not secret:
            raise UserError("The operator has not set MUSE_EXPORT_SECRET, so Muse cannot export.")
        await interaction.response.defer(ephemeral=True, thinking=True)
        filters = ExportFilters(guild_id=interaction.guild_id, min_votes=min_votes)
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / f"muse-{format}.jsonl"
            manifest = await export(
                self.service.storage, out, fmt=format, filters=filters, secret=secret
            )
            await _send_export(interaction, out, manifest.rows)

    settings_group = app_commands.Group(
        name="muse-settings",
        description="Muse's settings for this server (admins)",
        default_permissions=discord.Permissions(manage_guild=True),
        guild_only=True,
    )

    @settings_group.command(name="show", description="Show this server's settings")
    async def show(self, interaction: discord.Interaction[Any]) -> None:
        require_admin(interaction)
        await self._reply(interaction, self.service.reviews.guilds.get(interaction.guild_id))

    @settings_group.command(name="moderation", description="Moderator channel, role, strictness")
    @app_commands.describe(
        mod_channel="Where review cards are posted",
        mod_role="Members with this role moderate too (besides Manage Messages)",
        strictness="How strict the filter is: relaxed, standard or strict",
        report_threshold="Reports from this many members hide a result until reviewed",
    )
    @app_commands.choices(strictness=STRICTNESS_CHOICES)
    async def moderation(
        self,
        interaction: discord.Interaction[Any],
        mod_channel: discord.TextChannel | None = None,
        mod_role: discord.Role | None = None,
        strictness: str | None = None,
        report_threshold: Range[int, 1, 20] | None = None,
    ) -> None:
        require_admin(interaction)
        current = self.service.reviews.guilds.get(interaction.guild_id)
        updated = dataclasses.replace(
            current,
            mod_channel_id=mod_channel.id if mod_channel else current.mod_channel_id,
            mod_role_id=mod_role.id if mod_role else current.mod_role_id,
            strictness=Strictness(strictness) if strictness else current.strictness,
            report_threshold=report_threshold or current.report_threshold,
        )
        await self._save(interaction, updated)

    @settings_group.command(name="channels", description="Choose the channels Muse works in")
    @app_commands.describe(action="allow or disallow a channel, or allow all channels again")
    @app_commands.choices(
        action=[Choice(name=a, value=a) for a in ("allow", "disallow", "all channels")]
    )
    async def channels(
        self,
        interaction: discord.Interaction[Any],
        action: str,
        channel: discord.TextChannel | None = None,
    ) -> None:
        require_admin(interaction)
        current = self.service.reviews.guilds.get(interaction.guild_id)
        allowed = list(current.allowed_channels)
        if action != "all channels" and channel is None:
            raise UserError("Pick the channel to allow or disallow.")
        if action == "allow" and channel is not None and channel.id not in allowed:
            allowed.append(channel.id)
        elif action == "disallow" and channel is not None:
            allowed = [c for c in allowed if c != channel.id]
        elif action == "all channels":
            allowed = []
        await self._save(interaction, dataclasses.replace(current, allowed_channels=tuple(allowed)))

    @settings_group.command(name="consent", description="How members' data enters datasets")
    @app_commands.describe(mode="opt-out: everyone unless they opt out; opt-in: only who opts in")
    @app_commands.choices(mode=[Choice(name=m, value=m) for m in ("opt-out", "opt-in")])
    async def consent(self, interaction: discord.Interaction[Any], mode: str) -> None:
        require_admin(interaction)
        current = self.service.reviews.guilds.get(interaction.guild_id)
        await self._save(interaction, dataclasses.replace(current, consent_mode=mode))

    async def _save(self, interaction: discord.Interaction[Any], updated: GuildSettings) -> None:
        saved = await self.service.reviews.save_settings(updated, interaction.user.id)
        await self._reply(interaction, saved)

    async def _reply(self, interaction: discord.Interaction[Any], guild: GuildSettings) -> None:
        channels = " ".join(f"<#{c}>" for c in guild.allowed_channels) or "all channels"
        mod_channel = f"<#{guild.mod_channel_id}>" if guild.mod_channel_id else "—"
        mod_role = f"<@&{guild.mod_role_id}>" if guild.mod_role_id else "—"
        text = (
            f"**Moderator channel:** {mod_channel}\n"
            f"**Moderator role:** {mod_role}\n"
            f"**Strictness:** {guild.strictness.value}\n"
            f"**Reports to hide a result:** {guild.report_threshold}\n"
            f"**Muse works in:** {channels}\n"
            f"**Dataset consent:** {guild.consent_mode}"
        )
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)
