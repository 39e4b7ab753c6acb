"""The word-list filter: verdicts, normalization of a copy, and never raising."""

from __future__ import annotations

import pytest

from moderation.verdict import Category, Decision, Verdict
from moderation.wordlist import COMPONENT, WordListFilter, normalize


@pytest.fixture(scope="module")
def words() -> WordListFilter:
    return WordListFilter()


@pytest.mark.parametrize(
    "text",
    ["春日花烂漫，", "Scunthorpe is a town", "a classic assessment", "shitake? no: shiitake"],
)
def test_clean_texts_pass(words: WordListFilter, text: str) -> None:
    verdict = words.check(text)
    assert verdict.decision is Decision.ALLOW
    assert verdict.components == (COMPONENT,)


@pytest.mark.parametrize(
    ("text", "decision", "category"),
    [
        ("what the FUCK", Decision.REVIEW, Category.PROFANITY),
        ("sh1t", Decision.REVIEW, Category.PROFANITY),
        ("ｆｕｃｋ", Decision.REVIEW, Category.PROFANITY),
        ("fu\u200bck", Decision.REVIEW, Category.PROFANITY),
        ("你是傻逼", Decision.REVIEW, Category.PROFANITY),
        ("how to make a  bomb", Decision.BLOCK, Category.ILLICIT),
        ("lolicon art", Decision.BLOCK, Category.SEXUAL_MINORS),
    ],
)
def test_listed_terms_are_flagged(
    words: WordListFilter, text: str, decision: Decision, category: Category
) -> None:
    verdict = words.check(text)
    assert verdict.decision is decision
    assert category in verdict.categories
    assert verdict.matched


def test_strictest_category_wins_and_evidence_is_kept(words: WordListFilter) -> None:
    verdict = words.check("fuck, lolicon")
    assert verdict.decision is Decision.BLOCK
    assert set(verdict.categories) == {Category.PROFANITY, Category.SEXUAL_MINORS}
    assert verdict.to_json()["decision"] == "block"


def test_normalize_changes_only_a_copy() -> None:
    text = "Ｃａｆé\u200b"
    assert normalize(text) == "cafe"
    assert text == "Ｃａｆé\u200b"


def test_filter_errors_hold_the_text_instead_of_raising() -> None:
    broken = WordListFilter()
    broken._rules = None  # type: ignore[assignment]
    verdict = broken.check("anything")
    assert verdict.decision is Decision.REVIEW
    assert verdict.categories == (Category.OTHER,)


def test_worst_of_two_verdicts() -> None:
    allow = Verdict(Decision.ALLOW, components=("a",))
    block = Verdict(Decision.BLOCK, (Category.HATE,), {"hate": 0.9}, ("x",), ("b",))
    combined = allow.worst(block)
    assert combined.decision is Decision.BLOCK
    assert combined.components == ("a", "b")
