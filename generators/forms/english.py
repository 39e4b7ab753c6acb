"""English sound rules: syllables and rhyme from the CMU Pronouncing Dictionary (``pronouncing``),
with a vowel-group counter for words it does not know.
"""

from __future__ import annotations

import re
from functools import cache

WORD = re.compile(r"[A-Za-z]+(?:['’-][A-Za-z]+)*")
_VOWELS = re.compile(r"[aeiouy]+")


def words(text: str) -> list[str]:
    """The words of ``text``, lower-cased; apostrophes and hyphens join (“don't”, “sea-shore”)."""
    return [w.lower().replace("’", "'") for w in WORD.findall(text)]


@cache
def word_syllables(word: str) -> int:
    """Syllables of one word: CMUdict's first pronunciation, else vowel groups (a final silent
    'e' not counted), at least one."""
    import pronouncing

    phones = pronouncing.phones_for_word(word)
    if phones:
        return max(1, int(pronouncing.syllable_count(phones[0])))
    groups = len(_VOWELS.findall(word))
    if word.endswith("e") and not word.endswith(("le", "ee")) and groups > 1:
        groups -= 1
    return max(1, groups)


def syllables(text: str) -> int:
    """Syllables of a line of text."""
    return sum(word_syllables(w) for w in words(text))


@cache
def rhyme_parts(word: str) -> frozenset[str]:
    """The sounds from the last stressed vowel on, one per pronunciation CMUdict gives (none
    for a word it does not know)."""
    import pronouncing

    return frozenset(str(pronouncing.rhyming_part(p)) for p in pronouncing.phones_for_word(word))


def rhymes_en(a: str, b: str) -> bool:
    """True when two different words rhyme (same sounds from the last stressed vowel, in some
    pronunciation of each, as ``pronouncing.rhymes`` finds them)."""
    a, b = a.lower(), b.lower()
    return a != b and bool(rhyme_parts(a) & rhyme_parts(b))


@cache
def rhyme_words(word: str) -> tuple[str, ...]:
    """Plain lower-case words that rhyme with ``word``, commonest spellings only (alphabetic,
    3-10 letters), excluding the word itself."""
    import pronouncing

    found = {w for w in pronouncing.rhymes(word.lower()) if w.isalpha() and 3 <= len(w) <= 10}
    found.discard(word.lower())
    return tuple(sorted(found))


@cache
def _rhyme_counts() -> dict[str, int]:
    """Per CMUdict rhyming part, how many plain words (as ``rhyme_words`` keeps them) end on it."""
    import pronouncing

    pronouncing.init_cmu()
    table: dict[str, list[str]] = pronouncing.rhyme_lookup
    return {
        part: len({w for w in ws if w.isalpha() and 3 <= len(w) <= 10})
        for part, ws in table.items()
    }


def rhyme_choices(word: str) -> int:
    """At least how many words ``rhyme_words`` finds for ``word`` (its best pronunciation's
    rhyming words, less the word itself): one table pass for all words instead of a dictionary
    search per word, for scanning a whole vocabulary."""
    counts = _rhyme_counts()
    return max((counts.get(part, 0) - 1 for part in rhyme_parts(word.lower())), default=0)


def last_word(line: str) -> str:
    found = words(line)
    return found[-1] if found else ""
