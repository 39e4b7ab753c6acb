"""Decisions announced to front ends, on a real database: once each, in the background, and
caught up when another process (``muse web`` on its own) stored them."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from bot.errors import UserError
from bot.review.events import Decided
from bot.review.reviews import ReviewDesk
from bot.store.storage import Storage
from tests.web_seed import GUILD, Clock, held


class Ears:
    """A listener that records what it hears; ``fail`` makes it raise instead."""

    def __init__(self, fail: bool = False) -> None:
        self.heard: list[tuple[int, str, str]] = []
        self.fail = fail

    async def __call__(self, event: Decided) -> None:
        await asyncio.sleep(0)
        if self.fail:
            raise RuntimeError("Discord is down")
        self.heard.append((event.item.review_id, event.item.status, event.via))


async def test_a_decision_reaches_every_listener_once(storage: Storage) -> None:
    desk = ReviewDesk(storage, Clock())
    for n in range(2):
        await held(desk, f"topic {n}", "damn")
    ears = Ears()
    desk.events.subscribe(ears)
    decided = await desk.decide(1, 9, GUILD, approve=True, via="web")
    assert decided.status == "approved" and ears.heard == []  # not before the caller answers
    await desk.events.settled()
    assert ears.heard == [(1, "approved", "web")]
    assert await desk.announce_missed() == 0  # nothing is announced twice
    await desk.decide(2, 9, GUILD, approve=False)
    await desk.events.settled()
    assert ears.heard[-1] == (2, "rejected", "card")


async def test_a_failing_listener_does_not_stop_the_others(
    storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    desk = ReviewDesk(storage, Clock())
    await held(desk, "moon", "damn")
    broken, ears = Ears(fail=True), Ears()
    desk.events.subscribe(broken)
    desk.events.subscribe(ears)
    await desk.decide(1, 9, GUILD, approve=True)
    await desk.events.settled()
    assert ears.heard == [(1, "approved", "card")]
    assert "telling a front end about review 1 failed" in caplog.text


async def test_decisions_stored_by_another_process_are_caught_up(storage: Storage) -> None:
    web = ReviewDesk(storage, Clock())  # `muse web` on its own: nobody listens there
    for n in range(3):
        await held(web, f"topic {n}", "damn")
    await web.decide(1, 0, GUILD, approve=True, via="web")
    await web.decide(2, 0, GUILD, approve=False, via="web")
    await web.events.settled()
    bot = ReviewDesk(storage, Clock())  # the running bot, over the same file
    assert await bot.announce_missed() == 0  # no listener yet: nothing is claimed
    ears = Ears()
    bot.events.subscribe(ears)
    assert await bot.announce_missed() == 2
    assert ears.heard == [(1, "approved", "elsewhere"), (2, "rejected", "elsewhere")]
    assert await bot.announce_missed() == 0
    with sqlite3.connect(storage.path) as raw:
        rows = raw.execute("SELECT id, announced_at IS NOT NULL FROM reviews ORDER BY id")
        assert rows.fetchall() == [(1, 1), (2, 1), (3, 0)]


async def test_two_listening_processes_announce_a_decision_once(storage: Storage) -> None:
    first, second = ReviewDesk(storage, Clock()), ReviewDesk(storage, Clock())
    await held(first, "moon", "damn")
    ears_first, ears_second = Ears(), Ears()
    first.events.subscribe(ears_first)
    second.events.subscribe(ears_second)
    await first.decide(1, 9, GUILD, approve=True)
    await asyncio.gather(first.events.settled(), second.announce_missed())
    assert len(ears_first.heard) + len(ears_second.heard) == 1


async def test_racing_decisions_one_wins_and_a_rejected_output_stays_hidden(
    storage: Storage,
) -> None:
    """A moderator rejects on Discord while another approves in ``muse web`` (another process,
    its own connection): exactly one decision is stored, audited and announced."""
    async with await Storage.open(storage.path) as elsewhere:
        bot, web = ReviewDesk(storage, Clock()), ReviewDesk(elsewhere, Clock())
        await held(bot, "moon", "damn")
        ears = Ears()
        bot.events.subscribe(ears)
        outcomes = await asyncio.gather(
            bot.decide(1, 9, GUILD, approve=False),
            web.decide(1, 0, GUILD, approve=True, via="web"),
            return_exceptions=True,
        )
        await bot.events.settled()
    won = [o for o in outcomes if not isinstance(o, BaseException)]
    lost = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(won) == 1 and len(lost) == 1
    assert isinstance(lost[0], UserError) and "already" in str(lost[0])
    with sqlite3.connect(storage.path) as raw:
        status = raw.execute("SELECT status FROM reviews WHERE id = 1").fetchone()[0]
        hidden, decision = raw.execute("SELECT hidden, decision FROM outputs").fetchone()
        audits = raw.execute("SELECT COUNT(*) FROM audit WHERE action != 'settings'").fetchone()
    assert status == won[0].status
    assert (status == "approved") == (hidden == 0 and decision == "allow")
    assert audits[0] == 1


async def test_two_moderators_in_one_process_decide_once(storage: Storage) -> None:
    desk = ReviewDesk(storage, Clock())
    await held(desk, "moon", "damn")
    outcomes = await asyncio.gather(
        desk.decide(1, 9, GUILD, approve=False),
        desk.decide(1, 8, GUILD, approve=True),
        return_exceptions=True,
    )
    assert sum(isinstance(o, UserError) for o in outcomes) == 1
    with sqlite3.connect(storage.path) as raw:
        status, decided_by = raw.execute("SELECT status, decided_by FROM reviews").fetchone()
        decision = raw.execute("SELECT decision FROM outputs").fetchone()[0]
    assert (status, decision) in {("approved", "allow"), ("rejected", "review")}  # never both
    assert decided_by == (9 if status == "rejected" else 8)
