"""What a reader checks in a finished piece, as plain functions (``bench/quality.py`` and the
tests use them): structure per form, haiku syllables, rhyme, looping lines, slogan leaks.
"""

from __future__ import annotations

import re

from generators.forms.chinese import rhymes_zh
from generators.forms.english import last_word, rhymes_en, syllables, words
from generators.forms.rules import ROLE_TALK, SLOGAN_LEAD_WORDS, norm_line
from generators.forms.spec import SLOGAN_MAX_WORDS, FormSpec

_HAN = re.compile(r"[\u4e00-\u9fff]")
_ZH_PUNCT = "，。！？、；"


def lines_of(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _han(line: str) -> list[str]:
    return _HAN.findall(line)


def structure_ok(spec: FormSpec, text: str) -> bool:
    """Line count in the form's range, every line of the allowed length in words (English) or
    Han characters (绝句: exactly 5 or 7, then one punctuation mark, nothing else)."""
    lines = lines_of(text)
    if not spec.min_lines <= len(lines) <= spec.max_lines:
        return False
    low, high = spec.line_chars
    for line in lines:
        if spec.han_exact:
            if len(_han(line)) != spec.han_exact or len(line) != spec.han_exact + 1:
                return False
            if line[-1] not in _ZH_PUNCT:
                return False
        elif spec.chinese:
            if not low <= len(_han(line)) <= high:
                return False
        elif not low <= len(words(line)) <= high:
            return False
    return True


def syllables_ok(spec: FormSpec, text: str) -> bool:
    lines = lines_of(text)
    return len(lines) == len(spec.syllables) and all(
        syllables(line) == count for line, count in zip(lines, spec.syllables, strict=True)
    )


def rhyme_ok(spec: FormSpec, text: str) -> bool:
    """Every line that the scheme pairs with an earlier one rhymes with it."""
    lines = lines_of(text)
    for index in range(min(len(lines), len(spec.rhyme))):
        ref = spec.rhymes_with(index)
        if ref is None:
            continue
        if spec.chinese:
            a, b = _han(lines[ref]), _han(lines[index])
            if not a or not b or not rhymes_zh(a[-1], b[-1]):
                return False
        elif not rhymes_en(last_word(lines[ref]), last_word(lines[index])):
            return False
    return len(lines) >= len(spec.rhyme)


def looping_lines(text: str) -> tuple[int, int]:
    """(lines that repeat an earlier line, lines)."""
    seen: set[str] = set()
    repeats = 0
    lines = lines_of(text)
    for line in lines:
        key = norm_line(line)
        repeats += key in seen
        seen.add(key)
    return repeats, len(lines)


def slogan_leaks(spec: FormSpec, text: str) -> list[str]:
    """What is wrong with a stored slogan: empty, several lines, too long, a preamble or label,
    wrapping quotes."""
    problems = []
    if not text.strip():
        return ["empty"]
    if len(lines_of(text)) > 1:
        problems.append("lines")
    if (spec.chinese and len(_han(text)) > 20) or len(words(text)) > SLOGAN_MAX_WORDS:
        problems.append("long")
    found = words(text)
    if ROLE_TALK.search(text) or (found and found[0] in SLOGAN_LEAD_WORDS) or ":" in text:
        problems.append("preamble")
    if text.strip()[0] in "\"'“‘「『" or text.strip()[-1] in "\"'”’」』":
        problems.append("quotes")
    return problems


def role_talk(text: str) -> bool:
    return bool(ROLE_TALK.search(text))


def uses_topic(topic: str, text: str) -> bool:
    """Does the piece use a content word of the topic (a Han character for Chinese)?"""
    han = [ch for ch in _han(topic) if ch not in "的了之"]
    if han:
        return any(ch in text for ch in han)
    keys = {w for w in words(topic) if len(w) > 3}
    return bool(keys & set(words(text)))
