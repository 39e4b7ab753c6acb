"""The labelled evaluation set: its shape, and the targets the combined filter must hold."""

from __future__ import annotations

import collections

import pytest

from bench.safety_eval import (
    BENIGN_FPR_MAX,
    CATEGORIES,
    OBFUSCATED_RECALL_MIN,
    Item,
    Outcome,
    load_items,
    recall,
    run,
    select,
    targets,
)
from moderation.text import build_text_filter
from moderation.verdict import Category, Decision


@pytest.fixture(scope="module")
def outcomes() -> list[Outcome]:
    return run(build_text_filter(ml=True), load_items())


def test_the_set_is_large_varied_and_well_formed() -> None:
    items = load_items()
    assert 400 <= len(items) <= 800
    assert len({item.text for item in items}) == len(items), "duplicate texts"
    counts = collections.Counter((item.lang, item.category) for item in items)
    for lang in ("en", "zh"):
        assert counts[(lang, "benign")] >= 100
        for category in CATEGORIES:
            assert counts[(lang, category)] >= 5, (lang, category)
    for item in items:
        assert item.lang in ("en", "zh")
        assert item.category == "benign" or Category(item.category)
        assert item.expect in {d.value for d in Decision}
        assert (item.category == "benign") == (item.expect == "allow")
    for lang in ("en", "zh"):
        assert len(_obfuscated_profanity(items, lang)) >= 40, lang


def _obfuscated_profanity(items: list[Item], lang: str) -> list[Item]:
    return [i for i in items if i.lang == lang and i.category == "profanity" and i.obfuscated]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_obfuscated_profanity_recall(outcomes: list[Outcome], lang: str) -> None:
    obfuscated = select(outcomes, category="profanity", lang=lang, obfuscated=True)
    missed = [o.item.text for o in obfuscated if not o.flagged]
    assert recall(obfuscated) >= OBFUSCATED_RECALL_MIN, missed


def test_benign_false_positive_rate(outcomes: list[Outcome]) -> None:
    benign = select(outcomes, category="benign")
    flagged = [o.item.text for o in benign if o.flagged]
    assert recall(benign) <= BENIGN_FPR_MAX, flagged


def test_no_benign_text_is_blocked(outcomes: list[Outcome]) -> None:
    benign = select(outcomes, category="benign")
    assert [o.item.text for o in benign if o.verdict.decision is Decision.BLOCK] == []


def test_blocked_categories_are_never_let_through(outcomes: list[Outcome]) -> None:
    for category in ("sexual_minors", "illicit"):
        missed = [o.item.text for o in select(outcomes, category=category) if not o.flagged]
        assert missed == [], category


def test_quality_targets_pass_without_latency(outcomes: list[Outcome]) -> None:
    assert all(t.passed for t in targets(outcomes, []))
    assert BENIGN_FPR_MAX == 0.02
