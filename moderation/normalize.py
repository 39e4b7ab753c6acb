"""The comparison copy of a text: what the word lists match against, never what is shown.

``Normalizer.fold`` applies, in order: Unicode NFKC (fullwidth and mathematical letters become
ASCII); removal of format characters (zero-width spaces and joiners, soft hyphens, bidi marks),
combining marks and invisible fillers; folding of look-alike letters to ASCII following Unicode
TR39 confusables (Cyrillic and Greek letters, small capitals, and so on) from the table that ships
in the ``disarm`` wheel; Traditional to Simplified Chinese with the tables that ship in the
``opencc`` wheel; and case folding. ASCII and CJK characters are never touched by the first three
steps.

The token helpers below undo leetspeak, stretched letters, spaced-out and masked words; the word
list (``moderation.wordlist``) decides which of them to try.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, NamedTuple

# CJK ideographs, radicals, kana, bopomofo, hangul and their symbols: left as they are.
_CJK_CLASS = "\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\U00020000-\U0003ffff"
_NON_ASCII_NON_CJK = re.compile(f"[^\\x00-\\x7f{_CJK_CLASS}]+")
_CJK_CHAR = re.compile(f"[{_CJK_CLASS}]")
_HAN_CHAR = re.compile("[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003ffff]")

# Invisible characters that are letters or symbols by category, used to pad or split words.
_INVISIBLE = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u2800\u3164\uffa0")

# Leetspeak: digits and symbols that stand for letters inside a word. "1", "|" and "!" are
# read as "i" first and as "l" in the alternative reading.
_LEET = str.maketrans(
    {
        "0": "o",
        "1": "i",
        "2": "z",
        "3": "e",
        "4": "a",
        "5": "s",
        "6": "g",
        "7": "t",
        "8": "b",
        "9": "g",
        "@": "a",
        "$": "s",
        "!": "i",
        "|": "i",
        "€": "e",
        "£": "l",
        "+": "t",
    }
)
_LEET_ALT = str.maketrans({"1": "l", "|": "l", "!": "i"})
_LEET_CHARS = "0123456789@$!|€£+"
_MASK_CHARS = "*#%"

# A Latin token: letters, digits, leet symbols and masking symbols.
TOKEN = re.compile(r"[a-z0-9@$!|€£+*#%]+")
_LETTER = re.compile("[a-z]")
_RUN3 = re.compile(r"([a-z])\1{2,}")
_RUN2 = re.compile(r"([a-z])\1+")
# Punctuation that splits a word to dodge a filter: "f.uck", "sh-it", "fu_ck".
_INNER_PUNCT = re.compile(r"(?<=[a-z0-9])[.\-_'`~^:,/\\](?=[a-z0-9])")

# Sentence punctuation stays a boundary in the Chinese view; other punctuation, symbols and
# spaces between characters are dropped, so "傻 逼", "傻*逼" and "傻.逼" read as "傻逼".
_SENTENCE = frozenset('，。！？；：、,!?;:「」『』“”‘’"《》()（）[]【】\n')


# Regional-indicator symbols (the letters of flag emoji) read as the letters they show.
_REGIONAL = {0x1F1E6 + i: chr(ord("a") + i) for i in range(26)}
# Emoji written for a Chinese character of the same sound or look, read as that character when
# they stand next to Chinese text: 你🐴 -> 你妈, 🌿泥马 -> 草泥马.
_EMOJI_HAN = {"🐴": "妈", "🐎": "马", "🌿": "草", "🐔": "鸡", "🐶": "狗", "🐷": "猪", "🐢": "龟"}
_EMOJI_NEAR_HAN = re.compile(
    "(?<=[\u4e00-\u9fff])["
    + "".join(_EMOJI_HAN)
    + "]|["
    + "".join(_EMOJI_HAN)
    + "](?=[\u4e00-\u9fff])"
)
# A character written as its two halves: 女表子 -> 婊子, 贝戋 -> 贱, 弓虽女干 -> 强奸.
_SPLIT_HAN = {
    "女表子": "婊子", "女表砸": "婊砸", "贝戋": "贱", "弓虽女干": "强奸", "亻尔": "你",
    "扌喿": "操", "犭句": "狗", "白勺": "的", "女马": "妈", "户斤": "所", "歹匕": "死",
    "木仓": "枪", "弓单": "弹", "火乍": "炸",
}  # fmt: skip
_SPLIT_HAN_RE = re.compile("|".join(sorted(_SPLIT_HAN, key=len, reverse=True)))


def fold_evasions(text: str) -> str:
    """Regional-indicator letters as letters, homophone emoji beside Chinese as the character
    they stand for, and characters split into their halves joined again."""
    if text.isascii():
        return text
    text = text.translate(_REGIONAL)
    text = _EMOJI_NEAR_HAN.sub(lambda m: _EMOJI_HAN[m.group(0)], text)
    return _SPLIT_HAN_RE.sub(lambda m: _SPLIT_HAN[m.group(0)], text)


class NormalizationError(RuntimeError):
    """A table that normalization needs cannot be loaded."""


def strip_invisible(text: str) -> str:
    """Drop format characters (Cf), combining marks and invisible fillers outside CJK text."""

    def clean(match: re.Match[str]) -> str:
        decomposed = unicodedata.normalize("NFD", match.group(0))
        kept = "".join(
            ch
            for ch in decomposed
            if ch not in _INVISIBLE and unicodedata.category(ch) not in ("Mn", "Me", "Cf")
        )
        return unicodedata.normalize("NFC", kept)

    return _NON_ASCII_NON_CJK.sub(clean, text)


def _load_confusables() -> Any:
    try:
        import disarm
    except ImportError as err:
        raise NormalizationError("normalization needs the disarm package (TR39 tables)") from err
    return disarm.normalize_confusables


def _load_t2s() -> Any:
    try:
        import opencc
    except ImportError as err:
        raise NormalizationError("normalization needs the opencc package (Chinese tables)") from err
    try:
        return opencc.OpenCC("t2s").convert
    except Exception as err:  # the C++ library reports a missing table as a plain Exception
        raise NormalizationError(f"opencc cannot load its t2s tables: {err}") from err


class Normalizer:
    """Holds the confusables and Chinese conversion tables; ``fold`` is safe across threads."""

    def __init__(self) -> None:
        self._confusables = _load_confusables()
        self._t2s = _load_t2s()

    def fold(self, text: str) -> str:
        """NFKC, no invisible characters, look-alikes folded to ASCII, Simplified, case-folded."""
        text = unicodedata.normalize("NFKC", text)
        if not text.isascii():
            text = fold_evasions(self._t2s(text) if _HAN_CHAR.search(text) else text)
            text = strip_invisible(text)
            text = _NON_ASCII_NON_CJK.sub(self._fold_confusables, text)
            if _HAN_CHAR.search(text):
                text = self._t2s(text)
        return text.casefold()

    def _fold_confusables(self, match: re.Match[str]) -> str:
        folded: str = self._confusables(match.group(0))
        return folded


def normalize(text: str) -> str:
    """``Normalizer().fold(text)``; builds the tables on each call, so hold a ``Normalizer`` to
    fold many texts."""
    return Normalizer().fold(text)


def has_cjk(text: str) -> bool:
    """Whether any CJK character (ideograph, kana, hangul) is in ``text``."""
    return _CJK_CHAR.search(text) is not None


def cjk_count(text: str) -> int:
    """How many CJK characters ``text`` has."""
    return len(_CJK_CHAR.findall(text))


def cjk_view(folded: str) -> str:
    """The folded text without spaces, symbols and in-word punctuation, for Chinese matching."""
    return "".join(ch for ch in folded if ch in _SENTENCE or unicodedata.category(ch)[0] in "LN")


def join_inner_punctuation(folded: str) -> str:
    """ "f.uck", "sh-it" and "f.u.c.k" become single words; other text is unchanged."""
    return _INNER_PUNCT.sub("", folded)


def limit_runs(word: str) -> str:
    """Three or more of a letter become two: "fuuuuck" -> "fuuck", "asssss" -> "ass"."""
    return _RUN3.sub(r"\1\1", word)


def squeeze(word: str) -> str:
    """Every run of a letter becomes one: "fuuck" -> "fuck"."""
    return _RUN2.sub(r"\1", word)


def has_letter(word: str) -> bool:
    """Whether ``word`` has an ASCII letter."""
    return _LETTER.search(word) is not None


def deleet(word: str) -> str:
    """Digits and symbols read as letters, when the word has a letter: "sh1t" -> "shit"."""
    if not has_letter(word):
        return word
    return word.translate(_LEET)


def deleet_alt(word: str) -> str:
    """The second reading of a leeted word ("1" and "|" as "l"), or "" when it has none."""
    if not has_letter(word) or not any(ch in "1|" for ch in word):
        return ""
    return word.translate(_LEET_ALT).translate(_LEET)


def strip_token(raw: str) -> str:
    """A token without masking or exclamation marks at its edges ("*bold*", "wow!")."""
    return raw.strip(_MASK_CHARS + "!|+")


def is_masked(token: str) -> bool:
    """Whether a stripped token hides letters behind "*", "#" or "%" ("f*ck", "sh**")."""
    return has_letter(token) and any(ch in _MASK_CHARS for ch in token)


def mask_pattern(token: str) -> str:
    """The masked token with leet undone and each mask character as "?": "f*ck" -> "f?ck"."""
    out = []
    for ch in token:
        if ch in _MASK_CHARS:
            out.append("?")
        elif ch in _LEET_CHARS:
            out.append(ch.translate(_LEET))
        else:
            out.append(ch)
    return "".join(out)


def fits_mask(pattern: str, word: str) -> bool:
    """Whether ``word`` fits a mask pattern letter for letter ("?" fits any letter)."""
    return len(pattern) == len(word) and all(
        p in ("?", c) for p, c in zip(pattern, word, strict=True)
    )


class Token(NamedTuple):
    """One Latin token of a folded text: as written, and where it sits."""

    raw: str
    start: int
    end: int


def tokens(folded: str) -> list[Token]:
    """Latin tokens (letters, digits, leet and mask symbols) with edge marks stripped."""
    out = []
    for match in TOKEN.finditer(folded):
        raw = strip_token(match.group(0))
        if raw:
            out.append(Token(raw, match.start(), match.end()))
    return out


# Two-letter words that never join a spelled-out run: "is it" stays two words.
_COMMON_PAIRS = frozenset(
    "am an as at be by do go he hi if in is it me my no of oh ok on or so to up us we ah ha uh "
    "yo ya ye al ex id ma pa mr ms dr tv uk la lo na".split()
)


def _short(raw: str) -> bool:
    return len(raw) == 1 or (len(raw) == 2 and has_letter(raw) and raw not in _COMMON_PAIRS)


def _joinable_gap(gap: str) -> bool:
    return 0 < len(gap) <= 3 and "\n" not in gap


def _spaced_run_ok(run: list[int], toks: list[Token]) -> bool:
    singles = sum(1 for i in run if len(toks[i].raw) == 1)
    if len(run) == 2:
        return singles != 1  # "s b", "fu ck"; not "a cat"-like pairs
    return len(run) >= 3 and singles >= 2


def spaced_spans(folded: str, toks: list[Token]) -> list[tuple[int, int]]:
    """Token ranges that spell a word out with gaps: "f u c k", "s h 1 t", "k y s", "fu ck"."""
    spans = []
    run: list[int] = []
    for i, tok in enumerate([*toks, Token("", len(folded) + 10, len(folded) + 10)]):
        short = _short(tok.raw)
        if short and run and _joinable_gap(folded[toks[run[-1]].end : tok.start]):
            run.append(i)
            continue
        if _spaced_run_ok(run, toks):
            spans.append((run[0], run[-1] + 1))
        run = [i] if short else []
    return spans


def _edge_word(raw: str) -> bool:
    return raw in ("a", "i") or len(raw) > 1


def collapse_spans(
    raws: list[str], spans: list[tuple[int, int]], *, split_edges: bool
) -> list[str]:
    """The tokens with each spaced span joined into one word. With ``split_edges`` a first or
    last token that reads as a word ("a", "i", or two letters) stays apart: "i w i l l" -> "i",
    "will"; "to m a k e a" -> "to", "make", "a"."""
    out: list[str] = []
    last = 0
    for start, end in spans:
        out += raws[last:start]
        part = raws[start:end]
        head = [part.pop(0)] if split_edges and len(part) > 2 and _edge_word(part[0]) else []
        tail = [part.pop()] if split_edges and len(part) > 2 and _edge_word(part[-1]) else []
        out += [*head, "".join(part), *tail]
        last = end
    return out + raws[last:]
