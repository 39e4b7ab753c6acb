"""Review cards for moderators, and /review's pages, with their persistent buttons.

muse:mod:<review_id>:ok|no:c|l<page>   ✅/⛔ on a review card (c) or a /review page (l)
muse:reviews:<page>                    ◀/▶ paging of /review
"""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path
from typing import Any, cast

import discord

from bot.discord.buttons import MuseButton
from bot.discord.context import HasService, app_of
from bot.discord.flow import attachments
from bot.discord.permissions import require_moderator
from bot.discord.render import result_embed
from bot.discord.replies import NO_PINGS, files_of
from bot.review.items import ReviewItem, actor_name
from bot.service.core import MuseService

log = logging.getLogger(__name__)

MOD_TEMPLATE = r"muse:mod:(?P<review_id>[0-9]{1,18}):(?P<action>ok|no):(?P<where>c|l[0-9]{1,6})"
PAGE_TEMPLATE = r"muse:reviews:(?P<page>[0-9]{1,6})"
PER_PAGE = 4
HIDDEN_TEXT = "🚫 Hidden after reports from several members, pending moderator review."


def fit(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def card_embed(item: ReviewItem) -> discord.Embed:
    """What a moderator needs: the output (spoilered), prompt, verdict, requester, reports."""
    why = "held by the safety filter" if item.source == "filter" else "reported by members"
    embed = discord.Embed(title=f"🛡️ Review #{item.review_id} · {item.kind} · {why}")
    if item.text:
        embed.description = f"||{fit(item.text, 3900)}||"
    verdict = item.verdict
    categories = ", ".join(verdict.get("categories", [])) or "—"
    scores = ", ".join(f"{k} {v:.2f}" for k, v in verdict.get("scores", {}).items()) or "—"
    embed.add_field(name="requested by", value=f"<@{item.requester_id}>", inline=True)
    embed.add_field(name="channel", value=f"<#{item.channel_id}>", inline=True)
    embed.add_field(name="filter decision", value=str(verdict.get("decision", "—")), inline=True)
    embed.add_field(name="categories", value=categories, inline=True)
    if layers := ", ".join(verdict.get("layers", [])):
        embed.add_field(name="decided by", value=fit(layers, 1024), inline=True)
    embed.add_field(name="scores", value=fit(scores, 1024), inline=True)
    matched = ", ".join(verdict.get("matched", []))
    if matched:
        embed.add_field(name="matched", value=f"||{fit(matched, 1000)}||", inline=True)
    embed.add_field(name="prompt", value=fit(item.prompt, 1024) or "—", inline=False)
    if item.reports:
        lines = [f"<@{user}>: {reason or '(no reason)'}" for user, reason in item.reports]
        embed.add_field(name=f"reports ({len(lines)})", value=fit("\n".join(lines), 1024))
    if item.status != "pending":
        mark = "✅ approved" if item.status == "approved" else "⛔ rejected"
        who = actor_name(item.decided_by, mention=True)
        embed.add_field(name="decision", value=f"{mark} by {who}", inline=False)
    return embed


def card_view(item: ReviewItem) -> discord.ui.View | None:
    if item.status != "pending":
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(ModButton(item.review_id, approve=True, where="c"))
    view.add_item(ModButton(item.review_id, approve=False, where="c"))
    return view


def _card_files(item: ReviewItem) -> list[discord.File]:
    if not item.image_path or not Path(item.image_path).is_file():
        return []
    name = f"SPOILER_review-{item.review_id}.png"  # spoiler-tagged for moderators
    return [discord.File(item.image_path, filename=name)]


async def send_to_review(client: discord.Client, service: MuseService, delivery: Any) -> None:
    """Post a review card for each held output that has none yet."""
    for output_id in delivery.held_ids:
        item = await service.reviews.item_for_output(output_id)
        if item is not None and item.card is None and item.status == "pending":
            await post_card(client, service, item)


async def post_card(client: discord.Client, service: MuseService, item: ReviewItem) -> None:
    guild = service.reviews.guilds.get(item.guild_id)
    channel_id = guild.mod_channel_id or service.settings.mod_channel_id
    if not channel_id:
        log.warning("review %s is waiting but no moderator channel is set", item.review_id)
        return
    try:
        message = await client.get_partial_messageable(channel_id).send(
            embed=card_embed(item),
            view=card_view(item) or discord.utils.MISSING,
            files=await asyncio.to_thread(_card_files, item),
            allowed_mentions=NO_PINGS,
        )
    except discord.HTTPException as err:
        log.warning("could not post review card %s: %s", item.review_id, err)
        return
    await service.reviews.set_card(item.review_id, channel_id, message.id)


async def publish(client: discord.Client, service: MuseService, item: ReviewItem) -> None:
    """After approval: show the job's visible outputs where it was requested (in its earlier
    message, when that one still exists, else in a new one)."""
    job = await service.storage.get_job(item.job_id)
    if job is None or job.channel_id is None:
        return
    delivery = await service.delivery(job)
    files = await asyncio.to_thread(attachments, delivery)
    embed = result_embed(delivery)
    view = cast("HasService", client).presenters.result_view(delivery)
    post = await service.reviews.post_of(job.id)
    channel = client.get_partial_messageable(job.channel_id)
    if post is not None:
        message = client.get_partial_messageable(post[0]).get_partial_message(post[1])
        try:
            await message.edit(content=None, embed=embed, view=view, attachments=files_of(files))
            return
        except discord.NotFound:
            log.info("the post of job %s was deleted; posting the approved result anew", job.id)
    sent = await channel.send(
        content=f"<@{job.user_id}>", embed=embed, view=view, files=files_of(files),
        allowed_mentions=NO_PINGS,
    )  # fmt: skip
    await service.reviews.record_post(job.id, job.channel_id, sent.id)


async def tell_rejected(client: discord.Client, item: ReviewItem) -> None:
    if item.channel_id is None:
        return
    await client.get_partial_messageable(item.channel_id).send(
        f"⛔ A moderator did not approve the {item.kind} requested by <@{item.requester_id}>.",
        allowed_mentions=NO_PINGS,
    )


async def hide_post(client: discord.Client, post: tuple[int, int]) -> None:
    message = client.get_partial_messageable(post[0]).get_partial_message(post[1])
    await message.edit(content=HIDDEN_TEXT, embeds=[], attachments=[], view=None)


async def review_page(
    service: MuseService, guild_id: int | None, page: int
) -> tuple[discord.Embed, discord.ui.View]:
    """One /review page: pending items oldest first, each with ✅/⛔, and ◀/▶."""
    items, total = await service.reviews.pending(guild_id, page, PER_PAGE)
    pages = max(1, -(-total // PER_PAGE))
    embed = discord.Embed(title=f"🛡️ Pending review · {total} item(s) · page {page + 1}/{pages}")
    if not items:
        embed.description = "Nothing is waiting. 🎉"
    view = discord.ui.View(timeout=None)
    for row, item in enumerate(items):
        what = fit(item.text, 200) if item.text else "(image)"
        reports = f" · {len(item.reports)} report(s)" if item.reports else ""
        embed.add_field(
            name=f"#{item.review_id} · {item.kind} · <t:{int(item.created_at)}:R>{reports}",
            value=f"<@{item.requester_id}> · ||{what}||",
            inline=False,
        )
        for approve in (True, False):
            button = ModButton(item.review_id, approve=approve, where=f"l{page}")
            button.item.row = row
            view.add_item(button)
    if pages > 1:
        for target, emoji in ((page - 1, "◀"), (page + 1, "▶")):
            nav = PageButton(target, emoji, disabled=not 0 <= target < pages)
            nav.item.row = 4
            view.add_item(nav)
    return embed, view


class ModButton(MuseButton, template=MOD_TEMPLATE):
    """✅ Approve or ⛔ Reject one review item, moderators only."""

    def __init__(self, review_id: int, *, approve: bool, where: str) -> None:
        action = "ok" if approve else "no"
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.success if approve else discord.ButtonStyle.danger,
                label=f"{'Approve' if approve else 'Reject'} #{review_id}",
                emoji="✅" if approve else "⛔",
                custom_id=f"muse:mod:{review_id}:{action}:{where}",
            )
        )
        self.review_id, self.approve, self.where = review_id, approve, where

    @classmethod
    def from_match(cls, match: re.Match[str]) -> ModButton:
        where = match["where"]
        return cls(int(match["review_id"]), approve=match["action"] == "ok", where=where)

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        """Decide, and update the message clicked; publishing the result (or telling the
        requester) and updating the card follow the decision's announcement (ReviewSync)."""
        require_moderator(interaction)
        service = app_of(interaction).service
        via = "card" if self.where == "c" else "list"
        item = await service.reviews.decide(
            self.review_id, interaction.user.id, interaction.guild_id, self.approve, via=via
        )
        if via == "card":
            await interaction.response.edit_message(embed=card_embed(item), view=None)
        else:
            embed, view = await review_page(service, interaction.guild_id, int(self.where[1:]))
            await interaction.response.edit_message(embed=embed, view=view)


async def refresh_card(client: discord.Client, item: ReviewItem) -> None:
    """Show the decision on the item's review card, if it has one."""
    if item.card is None:
        return
    message = client.get_partial_messageable(item.card[0]).get_partial_message(item.card[1])
    try:
        await message.edit(embed=card_embed(item), view=None)
    except discord.HTTPException as err:
        log.info("could not update review card %s: %s", item.review_id, err)


class PageButton(MuseButton, template=PAGE_TEMPLATE):
    """◀/▶ through /review's pages."""

    def __init__(self, page: int, emoji: str = "▶", *, disabled: bool = False) -> None:
        super().__init__(
            discord.ui.Button(
                emoji=emoji, disabled=disabled, custom_id=f"muse:reviews:{max(0, page)}"
            )
        )
        self.page = max(0, page)

    @classmethod
    def from_match(cls, match: re.Match[str]) -> PageButton:
        return cls(int(match["page"]))

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        require_moderator(interaction)
        service = app_of(interaction).service
        embed, view = await review_page(service, interaction.guild_id, self.page)
        await interaction.response.edit_message(embed=embed, view=view)
