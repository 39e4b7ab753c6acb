"""The base of Muse's persistent buttons: state in ``custom_id``, errors reported in one place."""

from __future__ import annotations

import re
from typing import Any, Self

import discord

from bot.discord.replies import report_error


class MuseButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"muse:base:(?!)"):
    """Subclasses set a ``template``, rebuild themselves in ``from_match`` and act in ``run``;
    anything ``run`` raises reaches the member through ``report_error``.

    A custom_id is untrusted input, and discord.py only logs what ``from_match`` raises (the
    member sees "interaction failed"): templates accept ASCII digits of bounded length (ids
    of at most 18 digits fit SQLite's integers), so every match converts cleanly."""

    @classmethod
    def from_match(cls, match: re.Match[str]) -> Self:
        raise NotImplementedError

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> Self:
        return cls.from_match(match)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        try:
            await self.run(interaction)
        except Exception as err:
            await report_error(interaction, err)

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        raise NotImplementedError
