"""Decisions announced to every front end, so Discord and the web view stay in step.

A decision is committed first (``ReviewDesk.decide``); then each listener is called in the
background, so the front end that decided answers at once. The Discord adapter listens to
publish an approved result (or tell the requester of a rejection) and to update the review
card, whichever front end made the decision.

Each decision is announced once: before telling the listeners, the announcement claims the
review row (``reviews.announced_at``). A decision stored by a process without listeners
(``muse web`` on its own) stays unclaimed until a listening process finds it
(``ReviewDesk.announce_missed``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.review.items import ReviewItem

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Decided:
    """A committed decision. ``via`` names the front end that made it ("card" and "list" for
    Discord's review card and /review buttons, "web"), so that front end can skip its own echo."""

    item: ReviewItem
    via: str


DecisionListener = Callable[[Decided], Awaitable[None]]
Claim = Callable[[int], Awaitable[bool]]  # True for the one caller that may announce a review


class DecisionEvents:
    """Listeners of committed decisions, and the announcements still running."""

    def __init__(self, claim: Claim) -> None:
        self._claim = claim
        self._listeners: list[DecisionListener] = []
        self._running: set[asyncio.Task[None]] = set()

    @property
    def listening(self) -> bool:
        return bool(self._listeners)

    def subscribe(self, listener: DecisionListener) -> None:
        """Call ``listener`` after every decision (in a background task)."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: DecisionListener) -> None:
        self._listeners.remove(listener)

    def tell(self, event: Decided) -> None:
        """Announce ``event`` in the background; nothing happens without listeners."""
        if not self._listeners:
            return
        task = asyncio.create_task(
            self._announce(event), name=f"muse-decided-{event.item.review_id}"
        )
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def settled(self) -> None:
        """Wait until every announcement made so far has reached every listener."""
        while self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    async def _announce(self, event: Decided) -> None:
        if not await self._claim(event.item.review_id):
            return  # another announcement (or another process) has it
        for listener in list(self._listeners):
            try:
                await listener(event)
            except Exception:  # the decision stands; one failing front end must not stop others
                log.exception("telling a front end about review %s failed", event.item.review_id)
