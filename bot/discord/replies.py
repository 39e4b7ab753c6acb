"""Every reply goes through here; every error is reported from here.

The helpers know an interaction's state: not yet answered, deferred ("thinking"), or expired
(tokens last 15 minutes). When the token can no longer be used, results go to the channel.
Nothing Muse sends can ping anyone: ``allowed_mentions`` is always "none".
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Sequence
from typing import Any

import discord
from discord import app_commands

from bot.discord.options import WrongOptionType
from bot.errors import UserError

log = logging.getLogger(__name__)

NO_PINGS = discord.AllowedMentions.none()
GENERIC_ERROR = "Something went wrong on Muse's side. The operator has the details in the log."
# Codes meaning "this interaction token or its message can no longer be used".
GONE_CODES = {10008, 10015, 10062, 50027}


def error_text(error: BaseException) -> str:
    """The short message a member sees for ``error``; unexpected errors are logged in full."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, UserError):
        return str(error)
    if isinstance(error, WrongOptionType):
        log.warning("%s", error.log_line)
        return str(error)
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Slow down: try again in {error.retry_after:.0f} s."
    if isinstance(error, app_commands.CheckFailure):
        return "You cannot use this command here."
    if isinstance(error, app_commands.TransformerError):
        return f"That value is not valid: {error.value!r}."
    log.error("unhandled error", exc_info=error)
    return GENERIC_ERROR


async def report_error(interaction: discord.Interaction[Any], error: BaseException) -> None:
    """Tell the member what went wrong, ephemerally when the interaction still allows it."""
    _count(interaction, type(getattr(error, "original", error)).__name__)
    await send_ephemeral(interaction, f"⚠️ {error_text(error)}")


def _count(interaction: discord.Interaction[Any], kind: str) -> None:
    """Count an error in the service's metrics, when the client has a service."""
    metrics = getattr(getattr(interaction.client, "service", None), "metrics", None)
    if metrics is not None:
        metrics.discord_errors.labels(kind).inc()


def _is_gone(err: discord.HTTPException) -> bool:
    return isinstance(err, discord.NotFound) or err.code in GONE_CODES


async def send_ephemeral(interaction: discord.Interaction[Any], text: str) -> None:
    """A private notice: initial response, or followup (replacing a "thinking" placeholder);
    in the channel when the interaction's token can no longer be used."""
    try:
        if not interaction.response.is_done():
            await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)
            return
        if interaction.is_expired() or not await _followup(interaction, text):
            await _to_channel(interaction, f"<@{interaction.user.id}> {text}")
    except discord.HTTPException as err:
        _count(interaction, f"http_{err.code or err.status}")
        log.warning("could not deliver notice to user %s: %s", interaction.user.id, err)


async def _followup(interaction: discord.Interaction[Any], text: str) -> bool:
    """Drop the public "thinking" placeholder (if it is one; a member may have deleted it
    already) and send ``text`` privately; False when Discord says the token is gone."""
    try:
        if interaction.response.type == discord.InteractionResponseType.deferred_channel_message:
            await interaction.delete_original_response()
    except discord.HTTPException as err:
        log.info("could not delete the placeholder (%s); sending the notice anyway", err)
    try:
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_PINGS)
    except discord.HTTPException as err:
        if not _is_gone(err):
            raise
        _count(interaction, f"http_{err.code or err.status}")
        return False
    return True


async def show_progress(
    interaction: discord.Interaction[Any], text: str, view: discord.ui.View | None
) -> None:
    """Replace the deferred placeholder's text and buttons; failures only cost a status line."""
    if interaction.is_expired():
        return
    try:
        await interaction.edit_original_response(content=text, view=view, allowed_mentions=NO_PINGS)
    except discord.HTTPException as err:
        log.info("progress edit failed: %s", err)


Attachment = tuple[bytes, str]  # (data, file name)


def files_of(attachments: Sequence[Attachment]) -> list[discord.File]:
    """Fresh file objects for each attempt (a sent file's stream is spent)."""
    return [discord.File(io.BytesIO(data), filename=name) for data, name in attachments]


async def send_result(
    interaction: discord.Interaction[Any],
    *,
    embed: discord.Embed,
    view: discord.ui.View,
    attachments: Sequence[Attachment] = (),
) -> discord.Message | None:
    """Replace the placeholder with the result, or post it in the channel when the token is
    gone or Discord keeps failing; returns the message that shows it."""
    if not interaction.is_expired():
        try:
            return await interaction.edit_original_response(
                content=None,
                embed=embed,
                view=view,
                attachments=files_of(attachments),
                allowed_mentions=NO_PINGS,
            )
        except discord.HTTPException as err:
            _count(interaction, f"http_{err.code or err.status}")
            if not (_is_gone(err) or err.status >= 500):
                raise
            log.info("cannot edit the placeholder (%s); posting the result to the channel", err)
    return await _to_channel(
        interaction, f"<@{interaction.user.id}>", embed=embed, view=view, attachments=attachments
    )


CHANNEL_RETRY_DELAYS_S = (1.0, 2.0)


async def _to_channel(
    interaction: discord.Interaction[Any],
    content: str,
    *,
    embed: discord.Embed | None = None,
    view: discord.ui.View | None = None,
    attachments: Sequence[Attachment] = (),
) -> discord.Message | None:
    """Post in the interaction's channel, retrying Discord's server errors (fresh files each
    try: a sent file cannot be read again)."""
    channel = interaction.channel
    if channel is None or not hasattr(channel, "send"):
        log.warning("no channel to post to for interaction %s", interaction.id)
        return None
    kwargs: dict[str, Any] = {"content": content, "allowed_mentions": NO_PINGS}
    if embed is not None:
        kwargs["embed"] = embed
    if view is not None:
        kwargs["view"] = view
    for delay_s in (*CHANNEL_RETRY_DELAYS_S, None):
        try:
            if attachments:
                kwargs["files"] = files_of(attachments)
            message: discord.Message = await channel.send(**kwargs)
            return message
        except discord.DiscordServerError as err:
            if delay_s is None:
                raise
            log.info("channel post failed (%s); retrying in %.0f s", err.status, delay_s)
            await asyncio.sleep(delay_s)
    return None
