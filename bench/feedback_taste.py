"""The simulated community's taste in bench/feedback_loop.py: what its raters like in a poem.

The taste agrees with what Muse's poem prompt asks for (free verse of 8 to 14 lines, on the
topic), and with what members of a poetry channel plausibly hold against a small model's
failures: a poem that loops on the same line, runs on as prose, or drifts off its topic.
"""

from __future__ import annotations

import random
import re
from collections import Counter

TASTE = (
    "free verse that keeps the asked form and names concrete images of its topic: "
    "+1 for 8 to 14 lines (else -0.25 per line outside, at most -2); -0.5 per repeated line "
    "and per line that repeats one word 3+ times (at most -3); -0.25 per line over 14 words "
    "(at most -1.5); +1 if the topic word appears; +0.25 per distinct concrete image word "
    "(light, stone, rain, ...; at most +1). A rater adds Gaussian noise (sd 0.3), calls a tie "
    "when the two scores are within 0.5, and votes 👍 on a poem scoring 1.5 or more"
)
IMAGES = frozenset(
    "light dark sun moon star stars sky cloud clouds rain snow ice wind storm sea wave waves "
    "water river stone stones rock leaf leaves tree trees branch branches root roots flower "
    "flowers rose petal petals grass field fields hill hills mountain fire flame smoke ash "
    "gold silver blue green red white black grey gray dawn dusk night morning evening bird "
    "birds wing wings feather hand hands eye eyes door window road path dust sand salt glass "
    "iron wood bread milk honey bell song shore sail boat bone skin breath frost mist fog".split()
)
TIE_BAND, NOISE_SD, LIKE_AT = 0.5, 0.3, 1.5
_WORD = re.compile(r"[a-z']+")


def _words(line: str) -> list[str]:
    return _WORD.findall(line.lower())


def _repetition(lines: list[str]) -> int:
    """Lines that repeat an earlier line, plus lines that repeat one word three times or more."""
    seen: set[str] = set()
    repeats = 0
    for line in lines:
        words = _words(line)
        key = " ".join(words)
        repeats += key in seen
        seen.add(key)
        counts = Counter(w for w in words if len(w) > 2)
        repeats += bool(counts) and max(counts.values()) >= 3
    return repeats


def taste(text: str, topic: str) -> float:
    """The community's score of a poem about ``topic`` (see ``TASTE``)."""
    lines = [line for line in text.splitlines() if line.strip()]
    outside = max(0, 8 - len(lines), len(lines) - 14)
    form = 1.0 if outside == 0 else -min(2.0, 0.25 * outside)
    loops = -min(3.0, 0.5 * _repetition(lines))
    prose = -min(1.5, 0.25 * sum(len(_words(line)) > 14 for line in lines))
    words = set(_words(text))
    named = 1.0 if topic.lower() in text.lower() else 0.0
    images = min(1.0, 0.25 * len(words & IMAGES - {topic.lower()}))
    return form + loops + prose + named + images


def choose(a: str, b: str, topic: str, rng: random.Random) -> str:
    """A rater's blind choice between texts A and B: "a", "b" or "tie"."""
    score_a = taste(a, topic) + rng.gauss(0, NOISE_SD)
    score_b = taste(b, topic) + rng.gauss(0, NOISE_SD)
    if abs(score_a - score_b) < TIE_BAND:
        return "tie"
    return "a" if score_a > score_b else "b"


def likes(text: str, topic: str, rng: random.Random) -> bool:
    """A rater's 👍 (True) or 👎 on one poem."""
    return taste(text, topic) + rng.gauss(0, NOISE_SD) >= LIKE_AT
