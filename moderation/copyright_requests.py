"""Requests to reproduce someone else's text, recognised by how they are phrased (EN and ZH).

A request is flagged when it asks for a work's own words: "the lyrics of …", "… word for
word", "recite X's poem", "Nike's slogan", 《…》的歌词, 逐字, 原文, 一字不差, 广告语是什么. It is
not flagged when the asking phrase is preceded by a cue that makes it about, inspired by or in
the style of a work ("a poem inspired by the lyrics of …", 模仿…的风格, 分析…歌词), when it is
negated ("don't copy", 不要照抄), or when it names a public-domain author or work
(``copyright_public_domain.toml``). Matching runs on the folded text (lower case, Simplified).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# English: a determiner that makes "lyrics of …" a new piece ("lyrics to a song about my dog").
_NOT_A_TITLE = r"(?!(?:a|an|my|our|your|his|her|their|this|these|some|any|new|original)\b)"
_WORKS = (
    r"(?:lyrics|lyric\s+sheet|words|text|poem|song|chorus|verses?|stanzas?|lines|chapter|"
    r"paragraph|page|opening)"
)

# Phrases that ask for a work's own words by themselves.
_EN_STRONG: tuple[tuple[str, str], ...] = (
    ("word for word", r"\bword[\s-]+(?:for|by)[\s-]+word\b|\bverbatim\b|\bletter for letter\b"),
    (
        "exactly as written",
        r"\b(?:exactly\s+)?as\s+(?:written|sung|published|printed|recorded|they\s+use)\b|"
        r"\bfrom\s+start\s+to\s+(?:finish|end)\b|\bin\s+its\s+entirety\b|\bunabridged\b",
    ),
    (
        "copy a named text",
        r"\b(?:recite|reproduce|transcribe|paste|copy)\s+(?:out\s+|in\s+|down\s+)?(?!(?:a|an|my|our|"
        r"your|me|it|this|that|something|some|any|at|to|for|on|with|about|by|from|when|while|and|"
        r"or)\b)\w",
    ),
    (
        "a brand's slogan",
        r"\b(?<!my )(?<!our )(?<!your )(?<!a )(?<!the )[\w&.-]+(?:'s|s'|')\s+"
        r"(?:slogan|tagline|motto|catchphrase|jingle)\b",
    ),
    ("the lyrics of a named song", rf"\blyrics\s+(?:of|to|from)\s+{_NOT_A_TITLE}"),
    (
        "the full lyrics",
        r"\b(?:full|complete|entire|whole|all(?: of)?(?: the)?|exact|original|actual|real)\s+"
        r"(?:song\s+)?lyrics\b",
    ),
    (
        "a title's lyrics",
        r"['\"”’»]\s*lyrics\b|^(?!.*\b(?:write|compose|create|make|draft|pen|poem|about)\b)"
        r".*\b(?!(?:some|new|own|original|sad|happy|love)\b)\w+\s+lyrics\W*$",
    ),
    ("the exact words", r"\bexact\s+(?:words|text|lines|wording)\b"),
    (
        "the song's text",
        r"\b(?:song\s+text|lyric\s+sheet)\b|\bthe\s+lyrics\s+for\s+" + _NOT_A_TITLE,
    ),
    (
        "the whole text",
        rf"\bthe\s+(?:full|complete|entire|whole)\s+{_WORKS}\b|\bfull\s+text\s+of\b",
    ),
    (
        "the rest of the lyrics",
        r"\b(?:rest|remainder) of the (?:lyrics|song|poem)\b|"
        r"\b(?:finish|continue|complete) the (?:lyrics|song)\b",
    ),
    ("all the verses", r"\b(?:all|every)\s+(?:the\s+)?(?:verses|lines|stanzas)\s+of\b"),
)
# A reference to a particular work, and words that ask for it to be reproduced.
_EN_REFERENCE = re.compile(
    rf"\bthe\s+(?:song\s+)?{_WORKS}\s+(?:of|to|from)\s+{_NOT_A_TITLE}"
    rf"|\bthe\s+(?:first|second|third|last|final|opening)\s+{_WORKS}\b"
    rf"|\b(?:first|second|third|last|final|opening)\s+{_WORKS}\s+of\s+{_NOT_A_TITLE}"
    r"|\bthe\s+(?:song|poem)\s+['\"“‘]?(?!(?:about|that|which|for|with)\b)\w"
    r"|\b(?<!my )(?<!our )(?<!your )(?<!his )(?<!her )(?<!their )(?<!a )"
    r"\w+(?:'s|s'|')\s+(?:\w+\s+)?(?:poem|song|lyrics|chorus|verse|words)\b"
    r"|\bthe\s+whole\s+of\b|\bin\s+full\b|\bline\s+by\s+line\b"
    r"|\b(?:every\s+(?:verse|line|word)|all\s+the\s+words)\W*(?:please|for\s+me)?\W*$"
)
_EN_INTENT = re.compile(
    r"\b(?:recite|transcribe|reproduce|copy|paste|repeat|quote|print|type|output|post|show|"
    r"list|share|send|need|want|write\s+(?:out|down)|write|give\s+me|tell\s+me|sing\s+me|"
    r"sing|what\s+are|exactly|in\s+full|all\s+of\s+them|all\s+the\s+words|every\s+line)\b"
)
_EN_SLOGAN = r"(?:slogan|tagline|motto|catchphrase|jingle)"
_EN_SLOGAN_ASK = re.compile(
    rf"\b(?:official|registered|famous|real|actual|exact|trademarked)\s+{_EN_SLOGAN}"
    rf"|\b(?<!my )(?<!our )(?<!your )(?<!a )(?<!the )[\w&.-]+(?:'s|s'|')\s+(?:\w+\s+)?{_EN_SLOGAN}"
    rf"|\bthe\s+(?!(?:best|perfect|right|new|next|same|first)\b)[\w&.'-]+(?:\s[\w&.'-]+)?\s+"
    rf"{_EN_SLOGAN}"
)
_EN_SLOGAN_INTENT = re.compile(
    r"\b(?:what\s+is|what's|whats|give|use|write|copy|tell|exactly|word|put|print|the\s+words)\b"
)
_EN_EXEMPT = re.compile(
    r"\b(?:about|inspired\s+by|in\s+the\s+style|style\s+of|(?<!'d )(?<!would )like|similar\s+to|"
    r"meaning|explain|discuss|analy[sz]e|parody|homage|tribute|not|don't|dont|never|without|"
    r"new|original|own|fresh)\b"
)
_EN_WINDOW = 40

_ZH_WORK = r"(?:歌词|原文|全文|全诗|原诗)"
_ZH_STRONG: tuple[tuple[str, str], ...] = (
    ("逐字", r"逐字|一字一句|一字不差|一字不改|一字不漏|原封不动|原样|照抄|照搬|抄录|抄给|复述"),
    ("抄一遍", r"抄(?:一遍|下来|给我|出来)"),
    ("怎么唱", r"》[^，。,.]{0,8}(?:怎么唱|第.{1,3}段|副歌|开头)|(?:后面|下面|接下来)的歌?词"),
    ("《》的歌词或原文", rf"》\s*的?\s*(?:完整|全部|全)?\s*{_ZH_WORK}"),
    ("完整歌词", r"(?:完整|全部|全套)的?歌词|原歌词|这首歌的?(?:完整)?歌词"),
    ("歌词全文", r"歌词\s*(?:全文|原文|全部|完整版|是什么|怎么唱)"),
    ("段落歌词", r"(?:第.{1,3}段|副歌|主歌|前两句|开头)的?歌词"),
    ("原文", r"(?:章|回|段|开头|那段)\s*原文|原文\s*(?:抄|写|发|给)"),
    ("全文", r"(?:词|诗|章)\s*全文|全文\s*(?:抄|写|发|给|打)"),
    ("背诵或默写作品", rf"(?:背诵|默写|写出|完整写出|打出)[^，。,.]{{0,12}}(?:《|{_ZH_WORK})"),
    ("完整写出", r"完整(?:地)?(?:写|打|发|抄)|整首(?:歌|诗)[^，。,.]{0,6}(?:写|打|发|给|抄)"),
    ("歌的词", r"》\s*的?\s*词(?!语)|(?:歌|部分)的词|部分词|把词(?:给|发|写|打)"),
    ("作品原文", r"(?:诗|歌|书)的?原文"),
)
_ZH_SLOGAN_ASK = re.compile(
    r"(?:广告语|广告词|口号|标语|slogan)[^，。,.]{0,4}(?:原话|原文|是什么|是啥|怎么说)"
    r"|(?:直接用|套用|借用)[^，。,.]{0,10}(?:广告语|广告词|口号|标语|slogan)"
    r"|(?:经典|官方|注册|著名|那句)[^，。,.]{0,2}(?:广告语|广告词|口号|标语|slogan)"
)
_ZH_EXEMPT = re.compile(r"关于|原创|模仿|仿照|风格|灵感|像|参考|分析|讽刺|不要|别|不")
_ZH_WINDOW = 12


@dataclass(frozen=True)
class RequestHit:
    """Why a request reads as asking for a work's own words."""

    reason: str


def _exempt(text: str, start: int, cue: re.Pattern[str], window: int) -> bool:
    return cue.search(text[max(0, start - window) : start]) is not None


def _first(
    patterns: Iterable[tuple[str, re.Pattern[str]]], text: str, cue: re.Pattern[str], window: int
) -> RequestHit | None:
    for reason, pattern in patterns:
        for match in pattern.finditer(text):
            if not _exempt(text, match.start(), cue, window):
                return RequestHit(reason)
    return None


def _names_pattern(names: Sequence[str]) -> re.Pattern[str] | None:
    """Whole-word alternatives for Latin names ("milton" not in "hamilton"); Chinese names
    match anywhere."""
    if not names:
        return None
    parts = [rf"(?<![a-z0-9]){re.escape(n)}(?![a-z0-9])" for n in names]
    return re.compile("|".join(parts))


class RequestPatterns:
    """Compiled request phrasings; ``public_domain`` names and ``brands`` come from data."""

    def __init__(self, public_domain: Iterable[str], brands: Iterable[str]) -> None:
        self._en_strong = [(r, re.compile(p)) for r, p in _EN_STRONG]
        self._zh_strong = [(r, re.compile(p)) for r, p in _ZH_STRONG]
        names = sorted({n for n in public_domain if n}, key=len, reverse=True)
        self._public_domain = _names_pattern(names)
        self._brand = _names_pattern(sorted({b for b in brands if b}, key=len, reverse=True))

    def public_domain(self, folded: str) -> bool:
        """Whether the text names a public-domain author or work."""
        return self._public_domain is not None and self._public_domain.search(folded) is not None

    def check(self, folded: str) -> RequestHit | None:
        """The first reason the folded request asks for a work's own words, or None."""
        if self.public_domain(folded):
            return None
        return (
            _first(self._en_strong, folded, _EN_EXEMPT, _EN_WINDOW)
            or self._en_reference(folded)
            or self._en_slogan(folded)
            or _first(self._zh_strong, folded, _ZH_EXEMPT, _ZH_WINDOW)
            or _first([("品牌广告语", _ZH_SLOGAN_ASK)], folded, _ZH_EXEMPT, _ZH_WINDOW)
        )

    def _en_reference(self, folded: str) -> RequestHit | None:
        if _EN_INTENT.search(folded) is None:
            return None
        return _first([("a named work", _EN_REFERENCE)], folded, _EN_EXEMPT, _EN_WINDOW)

    def _en_slogan(self, folded: str) -> RequestHit | None:
        if _EN_SLOGAN_INTENT.search(folded) is None:
            return None
        patterns = [("a brand's slogan", _EN_SLOGAN_ASK)]
        if self._brand is not None:
            brand_slogan = re.compile(rf"(?:{self._brand.pattern})[^.?!]{{0,20}}{_EN_SLOGAN}")
            patterns.append(("a brand's slogan", brand_slogan))
        return _first(patterns, folded, _EN_EXEMPT, _EN_WINDOW)
