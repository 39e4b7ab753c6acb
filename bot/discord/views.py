"""Persistent buttons on results. Their state lives in ``custom_id``, so they work after a
restart (moderation buttons are in ``bot.discord.review_cards`` and ``bot.discord.reports``):

    muse:vote:<output_id>:up|down   👍/👎 on one output, any member, one vote each
    muse:regen:<job_id>             🔁 a new sample (new seed) of the same prompt, requester only
    muse:cancel:<job_id>            ❌ stop a waiting or running job, requester only
"""

from __future__ import annotations

import re
from typing import Any

import discord

from bot.discord.buttons import MuseButton
from bot.discord.context import app_of, origin_of
from bot.discord.feedback_ui import CompareButton, EditButton, PickButton
from bot.discord.flow import run_job
from bot.discord.render import label
from bot.discord.reports import ReportButton
from bot.service.types import Delivery

VOTE_TEMPLATE = r"muse:vote:(?P<output_id>[0-9]{1,18}):(?P<value>up|down)"
REGEN_TEMPLATE = r"muse:regen:(?P<job_id>[0-9a-f]{16})"
CANCEL_TEMPLATE = r"muse:cancel:(?P<job_id>[0-9a-f]{16})"


class VoteButton(MuseButton, template=VOTE_TEMPLATE):
    """👍 or 👎 with the current count; clicking again removes the vote."""

    def __init__(self, output_id: int, value: int, *, count: int = 0, label: str = "") -> None:
        emoji = "👍" if value > 0 else "👎"
        direction = "up" if value > 0 else "down"
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.secondary,
                emoji=emoji,
                label=f"{label}{count}",
                custom_id=f"muse:vote:{output_id}:{direction}",
            )
        )
        self.output_id = output_id
        self.value = value

    @classmethod
    def from_match(cls, match: re.Match[str]) -> VoteButton:
        return cls(int(match["output_id"]), 1 if match["value"] == "up" else -1)

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        result = await app_of(interaction).service.vote(
            self.output_id, interaction.user.id, self.value
        )
        await interaction.response.edit_message(view=result_view(result.delivery))


class RegenerateButton(MuseButton, template=REGEN_TEMPLATE):
    """🔁 A new sample with a new seed and the same options, for the requester."""

    def __init__(self, job_id: str, label: str = "Regenerate") -> None:
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.primary,
                emoji="🔁",
                label=label,
                custom_id=f"muse:regen:{job_id}",
            )
        )
        self.job_id = job_id

    @classmethod
    def from_match(cls, match: re.Match[str]) -> RegenerateButton:
        return cls(match["job_id"])

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        app = app_of(interaction)
        pending = await app.service.regenerate(self.job_id, origin_of(interaction))
        interval_s = app.settings.progress_interval_s
        await run_job(interaction, app.service, pending, interval_s, app.presenters)


class CancelButton(MuseButton, template=CANCEL_TEMPLATE):
    """❌ on the waiting message: the requester stops the job, queued or running."""

    def __init__(self, job_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.danger,
                emoji="❌",
                label="Cancel",
                custom_id=f"muse:cancel:{job_id}",
            )
        )
        self.job_id = job_id

    @classmethod
    def from_match(cls, match: re.Match[str]) -> CancelButton:
        return cls(match["job_id"])

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        await app_of(interaction).service.cancel(self.job_id, interaction.user.id)
        await interaction.response.edit_message(content="❌ Cancelling…", view=None)


def cancel_view(job_id: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(job_id))
    return view


def result_view(delivery: Delivery) -> discord.ui.View:
    """Rows: 👍/👎 per output (two outputs a row); Pick n, or the A/B judgement; then
    🔁 Regenerate, ✏️ Edit (text) and ⚠ Report."""
    view = discord.ui.View(timeout=None)
    outs = delivery.outputs
    for index, out in enumerate(outs):
        name = label(delivery, out.candidate)
        for value, count in ((1, out.tally.up), (-1, out.tally.down)):
            button = VoteButton(
                out.output_id, value, count=count, label=f"{name} · " if name else ""
            )
            button.item.row = index // 2
            view.add_item(button)
    row = (len(outs) + 1) // 2
    choices: list[Any] = []
    if delivery.compare and len(outs) == 2:
        choices = [CompareButton(delivery.job_id, c, n)
                   for c, n in zip(("a", "b", "tie"), delivery.ab_counts, strict=True)]  # fmt: skip
    elif len(outs) > 1:
        choices = [PickButton(o.output_id, label(delivery, o.candidate),
                              picked=o.output_id == delivery.picked) for o in outs]  # fmt: skip
    for choice in choices:
        choice.item.row = row
        view.add_item(choice)
    actions: list[Any] = [
        RegenerateButton(delivery.job_id, "Reroll" if delivery.kind == "draw" else "Regenerate")
    ]
    if delivery.kind != "draw":
        actions.append(EditButton(delivery.job_id))
    actions.append(ReportButton(delivery.job_id))
    for action in actions:
        action.item.row = min(4, row + (1 if choices else 0))
        view.add_item(action)
    return view
