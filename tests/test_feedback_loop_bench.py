"""The feedback-loop bench's simulated community: its stated taste, and blind A/B judging."""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
from pathlib import Path

from bench.feedback_loop import TOPICS, blind_ab
from bench.feedback_taste import choose, likes, taste

GOOD = "\n".join(
    [
        "the moon is bright above the hill",
        "silver on the lake tonight",
        "a stone of light in the river",
        "the wind keeps it still",
        "an owl on a branch",
        "frost along the road",
        "a window left open",
        "and the moon goes home",
    ]
)  # 8 lines, no repeats, topic named, 4+ image words
LOOP = "\n".join(["A moon, a moon, a moon, a moon."] * 9)
PROSE = (
    "The moon is the celestial body that carries fate and holds a place of reverence in a "
    "universe of endless possibilities for all of us."
)


def test_the_taste_wants_the_asked_form_fresh_lines_the_topic_and_images() -> None:
    assert taste(GOOD, "moon") == 3.0  # form 1 + topic 1 + images 1
    assert taste(GOOD, "kettle") == 2.0  # the topic is not named
    assert taste("\n".join(GOOD.splitlines()[:4]), "moon") < taste(GOOD, "moon")  # 4 lines
    assert taste(LOOP, "moon") == -1.0  # 9 lines, but 8 repeats and 9 loops cost the most: -3
    assert taste(PROSE, "moon") < taste(GOOD, "moon") - 2  # one long line is prose
    assert len(set(TOPICS)) == len(TOPICS) >= 60


def test_raters_choose_by_taste_and_call_close_ones_a_tie() -> None:
    rng = random.Random(1)
    assert [choose(GOOD, LOOP, "moon", rng) for _ in range(20)] == ["a"] * 20
    assert [choose(LOOP, GOOD, "moon", rng) for _ in range(20)] == ["b"] * 20
    ties = [choose(GOOD, GOOD, "moon", rng) for _ in range(200)]
    assert 0.5 < ties.count("tie") / 200 < 0.95  # noise sd 0.3 on each side, tie band 0.5
    assert all(likes(GOOD, "moon", rng) for _ in range(20))
    assert not any(likes(LOOP, "moon", rng) for _ in range(20))


def test_blind_ab_counts_the_tuned_side_wherever_it_is_shown() -> None:
    topics = ["moon"] * 40
    assert blind_ab([LOOP] * 40, [GOOD] * 40, topics, 3, seed=5) == (40, 0, 0)
    assert blind_ab([GOOD] * 40, [LOOP] * 40, topics, 3, seed=5) == (0, 40, 0)
    wins, losses, ties = blind_ab([GOOD] * 40, [GOOD] * 40, topics, 3, seed=5)
    assert wins + losses + ties == 40 and ties > 0


def test_a_community_round_goes_through_the_service(tiny_lm_dir: Path, tmp_path: Path) -> None:
    """Eight compare requests, four at a time, from four requesters (a member may have only
    two in progress), each chosen and voted on by two raters, then exported as DPO pairs."""
    from bench.common import load_backend
    from bench.feedback_loop import _settings, collect

    env, settings = _settings(tmp_path, str(tiny_lm_dir), 16)
    args = argparse.Namespace(compares=2, raters=2)
    events = asyncio.run(collect(settings, load_backend(tiny_lm_dir), TOPICS[:4], args, 0))
    assert events == 8 * 3 * 2  # per request and rater: an A/B choice and two votes
    with sqlite3.connect(tmp_path / "muse.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM outputs").fetchone() == (16,)
        assert db.execute("SELECT count(*) FROM votes").fetchone() == (32,)
    assert env["MUSE_DB_PATH"] == str(tmp_path / "muse.sqlite3")
