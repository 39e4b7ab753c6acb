"""Finding listed terms in a folded text with a compiled ``TermIndex``.

Latin terms match whole words and word sequences, so "Scunthorpe" and "classic" pass, after
leetspeak, stretched letters, spaced-out letters, in-word punctuation and "*" masks are undone;
a stem matches with the suffixes in ``SUFFIXES``. Chinese terms match as substrings of the text
with spaces and symbols removed. A match that lies inside an allow phrase is ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import moderation.normalize as nz
from moderation.normalize import Normalizer
from moderation.termindex import Key, TermIndex, TermKeys
from moderation.terms import Near, Rule

# Suffixes a stem term takes: "fuck" -> "fucks", "fucked", "fucker", "fuckhead", ...
SUFFIXES = frozenset(
    "s es ed er ers ing in ings y ie ies ty tier face faces head heads hole holes wit wits bag"
    " bags".split()
)


@dataclass(frozen=True)
class Hit:
    """One match: the normalized term found and the rule it carries."""

    term: str
    rule: Rule


@dataclass(frozen=True)
class _Word:
    """A token's readings: leet undone with runs limited to two, squeezed, and alternatives."""

    main: str
    squeezed: str
    alt: str  # the second leet reading ("1" as "l"), or ""
    mask: str | None  # "f?ck" for "f*ck"
    bare: str  # the masked word with its mask characters dropped, or ""


def _word(raw: str) -> _Word:
    main = nz.limit_runs(nz.deleet(raw))
    alt = nz.limit_runs(nz.deleet_alt(raw))
    if not (nz.is_masked(raw) and len(raw) >= 3):
        return _Word(main, nz.squeeze(main), alt, None, "")
    bare = nz.limit_runs(nz.deleet("".join(ch for ch in raw if ch not in "*#%")))
    return _Word(main, nz.squeeze(main), alt, nz.mask_pattern(raw), bare)


def _sequences(folded: str) -> list[list[str]]:
    """The Latin token sequences to match: as written, with in-word punctuation removed, and
    with spelled-out words joined (two ways)."""
    out = []
    for text in dict.fromkeys((folded, nz.join_inner_punctuation(folded))):
        toks = nz.tokens(text)
        raws = [t.raw for t in toks]
        out.append(raws)
        spans = nz.spaced_spans(text, toks)
        if spans:
            out.append(nz.collapse_spans(raws, spans, split_edges=False))
            out.append(nz.collapse_spans(raws, spans, split_edges=True))
    return out


def _allow_pattern(keys: Iterable[Key]) -> re.Pattern[str] | None:
    parts = sorted((r"[\W_]+".join(map(re.escape, key)) for key in keys), key=len, reverse=True)
    if not parts:
        return None
    return re.compile(r"(?<![a-z0-9])(?:" + "|".join(parts) + r")(?![a-z0-9])")


class Matcher:
    """Finds hits of an ``TermIndex`` in a folded text."""

    def __init__(self, index: TermIndex, near: Sequence[Near], normalizer: Normalizer) -> None:
        self.index = index
        self.near = [_NearIndex.build(rule, normalizer) for rule in near]
        self.allow_pattern = _allow_pattern(index.allow_latin)

    def without_allowed(self, folded: str) -> str:
        """``folded`` with allow-listed Latin words and phrases blanked out."""
        return self.allow_pattern.sub(" ", folded) if self.allow_pattern else folded

    def hits(self, folded: str) -> list[Hit]:
        found: list[Hit] = []
        cache: dict[str, _Word] = {}
        for raws in _sequences(folded):
            found += self._latin(raws, cache)
        cjk = nz.cjk_view(folded) if nz.has_cjk(folded) else ""
        if cjk:
            found += self._cjk(cjk)
            for near in self.near:
                found += near.cjk_hits(cjk)
        found += [Hit(s, r) for s, r in self.index.symbols.items() if s in folded]
        return found

    # Latin ---------------------------------------------------------------------------------

    def _latin(self, raws: list[str], cache: dict[str, _Word]) -> list[Hit]:
        words = [cache[raw] if raw in cache else cache.setdefault(raw, _word(raw)) for raw in raws]
        mains = [w.main for w in words]
        allowed = self._allow_spans(mains)
        found = [
            hit
            for i in range(len(words))
            for hit in self._at(words, i)
            if not _inside(allowed, i, i + len(hit.term.split()))
        ]
        for near in self.near:
            found += near.latin_hits(mains)
        return found

    def _at(self, words: list[_Word], i: int) -> Iterator[Hit]:
        yield from self._single(words[i])
        index = self.index
        key: Key = (words[i].main,)
        squeezed: Key = (words[i].squeezed,)
        for word in words[i + 1 :]:
            main_open = key in index.prefixes
            squeezed_open = squeezed in index.squeezed_prefixes
            if not (main_open or squeezed_open):
                return
            key += (word.main,)
            squeezed += (word.squeezed,)
            rule = (index.exact.get(key) if main_open else None) or (
                index.squeezed.get(squeezed) if squeezed_open else None
            )
            if rule is not None:
                yield Hit(" ".join(key), rule)

    def _single(self, word: _Word) -> Iterator[Hit]:
        index = self.index
        for form in (word.main, word.alt):
            rule = index.exact.get((form,)) or self._stem(form) if form else None
            if rule is not None:
                yield Hit(form, rule)
                return
        squeezed = index.squeezed.get((word.squeezed,)) or self._stem(word.squeezed)
        if squeezed is not None:
            yield Hit(word.squeezed, squeezed)
            return
        if word.mask is not None:
            yield from self._masked(word.mask, word.bare)

    def _stem(self, form: str) -> Rule | None:
        for cut in self.index.stem_lengths:
            if cut > len(form):
                break
            rule = self.index.stems.get(form[:cut])
            if rule is not None and (cut == len(form) or form[cut:] in SUFFIXES):
                return rule
        return None

    def _masked(self, pattern: str, bare: str) -> Iterator[Hit]:
        for term in self.index.by_length.get(len(pattern), ()):
            if nz.fits_mask(pattern, term):
                yield Hit(term, self.index.exact[(term,)])
                return
        rule = self.index.exact.get((bare,)) or self._stem(bare)
        if rule is not None:
            yield Hit(bare, rule)

    def _allow_spans(self, words: list[str]) -> list[tuple[int, int]]:
        index = self.index
        spans = []
        for i, word in enumerate(words):
            if word not in index.allow_starts:
                continue
            for n in range(1, min(index.allow_max_words, len(words) - i) + 1):
                if tuple(words[i : i + n]) in index.allow_latin:
                    spans.append((i, i + n))
        return spans

    # Chinese -------------------------------------------------------------------------------

    def _cjk(self, view: str) -> list[Hit]:
        allowed = list(_find_all(view, self.index.allow_cjk))
        found = []
        for term, rule, start in _find_rules(view, self.index.cjk):
            if not _inside(allowed, start, start + len(term)):
                found.append(Hit(term, rule))
        return found


def _find_all(view: str, table: Mapping[str, list[str]]) -> Iterator[tuple[int, int]]:
    for i, ch in enumerate(view):
        for term in table.get(ch, ()):
            if view.startswith(term, i):
                yield i, i + len(term)


def _find_rules(
    view: str, table: Mapping[str, list[tuple[str, Rule]]]
) -> Iterator[tuple[str, Rule, int]]:
    for i, ch in enumerate(view):
        for term, rule in table.get(ch, ()):
            if view.startswith(term, i):
                yield term, rule, i


def _inside(spans: Iterable[tuple[int, int]], start: int, end: int) -> bool:
    return any(a <= start and end <= b for a, b in spans)


@dataclass(frozen=True)
class _NearIndex:
    """A ``Near`` rule with its terms normalized: Latin word sequences and Chinese strings."""

    rule: Rule
    latin: tuple[frozenset[Key], frozenset[Key]]
    cjk: tuple[tuple[str, ...], tuple[str, ...]]
    window: int
    window_cjk: int

    @classmethod
    def build(cls, near: Near, normalizer: Normalizer) -> _NearIndex:
        keys = TermKeys(normalizer)

        def split(terms: Sequence[str]) -> tuple[frozenset[Key], tuple[str, ...]]:
            latin = {keys.latin(t) for t in terms if not nz.has_cjk(t)}
            cjk = tuple(keys.cjk(t) for t in terms if nz.has_cjk(t))
            return frozenset(k for k in latin if k), tuple(k for k in cjk if k)

        (l1, c1), (l2, c2) = split(near.first), split(near.second)
        return cls(near.rule, (l1, l2), (c1, c2), near.window, near.window_cjk)

    def latin_hits(self, words: list[str]) -> list[Hit]:
        first = _positions(words, self.latin[0])
        second = _positions(words, self.latin[1]) if first else []
        if _close(first, second, self.window):
            return [Hit(f"{first[0][1]} … {second[0][1]}", self.rule)]
        return []

    def cjk_hits(self, cjk: str) -> list[Hit]:
        first = [(i, t) for t in self.cjk[0] for i in _offsets(cjk, t)]
        second = [(i, t) for t in self.cjk[1] for i in _offsets(cjk, t)] if first else []
        if _close(first, second, self.window_cjk):
            return [Hit(f"{first[0][1]} … {second[0][1]}", self.rule)]
        return []


def _positions(words: list[str], keys: frozenset[Key]) -> list[tuple[int, str]]:
    longest = max((len(k) for k in keys), default=0)
    out = []
    for i in range(len(words)):
        for n in range(1, min(longest, len(words) - i) + 1):
            key = tuple(words[i : i + n])
            if key in keys:
                out.append((i, " ".join(key)))
    return out


def _offsets(view: str, term: str) -> Iterator[int]:
    start = view.find(term)
    while start != -1:
        yield start
        start = view.find(term, start + 1)


def _close(first: list[tuple[int, str]], second: list[tuple[int, str]], window: int) -> bool:
    return any(abs(a - b) <= window + 1 for a, _ in first for b, _ in second)
