"""Chinese cues for a request that asks for a protected work's own words.

The same three slots as ``copyright_en``:

- a **protected object**: strong (歌词, 原文, 全文, 全诗, 广告语, 广告词, 口号, 标语, slogan)
  or weak (诗, 词, 副歌, 主歌, 开头);
- a **named work**: 《…》, a quoted title, or a name right before the object
  (周杰伦告白气球歌词, 王老吉的口号);
- a **reproduction intent**: 发, 给我, 打出, 写出, 抄, 背, 默写, 唱, 是什么, 怎么唱, 完整,
  逐字, 一字不差, 原样.

A strong object with a named work is enough; a weak one also needs an intent; 《…》 or a
quote with a copying verb (背一下《…》, 抄一遍, 一字不差) is enough by itself; 下一句, 接着写,
后面的词 with a quote or 《…》 asks for the rest of a song. A name is generic when it describes
a new piece (一首, 一句, 关于…, 我的…, 写一个). Runs on folded text (Simplified, lower case).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

STRONG = r"(?:原歌词|歌词|广告标语|广告语|广告词|宣传语|口号|标语|slogan|原文|全文|全诗|原诗)"
WEAK = r"(?:(?<![歌作填告台宋诗])词(?![语汇典])|(?<![古新小])诗(?![词经歌人意])|副歌|主歌|开头)"
SLOGAN = re.compile(r"广告标语|广告语|广告词|宣传语|宣传标语|口号|标语|slogan")
# Asking for an existing one: what it is, its exact words.
EXISTING = re.compile(
    r"是什么|是啥|是哪|叫什么|原话|原文|原句|原版|原来的|那句|经典|著名|官方|一字|逐字|完整|"
    r"原样|照抄|照搬|背|默写|发我|告诉我|写出|打出"
)
TITLE = re.compile(r"《[^》]{1,30}》")
QUOTED = re.compile(r"[“‘「'\"]([^”’」'\"]{2,40})[”’」'\"]")
_CUT = r"[，。,.！？!?：:；;、\n《》“”‘’「」'\"]"
# Fillers stripped from the ends of the text before an object, to leave a name or nothing.
_TRAILING = re.compile(
    r"(?:的|这首歌|这首诗|那首歌|那首诗|这首|那首|歌曲|里|中|部分|那句|这句|经典|官方|著名|完整|"
    r"全部|全|整首|原|品牌|广告|\s)+$"
)
_LEADING = re.compile(
    r"^(?:请|麻烦|帮我|帮忙|给我|我要|我想要|想要|求发|求|发我|来|找一下|找|查|有没有|告诉我|"
    r"能不能|可以|把|plz|pls|please|give\s+me|\s)+"
)
_GENERIC = re.compile(
    r"关于|有关|主题|原创|自己|我的|我们|你的|你们|新|好的|流行|中文|英文|古诗|现代|诗词|这首|那首|"
    r"一[首段句个篇些]|几[首段句个]|[两三四五六]个|(?:写|想|编|创作|设计|起|取|作)(?:[一几两三四五个首段句些点]|$)"
)
INTENT = re.compile(
    r"发(?![行布表展生现])|给我|打出|写出|写下|抄|背(?![景影后])|默写|唱|输出|列出|引用|是什么|是啥|"
    r"怎么唱|求|完整|全部|整首|逐字|一字|原样|照搬|复述|告诉我|贴"
)
COPY_VERB = re.compile(
    r"背(?![景影后])|背诵|默写|抄|复述|唱(?!歌)|逐字|一字不差|一字不改|一字一句|一字不漏|原样|"
    r"原封不动|原原本本|完整|整首|发我|发一下|发给我|打出|输出"
)
_CONTINUE = re.compile(
    r"下一句|接着(?:往下)?(?:唱|写)|往下(?:唱|写)|后面的歌?词|续写|接下来的歌?词"
)

# A request about the work, not for it, or a new piece: anywhere in the text.
DISCUSS = re.compile(
    r"意思|含义|意境|讲的是|讲了|讲什么|讲述|表达|情绪|分析|解读|赏析|解释|概括|总结|为什么|是谁|谁唱|"
    r"谁写|作词|作曲|哪年|哪一年|哪张|专辑|发行|推荐|类似|争议|介绍|侵权|怎么写|技巧|特点|区别|"
    r"讲究|有什么|评价"
)
STYLE = re.compile(
    r"模仿|仿照|仿写|风格|灵感|像|参考|原创|致敬|以[^，。,.]{0,14}为(?:题|主题|灵感|意象)|感觉|"
    r"那样|一样|意象|气势|新诗|新歌|新的|中国风|改写|改成|写成|关于"
)
OWN_WORK = re.compile(
    r"你刚才|你上次|你之前|你写的|你给我写|给我写的|我写的|我自己写|我的歌词|我的诗"
)
NEW_TITLE = re.compile(r"名字叫|题目是|题目叫|题为|叫做|名为|歌名叫|歌名是|标题是|取名|起名|命名")
NEGATION = re.compile(r"不要|不用|(?<!特)别(?!人)|不需要|无需|不必|而不是")

Hit = tuple[str, int]


def _clause_before(folded: str, at: int) -> str:
    """The text between the last clause break (or 《》 or a quote) and position ``at``."""
    return re.split(_CUT, folded[max(0, at - 20) : at])[-1]


def _named_before(folded: str, at: int) -> bool:
    """Whether a name (not a description of a new piece) stands right before ``at``."""
    if re.search(
        r"[》”’」'\"]\s*(?:的|这首歌的?|这首诗的?|里|中)?\s*$", folded[max(0, at - 8) : at]
    ):
        return True
    name = _LEADING.sub("", _TRAILING.sub("", _clause_before(folded, at)))
    return len(name.strip()) >= 2 and _GENERIC.search(name) is None


def _has_title(folded: str) -> bool:
    for match in TITLE.finditer(folded):
        if NEW_TITLE.search(folded[max(0, match.start() - 6) : match.start()]) is None:
            return True
    return QUOTED.search(folded) is not None


def _object_hits(folded: str, objects: str) -> Iterator[Hit]:
    for match in re.finditer(objects, folded):
        if SLOGAN.fullmatch(match.group(0)) and new_slogan(folded, match.start()):
            continue
        if _named_before(folded, match.start()) or _has_title(folded[: match.start()]):
            yield "《…》或名字 + 歌词/原文/广告语", match.start()


def new_slogan(folded: str, at: int) -> bool:
    """Whether a slogan word at ``at`` asks for a new slogan: nothing asks for an existing one
    (是什么, 原话, 那句, 一字不差). A slogan for something (反对地域歧视的宣传语, 射击比赛的加油
    口号, 阳光奶茶店的广告语) is a new one; a brand's own is asked for with those words."""
    return EXISTING.search(folded) is None


def strong_hits(folded: str) -> Iterator[Hit]:
    """歌词, 原文, 广告语 … bound to 《…》 or a name."""
    yield from _object_hits(folded, STRONG)


def weak_hits(folded: str) -> Iterator[Hit]:
    """诗, 词, 副歌 … bound to 《…》 or a name, when something asks for it."""
    if INTENT.search(folded) is not None:
        yield from _object_hits(folded, WEAK)


def copy_hits(folded: str) -> Iterator[Hit]:
    """《…》 or a quote with a copying verb: 背一下《…》, 抄一遍, 一字不差."""
    verb = COPY_VERB.search(folded)
    if verb is not None and _has_title(folded):
        yield "《…》 + 背/抄/逐字", verb.start()


def continue_hits(folded: str) -> Iterator[Hit]:
    """下一句, 接着写, 后面的词: the rest of a song."""
    match = _CONTINUE.search(folded)
    if match is not None and (_has_title(folded) or "歌词" in folded):
        yield "歌词的下文", match.start()


def exempt_at(folded: str, at: int) -> bool:
    """Whether a negation stands before ``at`` in its clause (不用发歌词, 别给我原歌词)."""
    return NEGATION.search(_clause_before(folded, at)) is not None


def exempt_text(folded: str) -> bool:
    """Whether the request is about the work, in its style, or about Muse's own text."""
    return any(p.search(folded) for p in (DISCUSS, STYLE, OWN_WORK))


def detectors() -> tuple[Callable[[str], Iterator[Hit]], ...]:
    """The Chinese detectors, strongest first."""
    return (strong_hits, weak_hits, copy_hits, continue_hits)
