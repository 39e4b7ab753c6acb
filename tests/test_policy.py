"""Per-guild strictness turns a filter's findings into decisions."""

from __future__ import annotations

import pytest

from moderation.disabled import DisabledFilter
from moderation.policy import PRESETS, Strictness, apply_image_policy, apply_policy
from moderation.verdict import Category, Decision, Verdict


def found(*categories: Category) -> Verdict:
    return Verdict(Decision.REVIEW, categories, {c.value: 1.0 for c in categories}, ("x",), ("t",))


@pytest.mark.parametrize(
    ("strictness", "expected"),
    [
        (Strictness.RELAXED, Decision.ALLOW),
        (Strictness.STANDARD, Decision.REVIEW),
        (Strictness.STRICT, Decision.BLOCK),
    ],
)
def test_profanity_follows_the_preset(strictness: Strictness, expected: Decision) -> None:
    verdict = apply_policy(found(Category.PROFANITY), strictness)
    assert verdict.decision is expected
    assert verdict.matched == ("x",) and verdict.components == ("t",)  # evidence kept


def test_the_worst_category_decides_and_minors_are_never_allowed() -> None:
    assert apply_policy(found(Category.PROFANITY, Category.HATE), Strictness.RELAXED).decision is (
        Decision.BLOCK
    )
    for strictness in Strictness:
        assert PRESETS[strictness][Category.SEXUAL_MINORS] is Decision.BLOCK
        assert set(PRESETS[strictness]) == set(Category)
    clean = Verdict(Decision.ALLOW)
    assert apply_policy(clean, Strictness.STRICT) is clean


def test_image_thresholds_follow_the_preset() -> None:
    image = Verdict(Decision.ALLOW, (), {"nsfw": 0.5}, (), ("open_nsfw",))
    standard = (0.4, 0.8)
    assert apply_image_policy(image, Strictness.STANDARD, standard).decision is Decision.REVIEW
    assert apply_image_policy(image, Strictness.RELAXED, standard).decision is Decision.ALLOW
    strict = apply_image_policy(image, Strictness.STRICT, standard)
    assert strict.decision is Decision.REVIEW and strict.categories == (Category.SEXUAL,)
    failed = Verdict(Decision.REVIEW, (Category.OTHER,))
    assert apply_image_policy(failed, Strictness.RELAXED, standard) is failed


def test_the_disabled_filter_says_so() -> None:
    verdict = DisabledFilter().check("anything")
    assert verdict.allowed and verdict.components == ("filter-disabled",)
