"""/draw's Midjourney-style buttons. State lives in ``custom_id``, so they work after a restart:

    muse:do:<output_id>:vs|vx|up|zo    Vary (Subtle), V1–V4 / Vary (Strong), U1–U4, Zoom out ×1.5
    muse:region:<output_id>            Vary Region: asks which region (an ephemeral chooser)
    muse:regionat:<output_id>:<region> a region: opens the modal for what to put there
    muse:remix:<job_id>                Remix: a modal to edit prompt, negative prompt and style

Each runs a new job through the queue (``bot.service.derive``), with progress and ❌ Cancel,
for the member who asked for the picture. Layout (``draw_rows``): on a grid, a U row and a V row
(Vary Strong) of one button per picture; on a single picture, one row of Upscale, Vary (Subtle),
Vary (Strong), Vary Region and Zoom out; buttons the model cannot run are left out. A modal
left open across a restart cannot be submitted (modals live in memory); the button that opened
it opens a new one.
"""

from __future__ import annotations

import re
from typing import Any

import discord

from bot.discord.buttons import MuseButton
from bot.discord.context import app_of, origin_of
from bot.discord.flow import run_job
from bot.discord.render import label
from bot.discord.replies import report_error
from bot.errors import NotAllowed, UserError
from bot.service.derive import Remix, derive, remix_job
from bot.service.types import Delivery, PendingJob
from generators.edits import REGIONS
from generators.styles import STYLE_PRESETS

DO_TEMPLATE = r"muse:do:(?P<output_id>[0-9]{1,18}):(?P<op>vs|vx|up|zo)"
REGION_TEMPLATE = r"muse:region:(?P<output_id>[0-9]{1,18})"
REGION_AT_TEMPLATE = rf"muse:regionat:(?P<output_id>[0-9]{{1,18}}):(?P<region>{'|'.join(REGIONS)})"
REMIX_TEMPLATE = r"muse:remix:(?P<job_id>[0-9a-f]{16})"
OPERATIONS = {"vs": "vary-subtle", "vx": "vary-strong", "up": "upscale", "zo": "zoom"}
_SINGLE = {"up": ("Upscale ×2", "🔍"), "vs": ("Vary (Subtle)", "🪄"),
           "vx": ("Vary (Strong)", "🪄"), "zo": ("Zoom Out ×1.5", "↔️")}  # fmt: skip


async def _start(interaction: discord.Interaction[Any], pending: PendingJob) -> None:
    app = app_of(interaction)
    await run_job(interaction, app.service, pending, app.settings.progress_interval_s,
                  app.presenters)  # fmt: skip


class DoButton(MuseButton, template=DO_TEMPLATE):
    """U n, V n, or on a single picture Upscale / Vary (Subtle/Strong) / Zoom out."""

    def __init__(self, output_id: int, op: str, text: str = "", emoji: str | None = None) -> None:
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.secondary,
                label=text or _SINGLE[op][0],
                emoji=emoji,
                custom_id=f"muse:do:{output_id}:{op}",
            )
        )
        self.output_id, self.op = output_id, op

    @classmethod
    def from_match(cls, match: re.Match[str]) -> DoButton:
        return cls(int(match["output_id"]), match["op"])

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        service = app_of(interaction).service
        pending = await derive(service, self.output_id, OPERATIONS[self.op], origin_of(interaction))
        await _start(interaction, pending)


class RegionButton(MuseButton, template=REGION_TEMPLATE):
    """🖌️ Vary Region: the requester chooses the region (centre, left, right, top, bottom)."""

    def __init__(self, output_id: int) -> None:
        super().__init__(
            discord.ui.Button(label="Vary Region", emoji="🖌️", custom_id=f"muse:region:{output_id}")
        )
        self.output_id = output_id

    @classmethod
    def from_match(cls, match: re.Match[str]) -> RegionButton:
        return cls(int(match["output_id"]))

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        await app_of(interaction).service.owned_output(
            self.output_id, interaction.user.id, "change this picture"
        )
        view = discord.ui.View(timeout=None)
        for region in REGIONS:
            view.add_item(RegionAtButton(self.output_id, region))
        await interaction.response.send_message(
            "Which part should Muse redraw?", view=view, ephemeral=True
        )


class RegionAtButton(MuseButton, template=REGION_AT_TEMPLATE):
    """One region: opens the modal asking what to put there."""

    def __init__(self, output_id: int, region: str) -> None:
        super().__init__(
            discord.ui.Button(
                label=region.capitalize(), custom_id=f"muse:regionat:{output_id}:{region}"
            )
        )
        self.output_id, self.region = output_id, region

    @classmethod
    def from_match(cls, match: re.Match[str]) -> RegionAtButton:
        return cls(int(match["output_id"]), match["region"])

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        job, _ = await app_of(interaction).service.owned_output(
            self.output_id, interaction.user.id, "change this picture"
        )
        modal = DrawModal(f"Vary Region: {self.region}", job.options.get("prompt", ""))
        modal.action = ("region", self.output_id, f"region-{self.region}")
        await interaction.response.send_modal(modal)


class RemixButton(MuseButton, template=REMIX_TEMPLATE):
    """🎛️ Remix: edit the prompt, negative prompt and style, then vary (or redraw)."""

    def __init__(self, job_id: str) -> None:
        super().__init__(
            discord.ui.Button(label="Remix", emoji="🎛️", custom_id=f"muse:remix:{job_id}")
        )
        self.job_id = job_id

    @classmethod
    def from_match(cls, match: re.Match[str]) -> RemixButton:
        return cls(match["job_id"])

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        job = await app_of(interaction).service.storage.get_job(self.job_id)
        if job is None or job.user_id != interaction.user.id:
            raise NotAllowed("Only the member who asked for this can remix it.")
        options = job.options
        modal = DrawModal("Remix", options.get("prompt", ""), options.get("negative", ""),
                          options.get("style", "none"))  # fmt: skip
        modal.action = ("remix", self.job_id, "")
        await interaction.response.send_modal(modal)


class DrawModal(discord.ui.Modal, title="Remix"):
    """The prompt (and, for Remix, the negative prompt and style), pre-filled."""

    def __init__(self, title: str, prompt: str, negative: str | None = None,
                 style: str | None = None) -> None:  # fmt: skip
        super().__init__(title=title, timeout=900)
        self.action: tuple[str, Any, str] = ("remix", "", "")
        self.prompt: discord.ui.TextInput[Any] = discord.ui.TextInput(
            label="prompt", default=prompt[:500], max_length=500
        )
        self.add_item(self.prompt)
        self.negative: discord.ui.TextInput[Any] | None = None
        self.style: discord.ui.TextInput[Any] | None = None
        if negative is not None:
            self.negative = discord.ui.TextInput(label="negative prompt", default=negative[:300],
                                                 max_length=300, required=False)  # fmt: skip
            self.style = discord.ui.TextInput(label="style", default=style or "none",
                                              max_length=40, required=False)  # fmt: skip
            self.add_item(self.negative)
            self.add_item(self.style)

    def remix(self) -> Remix:
        style = (self.style.value.strip() or "none") if self.style else None
        if style is not None and style not in STYLE_PRESETS:
            raise UserError(f"style must be one of {', '.join(STYLE_PRESETS)}.")
        negative = self.negative.value if self.negative else None
        return Remix(self.prompt.value, negative, style)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        service, (kind, target, operation) = app_of(interaction).service, self.action
        origin = origin_of(interaction)
        if kind == "region":
            pending = await derive(service, int(target), operation, origin, self.remix())
        else:
            pending = await remix_job(service, str(target), origin, self.remix())
        await _start(interaction, pending)

    async def on_error(  # type: ignore[override]  # Modal's own signature has no item
        self, interaction: discord.Interaction[Any], error: Exception, /
    ) -> None:
        await report_error(interaction, error)


def draw_rows(delivery: Delivery) -> list[list[Any]]:
    """The rows of picture buttons: U and V rows on a grid, one row of actions on a single
    picture."""
    outs, can = delivery.outputs, set(delivery.actions)
    if len(outs) == 1:
        return [row] if (row := _single(outs[0].output_id, can)) else []
    rows = []
    for op, letter, need in (("up", "U", "upscale"), ("vx", "V", "vary")):
        if need in can:
            rows.append([DoButton(o.output_id, op, f"{letter}{label(delivery, o.candidate)}")
                         for o in outs])  # fmt: skip
    return rows


def _single(oid: int, can: set[str]) -> list[Any]:
    row: list[Any] = []
    if "upscale" in can:
        row.append(DoButton(oid, "up", emoji=_SINGLE["up"][1]))
    if "vary" in can:
        row += [DoButton(oid, op, emoji=_SINGLE[op][1]) for op in ("vs", "vx")]
    if "region" in can:
        row.append(RegionButton(oid))
    if "zoom" in can:
        row.append(DoButton(oid, "zo", emoji=_SINGLE["zo"][1]))
    return row


def remix_button(delivery: Delivery) -> list[Any]:
    return [RemixButton(delivery.job_id)] if "remix" in delivery.actions else []


DYNAMIC_ITEMS = (DoButton, RegionButton, RegionAtButton, RemixButton)
