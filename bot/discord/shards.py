"""Which discord.py client ``muse run`` starts: one gateway connection, or shards.

``MUSE_SHARDS`` unset: ``MuseBot`` (a ``commands.Bot``, one connection). Set to a count or to
``auto``: ``ShardedMuseBot``, the same bot over discord.py's ``AutoShardedClient``, which runs
that many gateway connections in one process (``auto`` asks Discord for its recommended count).
``MUSE_SHARD_IDS`` runs only some of the shards, so several processes can split a large bot
(each with its own database; see README, "Running at scale").
"""

from __future__ import annotations

import discord
from discord.ext import commands

from bot.config import Settings
from bot.discord.client import MuseBot
from bot.service.core import MuseService


class ShardedMuseBot(MuseBot, commands.AutoShardedBot):
    """``MuseBot`` over ``discord.AutoShardedClient``: several gateway connections, one bot."""


def make_bot(service: MuseService, settings: Settings, *, sync: bool = True) -> MuseBot:
    """The client class and shard settings that ``settings`` ask for."""
    # Muse never joins a voice channel: discord.py's startup warnings that PyNaCl and davey
    # (voice libraries) are missing do not apply. These are its own warn-once switches.
    discord.VoiceClient.warn_nacl = False
    discord.VoiceClient.warn_dave = False
    if settings.shards is None:
        return MuseBot(service, settings, sync=sync)
    count = None if settings.shards == "auto" else settings.shards
    ids = list(settings.shard_ids) if settings.shard_ids else None
    # Commands are global: one process of a split bot (the one running shard 0) syncs them.
    syncs = sync and (ids is None or 0 in ids)
    return ShardedMuseBot(service, settings, sync=syncs, shard_count=count, shard_ids=ids)
