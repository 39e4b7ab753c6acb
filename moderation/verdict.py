"""The one verdict type every filter returns. Filters decide; callers act on the decision."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any


class Decision(StrEnum):
    ALLOW = "allow"
    REVIEW = "review"
    BLOCK = "block"

    @property
    def severity(self) -> int:
        """0 for allow, 1 for review, 2 for block: higher is stricter."""
        return _SEVERITY[self]


class Category(StrEnum):
    """Mapped onto OpenAI moderation and MLCommons / Llama Guard hazard categories."""

    PROFANITY = "profanity"
    SEXUAL = "sexual"
    SEXUAL_MINORS = "sexual_minors"
    HATE = "hate"
    HARASSMENT = "harassment"
    VIOLENCE = "violence"
    SELF_HARM = "self_harm"
    ILLICIT = "illicit"
    OTHER = "other"
    COPYRIGHT = "copyright"  # reproduces protected text (moderation.copyright)


_SEVERITY = {Decision.ALLOW: 0, Decision.REVIEW: 1, Decision.BLOCK: 2}


@dataclass(frozen=True)
class Verdict:
    """What a filter concluded about one text, and which components concluded it."""

    decision: Decision
    categories: tuple[Category, ...] = ()
    scores: Mapping[str, float] = field(default_factory=dict)
    matched: tuple[str, ...] = ()
    components: tuple[str, ...] = ()
    # Which layer found which category, e.g. "list: profanity", "intent: violence",
    # "guard: violent": what moderators see as the reason a text was held.
    layers: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.decision is Decision.ALLOW

    def to_json(self) -> dict[str, Any]:
        return {
            "decision": self.decision.value,
            "categories": [c.value for c in self.categories],
            "scores": dict(self.scores),
            "matched": list(self.matched),
            "components": list(self.components),
            "layers": list(self.layers),
        }

    def worst(self, other: Verdict) -> Verdict:
        """Combine two verdicts: the stricter decision, with both sets of evidence."""
        decision = max(self.decision, other.decision, key=_SEVERITY.__getitem__)
        return Verdict(
            decision=decision,
            categories=tuple(dict.fromkeys(self.categories + other.categories)),
            scores={**self.scores, **other.scores},
            matched=tuple(dict.fromkeys(self.matched + other.matched)),
            components=tuple(dict.fromkeys(self.components + other.components)),
            layers=tuple(dict.fromkeys(self.layers + other.layers)),
        )

    def with_layer(self, layer: str) -> Verdict:
        """The verdict with ``"<layer>: <category>"`` noted for each of its categories."""
        found = tuple(f"{layer}: {c.value}" for c in self.categories)
        return replace(self, layers=tuple(dict.fromkeys(self.layers + found)))

    def decided_by(self) -> str:
        """The layers that flagged the text, for people: "guard: violent, list: profanity"."""
        return ", ".join(self.layers)
