"""Keeps Discord in step with review decisions, wherever they were made.

A decision made on a review card, on a /review page or in the web view reaches Discord the same
way: ``ReviewDesk.events`` tells :class:`ReviewSync`, which updates the review card, publishes
an approved result in its channel, or tells the requester of a rejection. Decisions that
another process stored (``muse web`` on its own) are picked up every ``interval_s`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3

import discord

from bot.discord.review_cards import publish, refresh_card, tell_rejected
from bot.review.events import Decided
from bot.service.core import MuseService

log = logging.getLogger(__name__)

SWEEP_INTERVAL_S = 5.0


class ReviewSync:
    """Subscribed to the service's review desk from ``start`` until ``close``."""

    def __init__(
        self, client: discord.Client, service: MuseService, interval_s: float = SWEEP_INTERVAL_S
    ) -> None:
        self.client = client
        self.service = service
        self.interval_s = interval_s
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Listen, catch up on decisions stored while no bot was listening, then keep sweeping."""
        self.service.reviews.events.subscribe(self.on_decided)
        self._sweeper = asyncio.create_task(self._sweep(), name="muse-review-sweep")
        await self.service.reviews.announce_missed()

    async def close(self) -> None:
        """Stop sweeping and listening, after the announcements in flight have been made."""
        if self._sweeper is None:
            return
        self._sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._sweeper
        self._sweeper = None
        await self.service.reviews.events.settled()
        self.service.reviews.events.unsubscribe(self.on_decided)

    async def on_decided(self, event: Decided) -> None:
        """Update the card (unless the card itself was clicked), then publish or tell."""
        if event.via != "card":
            await refresh_card(self.client, event.item)
        if event.item.status == "approved":
            await publish(self.client, self.service, event.item)
        else:
            await tell_rejected(self.client, event.item)

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.service.reviews.announce_missed()
            except sqlite3.Error:  # a busy database now is no reason to stop for good
                log.exception("could not look for review decisions made elsewhere")
