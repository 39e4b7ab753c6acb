"""The copyright guard: refuses requests for someone else's words and outputs that copy them.

Two checks, each returning a :class:`Verdict` with category ``copyright`` (the guild's policy
decides what that means) and never raising:

- ``check_request(prompt)``: the phrasings of ``moderation.copyright_requests`` ("the lyrics
  of …", "word for word", 《…》的歌词, 逐字, "Nike's slogan"), plus the output check, so a
  pasted passage is caught too.
- ``check(output)``: overlap with fingerprinted works (``moderation.fingerprint``). A text
  copies a work when the n-grams it shares with it cover a run of at least ``SPAN_MIN`` units
  (12 English words, 14 Chinese characters: about two lines) or ``TOTAL_MIN`` units in all. A
  slogan is matched as a whole phrase: anywhere when it is long (5 words, 8 characters),
  otherwise only when it makes up most of a short text ("Just do it." but not "just do it,
  said my grandmother, and the garden grew").

Shipped data (``moderation/data``): ``copyright_fingerprints.json``, hashed fingerprints of
registered brand slogans (no text), and ``copyright_public_domain.toml``, public-domain works
in clear with public-domain author and title names. Public-domain n-grams never count as a
copy, and a request that names a public-domain work is never refused. Operators add their own
works as fingerprint files built with ``python -m moderation.fingerprint``.
"""

from __future__ import annotations

import logging
import tomllib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from moderation import fingerprint as fp
from moderation.base import (
    CopyrightGuardError,
    TextFilter,
    first_reading,
    has_deep,
    second_reading,
    use_threads,
)
from moderation.copyright_requests import RequestPatterns
from moderation.normalize import NormalizationError, Normalizer
from moderation.verdict import Category, Decision, Verdict

log = logging.getLogger(__name__)

COMPONENT = "muse-copyright@1"
FINGERPRINTS_FILE = "copyright_fingerprints.json"
PUBLIC_DOMAIN_FILE = "copyright_public_domain.toml"
SPAN_MIN = {"en": 12, "zh": 14}  # contiguous copied units that make a copy
TOTAL_MIN = {"en": 20, "zh": 24}  # copied units in all that make a copy
PHRASE_ANYWHERE = {"en": 5, "zh": 8}  # a slogan this long counts wherever it appears
PHRASE_SHARE = 0.6  # a shorter slogan counts when it is this share of the text


@dataclass(frozen=True)
class Overlap:
    """How much of a text one work accounts for, in units (words or characters)."""

    work: fp.Work
    longest: int
    total: int


@dataclass(frozen=True)
class PublicDomain:
    """Public-domain author and title names (folded) and the n-gram hashes of their texts."""

    names: tuple[str, ...]
    ngrams: frozenset[str]


def covered(starts: Iterable[int], n: int) -> tuple[int, int]:
    """(longest run, total) of units covered by n-grams starting at ``starts``."""
    longest = total = 0
    run_start = run_end = -1
    for start in sorted(set(starts)):
        if start > run_end:  # a gap: close the run
            total += run_end - run_start
            longest = max(longest, run_end - run_start)
            run_start = start
        run_end = start + n
    total += run_end - run_start
    return max(longest, run_end - run_start), total


def load_public_domain(normalizer: Normalizer) -> PublicDomain:
    """The shipped public-domain names and texts."""
    raw = resources.files("moderation").joinpath("data", PUBLIC_DOMAIN_FILE).read_text("utf-8")
    data = tomllib.loads(raw)
    names = [normalizer.fold(n) for n in [*data["authors"], *data["titles"]]]
    grams: set[str] = set()
    for work in data["work"]:
        units = fp.units(normalizer.fold(work["text"]), work["lang"])
        grams.update(fp.ngram_hashes(work["lang"], units))
        names.append(normalizer.fold(work["title"]))
    return PublicDomain(tuple(names), frozenset(grams))


class CopyrightGuard:
    """Holds the fingerprint index and request patterns; ``check`` is safe across threads."""

    def __init__(
        self, prints: Sequence[fp.Fingerprint], public_domain: PublicDomain, normalizer: Normalizer
    ) -> None:
        self._normalizer = normalizer
        self.works = tuple(p.work for p in prints)
        self._index: dict[str, list[int]] = defaultdict(list)
        self._phrases: dict[tuple[str, int], dict[str, int]] = defaultdict(dict)
        for number, print_ in enumerate(prints):
            for gram in print_.ngrams - public_domain.ngrams:
                self._index[gram].append(number)
            if print_.phrase is not None:
                self._phrases[(print_.work.lang, print_.phrase_units)][print_.phrase] = number
        brands = [normalizer.fold(p.work.owner) for p in prints if p.work.kind == "slogan"]
        self._patterns = RequestPatterns(public_domain.names, brands)

    @property
    def name(self) -> str:
        return f"{COMPONENT} ({len(self.works)} works)"

    def check(self, text: str) -> Verdict:
        """An output's verdict: ``copyright`` when it copies a fingerprinted work."""
        try:
            return self._verdict(self._normalizer.fold(text), None)
        except Exception:  # never raise: a text we cannot judge waits for a moderator
            log.exception("copyright check failed")
            return Verdict(Decision.REVIEW, (Category.OTHER,), components=(self.name,))

    def check_request(self, text: str) -> Verdict:
        """A prompt's verdict: ``copyright`` when it asks for a work's own words or pastes one."""
        try:
            folded = self._normalizer.fold(text)
            hit = self._patterns.check(folded)
            return self._verdict(folded, f"request: {hit.reason}" if hit else None)
        except Exception:
            log.exception("copyright request check failed")
            return Verdict(Decision.REVIEW, (Category.OTHER,), components=(self.name,))

    def overlaps(self, folded: str) -> list[Overlap]:
        """Every fingerprinted work that the folded text copies, longest copy first."""
        found: list[Overlap] = []
        for lang in fp.LANGS:
            units = fp.units(folded, lang)
            found += self._ngram_overlaps(lang, units) + self._phrase_overlaps(lang, units)
        return sorted(found, key=lambda o: (-o.longest, o.work.id))

    def _ngram_overlaps(self, lang: str, units: list[str]) -> list[Overlap]:
        starts: dict[int, list[int]] = defaultdict(list)
        for position, gram in enumerate(fp.ngram_hashes(lang, units)):
            for number in self._index.get(gram, ()):
                starts[number].append(position)
        out = []
        for number, positions in starts.items():
            longest, total = covered(positions, fp.NGRAM[lang])
            if longest >= SPAN_MIN[lang] or total >= TOTAL_MIN[lang]:
                out.append(Overlap(self.works[number], longest, total))
        return out

    def _phrase_overlaps(self, lang: str, units: list[str]) -> list[Overlap]:
        out = []
        for (phrase_lang, size), phrases in self._phrases.items():
            if phrase_lang != lang or size > len(units):
                continue
            if size < PHRASE_ANYWHERE[lang] and size < PHRASE_SHARE * len(units):
                continue
            for start in range(len(units) - size + 1):
                number = phrases.get(fp.hash_units(lang, units[start : start + size]))
                if number is not None:
                    out.append(Overlap(self.works[number], size, size))
                    break
        return out

    def _verdict(self, folded: str, request: str | None) -> Verdict:
        overlaps = self.overlaps(folded)
        matched = [o.work.label() for o in overlaps]
        if request is not None:
            matched.insert(0, request)
        if not matched:
            return Verdict(Decision.ALLOW, components=(self.name,))
        span = float(overlaps[0].longest) if overlaps else 0.0
        return Verdict(
            Decision.BLOCK,
            (Category.COPYRIGHT,),
            {"copyright_span": span},
            tuple(dict.fromkeys(matched)),
            (self.name,),
        )


class GuardedTextFilter:
    """A text filter with the copyright guard beside it: ``check`` for outputs and edits,
    ``check_request`` for prompts; the stricter verdict wins, with both sets of evidence. The
    guard's own rules belong to the quick part (``quick``, ``quick_request``); the wrapped
    filter's deep part, if it has one, is ``deep``."""

    def __init__(self, text_filter: TextFilter, guard: CopyrightGuard) -> None:
        self.text_filter = text_filter
        self.guard = guard
        self.components = (*getattr(text_filter, "components", ()), guard.name)

    @property
    def has_deep(self) -> bool:
        return has_deep(self.text_filter)

    def check(self, text: str) -> Verdict:
        return self.deep(text, self.quick(text))

    def check_request(self, text: str) -> Verdict:
        return self.deep(text, self.quick_request(text))

    def quick(self, text: str) -> Verdict:
        found = self.guard.check(text).with_layer("copyright")
        return first_reading(self.text_filter, text).worst(found)

    def quick_request(self, text: str) -> Verdict:
        found = self.guard.check_request(text).with_layer("copyright")
        return first_reading(self.text_filter, text).worst(found)

    def deep(self, text: str, quick: Verdict) -> Verdict:
        return second_reading(self.text_filter, text, quick)

    def use_threads(self, threads: int) -> None:
        use_threads(self.text_filter, threads)


def load_copyright_guard(extra: Sequence[Path] = ()) -> CopyrightGuard:
    """The shipped fingerprints and public-domain data plus the operator's fingerprint files;
    raises ``CopyrightGuardError`` when any of them cannot be read."""
    try:
        normalizer = Normalizer()
        shipped = resources.files("moderation").joinpath("data", FINGERPRINTS_FILE)
        prints = fp.load(Path(str(shipped)))
        for path in extra:
            prints += fp.load(path)
        public_domain = load_public_domain(normalizer)
    except (fp.FingerprintError, NormalizationError, OSError, KeyError, ValueError) as err:
        raise CopyrightGuardError(f"cannot load the copyright guard: {err}") from err
    return CopyrightGuard(prints, public_domain, normalizer)
