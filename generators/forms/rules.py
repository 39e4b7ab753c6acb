"""Word-level rules no grammar expresses, as plain predicates over text: English syllables per
line (haiku), English rhyme at a line's end, no repeated line, no role talk, no slogan preamble.

``generators.constrain`` asks them about the few likeliest next tokens of a row (and forces a
rhyme word when a line runs long); ``checks`` uses the same definitions to score finished text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from generators.forms.english import last_word, rhyme_words, rhymes_en, syllables, words
from generators.forms.spec import SLOGAN_MAX_WORDS, FormSpec

ROLE_TALK = re.compile(
    r"\b(?:i am|i'm|as) (?:the |your |an? )?(?:muse|ai|assistant|language model|poet and)\b"
    r"|^(?:sure|certainly|absolutely|of course|okay|here is|here's|here are)\b"
    r"|我是一[位个名]|作为一|以下是|这是一[首句个]|广告语|标语|好的[，,]",
    re.IGNORECASE,
)
SLOGAN_LEAD_WORDS = frozenset(
    "here here's heres sure certainly absolutely okay ok slogan slogans tagline title option "
    "answer muse".split()
)
MIN_RHYME_CHOICES = 6  # a line that sets a rhyme must end on a word others can rhyme with
FORCE_RHYME_WORDS = 7  # a rhyming line this many words long ends on a forced rhyme word


def norm_line(line: str) -> str:
    return " ".join(words(line)) if words(line) else line.strip(" ，。！？、；,.!?")


@dataclass(frozen=True)
class LineState:
    """Where a row stands: the finished lines and the one being written."""

    done: tuple[str, ...]
    current: str

    @classmethod
    def of(cls, text: str) -> LineState:
        parts = text.split("\n")
        return cls(tuple(p for p in parts[:-1] if p.strip()), parts[-1])


def rhyme_target(spec: FormSpec, state: LineState) -> str:
    """The word the current line must rhyme with ('' when none or unknown)."""
    ref = spec.rhymes_with(len(state.done))
    if ref is None or ref >= len(state.done) or spec.chinese:
        return ""
    return last_word(state.done[ref])


def sets_rhyme(spec: FormSpec, line: int) -> bool:
    """True when a later line must rhyme with line ``line`` (0-based)."""
    return any(spec.rhymes_with(i) == line for i in range(line + 1, len(spec.rhyme)))


def may_end_line(spec: FormSpec, state: LineState) -> bool:
    """May the current line end here (English rules, line repeats, role talk)?"""
    line = state.current
    if not line.strip():
        return False
    if norm_line(line) in {norm_line(d) for d in state.done}:
        return False
    if ROLE_TALK.search(line):
        return False
    if spec.chinese:
        return True
    if last_word(line) in WEAK_ENDINGS:
        return False
    index = len(state.done)
    if spec.syllables and syllables(line) != spec.syllables[min(index, 2)]:
        return False
    target = rhyme_target(spec, state)
    if target and rhyme_words(target) and not rhymes_en(last_word(line), target):
        return False
    if sets_rhyme(spec, index) and len(rhyme_words(last_word(line))) < MIN_RHYME_CHOICES:
        return False
    return True


def may_continue(spec: FormSpec, before: LineState, piece: str) -> bool:
    """May ``piece`` extend the current line (no syllable overshoot, nothing but a closing mark
    once a haiku line has its count, no role talk, no slogan preamble or overlong slogan)?"""
    state = LineState(before.done, before.current + piece)
    line = state.current
    if len(state.done) == 0 and ROLE_TALK.search(line):
        return False
    if spec.syllables and not _after_count_ok(spec, before, piece):
        return False
    if spec.han_exact and not _new_rhyme_char(spec, state):
        return False
    if spec.slogan and not spec.chinese:
        found = words(line)
        if (found and found[0] in SLOGAN_LEAD_WORDS) or len(found) > SLOGAN_MAX_WORDS:
            return False
    if spec.syllables and not spec.chinese:
        target = spec.syllables[min(len(state.done), 2)]
        count = syllables(line)  # a weak word ("the", "a") may not fill a haiku line's count
        return count < target or (count == target and last_word(line) not in WEAK_ENDINGS)
    return True


WEAK_ENDINGS = frozenset(
    "a an the and or but of to in on at by for from with as my your his her its our their "
    "this that these those is are was were be".split()
)


def _after_count_ok(spec: FormSpec, before: LineState, piece: str) -> bool:
    """Once a haiku line has its syllables, only one closing mark (or the rest of the last
    word) may follow before the line ends."""
    target = spec.syllables[min(len(before.done), len(spec.syllables) - 1)]
    if syllables(before.current) < target:
        return True
    if piece.isalpha():  # the rest of the last word ("tree" + "s"); the count is checked after
        return True
    return piece in (",", ".", "!", "?", ";") and before.current[-1:].isalpha()


def _new_rhyme_char(spec: FormSpec, state: LineState) -> bool:
    """A 绝句 line that rhymes ends on another character than its partner line."""
    ref = spec.rhymes_with(len(state.done))
    han = [ch for ch in state.current if "\u4e00" <= ch <= "\u9fff"]
    if ref is None or len(han) != spec.han_exact or ref >= len(state.done):
        return True
    partner = [ch for ch in state.done[ref] if "\u4e00" <= ch <= "\u9fff"]
    return not partner or partner[-1] != han[-1]


def force_from_words(spec: FormSpec, state: LineState) -> int:
    """Words after which a rhyming line's next word is forced: about its partner line's length
    (a limerick's short third and fourth lines stay short), ``FORCE_RHYME_WORDS`` at most, and
    never before the line may hold enough words to end."""
    ref = spec.rhymes_with(len(state.done))
    partner = FORCE_RHYME_WORDS + 1
    if ref is not None and ref < len(state.done):
        partner = len(words(state.done[ref]))
    return max(spec.line_chars[0] - 1, min(FORCE_RHYME_WORDS, partner - 1))


def must_force_rhyme(spec: FormSpec, state: LineState) -> str:
    """The rhyme target when the current line is long enough that its next word must be a
    rhyme word ('' otherwise)."""
    target = rhyme_target(spec, state)
    if not target or not rhyme_words(target) or state.current.endswith(" "):
        return ""
    return target if len(words(state.current)) >= force_from_words(spec, state) else ""


def must_set_rhyme(spec: FormSpec, state: LineState) -> bool:
    """True when the current line sets a rhyme and is long enough that its next word must be
    one that later lines can rhyme with (``MIN_RHYME_CHOICES`` rhymes at least): a line left to
    run on until its word limit may end on a word nothing rhymes with."""
    if spec.chinese or state.current.endswith(" ") or not sets_rhyme(spec, len(state.done)):
        return False
    return len(words(state.current)) >= FORCE_RHYME_WORDS
