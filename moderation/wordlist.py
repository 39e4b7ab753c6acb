"""Muse's word-list filter for prompts and outputs, in English and Chinese.

``WordListFilter`` loads the lists (``moderation.terms``), compiles them (``moderation.termindex``)
and matches a normalized copy of each text (``moderation.matcher``); the text shown to people is
never changed. The strictest matching rule decides the verdict.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence

from moderation.matcher import Hit, Matcher
from moderation.normalize import Normalizer
from moderation.termindex import build_index
from moderation.terms import Rule, TermLists, load_term_lists
from moderation.verdict import Category, Decision, Verdict

log = logging.getLogger(__name__)

COMPONENT = "muse-lists@2"


def _verdict(hits: Sequence[Hit]) -> Verdict:
    verdict = Verdict(Decision.ALLOW, components=(COMPONENT,))
    for hit in hits:
        category = hit.rule.category
        found = Verdict(hit.rule.decision, (category,), {category.value: 1.0}, (hit.term,))
        verdict = verdict.worst(found)
    return Verdict(
        verdict.decision,
        verdict.categories,
        verdict.scores,
        tuple(sorted(verdict.matched)),
        verdict.components,
    )


class WordListFilter:
    """Flags texts containing listed terms; the strictest matching rule decides."""

    def __init__(
        self, lists: TermLists | None = None, *, normalizer: Normalizer | None = None
    ) -> None:
        self._normalizer = normalizer or Normalizer()
        self.lists = lists if lists is not None else load_term_lists()
        index = build_index(self.lists, self._normalizer)
        self._rules = Matcher(index, self.lists.near, self._normalizer)

    @classmethod
    def from_terms(
        cls,
        terms: Mapping[Category, tuple[Decision, Iterable[str]]],
        *,
        allow: Iterable[str] = (),
        normalizer: Normalizer | None = None,
    ) -> WordListFilter:
        """A filter over the given terms only (no package or project lists)."""
        flat = {t: Rule(c, d) for c, (d, words) in terms.items() for t in words}
        return cls(TermLists(flat, allow=tuple(allow)), normalizer=normalizer)

    @property
    def name(self) -> str:
        return COMPONENT

    @property
    def normalizer(self) -> Normalizer:
        return self._normalizer

    @property
    def sources(self) -> tuple[str, ...]:
        """The lists this filter was built from, as ``name@version``."""
        return self.lists.sources

    def check(self, text: str) -> Verdict:
        try:
            return self._check(text)
        except Exception:  # a filter never raises; an error holds the text for review
            log.exception("word-list filter failed")
            return Verdict(Decision.REVIEW, (Category.OTHER,), components=(COMPONENT,))

    def without_allowed(self, folded: str) -> str:
        """A folded text with allow-listed Latin words and phrases blanked out, for classifiers
        that should follow the allow list too."""
        return self._rules.without_allowed(folded)

    def hits(self, text: str) -> list[Hit]:
        """Every listed term found in ``text`` (after normalization); may raise."""
        return self._rules.hits(self._normalizer.fold(text))

    def _check(self, text: str) -> Verdict:
        return _verdict(self.hits(text))
