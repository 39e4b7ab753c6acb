"""GBNF grammars for every form, one builder for all back-ends: llama.cpp's ``grammar`` field and
vLLM's structured outputs take the text as is; in process, llguidance converts it to its Lark
dialect (``generators.constrain``).

What a grammar forces: the number of lines, the characters a line may hold and its length
(exactly 5 or 7 Han characters plus punctuation for 绝句), how each line closes, that no Chinese
line or slogan opens with 这是 or 我是 (role talk: "这是一首…"), and for Chinese
the rhyme of the lines that share the form's first rhyme letter (an alternation over the level-tone
rhyme groups of ``chinese``). English syllables and rhyme: on servers (``row_gbnf``) by word lists
per syllable count and per rhyme sound chosen by the row's seed (``sound_grammar``); in process by
the word-level rules in ``generators.constrain``, which leave the model a free vocabulary.
"""

from __future__ import annotations

from functools import cache, lru_cache

from generators.forms.chinese import level_rhyme_groups
from generators.forms.sound_grammar import forced_by_grammar, sound_gbnf
from generators.forms.spec import SLOGAN_MAX_WORDS, FormSpec, form_spec
from generators.options import Language, PoemForm, TextKind

HAN = r"[\u4E00-\u9FFF]"
_ZH_START_RULES = [  # a Han character other than 这/我, or 这/我 then one other than 是
    r"zfirst ::= [\u4E00-\u6210\u6212-\u8FD8\u8FDA-\u9FFF]",
    r"zpair ::= [\u6211\u8FD9] [\u4E00-\u662E\u6630-\u9FFF]",
]
_EN_WORD = "[A-Za-z]{1,14} ( ['-] [A-Za-z]{1,10} )?"  # a word, maybe with one apostrophe or hyphen
_EN_SEP = '[,;!?.]? " "'  # one mark at most between words, one space
_EN_END = "[,;.!?]?"
_ZH_END = "[，。！？、；]"
_SLOGAN_WORD = "[A-Za-z0-9] [A-Za-z0-9'&-]{0,15}"


def _rep(item: str, low: int, high: int) -> str:
    return f"{item}{{{low},{high}}}" if low != high else f"{item}{{{low}}}"


def _en_line(spec: FormSpec) -> str:
    low, high = spec.line_chars
    return f"word ( sep word ){{{low - 1},{high - 1}}} {_EN_END}"


def _zh_start(low: int, high: int) -> str:
    """``low`` to ``high`` Han characters that do not open with 这是 or 我是 (the model's
    "这是一首…", "我是一位…": role talk, not a line of the poem)."""
    one = f"zfirst {_rep('han', low - 1, high - 1)}" if high > 1 else "zfirst"
    two = f"zpair {_rep('han', max(low - 2, 0), high - 2)}" if high > 2 else "zpair"
    return f"( {one} | {two} )"


def _zh_line(spec: FormSpec, index: int, end: str) -> str:
    """Line ``index`` (0-based) of a Chinese form; ``end`` is the class of its last Han
    character ('' for any)."""
    low, high = spec.line_chars
    if spec.han_exact:
        punct = '"，"' if index % 2 == 0 else '"。"'
        body = _zh_start(spec.han_exact - 1, spec.han_exact - 1)
    else:
        punct, body = "zhend", _zh_start(low - 1, high - 1)
    return f"{body} {end or 'han'} {punct}"


def _lines(items: list[str], spec: FormSpec) -> str:
    sep = '"\\n" "\\n"?' if spec.stanza_breaks else '"\\n"'
    return f" {sep} ".join(f"( {item} )" for item in items)


def _chinese(spec: FormSpec) -> str:
    rules = [f"han ::= {HAN}", f"zhend ::= {_ZH_END}", *_ZH_START_RULES]
    letter = next((ch for ch in spec.rhyme if ch != "." and spec.rhyme.count(ch) > 1), "")
    if not letter:
        line = _zh_line(spec, 1, "")
        rest = f'( "\\n" {line} ){{{spec.min_lines - 1},{spec.max_lines - 1}}}'
        return "\n".join([f"root ::= {_zh_line(spec, 0, '')} {rest}", *rules])
    alternatives = []
    for key, chars in level_rhyme_groups().items():
        rules.append(f"r{key} ::= [{chars}]")
        ends = [f"r{key}" if ch == letter else "" for ch in spec.rhyme]
        alternatives.append(_lines([_zh_line(spec, i, e) for i, e in enumerate(ends)], spec))
    root = "root ::= " + " | ".join(f"( {alt} )" for alt in alternatives)
    return "\n".join([root, *rules])


def _english(spec: FormSpec) -> str:
    sep = '"\\n" "\\n"?' if spec.stanza_breaks else '"\\n"'
    rest = f"( {sep} line ){{{spec.min_lines - 1},{spec.max_lines - 1}}}"
    rules = [f"line ::= {_en_line(spec)}", f"word ::= {_EN_WORD}", f"sep ::= {_EN_SEP}"]
    return "\n".join([f"root ::= line {rest}", *rules])


def _slogan(spec: FormSpec) -> str:
    if spec.chinese:
        low, high = spec.line_chars
        body = "[\\u4E00-\\u9FFF，、！0-9]"
        one, two = _rep(body, low - 1, high - 1), _rep(body, low - 2, high - 2)
        return "\n".join([f"root ::= ( zfirst {one} | zpair {two} ) [。！]?", *_ZH_START_RULES])
    more = SLOGAN_MAX_WORDS - 1
    return f'root ::= word ( ","? " " word ){{1,{more}}} [.!?]?\nword ::= {_SLOGAN_WORD}'


_EN_WORD_RE = r"[A-Za-z]{1,14}(['-][A-Za-z]{1,10})?"


def lark(spec: FormSpec) -> str:
    """The grammar of ``spec`` in llguidance's Lark dialect. English lines become one regular
    expression each (a lexeme llguidance compiles to an automaton, much faster to mask than a
    rule per character); the others are their GBNF converted by llguidance."""
    if spec.chinese or spec.slogan:
        from llguidance.gbnf_to_lark import gbnf_to_lark

        return str(gbnf_to_lark(gbnf(spec)))
    low, high = spec.line_chars
    line = f"{_EN_WORD_RE}([,;!?.]? {_EN_WORD_RE}){{{low - 1},{high - 1}}}[,;.!?]?"
    sep = '"\\n" "\\n"?' if spec.stanza_breaks else '"\\n"'
    rest = f"({sep} LINE){{{spec.min_lines - 1},{spec.max_lines - 1}}}"
    return f"start: LINE {rest}\nLINE: /{line}/\n"


@cache
def gbnf(spec: FormSpec) -> str:
    """The GBNF grammar of ``spec`` (root rule ``root``)."""
    if spec.slogan:
        return _slogan(spec)
    return _chinese(spec) if spec.chinese else _english(spec)


def gbnf_for(kind: TextKind, form: PoemForm | None, language: Language) -> str:
    """The GBNF grammar for a poem ``form`` (or the slogan) in ``language``: the helper the
    OpenAI-compatible path and llama.cpp serving use."""
    return gbnf(form_spec(kind, form, language))


def row_gbnf(spec: FormSpec, seed: int) -> str:
    """The grammar one server request carries: with English syllables or rhyme forced by word
    lists (the rhyme sounds drawn by the row's ``seed``) where the form has them, else
    ``gbnf(spec)``."""
    return sound_gbnf(spec, seed) if forced_by_grammar(spec) else gbnf(spec)


@lru_cache(maxsize=64)
def row_lark(gbnf_text: str) -> str:
    """``row_gbnf``'s grammar in llguidance's Lark dialect, with the ``%llguidance`` header that
    tells llama.cpp to run it on llguidance (rhyme forms draw a grammar per seed: the last 64
    are kept; a haiku's is one 155 KB grammar, converted once)."""
    from llguidance.gbnf_to_lark import gbnf_to_lark

    return str(gbnf_to_lark(gbnf_text))


def warm_row_grammars() -> None:
    """Build every form's request grammar, and its Lark, once: a haiku's word tries take half
    a second and its Lark a third more, which the first haiku's member would otherwise wait."""
    for form in PoemForm:
        row_lark(row_gbnf(form_spec(TextKind.POEM, form, form.native_language), 0))
