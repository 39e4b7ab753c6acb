"""Per-guild strictness: which decision each category gets. Filters find; policies decide."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from enum import StrEnum

from moderation.verdict import Category, Decision, Verdict

A, R, B = Decision.ALLOW, Decision.REVIEW, Decision.BLOCK


class Strictness(StrEnum):
    RELAXED = "relaxed"
    STANDARD = "standard"
    STRICT = "strict"


# sexual_minors, hate and illicit are blocked at every level; only the rest moves. Copyright is
# held for a moderator on relaxed servers (quotation and parody are judgement calls) and blocked
# otherwise; a prompt that is not allowed is refused either way.
PRESETS: Mapping[Strictness, Mapping[Category, Decision]] = {
    Strictness.RELAXED: {
        Category.PROFANITY: A, Category.SEXUAL: R, Category.SEXUAL_MINORS: B, Category.HATE: B,
        Category.HARASSMENT: R, Category.VIOLENCE: A, Category.SELF_HARM: R, Category.ILLICIT: B,
        Category.OTHER: R, Category.COPYRIGHT: R,
    },
    Strictness.STANDARD: {
        Category.PROFANITY: R, Category.SEXUAL: R, Category.SEXUAL_MINORS: B, Category.HATE: B,
        Category.HARASSMENT: R, Category.VIOLENCE: R, Category.SELF_HARM: R, Category.ILLICIT: B,
        Category.OTHER: R, Category.COPYRIGHT: B,
    },
    Strictness.STRICT: {
        Category.PROFANITY: B, Category.SEXUAL: B, Category.SEXUAL_MINORS: B, Category.HATE: B,
        Category.HARASSMENT: B, Category.VIOLENCE: R, Category.SELF_HARM: R, Category.ILLICIT: B,
        Category.OTHER: R, Category.COPYRIGHT: B,
    },
}  # fmt: skip


def apply_policy(verdict: Verdict, strictness: Strictness) -> Verdict:
    """The verdict with its decision set by the guild's preset for its categories.

    Evidence (categories, scores, matches, components) is kept; a filter error (category
    ``other`` with no evidence) still goes to review.
    """
    if not verdict.categories:
        return verdict
    actions = PRESETS[strictness]
    decision = max((actions[c] for c in verdict.categories), key=lambda d: d.severity)
    return replace(verdict, decision=decision)


# open_nsfw (review, block) score thresholds by strictness; STANDARD uses the operator's.
IMAGE_THRESHOLDS: Mapping[Strictness, tuple[float, float]] = {
    Strictness.RELAXED: (0.6, 0.9),
    Strictness.STRICT: (0.2, 0.6),
}


def apply_image_policy(
    verdict: Verdict, strictness: Strictness, standard: tuple[float, float]
) -> Verdict:
    """Re-decide an image verdict from its ``nsfw`` score with the guild's thresholds."""
    score = verdict.scores.get("nsfw")
    if score is None:  # the classifier failed: keep its review verdict
        return verdict
    review_at, block_at = IMAGE_THRESHOLDS.get(strictness, standard)
    decision = B if score >= block_at else R if score >= review_at else A
    categories = () if decision is A else (Category.SEXUAL,)
    return replace(verdict, decision=decision, categories=categories)
