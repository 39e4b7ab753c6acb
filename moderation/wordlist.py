"""A small, real word-list filter for prompts and outputs, in English and Chinese.

Matching runs on a normalized copy (NFKC, case-folded, zero-width and combining marks removed,
common digit/symbol substitutions undone); the text shown to people is never changed. Latin terms
match whole words, so "Scunthorpe" and "classic" pass; CJK terms match as substrings.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping

from moderation.verdict import Category, Decision, Verdict

log = logging.getLogger(__name__)

COMPONENT = "muse-wordlist@1"

_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
)

# category -> (decision, terms). Deliberately short: a later filter adds classifiers.
DEFAULT_TERMS: Mapping[Category, tuple[Decision, tuple[str, ...]]] = {
    Category.SEXUAL_MINORS: (
        Decision.BLOCK,
        ("child porn", "underage sex", "loli porn", "lolicon", "shotacon", "幼女色情", "儿童色情"),
    ),
    Category.HATE: (
        Decision.BLOCK,
        ("nigger", "niggers", "faggot", "faggots", "kike", "kikes", "chink", "chinks", "支那猪"),
    ),
    Category.SELF_HARM: (
        Decision.REVIEW,
        ("kill yourself", "kys", "how to commit suicide", "自杀方法", "去死吧"),
    ),
    Category.ILLICIT: (
        Decision.BLOCK,
        ("how to make a bomb", "make meth", "制造炸弹", "制毒"),
    ),
    Category.SEXUAL: (
        Decision.REVIEW,
        ("porn", "porno", "hentai", "blowjob", "nude", "nudes", "色情", "裸照", "做爱"),
    ),
    Category.PROFANITY: (
        Decision.REVIEW,
        ("fuck", "fucking", "motherfucker", "shit", "cunt", "bitch", "asshole", "傻逼", "他妈的"),
    ),
}


def normalize(text: str) -> str:
    """The comparison copy: NFKC, no format or combining marks, case-folded, de-leeted."""
    text = unicodedata.normalize("NFKC", text)
    decomposed = unicodedata.normalize("NFD", text)
    kept = "".join(ch for ch in decomposed if unicodedata.category(ch) not in ("Mn", "Cf"))
    return unicodedata.normalize("NFC", kept).casefold().translate(_LEET)


def _is_cjk(term: str) -> bool:
    return any("\u3400" <= ch <= "\u9fff" for ch in term)


def _pattern(terms: Iterable[str]) -> re.Pattern[str] | None:
    parts = [re.escape(t) if _is_cjk(t) else rf"\b{re.escape(t)}\b" for t in terms]
    return re.compile("|".join(parts)) if parts else None


class WordListFilter:
    """Flags texts containing listed terms; the strictest matching category decides."""

    def __init__(
        self, terms: Mapping[Category, tuple[Decision, tuple[str, ...]]] = DEFAULT_TERMS
    ) -> None:
        self._rules = [
            (category, decision, _pattern(normalize(t) for t in words))
            for category, (decision, words) in terms.items()
        ]

    def check(self, text: str) -> Verdict:
        try:
            return self._check(text)
        except Exception:  # a filter never raises; an error holds the text for review
            log.exception("word-list filter failed")
            return Verdict(Decision.REVIEW, (Category.OTHER,), components=(COMPONENT,))

    def _check(self, text: str) -> Verdict:
        folded = normalize(text)
        squeezed = re.sub(r"\s+", " ", folded)
        verdict = Verdict(Decision.ALLOW, components=(COMPONENT,))
        for category, decision, pattern in self._rules:
            if pattern is None:
                continue
            hits = sorted({m.group(0) for m in pattern.finditer(squeezed)})
            if hits:
                found = Verdict(decision, (category,), {category.value: 1.0}, tuple(hits))
                verdict = verdict.worst(found)
        return verdict
