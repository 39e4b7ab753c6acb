"""Who may moderate and who may change Muse's settings, checked server-side on every action,
whatever Discord's command visibility says."""

from __future__ import annotations

from typing import Any

import discord

from bot.discord.context import app_of
from bot.errors import NotAllowed
from bot.review.reviews import GuildSettings


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
