"""What buttons and commands reach through ``interaction.client``."""

from __future__ import annotations

from typing import Any, Protocol

import discord

from bot.config import Settings
from bot.discord.flow import Presenters
from bot.service.core import MuseService
from bot.service.types import Origin


class HasService(Protocol):
    service: MuseService
    settings: Settings
    presenters: Presenters


def app_of(interaction: discord.Interaction[Any]) -> HasService:
    client: HasService = interaction.client
    return client


def origin_of(interaction: discord.Interaction[Any]) -> Origin:
    """Who asked and where, with the guild's and channel's names where Discord sent them."""
    guild = interaction.guild
    channel_name = getattr(interaction.channel, "name", None)
    return Origin(
        interaction.user.id,
        interaction.guild_id,
        interaction.channel_id,
        guild_name=guild.name if guild is not None and guild.name else "",
        channel_name=channel_name if isinstance(channel_name, str) else "",
    )
