"""Muse's word lists for prompts and outputs, in English and Chinese.

The lists are glin-profanity's English and Chinese dictionaries (MIT, shipped inside its wheel)
plus Muse's own files in ``moderation/data``: ``extra_terms.toml`` maps terms, templates and
"near" pairs to a category and a decision (project terms override the package's), and
``allow_terms.toml`` names everyday words and phrases that are never flagged (a package term that
is also an allow term is dropped; a match that lies inside an allow phrase is ignored).

Matching runs on a normalized copy (``moderation.normalize``); the text shown to people is never
changed. Latin terms match whole words and word sequences, so "Scunthorpe" and "classic" pass,
after leetspeak, stretched letters, spaced-out letters, in-word punctuation and "*" masks are
undone. Chinese terms match as substrings of the text with spaces and symbols removed.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import logging
import re
import string
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata, resources
from pathlib import Path
from typing import Any

from moderation import normalize as nz
from moderation.normalize import Normalizer, normalize
from moderation.verdict import Category, Decision, Verdict

log = logging.getLogger(__name__)

COMPONENT = "muse-lists@2"
GLIN_PACKAGE = "glin-profanity"
GLIN_DICTIONARIES = ("english.json", "chinese.json")
# Suffixes a stem term takes: "fuck" -> "fucks", "fucked", "fucker", "fuckhead", ...
SUFFIXES = frozenset(
    "s es ed er ers ing in ings y ie ies ty tier face faces head heads hole holes wit wits bag"
    " bags".split()
)
_ORDER = {Decision.ALLOW: 0, Decision.REVIEW: 1, Decision.BLOCK: 2}

__all__ = [
    "COMPONENT",
    "Hit",
    "Near",
    "Rule",
    "TermLists",
    "WordListFilter",
    "load_term_lists",
    "normalize",
]


@dataclass(frozen=True)
class Rule:
    """What a listed term means: its category and the decision it gets."""

    category: Category
    decision: Decision


@dataclass(frozen=True)
class Near:
    """Flags a text where a term of ``first`` and one of ``second`` occur close together."""

    rule: Rule
    first: tuple[str, ...]
    second: tuple[str, ...]
    window: int = 4  # Latin: words between the two; Chinese: characters between them
    window_cjk: int = 8


@dataclass(frozen=True)
class TermLists:
    """Raw (not yet normalized) terms with their rules, allow terms, near pairs and sources."""

    terms: Mapping[str, Rule]
    stems: Mapping[str, Rule] = field(default_factory=dict)
    allow: tuple[str, ...] = ()
    near: tuple[Near, ...] = ()
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class Hit:
    """One match: the normalized term found and the rule it carries."""

    term: str
    rule: Rule


# --- loading -------------------------------------------------------------------------------


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"the {package} package is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def load_glin_terms() -> tuple[list[str], str]:
    """glin-profanity's English and Chinese words, read from its wheel without importing it."""
    folder = _package_dir("glin_profanity") / "data" / "dictionaries"
    words: list[str] = []
    for name in GLIN_DICTIONARIES:
        data = json.loads((folder / name).read_text(encoding="utf-8"))
        words += [w for w in data["words"] if isinstance(w, str) and w.strip()]
    if not words:
        raise ValueError(f"{folder} has no words")
    return words, f"{GLIN_PACKAGE}@{metadata.version(GLIN_PACKAGE)}"


def _data_file(name: str) -> dict[str, Any]:
    text = resources.files("moderation").joinpath("data", name).read_text(encoding="utf-8")
    return tomllib.loads(text)


def expand(
    templates: Iterable[str], slots: Mapping[str, Sequence[str]], depth: int = 3
) -> list[str]:
    """Each template with every combination of its ``{slot}`` values filled in; slot values may
    hold slots themselves, up to ``depth`` levels."""
    out: list[str] = []
    for template in templates:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name]
        if not names:
            out.append(template)
            continue
        if depth == 0:
            raise ValueError(f"slots nest too deep in {template!r}")
        unique = list(dict.fromkeys(names))
        filled = [
            template.format(**dict(zip(unique, values, strict=True)))
            for values in itertools.product(*(slots[name] for name in unique))
        ]
        out += expand(filled, slots, depth - 1)
    return out


def _rule_of(entry: Mapping[str, Any]) -> Rule:
    return Rule(Category(entry["category"]), Decision(entry["decision"]))


def _stricter(old: Rule | None, new: Rule) -> Rule:
    if old is None or _ORDER[new.decision] > _ORDER[old.decision]:
        return new
    return old


def _project_terms(data: Mapping[str, Any]) -> tuple[dict[str, Rule], dict[str, Rule]]:
    slots = data.get("slots", {})
    terms: dict[str, Rule] = {}
    stems: dict[str, Rule] = {}
    for entry in data.get("rule", []):
        rule = _rule_of(entry)
        for term in [*entry.get("terms", []), *expand(entry.get("templates", []), slots)]:
            terms[term] = _stricter(terms.get(term), rule)
        for stem in entry.get("stems", []):
            stems[stem] = _stricter(stems.get(stem), rule)
            terms[stem] = _stricter(terms.get(stem), rule)
    return terms, stems


def _near_rules(data: Mapping[str, Any]) -> tuple[Near, ...]:
    slots = data.get("slots", {})
    return tuple(
        Near(
            _rule_of(entry),
            tuple(expand(entry["first"], slots)),
            tuple(expand(entry["second"], slots)),
            int(entry.get("window", 4)),
            int(entry.get("window_cjk", 8)),
        )
        for entry in data.get("near", [])
    )


def load_term_lists() -> TermLists:
    """glin-profanity's lists (profanity, review) under Muse's own terms and allow list."""
    package_words, source = load_glin_terms()
    extra = _data_file("extra_terms.toml")
    allow = tuple(t for group in _data_file("allow_terms.toml")["allow"] for t in group["terms"])
    default = Rule(Category.PROFANITY, Decision.REVIEW)
    terms = dict.fromkeys(package_words, default)
    own, stems = _project_terms(extra)
    terms.update(own)
    version = extra.get("version", "?")
    return TermLists(terms, stems, allow, _near_rules(extra), (source, f"muse-terms@{version}"))


# --- compiled matcher ------------------------------------------------------------------------

Key = tuple[str, ...]


class _Keys:
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
class _Index:
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
        self.exact[key] = _stricter(self.exact.get(key), rule)
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

    def add_allow(self, keys: _Keys, term: str) -> None:
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


def _build_index(lists: TermLists, normalizer: Normalizer) -> _Index:
    index = _Index()
    keys = _Keys(normalizer)
    dropped = {keys.any(term) for term in lists.allow}
    for term, rule in lists.terms.items():
        _add_term(index, keys, term, rule, dropped)
    for stem, rule in lists.stems.items():
        key = keys.latin(stem)
        if key and len(key) == 1:
            index.stems[key[0]] = rule
    index.stem_lengths = tuple(sorted({len(stem) for stem in index.stems}))
    for terms in index.by_length.values():  # a mask that fits several reads as the worst, a stem
        terms.sort(key=lambda t: (-_ORDER[index.exact[(t,)].decision], t not in index.stems, t))
    for term in lists.allow:
        index.add_allow(keys, term)
    return index


def _add_term(
    index: _Index, keys: _Keys, term: str, rule: Rule, dropped: set[str | Key | None]
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


class _Matcher:
    """Finds hits of an ``_Index`` in a folded text."""

    def __init__(self, index: _Index, near: Sequence[Near], normalizer: Normalizer) -> None:
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
        keys = _Keys(normalizer)

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


# --- the filter -----------------------------------------------------------------------------


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
        index = _build_index(self.lists, self._normalizer)
        self._rules = _Matcher(index, self.lists.near, self._normalizer)

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
