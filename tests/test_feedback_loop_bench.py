"""The feedback-loop bench's simulated community: its stated taste, and blind A/B judging."""

from __future__ import annotations

import random

from bench.feedback_loop import TOPICS, blind_ab, choose, taste

GOOD = "the moon is bright\nit hangs above the hill\nsilver on the lake\nnight keeps it still"
LONG = "\n".join(["a line of many many words that keeps on going and going"] * 9)


def test_the_taste_prefers_short_poems_that_name_the_topic() -> None:
    assert taste(GOOD, "moon") == 3.0
    assert taste(GOOD, "river") == 0.0  # the topic is not named
    assert taste(LONG, "moon") < -5
    assert len(set(TOPICS)) == len(TOPICS) >= 60


def test_raters_choose_by_taste_and_call_close_ones_a_tie() -> None:
    rng = random.Random(1)
    assert [choose(GOOD, LONG, "moon", rng) for _ in range(20)] == ["a"] * 20
    assert [choose(LONG, GOOD, "moon", rng) for _ in range(20)] == ["b"] * 20
    ties = [choose(GOOD, GOOD, "moon", rng) for _ in range(200)]
    assert 0.3 < ties.count("tie") / 200 < 0.9  # noise sd 0.3 on each side, tie band 0.25


def test_blind_ab_counts_the_tuned_side_wherever_it_is_shown() -> None:
    topics = ["moon"] * 40
    assert blind_ab([LONG] * 40, [GOOD] * 40, topics, 3, seed=5) == (40, 0, 0)
    assert blind_ab([GOOD] * 40, [LONG] * 40, topics, 3, seed=5) == (0, 40, 0)
    wins, losses, ties = blind_ab([GOOD] * 40, [GOOD] * 40, topics, 3, seed=5)
    assert wins + losses + ties == 40 and ties > 0
