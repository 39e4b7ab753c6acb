"""The shape of every poem form and of a slogan, per language, as frozen data.

A ``FormSpec`` says how many lines a piece has (a range for free verse), how long each line may
be (Han characters exactly for 绝句, characters otherwise), which lines rhyme with which, and the
syllables per line where the form counts them. Grammars, token masks, the per-form token budget
and the checks are all derived from it, so there is one definition per form.
"""

from __future__ import annotations

from dataclasses import dataclass

from generators.options import Language, PoemForm, TextKind


@dataclass(frozen=True)
class FormSpec:
    """One form in one language. ``rhyme`` has one letter per line (``.`` for none): lines
    with the same letter rhyme. ``syllables`` is per line, empty where not counted."""

    name: str
    language: Language
    min_lines: int
    max_lines: int
    line_chars: tuple[int, int]  # (min, max) Han characters per line (Chinese); words (English)
    rhyme: str = ""
    syllables: tuple[int, ...] = ()
    han_exact: int = 0  # 5 or 7 for 绝句: every line exactly that many Han characters
    slogan: bool = False
    stanza_breaks: bool = False  # a blank line may separate stanzas (free verse)

    @property
    def chinese(self) -> bool:
        return self.language is Language.CHINESE

    def budget_tokens(self) -> int:
        """New tokens a row may use: the longest text the grammar allows, at a generous four
        tokens per Han character and one per three Latin characters, plus room to close."""
        if self.han_exact:
            return self.max_lines * (self.han_exact + 1) * 4 + 8
        per_unit = 4  # tokens per Han character (3 bytes at most) or English word
        longest = self.max_lines * (self.line_chars[1] + 2)
        return int(longest * per_unit) + 8

    def rhymes_with(self, line: int) -> int | None:
        """The earlier line whose ending line ``line`` (0-based) must rhyme with, if any."""
        if line >= len(self.rhyme) or self.rhyme[line] == ".":
            return None
        earlier = self.rhyme.find(self.rhyme[line])
        return earlier if earlier < line else None


_EN_LINE = (3, 12)  # words
_SPECS_EN: dict[PoemForm, FormSpec] = {
    PoemForm.FREE_VERSE: FormSpec(
        "free verse", Language.ENGLISH, 6, 12, _EN_LINE, stanza_breaks=True
    ),
    PoemForm.HAIKU: FormSpec("haiku", Language.ENGLISH, 3, 3, (2, 9), syllables=(5, 7, 5)),
    PoemForm.QUATRAIN: FormSpec("quatrain", Language.ENGLISH, 4, 4, _EN_LINE, rhyme="ABAB"),
    PoemForm.LIMERICK: FormSpec("limerick", Language.ENGLISH, 5, 5, (4, 11), rhyme="AABBA"),
    PoemForm.SONNET: FormSpec("sonnet", Language.ENGLISH, 14, 14, _EN_LINE, rhyme="ABABCDCDEFEFGG"),
}
_ZH_LINE = (4, 16)
_SPECS_ZH: dict[PoemForm, FormSpec] = {
    PoemForm.FREE_VERSE: FormSpec("自由诗", Language.CHINESE, 6, 12, _ZH_LINE, stanza_breaks=True),
    PoemForm.HAIKU: FormSpec("俳句", Language.CHINESE, 3, 3, (5, 7)),
    PoemForm.QUATRAIN: FormSpec("四行诗", Language.CHINESE, 4, 4, (5, 12), rhyme=".A.A"),
    PoemForm.LIMERICK: FormSpec("打油诗", Language.CHINESE, 5, 5, (4, 12), rhyme="AABBA"),
    PoemForm.SONNET: FormSpec("十四行诗", Language.CHINESE, 14, 14, (5, 14)),
}
WUYAN = FormSpec("五言绝句", Language.CHINESE, 4, 4, (5, 5), rhyme=".A.A", han_exact=5)
QIYAN = FormSpec("七言绝句", Language.CHINESE, 4, 4, (7, 7), rhyme=".A.A", han_exact=7)
SLOGAN_EN = FormSpec("slogan", Language.ENGLISH, 1, 1, (2, 12), slogan=True)
SLOGAN_ZH = FormSpec("广告语", Language.CHINESE, 1, 1, (4, 20), slogan=True)
SLOGAN_MAX_WORDS = 12


def form_spec(kind: TextKind, form: PoemForm | None, language: Language) -> FormSpec:
    """The spec for a poem ``form`` (or the slogan) written in ``language``."""
    if kind is TextKind.SLOGAN or form is None:
        return SLOGAN_ZH if language is Language.CHINESE else SLOGAN_EN
    if form is PoemForm.WUYAN_JUEJU:
        return WUYAN
    if form is PoemForm.QIYAN_JUEJU:
        return QIYAN
    table = _SPECS_ZH if language is Language.CHINESE else _SPECS_EN
    return table[form]
