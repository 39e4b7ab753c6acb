"""Requests to reproduce someone else's text (EN and ZH), read as intent + object + named work.

A request is flagged when it combines a protected object (lyrics, a poem, a slogan, 歌词, 原文,
广告语), a particular work it is bound to (a title, 《…》, "by X", "X's", a brand) and, where
the object alone is not enough, a wish to have it reproduced (give, paste, recite, full, exact,
word for word, 发我, 背, 抄, 逐字). The cues are in ``copyright_en`` and ``copyright_zh``; see
their docstrings. It is not flagged when it is about the work, in its style or inspired by it
("what is … about", "summarize the lyrics of …", 模仿…的风格, 分析…歌词), negated ("don't give me
the lyrics", 不用发歌词), about Muse's or the member's own text ("repeat your last poem"), or
when the clause of the cue names a public-domain author or work
(``copyright_public_domain.toml``; named in another clause, it exempts nothing). Common typos
of the English object words ("lyrcis", "lyricss", "slgoan") are read as the word. Matching
runs on the folded text (lower case, Simplified).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from moderation import copyright_en as en
from moderation import copyright_zh as zh

# Object words whose one-letter typos (a swap, a letter missing, added or wrong) still count.
_KEYWORDS = ("lyrics", "slogan", "slogans", "tagline", "taglines")
_CJK = re.compile(r"[\u3400-\u9fff]")
# Where a clause ends: a public-domain name exempts only the cue in its own clause.
_CLAUSE_BREAK = re.compile(r"[.!?;,\n。！？；，]\s*|\s(?:then|and\s+then|also|plus)\s")


@dataclass(frozen=True)
class RequestHit:
    """Why a request reads as asking for a work's own words."""

    reason: str


def _near(word: str, target: str) -> bool:
    """Damerau-Levenshtein distance of at most one."""
    if abs(len(word) - len(target)) > 1:
        return False
    if len(word) == len(target):
        diff = [i for i, (a, b) in enumerate(zip(word, target, strict=True)) if a != b]
        if len(diff) <= 1:
            return True
        first, second = diff[0], diff[-1]
        return len(diff) == 2 and second == first + 1 and word[first] == target[second]
    short, long_ = sorted((word, target), key=len)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


def canonical(folded: str) -> str:
    """The folded text with typos of the object words replaced by the words."""

    def fix(match: re.Match[str]) -> str:
        word = match.group(0)
        for target in _KEYWORDS:
            if _near(word, target):
                return target
        return word

    return re.sub(r"\b[a-z]{5,8}\b", fix, folded)


def _names_pattern(names: Sequence[str]) -> re.Pattern[str] | None:
    """Whole-word alternatives for Latin names ("milton" not in "hamilton"); Chinese names
    match anywhere."""
    if not names:
        return None
    parts = [rf"(?<![a-z0-9]){re.escape(n)}(?![a-z0-9])" for n in names]
    return re.compile("|".join(parts))


Detector = Callable[[str], Iterator[tuple[str, int]]]


def _first(
    detectors: Iterable[Detector], folded: str, exempt_at: Callable[[str, int], bool]
) -> RequestHit | None:
    for detect in detectors:
        for reason, at in detect(folded):
            if not exempt_at(folded, at):
                return RequestHit(reason)
    return None


class RequestPatterns:
    """The request detectors; ``public_domain`` names and ``brands`` come from data."""

    def __init__(self, public_domain: Iterable[str], brands: Iterable[str]) -> None:
        names = sorted({n for n in public_domain if n}, key=len, reverse=True)
        self._public_domain = _names_pattern(names)
        brand = _names_pattern(sorted({b for b in brands if b}, key=len, reverse=True))
        self._en = en.detectors(brand)
        self._zh = zh.detectors()

    def public_domain(self, folded: str, at: int) -> bool:
        """Whether the clause around position ``at`` names a public-domain author or work
        (naming one in another clause exempts nothing)."""
        if self._public_domain is None:
            return False
        start = max((m.end() for m in _CLAUSE_BREAK.finditer(folded, 0, at)), default=0)
        end_break = _CLAUSE_BREAK.search(folded, at)
        end = end_break.start() if end_break else len(folded)
        return self._public_domain.search(folded, start, end) is not None

    def check(self, folded: str) -> RequestHit | None:
        """The first reason the folded request asks for a work's own words, or None."""
        text = canonical(folded)
        hit = None
        if not en.exempt_text(text):
            hit = _first(self._en, text, self._exempt_at(en.exempt_at))
        if hit is None and _CJK.search(text) and not zh.exempt_text(text):
            hit = _first(self._zh, text, self._exempt_at(zh.exempt_at))
        return hit

    def _exempt_at(self, exempt: Callable[[str, int], bool]) -> Callable[[str, int], bool]:
        """A language's exemptions plus a public-domain name in the cue's clause."""
        return lambda folded, at: self.public_domain(folded, at) or exempt(folded, at)
