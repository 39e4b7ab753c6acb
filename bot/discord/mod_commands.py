"""Moderator commands: /review, /modlog and /export for moderators, /muse-settings for admins.

Every command checks permissions here, server-side, whatever Discord's command visibility says.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

import discord
from discord import app_commands
from discord.app_commands import Choice, Range
from discord.ext import commands

from bot.datasets.export import export
from bot.datasets.filters import ExportFilters
from bot.datasets.formats import FORMATS
from bot.discord.permissions import require_admin, require_moderator
from bot.discord.replies import NO_PINGS
from bot.discord.review_cards import fit, review_page
from bot.errors import UserError
from bot.review.items import actor_name
from bot.review.reviews import GuildSettings
from bot.service.core import MuseService
from moderation.policy import Strictness


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
            f"<t:{int(e.created_at)}:R> {actor_name(e.actor_id, mention=True)}"
            f" **{e.action}** {e.target}" + (f" — {fit(e.reason, 120)}" if e.reason else "")
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
