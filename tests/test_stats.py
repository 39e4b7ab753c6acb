"""Rater statistics on a real database: counts, own votes, consent, agreement, top raters."""

from __future__ import annotations

import pytest

from bot.datasets.pseudonyms import pseudonym
from bot.datasets.stats import RaterCount, format_stats, rater_stats
from bot.store.records import JobRecord, NewOutput
from bot.store.storage import Storage

SECRET = "installation-secret"
GUILD, OPT_IN_GUILD = 810000000000000001, 810000000000000002
ALICE, BOB, CAROL, DAVE, VERA, IRIS = (820000000000000000 + n for n in range(1, 7))


async def add_job(
    storage: Storage, job_id: str, requester: int, guild: int, count: int
) -> list[int]:
    await storage.insert_job(JobRecord(
        id=job_id, group_id=job_id, parent_id=None, kind="poem", user_id=requester,
        guild_id=guild, channel_id=None, options={"topic": "moon"}, prompt="Write a poem.",
        seed=1, status="queued", created_at=1.0,
    ))  # fmt: skip
    outputs = [NewOutput(i, f"poem {i}", "m", i, {"decision": "allow"}, {}) for i in range(count)]
    return await storage.add_outputs(job_id, outputs, 2.0)


async def consent(storage: Storage, member: int, choice: str) -> None:
    await storage.write(
        "INSERT INTO consent (user_id, choice, updated_at) VALUES (?,?,?)", (member, choice, 1.0)
    )


@pytest.fixture
async def voted(storage: Storage) -> Storage:
    o1, o2, o3 = await add_job(storage, "A", ALICE, GUILD, 3)
    for output, member, value in (
        (o1, BOB, 1), (o1, CAROL, 1), (o1, DAVE, -1),  # shared: 2 of 3 agree
        (o2, BOB, -1), (o2, CAROL, 1),  # shared, a tie: half agree
        (o3, BOB, 1),  # one rater: not shared
        (o1, ALICE, 1),  # the requester's own vote
        (o2, VERA, 1),  # opted out: ignored
    ):  # fmt: skip
        await storage.toggle_vote(output, member, value, 3.0)
    await consent(storage, VERA, "out")
    await consent(storage, IRIS, "in")
    await storage.write(
        "INSERT INTO guild_settings (guild_id, updated_at, consent_mode) VALUES (?,?,?)",
        (OPT_IN_GUILD, 1.0, "opt-in"),
    )
    [p1] = await add_job(storage, "P", IRIS, OPT_IN_GUILD, 1)
    await storage.toggle_vote(p1, BOB, 1, 3.0)  # Bob never opted in: ignored there
    return storage


async def test_counts_agreement_and_top_raters(voted: Storage) -> None:
    stats = await rater_stats(voted, SECRET)
    assert (stats.raters, stats.votes_up, stats.votes_down, stats.own_votes) == (3, 4, 2, 1)
    assert (stats.shared_items, stats.shared_votes, stats.agreeing_votes) == (2, 5, 3)
    assert stats.agreement == pytest.approx(0.6) and stats.votes == 6
    assert stats.top_raters == (
        RaterCount(pseudonym(SECRET, "user", BOB), 3, 2, 1),
        RaterCount(pseudonym(SECRET, "user", CAROL), 2, 2, 0),
        RaterCount(pseudonym(SECRET, "user", DAVE), 1, 0, 1),
    )
    assert len((await rater_stats(voted, SECRET, top=1)).top_raters) == 1


async def test_report_is_short_and_pseudonymous(voted: Storage) -> None:
    text = format_stats(await rater_stats(voted, SECRET))
    assert "Raters: 3" in text and "Votes: 6 (4 up, 2 down)" in text
    assert "Agreement: 60.0% of 5 votes on 2 outputs" in text
    assert f"1. {pseudonym(SECRET, 'user', BOB)}  3 votes (2 up, 1 down)" in text
    assert len(text.splitlines()) == 7
    for member in (ALICE, BOB, CAROL, DAVE, VERA, IRIS, GUILD):
        assert str(member) not in text


async def test_an_empty_database_and_a_missing_secret(storage: Storage) -> None:
    stats = await rater_stats(storage, SECRET)
    assert (stats.raters, stats.votes, stats.agreement, stats.top_raters) == (0, 0, None, ())
    assert "no output rated by two or more members" in format_stats(stats)
    with pytest.raises(ValueError, match="non-empty secret"):
        await rater_stats(storage, "")
