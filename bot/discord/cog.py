"""The /poem, /slogan and /draw slash commands. Each handler is the same short sequence:
build the request → ``service.prepare`` (refuses at once, ephemerally) → ``run_job``.
"""

from __future__ import annotations

import dataclasses
from enum import StrEnum
from typing import Any, TypeVar

import discord
from discord import app_commands
from discord.app_commands import Choice, Range
from discord.app_commands import locale_str as _
from discord.ext import commands

from bot.config import Settings
from bot.discord.context import origin_of
from bot.discord.flow import Presenters, run_job
from bot.errors import UserError
from bot.service.core import MuseService
from generators.options import ImageSize, Language, Mood, PoemForm, Tone
from generators.requests import (
    AUDIENCE_MAX_CHARS,
    DRAW_MAX_COUNT,
    NEGATIVE_MAX_CHARS,
    POEM_MAX_COUNT,
    PRODUCT_MAX_CHARS,
    PROMPT_MAX_CHARS,
    SEED_MAX,
    SLOGAN_MAX_COUNT,
    STRENGTH_MAX,
    STRENGTH_MIN,
    STYLE_MAX_CHARS,
    TOPIC_MAX_CHARS,
    DrawRequest,
    PoemRequest,
    Request,
    SloganRequest,
)
from generators.styles import STYLE_PRESETS

E = TypeVar("E", bound=StrEnum)


def _choice(kind: type[E], value: str, name: str) -> E:
    """A choice option's value as its enum; a value Discord should never send is a UserError."""
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise UserError(f"{name} must be one of {allowed}; got {value!r}") from None


def _choices(values: list[str]) -> list[Choice[str]]:
    return [Choice(name=_(value), value=value) for value in values]


FORM_CHOICES = _choices([form.value for form in PoemForm])
MOOD_CHOICES = _choices([mood.value for mood in Mood])
TONE_CHOICES = _choices([tone.value for tone in Tone])
STYLE_CHOICES = _choices(list(STYLE_PRESETS))
SIZE_CHOICES = _choices([size.value for size in ImageSize])
LANGUAGE_CHOICES = [
    Choice(name=_("auto"), value=Language.AUTO.value),
    Choice(name="English", value=Language.ENGLISH.value),
    Choice(name="中文", value=Language.CHINESE.value),
]


class _Generating(commands.Cog):
    """What every generating command shares: prepare (or refuse at once), then run."""

    def __init__(self, service: MuseService, settings: Settings, show: Presenters) -> None:
        self.service = service
        self.settings = settings
        self.show = show

    async def _generate(
        self, interaction: discord.Interaction[Any], request: Request, callback: Any = None
    ) -> None:
        pending = self.service.prepare(request, origin_of(interaction))
        interval_s = self.settings.progress_interval_s
        await run_job(interaction, self.service, pending, interval_s, self.show, callback)


class TextCommands(_Generating):
    """Poems and slogans."""

    @app_commands.command(name="poem", description=_("Write a poem about a topic"))
    @app_commands.describe(
        topic=_("What the poem is about (at most 200 characters)"),
        form=_("Poetic form"),
        style=_("Optional style, e.g. romantic, like a sea shanty"),
        mood=_("Mood of the poem"),
        language=_("Language: auto follows the topic"),
        count=_("How many versions to write (1-3)"),
        compare=_("Write two versions, A and B, for members to compare"),
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
        count: Range[int, 1, POEM_MAX_COUNT] = 1,
        compare: bool = False,
    ) -> None:
        request = PoemRequest(
            topic=topic,
            form=_choice(PoemForm, form, "form"),
            style=style or "",
            mood=_choice(Mood, mood, "mood") if mood else None,
            language=_choice(Language, language, "language"),
            count=count,
            compare=compare,
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
            tone=_choice(Tone, tone, "tone") if tone else None,
            count=count,
            language=_choice(Language, language, "language"),
        )
        await self._generate(interaction, request)


class DrawCommands(_Generating):
    """/draw, registered only when an image model is configured."""

    def __init__(self, service: MuseService, settings: Settings, show: Presenters) -> None:
        super().__init__(service, settings, show)
        params = self.draw._params  # the slider's upper end follows MUSE_IMAGE_MAX_STEPS
        params["steps"] = dataclasses.replace(params["steps"], max_value=settings.image_max_steps)

    @app_commands.command(name="draw", description=_("Draw pictures from a prompt"))
    @app_commands.describe(
        prompt=_("What to draw (at most 500 characters)"),
        negative=_("What to keep out of the picture"),
        style=_("A style preset"),
        size=_("Image shape"),
        seed=_("Seed, to reproduce or vary an image"),
        steps=_("Denoising steps: more is slower and finer"),
        count=_("How many images (1-4)"),
        compare=_("Draw two versions, A and B, for members to compare"),
        image=_("A picture to restyle (PNG, JPEG or WebP)"),
        strength=_("With a picture: how much may change, 0.1 (a little) to 1.0 (all); default 0.6"),
    )
    @app_commands.choices(style=STYLE_CHOICES, size=SIZE_CHOICES)
    async def draw(
        self,
        interaction: discord.Interaction[Any],
        prompt: Range[str, 1, PROMPT_MAX_CHARS],
        negative: Range[str, 1, NEGATIVE_MAX_CHARS] | None = None,
        style: str = "none",
        size: str = ImageSize.SQUARE.value,
        seed: Range[int, 0, SEED_MAX] | None = None,
        steps: Range[int, 1, 100] | None = None,
        count: Range[int, 1, DRAW_MAX_COUNT] = 1,
        compare: bool = False,
        image: discord.Attachment | None = None,
        strength: Range[float, STRENGTH_MIN, STRENGTH_MAX] | None = None,
    ) -> None:
        request = DrawRequest(
            prompt=prompt,
            negative=negative or "",
            style=style,
            size=_choice(ImageSize, size, "size"),
            steps=self.settings.image_default_steps if steps is None else steps,
            count=count,
            seed=seed,
            compare=compare,
            strength=strength,
        )
        if image is None:
            await self._generate(interaction, request)
            return
        await self._restyle(interaction, request, image)

    async def _restyle(
        self, interaction: discord.Interaction[Any], request: DrawRequest, image: discord.Attachment
    ) -> None:
        """/draw from a picture: refuse a bad upload at once, else acknowledge, download, check
        and filter it (privately refused when it fails), then run as usual."""
        pictures = self.service.pictures
        pictures.check_attachment(image.content_type, image.size)
        callback = await interaction.response.defer(thinking=True)
        try:
            data = await image.read()
        except discord.HTTPException as err:
            raise UserError("Muse could not download your picture; attach it again.") from err
        strictness = self.service.strictness(interaction.guild_id)
        request = await pictures.accept(data, request, strictness)
        await self._generate(interaction, request, callback)
