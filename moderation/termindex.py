"""The word lists compiled for matching: terms normalized the way texts are, into lookup tables.

Latin terms become word-sequence keys (leet undone, runs limited) with their prefixes and
squeezed forms; a term written with a "*" mask gets no key. Chinese terms become substrings
keyed by their first character; emoji and symbols are kept as they are. A package term that is
also an allow term is dropped.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import moderation.normalize as nz
from moderation.normalize import Normalizer
from moderation.terms import Rule, TermLists, stricter

Key = tuple[str, ...]


class TermKeys:
    """Turns terms into lookup keys with the text's normalization, remembering each word."""

    def __init__(self, normalizer: Normalizer) -> None:
        self.normalizer = normalizer
        self._words: dict[str, str | None] = {}

    def cjk(self, term: str) -> str:
        return nz.cjk_view(self.normalizer.fold(term))

    def latin(self, term: str) -> Key | None:
        words = [self._word(t.raw) for t in nz.tokens(self.normalizer.fold(term))]
        if not words or None in words:
            return None
        return tuple(w for w in words if w is not None)

    def any(self, term: str) -> str | Key | None:
        return self.cjk(term) if nz.has_cjk(term) else self.latin(term)

    def _word(self, raw: str) -> str | None:
        if raw not in self._words:
            self._words[raw] = None if nz.is_masked(raw) else nz.limit_runs(nz.deleet(raw))
        return self._words[raw]


def _squeezable(key: Key) -> bool:
    return not any(a == b for word in key for a, b in itertools.pairwise(word))


@dataclass
class TermIndex:
    """Normalized lookup tables built once from ``TermLists``."""

    exact: dict[Key, Rule] = field(default_factory=dict)
    squeezed: dict[Key, Rule] = field(default_factory=dict)
    by_length: dict[int, list[str]] = field(default_factory=dict)
    stems: dict[str, Rule] = field(default_factory=dict)
    stem_lengths: tuple[int, ...] = ()
    prefixes: set[Key] = field(default_factory=set)  # proper prefixes of multi-word keys
    squeezed_prefixes: set[Key] = field(default_factory=set)
    cjk: dict[str, list[tuple[str, Rule]]] = field(default_factory=dict)
    symbols: dict[str, Rule] = field(default_factory=dict)
    allow_latin: set[Key] = field(default_factory=set)
    allow_starts: set[str] = field(default_factory=set)
    allow_max_words: int = 1
    allow_cjk: dict[str, list[str]] = field(default_factory=dict)

    def add_latin(self, key: Key, rule: Rule) -> None:
        self.exact[key] = stricter(self.exact.get(key), rule)
        squeezable = _squeezable(key)
        if squeezable:
            self.squeezed[key] = self.exact[key]
        if len(key) == 1:
            self.by_length.setdefault(len(key[0]), []).append(key[0])
        for n in range(1, len(key)):
            self.prefixes.add(key[:n])
            if squeezable:
                self.squeezed_prefixes.add(key[:n])

    def add_cjk(self, key: str, rule: Rule) -> None:
        self.cjk.setdefault(key[0], []).append((key, rule))

    def add_allow(self, keys: TermKeys, term: str) -> None:
        if nz.has_cjk(term):
            key = keys.cjk(term)
            if key:
                self.allow_cjk.setdefault(key[0], []).append(key)
            return
        latin = keys.latin(term)
        if latin:
            self.allow_latin.add(latin)
            self.allow_starts.add(latin[0])
            self.allow_max_words = max(self.allow_max_words, len(latin))


def build_index(lists: TermLists, normalizer: Normalizer) -> TermIndex:
    """The lookup tables for ``lists``, normalized with ``normalizer``."""
    index = TermIndex()
    keys = TermKeys(normalizer)
    dropped = {keys.any(term) for term in lists.allow}
    for term, rule in lists.terms.items():
        _add_term(index, keys, term, rule, dropped)
    for stem, rule in lists.stems.items():
        key = keys.latin(stem)
        if key and len(key) == 1:
            index.stems[key[0]] = rule
    index.stem_lengths = tuple(sorted({len(stem) for stem in index.stems}))
    for terms in index.by_length.values():  # a mask that fits several reads as the worst, a stem
        terms.sort(key=lambda t: (-index.exact[(t,)].decision.severity, t not in index.stems, t))
    for term in lists.allow:
        index.add_allow(keys, term)
    return index


def _add_term(
    index: TermIndex, keys: TermKeys, term: str, rule: Rule, dropped: set[str | Key | None]
) -> None:
    if nz.has_cjk(term):
        key = keys.cjk(term)
        if len(key) > 1 and key not in dropped:
            index.add_cjk(key, rule)
        return
    latin = keys.latin(term)
    if latin is None:
        folded = keys.normalizer.fold(term).strip()
        if folded and not nz.has_letter(folded) and not folded.isdigit():
            index.symbols[folded] = rule  # emoji and symbols
        return
    if latin not in dropped:
        index.add_latin(latin, rule)
