"""English cues for a request that asks for a protected work's own words.

A request is read as three slots instead of a list of phrasings:

- a **protected object**: strong ones that are someone's text by themselves (lyrics, song text,
  slogan, tagline, motto, catchphrase, jingle) and weak ones that need more (words, text, poem,
  verse, chorus, lines, chapter, page, opening);
- a **named work** bound to the object: "… of/to/from <Title>", "<Title> lyrics", "<Name>'s
  poem", "… by <Name>", a quoted title, "the song <Title>", a registered brand;
- a **reproduction intent**: give, paste, send, recite, type out, what are, full, exact, word
  for word, verbatim, please.

A strong object with a named work is enough ("Heat Waves lyrics"); a weak one also needs an
intent ("give me the 2nd verse of X"); without an object, a copying verb or a verbatim adverb
with a named work is enough ("recite Adele's Easy On Me", "type Skyfall by Adele out in full");
"finish/continue/what comes after" with a quote or lyrics asks for the rest of a song. A named
work is generic when a determiner, a possessive pronoun or a describing word stands in its place
("lyrics for my band", "a catchy slogan", "rap lyrics"). Exemptions are in ``exempt_en``.
Everything runs on folded text (lower case).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

LYRICS = r"(?:song\s+)?(?:lyrics(?:\s+sheet)?|song\s+text)"
SLOGAN = r"(?:slogans?|taglines?|mottos?|catchphrases?|jingles?)"
STRONG = rf"(?:{LYRICS}|{SLOGAN})"
WEAK = r"(?:words|text|verses?|chorus|bridge|hook|refrain|stanzas?|lines|chapter|page|paragraph)"
PART = rf"(?:{STRONG}|{WEAK}|poem|song|opening(?:\s+lines)?)"

# What may not stand where a title should: determiners, pronouns, new or own pieces.
_GENERIC_HEAD = (
    r"a|an|my|our|your|his|her|their|its|this|that|these|those|some|any|every|each|no|new|"
    r"original|own|me|you|it|us|them|him|someone|something|anything|which|what|when|how|"
    r"encouragement|wisdom|advice|comfort|support|thanks|praise|code|poetry|love|"
    r"(?:the\s+)?(?:server|channel|chat|rules|messages?|email|document|file|article|link|"
    r"conversation|instructions|recipe|contract|assignment|homework|essay|above|following)"
)
TITLE = (
    rf"(?!(?:{_GENERIC_HEAD})\b)"
    r"(?!the\s+(?:song|poem|one|tune)\s+(?:you|i|we|that|which|about)\b)[\w'\"‘“]"
)
# Words that describe a new piece when they stand just before a strong object.
_GENERIC_BEFORE = frozenset(
    (
        "a an the my our your his her their its this that these those some any no all full "
        "complete entire whole exact original actual real new own fresh better good great best "
        "catchy short long simple funny sad happy cute cool witty rhyming memorable punchy "
        "love rap pop rock folk country jazz metal punk emo kpop k-pop song songs poem band "
        "brand company business shop store team club school class ad advertising marketing "
        "campaign product birthday wedding kids children's english chinese spanish french "
        "japanese korean write wrote written writing compose make create need want give get "
        "post paste send drop show type print copy sing read with without about for of to and "
        "or in on at by from more fewer random generic silly few many famous best top greatest "
        "iconic classic popular favourite favorite one two three four five six seven eight nine "
        "ten ever"
    ).split()
)
_GENERIC_OWNER = frozenset(
    (
        "a an the my our your his her their song poem band artist singer brand company today "
        "yesterday world children kids mom dad mother father friend sister brother girlfriend "
        "boyfriend wife husband cat dog someone somebody everyone people muse you i me it that "
        "what who where when how there here he she let"
    ).split()
)
_DETERMINERS = frozenset("a an my our your his her their this that".split())
_INDEFINITE = frozenset("a an my our your some any new original".split())
# Words that may follow a strong object when no title follows it ("lyrics about rain").
_FUNCTION = (
    r"about|are|is|was|were|be|for|in|on|at|with|that|which|who|and|or|but|so|to|of|from|by|"
    r"pls|plz|please|thx|thanks|here|now|full|again|exactly|verbatim|like|should|can|could|"
    r"would|will|must|need|i|you|we|they|it|my|your|our|me|used|as|than|then|too|only|if|when|"
    r"ever|always|never|really|very|just|all|every|still|also|written|sung|has|have|had|do|does|"
    r"did|go|goes|mean|make|made|sound|sounds|feel|feels|get|got"
)
_BY_GENERIC = (
    r"heart|hand|me|myself|us|you|yourself|my|your|our|a|an|the\s+way|far|now|then|default|"
    r"chance|mistake|accident|itself|themselves|email|mail|phone|line|word|verse|stanza"
)

_AFTER = re.compile(
    rf"\b(?P<obj>{LYRICS}|{WEAK})\s+(?:of|to|from|on|for(?!\s+the\s+(?!song|poem)))\s+"
    rf"(?:the\s+(?:song|poem|track|hymn)\s+)?{TITLE}"
    rf"|\b{SLOGAN}\s+of\s+{TITLE}"
    rf"|\b{LYRICS}\s*(?:(?:pls|plz|please|thx)\s*)?[:\-–]\s*{TITLE}"
    rf"|\b{LYRICS}\s+(?!(?:{_FUNCTION}|a|an|his|her|their|this|these|those|some|any)\b)"
    r"[\w'\"‘“]"
)
_BEFORE = re.compile(rf"(?<![\w'-])(?P<name>[\w'&.-]+)\s+(?:的\s*)?(?P<obj>{STRONG})\b")
_OWNER = re.compile(r"(?<![\w'-])(?P<owner>[\w.&-]+)(?:'s|’s|(?<=s)'|(?<=s)’)\s+(?P<tail>.{0,60})")
_BY = re.compile(
    rf"(?<!inspired )(?<!influenced )(?<!line )(?<!word )(?<!verse )(?<!step )(?<!one )"
    rf"\bby\s+(?!(?:{_BY_GENERIC})\b)[\w'\"‘“]"
)
_QUOTED = re.compile(
    r"(?:^|(?<=[\s(:,]))['\"“‘](?=\w)(.{1,60}?)(?<=[\w.!?])['\"”’](?=$|[\s.,!?:;)])"
)
_QUOTE_EXEMPT = re.compile(
    r"\b(?:word|phrase|lines?|title|titled|called|named|starts?\s+with|begins?\s+with|"
    r"ends?\s+with|using|quoting|saying|says?|expression|rate|fix|here\s+are)\W*$"
)
_THE_SONG = re.compile(
    rf"\bthe\s+(?:song|poem|track|hymn)\s+(?!(?:{_FUNCTION}|called|titled|named|below|above)\b)"
    r"['\"“‘]?\w"
    rf"|\bthe\s+whole\s+of\s+{TITLE}"
)
INTENT = re.compile(
    r"\b(?:give|gimme|send|drop|paste|post|copy|print|type|show|share|tell\s+me|recite|sing|"
    r"quote|reproduce|transcribe|need|want|provide|list|spit|repeat|output|"
    r"write\s+(?:it\s+|them\s+)?(?:out|down)|what\s+(?:are|is|were)|what's|whats|"
    r"what\s+does|how\s+does|go(?:es)?\s+like|exact(?:ly)?|full|complete|whole|entire|all|"
    r"every|please|pls|plz)\b|\bwrite\b.{1,40}\bout\b|" + r"\bword[\s-]+(?:for|by)[\s-]+word\b"
)
COPY_VERB = re.compile(
    r"\b(?:recite|reproduce|transcribe|quote|copy(?:\s+out)?|paste|print|type(?:\s+out)?|"
    r"write\s+(?:out|down)|sing|spit|post)\b"
)
VERBATIM = re.compile(
    r"\b(?:word[\s-]+(?:for|by)[\s-]+word|verbatim|exactly|in\s+full|in\s+its\s+entirety|"
    r"(?:from\s+)?start\s+to\s+finish|every\s+(?:line|verse|word)|all\s+the\s+words|"
    r"the\s+whole\s+(?:of|thing)|line\s+by\s+line|as\s+(?:written|published|sung|printed))\b"
)
_CONTINUE = re.compile(
    r"\b(?:what\s+comes\s+(?:after|next)|next\s+line|keep\s+going|continue|finish|complete|"
    r"rest\s+of)\b(?!\s+(?:my|our)\b)"
)

Hit = tuple[str, int]  # (reason, where the cue starts)


def _before_hits(folded: str) -> Iterator[Hit]:
    """Hits for "<Title> lyrics", "the <Brand> slogan", unless "a/my/some …" opens it."""
    for match in _BEFORE.finditer(folded):
        if re.fullmatch(SLOGAN, match.group("obj")) and new_slogan(folded):
            continue
        name = match.group("name").strip(".'")
        opening = folded[: match.start()].split()[-3:]
        if name in _GENERIC_BEFORE or name.isdigit() or _INDEFINITE.intersection(opening):
            continue
        yield "a named work's lyrics or slogan", match.start()


def _owner_hits(folded: str, objects: str) -> Iterator[Hit]:
    """Hits for "<Name>'s <object>" (within two words), or "<Name>'s <Title>" when
    ``objects`` is empty."""
    for match in _OWNER.finditer(folded):
        before = folded[: match.start()].split()[-1:]
        if match.group("owner") in _GENERIC_OWNER or (before and before[0] in _DETERMINERS):
            continue
        tail = match.group("tail")
        if objects and re.match(rf"(?:[\w'-]+\s+){{0,2}}?{SLOGAN}\b", tail) and new_slogan(folded):
            continue
        wanted = rf"(?:[\w'-]+\s+){{0,2}}?{objects}\b" if objects else r"['\"‘“]?\w"
        if re.match(wanted, tail):
            yield "a named author's or brand's words", match.start()


# A slogan that is new (for a shop, an event, a campaign) unless one asks for an existing one.
_NEW_SLOGAN = re.compile(
    r"\b(?:new|fresh|original|catchy|own|bakery|shop|store|cafe|café|restaurant|salon|gym|"
    r"studio|farm|market|fair|festival|campaign|drive|sale|club|team|school|class|charity|"
    r"event|fundraiser|startup|clinic|library|church|project|initiative|our|my|inn|pub|bar|"
    r"day|week|month|party|mosque|temple|synagogue|open-house|halal|truck|anti-\w+)\b"
)
_EXISTING_SLOGAN = re.compile(
    r"\b(?:what\s+is|what's|whats|what\s+was|tell\s+me|famous|official|exact|real|actual|"
    r"existing|current|classic|iconic|word\s+for\s+word|verbatim)\b"
)


def new_slogan(folded: str) -> bool:
    """Whether a request for "<Name>'s slogan" asks for a new one (a shop's, an event's, "new")
    and not for the words an existing one has."""
    return _NEW_SLOGAN.search(folded) is not None and _EXISTING_SLOGAN.search(folded) is None


def _quoted_hits(folded: str) -> Iterator[Hit]:
    for match in _QUOTED.finditer(folded):
        if not _QUOTE_EXEMPT.search(folded[max(0, match.start() - 24) : match.start()]):
            yield "a quoted title", match.start()


def named_refs(folded: str) -> Iterator[Hit]:
    """Places where a particular work is named without an object bound to it."""
    yield from _owner_hits(folded, "")
    yield from (("a work by a named author", m.start()) for m in _BY.finditer(folded))
    yield from _quoted_hits(folded)
    yield from (("a named song or poem", m.start()) for m in _THE_SONG.finditer(folded))


def strong_hits(folded: str, brand: re.Pattern[str] | None) -> Iterator[Hit]:
    """A strong object (lyrics, slogan) bound to a named work or brand."""
    for match in _AFTER.finditer(folded):
        obj = match.group("obj")
        if obj is None or re.fullmatch(STRONG, obj):
            yield "the lyrics or slogan of a named work", match.start()
    yield from _before_hits(folded)
    yield from _owner_hits(folded, STRONG)
    if brand is not None:
        for match in brand.finditer(folded):
            if re.match(rf"[^.?!]{{0,24}}\b{SLOGAN}", folded[match.end() :]):
                yield "a brand's slogan", match.start()


def weak_hits(folded: str) -> Iterator[Hit]:
    """A weak object (verse, words, poem) bound to a named work, when something asks for it."""
    if INTENT.search(folded) is None:
        return
    for match in _AFTER.finditer(folded):
        if match.group("obj") and re.fullmatch(WEAK, match.group("obj")):
            yield "a part of a named work", match.start()
    yield from _owner_hits(folded, PART)
    yield from ((r, at) for r, at in named_refs(folded) if _near_part(folded, at))


def _near_part(folded: str, at: int) -> bool:
    return re.search(rf"\b{PART}\b", folded[max(0, at - 40) : at + 60]) is not None


def copy_hits(folded: str) -> Iterator[Hit]:
    """No object: a copying verb or a verbatim adverb with a named work."""
    if COPY_VERB.search(folded) is None and VERBATIM.search(folded) is None:
        return
    for reason, at in named_refs(folded):
        yield f"{reason}, to be copied", at


def continue_hits(folded: str) -> Iterator[Hit]:
    """The rest of a song: "finish the lyrics: …", "what comes after '…'"."""
    for match in _CONTINUE.finditer(folded):
        rest = folded[match.start() :]
        if _QUOTED.search(folded) or re.search(rf"\b(?:{LYRICS}|song)\b", rest):
            yield "the rest of a song", match.start()


def detectors(brand: re.Pattern[str] | None) -> tuple[Callable[[str], Iterator[Hit]], ...]:
    """The English detectors, strongest first."""
    return (
        lambda folded: strong_hits(folded, brand),
        weak_hits,
        copy_hits,
        continue_hits,
    )


# A request about the work, not for it: anywhere in the text.
DISCUSS = re.compile(
    r"\b(?:mean|means|meaning|explain\w*|summar\w*|tl;?\s*dr|analy[sz]\w*|interpret\w*|"
    r"who\s+(?:wrote|writes|sang|sings|sung|performed|composed|is)|which\s+(?:album|year)|"
    r"what\s+(?:album|genre|year)|when\s+(?:did|was|is)|how\s+many|recommend\w*|why|"
    r"discuss\w*|legal|(?:your|my|in)\s+own\s+words|i\s+(?:love|like|hate|adore)|"
    r"stuck\s+in\s+my\s+head)\b"
)
# Muse's or the member's own text.
OWN_WORK = re.compile(
    r"\byou\s+(?:just\s+)?(?:wrote|made|gave|sent|did)\b|\byour\s+(?:last|previous|earlier|own)\b"
    r"|\bi\s+(?:just\s+)?(?:wrote|made)\b|\b(?:my|our)\s+(?:own\s+)?(?:lyrics|poem|song|verse|"
    r"slogan|words)\b|\bwritten\s+by\s+me\b"
)
# Style, relation and new-piece cues, and negations, shortly before the cue that fired.
STYLE = re.compile(
    r"\b(?:about|inspired\s+by|influenced\s+by|in\s+the\s+(?:style|manner|spirit|vein|voice)|"
    r"style\s+of|styled|(?:song|poem|one|something|lyrics|slogans?|taglines?|chorus|verse|"
    r"sounds?|feels?|bold|just|vibes?|kind\s+of)\s+like|similar\s+to|parod(?:y|ies)|homage|"
    r"tribute|respond(?:ing)?\s+to|response\s+to|based\s+on|to\s+the\s+tune\s+of|"
    r"energy\s+of|riff\s+on|original|fresh|called|titled|named|mentions?|honou?ring)\b"
    r"|(?<!the )\bnew\b"
)
NEGATION = re.compile(
    r"\b(?:don'?t|do\s+not|not|never|no\s+need|without|instead\s+of|rather\s+than)\b"
)
# "write lyrics for …" composes; "write the lyrics of …" and "write out …" copy.
COMPOSE = re.compile(r"\b(?:write|compose|make|create|draft|pen)\s+(?:me\s+|us\s+)?(?:some\s+)?$")
WINDOW = 48


def exempt_at(folded: str, at: int) -> bool:
    """Whether a style, relation or negation cue stands shortly before position ``at``."""
    window = folded[max(0, at - WINDOW) : at]
    if STYLE.search(window) is not None or NEGATION.search(window) is not None:
        return True
    return COMPOSE.search(window) is not None and re.match(rf"{PART}\b", folded[at:]) is not None


def exempt_text(folded: str) -> bool:
    """Whether the whole request is about a work, or about Muse's or the member's own text."""
    return DISCUSS.search(folded) is not None or OWN_WORK.search(folded) is not None
