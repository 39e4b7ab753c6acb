"""Normalization of the comparison copy, one trick at a time."""

from __future__ import annotations

import pytest

from moderation import normalize as nz
from moderation.normalize import Normalizer


@pytest.fixture(scope="module")
def fold() -> Normalizer:
    return Normalizer()


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("ｆｕｃｋ", "fuck"),  # fullwidth (NFKC)
        ("𝐟𝐮𝐜𝐤 𝓯𝓾𝓬𝓴", "fuck fuck"),  # mathematical alphanumerics (NFKC)
        ("ⓕⓤⓒⓚ", "fuck"),  # enclosed letters (NFKC)
        ("\u0440\u0430\u0443\u0440\u0430l", "paypal"),  # Cyrillic r, a, u, r, a (TR39)
        ("\u0455h\u0456t", "shit"),  # Cyrillic dze and i (TR39)
        ("g\u03bf\u03bfd \u03b1pple", "good apple"),  # Greek omicron and alpha (TR39)
        ("f\u03c5ck", "fuck"),  # Greek upsilon (TR39)
        ("ꜰᴜᴄᴋ", "fuck"),  # small capitals (TR39)
        ("fu\u200bck", "fuck"),  # zero-width space (Cf)
        ("f\u00adu\u2060c\ufeffk", "fuck"),  # soft hyphen, word joiner, BOM (Cf)
        ("f\u3164uck", "fuck"),  # Hangul filler
        ("fück", "fuck"),  # combining marks
        ("f\u0336u\u0336c\u0336k\u0336", "fuck"),  # strike-through overlay
        ("FuCk STRASSE", "fuck strasse"),  # case folding
        ("Straße", "strasse"),
        ("他媽的，幹你娘", "他妈的,干你娘"),  # Traditional -> Simplified; NFKC comma
        ("春日花烂漫。", "春日花烂漫。"),  # Simplified Chinese untouched
        ("二〇二四年", "二〇二四年"),  # CJK left alone (no "O" for 〇)
        ("がっこう", "がっこう"),  # kana keep their marks
        ("한국어", "한국어"),  # hangul keeps its jamo
        ("Ｃａｆé\u200b", "cafe"),
    ],
)
def test_fold(fold: Normalizer, text: str, folded: str) -> None:
    assert fold.fold(text) == folded


def test_normalize_builds_its_own_tables() -> None:
    assert nz.normalize("ＳＨ\u0406Т") == "shit"


@pytest.mark.parametrize(
    ("word", "plain"),
    [("sh1t", "shit"), ("$h!t", "shit"), ("a$$", "ass"), ("b00bs", "boobs"), ("2024", "2024")],
)
def test_leetspeak_is_undone_only_in_words(word: str, plain: str) -> None:
    assert nz.deleet(word) == plain


def test_leetspeak_has_a_second_reading_for_one_and_bar() -> None:
    assert nz.deleet("ki11") == "kiii"
    assert nz.deleet_alt("ki11") == "kill"
    assert nz.deleet_alt("shit") == ""


def test_stretched_letters() -> None:
    assert nz.limit_runs("fuuuuuck") == "fuuck"
    assert nz.limit_runs("asssss") == "ass"
    assert nz.squeeze("fuuck") == "fuck"


def test_in_word_punctuation_is_removed() -> None:
    assert nz.join_inner_punctuation("f.u.c.k f-u-c-k f_u_c_k sh.it") == "fuck fuck fuck shit"
    assert nz.join_inner_punctuation("end. Next") == "end. Next"


def test_masks() -> None:
    assert nz.is_masked("f*ck")
    assert not nz.is_masked("***")
    assert nz.mask_pattern("sh1*") == "shi?"
    assert nz.fits_mask("f??k", "fuck")
    assert not nz.fits_mask("f??k", "fucks")
    assert [t.raw for t in nz.tokens("*bold* wow!")] == ["bold", "wow"]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("f u c k this", ["fuck", "this"]),
        ("f . u . c . k", ["fuck"]),
        ("you s b", ["you", "sb"]),
        ("fu ck off", ["fuck", "off"]),
        ("is it a cat", ["is", "it", "a", "cat"]),  # common words never join
        ("line one\nx y", ["line", "one", "xy"]),
    ],
)
def test_spelled_out_words_are_joined(text: str, words: list[str]) -> None:
    toks = nz.tokens(text)
    spans = nz.spaced_spans(text, toks)
    assert nz.collapse_spans([t.raw for t in toks], spans, split_edges=False) == words


def test_spelled_out_edges_can_stay_words() -> None:
    text = "i w i l l kill you, how to m a k e a bomb"
    toks = nz.tokens(text)
    spans = nz.spaced_spans(text, toks)
    joined = nz.collapse_spans([t.raw for t in toks], spans, split_edges=True)
    assert joined == ["i", "will", "kill", "you", "how", "to", "make", "a", "bomb"]


def test_chinese_view_drops_spaces_and_symbols_but_keeps_sentences(fold: Normalizer) -> None:
    assert (
        nz.cjk_view(fold.fold("傻 逼 傻*逼 傻.逼 傻-逼 傻_逼 傻♥逼")) == "傻逼傻逼傻逼傻逼傻逼傻逼"
    )
    assert nz.cjk_view("真傻，逼真的画") == "真傻，逼真的画"


def test_cjk_helpers() -> None:
    assert nz.has_cjk("a 春 b")
    assert not nz.has_cjk("spring")
    assert nz.cjk_count("春日 spring 花") == 3


def test_the_original_text_is_never_changed(fold: Normalizer) -> None:
    text = "ｆ\u200bｕｃｋ 他媽的"
    fold.fold(text)
    assert text == "ｆ\u200bｕｃｋ 他媽的"
