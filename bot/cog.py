"""The /poem and /slogan slash commands. Each handler is the same short sequence:
build the request → ``service.prepare`` (refuses at once, ephemerally) → ``run_job``.
"""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.app_commands import Choice, Range
from discord.app_commands import locale_str as _
from discord.ext import commands

from bot.config import Settings
from bot.flow import run_job
from bot.service import MuseService
from bot.views import origin_of, result_view
from generators.types import (
    AUDIENCE_MAX_CHARS,
    PRODUCT_MAX_CHARS,
    SLOGAN_MAX_COUNT,
    STYLE_MAX_CHARS,
    TOPIC_MAX_CHARS,
    Language,
    Mood,
    PoemForm,
    PoemRequest,
    SloganRequest,
    TextRequest,
    Tone,
)


def _choices(values: list[str]) -> list[Choice[str]]:
    return [Choice(name=_(value), value=value) for value in values]


FORM_CHOICES = _choices([form.value for form in PoemForm])
MOOD_CHOICES = _choices([mood.value for mood in Mood])
TONE_CHOICES = _choices([tone.value for tone in Tone])
LANGUAGE_CHOICES = [
    Choice(name=_("auto"), value=Language.AUTO.value),
    Choice(name="English", value=Language.ENGLISH.value),
    Choice(name="中文", value=Language.CHINESE.value),
]


class TextCommands(commands.Cog):
    """Poems and slogans."""

    def __init__(self, service: MuseService, settings: Settings) -> None:
        self.service = service
        self.settings = settings

    async def _generate(self, interaction: discord.Interaction[Any], request: TextRequest) -> None:
        pending = self.service.prepare(request, origin_of(interaction))
        interval_s = self.settings.progress_interval_s
        await run_job(interaction, self.service, pending, interval_s, result_view)

    @app_commands.command(name="poem", description=_("Write a poem about a topic"))
    @app_commands.describe(
        topic=_("What the poem is about (at most 200 characters)"),
        form=_("Poetic form"),
        style=_("Optional style, e.g. romantic, like a sea shanty"),
        mood=_("Mood of the poem"),
        language=_("Language: auto follows the topic"),
    )
    @app_commands.choices(form=FORM_CHOICES, mood=MOOD_CHOICES, language=LANGUAGE_CHOICES)
    async def poem(
        self,
        interaction: discord.Interaction[Any],
        topic: Range[str, 1, TOPIC_MAX_CHARS],
        form: str = PoemForm.FREE_VERSE.value,
        style: Range[str, 1, STYLE_MAX_CHARS] | None = None,
        mood: str | None = None,
        language: str = Language.AUTO.value,
    ) -> None:
        request = PoemRequest(
            topic=topic,
            form=PoemForm(form),
            style=style or "",
            mood=Mood(mood) if mood else None,
            language=Language(language),
        )
        await self._generate(interaction, request)

    @app_commands.command(name="slogan", description=_("Write advertising slogans for a product"))
    @app_commands.describe(
        product=_("The product or brand (at most 200 characters)"),
        audience=_("Who the slogan speaks to"),
        tone=_("Tone of voice"),
        count=_("How many candidates to write (1-5)"),
        language=_("Language: auto follows the topic"),
    )
    @app_commands.choices(tone=TONE_CHOICES, language=LANGUAGE_CHOICES)
    async def slogan(
        self,
        interaction: discord.Interaction[Any],
        product: Range[str, 1, PRODUCT_MAX_CHARS],
        audience: Range[str, 1, AUDIENCE_MAX_CHARS] | None = None,
        tone: str | None = None,
        count: Range[int, 1, SLOGAN_MAX_COUNT] = 3,
        language: str = Language.AUTO.value,
    ) -> None:
        request = SloganRequest(
            product=product,
            audience=audience or "",
            tone=Tone(tone) if tone else None,
            count=count,
            language=Language(language),
        )
        await self._generate(interaction, request)
