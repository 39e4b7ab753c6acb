"""Feedback buttons and member privacy in Discord. State lives in ``custom_id``:

muse:pick:<output_id>              the requester picks the best candidate
muse:ab:<job_id>:a|b|tie           any member judges an A/B comparison
muse:edit:<job_id>                 the requester revises text outputs (opens a modal)
muse:consent:in|out                a member's dataset choice (from /privacy)
muse:forget:<user_id>              confirms /forget-me
"""

from __future__ import annotations

import re
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.buttons import MuseButton
from bot.discord.context import app_of
from bot.discord.render import label, model_name, result_embed
from bot.discord.replies import NO_PINGS, report_error
from bot.errors import NotAllowed, UserError
from bot.service.privacy import forget_member
from bot.service.types import Delivery

PICK_TEMPLATE = r"muse:pick:(?P<output_id>[0-9]{1,18})"
AB_TEMPLATE = r"muse:ab:(?P<job_id>[0-9a-f]{16}):(?P<choice>a|b|tie)"
EDIT_TEMPLATE = r"muse:edit:(?P<job_id>[0-9a-f]{16})"
CONSENT_TEMPLATE = r"muse:consent:(?P<choice>in|out)"
FORGET_TEMPLATE = r"muse:forget:(?P<user_id>[0-9]{1,20})"
EDIT_MAX_CHARS = 4000


async def _redraw(interaction: discord.Interaction[Any], delivery: Delivery) -> None:
    view = app_of(interaction).presenters.result_view(delivery)
    await interaction.response.edit_message(embed=result_embed(delivery), view=view)


class PickButton(MuseButton, template=PICK_TEMPLATE):
    """Pick n: the requester's favourite among several candidates."""

    def __init__(self, output_id: int, name: str = "", *, picked: bool = False) -> None:
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.success if picked else discord.ButtonStyle.secondary,
                label=f"Pick {name}".strip(),
                emoji="✅" if picked else None,
                custom_id=f"muse:pick:{output_id}",
            )
        )
        self.output_id = output_id

    @classmethod
    def from_match(cls, match: re.Match[str]) -> PickButton:
        return cls(int(match["output_id"]))

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        service = app_of(interaction).service
        await _redraw(interaction, await service.pick(self.output_id, interaction.user.id))


class CompareButton(MuseButton, template=AB_TEMPLATE):
    """A is better / B is better / Tie, with the current counts; any member, one choice."""

    def __init__(self, job_id: str, choice: str, count: int = 0) -> None:
        text = {"a": "A is better", "b": "B is better", "tie": "Tie"}[choice]
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.primary
                if choice != "tie"
                else discord.ButtonStyle.secondary,
                label=f"{text} · {count}",
                custom_id=f"muse:ab:{job_id}:{choice}",
            )
        )
        self.job_id, self.choice = job_id, choice

    @classmethod
    def from_match(cls, match: re.Match[str]) -> CompareButton:
        return cls(match["job_id"], match["choice"])

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        service = app_of(interaction).service
        delivery = await service.compare_vote(self.job_id, interaction.user.id, self.choice)
        await _redraw(interaction, delivery)
        if len(delivery.match_models) == 2:  # a champion-challenger match: named once chosen
            a, b = (model_name(m) for m in delivery.match_models)
            reveal = f"Thanks! **A** was written by `{a}`, **B** by `{b}`."
            await interaction.followup.send(reveal, ephemeral=True)


class EditModal(discord.ui.Modal, title="Edit the result"):
    """One box per text output, pre-filled; changed ones are stored as corrections."""

    def __init__(self, delivery: Delivery) -> None:
        super().__init__(timeout=900)
        self.job_id = delivery.job_id
        self.boxes: dict[int, discord.ui.TextInput[Any]] = {}
        for out in delivery.outputs[:5]:
            name = label(delivery, out.candidate)
            box: discord.ui.TextInput[Any] = discord.ui.TextInput(
                label=f"{delivery.kind} {name}".strip(),
                style=discord.TextStyle.paragraph,
                default=out.text[:EDIT_MAX_CHARS],
                max_length=EDIT_MAX_CHARS,
            )
            self.boxes[out.output_id] = box
            self.add_item(box)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        texts = {output_id: box.value for output_id, box in self.boxes.items()}
        service = app_of(interaction).service
        await _redraw(interaction, await service.edit(self.job_id, interaction.user.id, texts))

    async def on_error(  # type: ignore[override]  # Modal's own signature has no item
        self, interaction: discord.Interaction[Any], error: Exception, /
    ) -> None:
        await report_error(interaction, error)


class EditButton(MuseButton, template=EDIT_TEMPLATE):
    """✏️ Edit, for the requester: revise the text and keep it as a correction."""

    def __init__(self, job_id: str) -> None:
        super().__init__(
            discord.ui.Button(emoji="✏️", label="Edit", custom_id=f"muse:edit:{job_id}")
        )
        self.job_id = job_id

    @classmethod
    def from_match(cls, match: re.Match[str]) -> EditButton:
        return cls(match["job_id"])

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        service = app_of(interaction).service
        job = await service.storage.get_job(self.job_id)
        if job is None or job.user_id != interaction.user.id:
            raise NotAllowed("Only the member who asked for this can edit it.")
        delivery = await service.delivery(job)
        if not delivery.outputs:
            raise UserError("There is nothing here to edit.")
        await interaction.response.send_modal(EditModal(delivery))


def privacy_text(summary: Any) -> str:
    state = "included in" if summary.exported else "left out of"
    mode = (
        "only members who opt in" if summary.guild_mode == "opt-in" else "members who don't opt out"
    )
    return (
        "**What Muse stores about you**\n"
        f"requests: {summary.jobs} · outputs: {summary.outputs} · votes: {summary.votes} · "
        f"edits: {summary.edits} · picks and A/B choices: {summary.picks} · "
        f"reports: {summary.reports}\n"
        f"Your data is **{state}** training datasets (this server exports {mode}). Datasets "
        "never contain your Discord id, only a keyed hash. `/forget-me` deletes everything you "
        "made here; only your dataset choice is kept, so an opt-out still holds."
    )


class ConsentButton(MuseButton, template=CONSENT_TEMPLATE):
    """Opt in to or out of dataset exports (acts on whoever clicks)."""

    def __init__(self, choice: str) -> None:
        text = "Include me in datasets" if choice == "in" else "Leave me out of datasets"
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.success if choice == "in" else discord.ButtonStyle.danger,
                label=text,
                custom_id=f"muse:consent:{choice}",
            )
        )
        self.choice = choice

    @classmethod
    def from_match(cls, match: re.Match[str]) -> ConsentButton:
        return cls(match["choice"])

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        service = app_of(interaction).service
        await service.feedback.set_consent(interaction.user.id, self.choice)
        mode = service.reviews.guilds.get(interaction.guild_id).consent_mode
        summary = await service.feedback.summary(interaction.user.id, mode)
        await interaction.response.edit_message(content=privacy_text(summary), view=consent_view())


def consent_view() -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(ConsentButton("in"))
    view.add_item(ConsentButton("out"))
    return view


class ForgetButton(MuseButton, template=FORGET_TEMPLATE):
    """The confirmation of /forget-me; only the member it was shown to can press it."""

    def __init__(self, user_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.danger,
                label="Yes, delete everything",
                custom_id=f"muse:forget:{user_id}",
            )
        )
        self.user_id = user_id

    @classmethod
    def from_match(cls, match: re.Match[str]) -> ForgetButton:
        return cls(int(match["user_id"]))

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        if interaction.user.id != self.user_id:
            raise NotAllowed("This confirmation belongs to another member.")
        service = app_of(interaction).service
        counts = await forget_member(
            service.storage, service.queue, self.user_id, service.settings.image_dir
        )
        done = ", ".join(f"{n} {name}" for name, n in counts.items())
        await interaction.response.edit_message(content=f"🗑️ Deleted: {done}.", view=None)


class PrivacyCommands(commands.Cog):
    """/privacy and /forget-me, for every member."""

    @app_commands.command(name="privacy", description="What Muse stores about you, and datasets")
    async def privacy(self, interaction: discord.Interaction[Any]) -> None:
        service = app_of(interaction).service
        mode = service.reviews.guilds.get(interaction.guild_id).consent_mode
        summary = await service.feedback.summary(interaction.user.id, mode)
        await interaction.response.send_message(
            privacy_text(summary), view=consent_view(), ephemeral=True, allowed_mentions=NO_PINGS
        )

    @app_commands.command(
        name="forget-me", description="Delete your requests, results, votes and reports"
    )
    async def forget_me(self, interaction: discord.Interaction[Any]) -> None:
        view = discord.ui.View(timeout=None)
        view.add_item(ForgetButton(interaction.user.id))
        await interaction.response.send_message(
            "This deletes your requests, their outputs and images, your votes, edits, picks and "
            "reports. It cannot be undone. Your dataset choice (opt in or out) is kept so that it "
            "keeps being honoured.",
            view=view,
            ephemeral=True,
            allowed_mentions=NO_PINGS,
        )
