"""The request detector's slots: object + named work + intent, its exemptions, and typos."""

from __future__ import annotations

import pytest

from moderation.copyright_requests import RequestPatterns, canonical
from moderation.normalize import Normalizer


@pytest.fixture(scope="module")
def patterns() -> RequestPatterns:
    return RequestPatterns(["shakespeare", "sonnet 18", "李白", "静夜思"], ["nike", "王老吉"])


def _hit(patterns: RequestPatterns, text: str) -> str | None:
    found = patterns.check(Normalizer().fold(text))
    return None if found is None else found.reason


def test_one_letter_typos_of_the_object_words_read_as_the_words() -> None:
    assert canonical("lyrcis to x, the lyricss, a slgoan, lyric sheet") == (
        "lyrics to x, the lyrics, a slogan, lyrics sheet"
    )
    assert canonical("lyrical chores physics") == "lyrical chores physics"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Radioactive lyrics", "a named work's lyrics or slogan"),
        ("whats the lyrics to Watermelon Sugar", "the lyrics or slogan of a named work"),
        ("lyrics pls: Perfect, Ed Sheeran", "the lyrics or slogan of a named work"),
        ("the Nokia slogan", "a named work's lyrics or slogan"),
        ("what's Apple's tagline", "a named work's lyrics or slogan"),
        ("a Nike ad, use the slogan as it is", "a brand's slogan"),
        ("give me the chorus of Shake It Off", "a part of a named work"),
        ("type out Sia's Chandelier", "a named author's or brand's words, to be copied"),
        ("finish the song: 'we were both young when'", "the rest of a song"),
        ("林俊杰的《修炼爱情》歌词给我", "《…》或名字 + 歌词/原文/广告语"),
        ("肯德基的广告语是什么", "《…》或名字 + 歌词/原文/广告语"),
        ("背诵舒婷的《神女峰》", "《…》 + 背/抄/逐字"),
        ("“月亮代表我的心”下一句歌词", "《…》或名字 + 歌词/原文/广告语"),
    ],
)
def test_an_object_bound_to_a_named_work_is_a_request(
    patterns: RequestPatterns, text: str, reason: str
) -> None:
    assert _hit(patterns, text) == reason


@pytest.mark.parametrize(
    "text",
    [
        "give me words of encouragement for my exam",
        "write lyrics for Adele's fans about waiting",  # composing, not copying
        "what are the best song lyrics ever written",
        "list five famous slogans",
        "what's a good catchphrase for a superhero",
        "post the poem on the channel",
        "what's the text of the server rules",
        "who sang Radioactive",
        "write a poem called 'Bad Blood' about a feud",
        "the verbatim lyrics of Sonnet 18",  # public domain
        "don't paste the lyrics of Yellow, write me a new one",
        "paste your last poem again",
        "写一首歌，名字叫《夜曲》",
        "《稻香》讲了什么",
        "给我的店铺写个口号",
        "不用发歌词，告诉我《十年》是谁唱的",
        "把你写的歌词发我",
        "逐字写出李白的《静夜思》",
    ],
)
def test_descriptions_discussions_and_own_texts_are_not(
    patterns: RequestPatterns, text: str
) -> None:
    assert _hit(patterns, text) is None


@pytest.mark.parametrize(
    "text",
    [
        "paste the full lyrics of Yellow by Coldplay, then a sonnet like Shakespeare",
        "Heat Waves lyrics. Also, what did Shakespeare write?",
        "《晴天》的歌词发我，再背一首李白的诗",
    ],
)
def test_a_public_domain_name_elsewhere_exempts_nothing(
    patterns: RequestPatterns, text: str
) -> None:
    """Only the clause that names the public-domain work is exempt, so naming one in passing
    cannot carry a request for a protected work's words past the guard."""
    assert _hit(patterns, text) is not None
