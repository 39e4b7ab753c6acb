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
from bot.discord.draw_buttons import draw_rows, remix_button
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
    """Rows: for a drawing, U and V rows (or one row of picture actions); 👍/👎 per output
    (two outputs a row); Pick n (when no U/V row picks) or the A/B judgement; then
    🔁 Regenerate (Reroll), 🎛️ Remix, ✏️ Edit (text) and ⚠ Report. At most 5 rows of 5."""
    rows: list[list[Any]] = draw_rows(delivery) if delivery.kind == "draw" else []
    outs = delivery.outputs
    for pair in range(0, len(outs), 2):
        rows.append([VoteButton(o.output_id, value, count=count, label=_name(delivery, o))
                     for o in outs[pair:pair + 2]
                     for value, count in ((1, o.tally.up), (-1, o.tally.down))])  # fmt: skip
    if delivery.compare and len(outs) == 2:
        counts = zip(("a", "b", "tie"), delivery.ab_counts, strict=True)
        rows.append([CompareButton(delivery.job_id, c, n) for c, n in counts])
    elif len(outs) > 1 and not (delivery.kind == "draw" and "vary" in delivery.actions):
        rows.append([PickButton(o.output_id, label(delivery, o.candidate),
                                picked=o.output_id == delivery.picked) for o in outs])  # fmt: skip
    rows.append(_actions(delivery))
    view = discord.ui.View(timeout=None)
    for index, row in enumerate(rows[:5]):
        for button in row:
            button.item.row = index
            view.add_item(button)
    return view


def _name(delivery: Delivery, out: Any) -> str:
    name = label(delivery, out.candidate)
    return f"{name} · " if name else ""


def _actions(delivery: Delivery) -> list[Any]:
    draw = delivery.kind == "draw"
    actions: list[Any] = [RegenerateButton(delivery.job_id, "Reroll" if draw else "Regenerate")]
    actions += remix_button(delivery) if draw else [EditButton(delivery.job_id)]
    actions.append(ReportButton(delivery.job_id))
    return actions
