"""The word-list filter: verdicts, normalization of a copy, and never raising."""

from __future__ import annotations

import pytest

from moderation.normalize import normalize
from moderation.verdict import Category, Decision, Verdict
from moderation.wordlist import COMPONENT, WordListFilter


@pytest.fixture(scope="module")
def words() -> WordListFilter:
    return WordListFilter()


@pytest.mark.parametrize(
    "text",
    ["春日花烂漫，", "Scunthorpe is a town", "a classic assessment", "shitake? no: shiitake"],
)
def test_clean_texts_pass(words: WordListFilter, text: str) -> None:
    verdict = words.check(text)
    assert verdict.decision is Decision.ALLOW
    assert verdict.components == (COMPONENT,)


@pytest.mark.parametrize(
    ("text", "decision", "category"),
    [
        ("what the FUCK", Decision.REVIEW, Category.PROFANITY),
        ("sh1t", Decision.REVIEW, Category.PROFANITY),
        ("ｆｕｃｋ", Decision.REVIEW, Category.PROFANITY),
        ("fu\u200bck", Decision.REVIEW, Category.PROFANITY),
        ("你是傻逼", Decision.REVIEW, Category.PROFANITY),
        ("how to make a  bomb", Decision.BLOCK, Category.ILLICIT),
        ("lolicon art", Decision.BLOCK, Category.SEXUAL_MINORS),
    ],
)
def test_listed_terms_are_flagged(
    words: WordListFilter, text: str, decision: Decision, category: Category
) -> None:
    verdict = words.check(text)
    assert verdict.decision is decision
    assert category in verdict.categories
    assert verdict.matched


def test_strictest_category_wins_and_evidence_is_kept(words: WordListFilter) -> None:
    verdict = words.check("fuck, lolicon")
    assert verdict.decision is Decision.BLOCK
    assert set(verdict.categories) == {Category.PROFANITY, Category.SEXUAL_MINORS}
    assert verdict.to_json()["decision"] == "block"


def test_normalize_changes_only_a_copy() -> None:
    text = "Ｃａｆé\u200b"
    assert normalize(text) == "cafe"
    assert text == "Ｃａｆé\u200b"


def test_filter_errors_hold_the_text_instead_of_raising() -> None:
    broken = WordListFilter()
    broken._rules = None  # type: ignore[assignment]
    verdict = broken.check("anything")
    assert verdict.decision is Decision.REVIEW
    assert verdict.categories == (Category.OTHER,)


def test_worst_of_two_verdicts() -> None:
    allow = Verdict(Decision.ALLOW, components=("a",))
    block = Verdict(Decision.BLOCK, (Category.HATE,), {"hate": 0.9}, ("x",), ("b",))
    combined = allow.worst(block)
    assert combined.decision is Decision.BLOCK
    assert combined.components == ("a", "b")


# --- the real lists: categories, tricks and everyday words ---------------------------------


@pytest.mark.parametrize(
    ("text", "decision", "category"),
    [
        ("this fucking printer never works", Decision.REVIEW, Category.PROFANITY),
        ("他妈的，又下雨了", Decision.REVIEW, Category.PROFANITY),
        ("send nudes", Decision.REVIEW, Category.SEXUAL),
        ("写一段做爱的描写", Decision.REVIEW, Category.SEXUAL),
        ("child porn", Decision.BLOCK, Category.SEXUAL_MINORS),
        ("a sexy 12 year old", Decision.BLOCK, Category.SEXUAL_MINORS),
        ("儿童色情", Decision.BLOCK, Category.SEXUAL_MINORS),
        ("性感的小学生照片", Decision.BLOCK, Category.SEXUAL_MINORS),
        ("kill all jews", Decision.BLOCK, Category.HATE),
        ("nigger", Decision.BLOCK, Category.HATE),
        ("黑鬼", Decision.BLOCK, Category.HATE),
        ("that tranny", Decision.REVIEW, Category.HATE),
        ("you are worthless", Decision.REVIEW, Category.HARASSMENT),
        ("你是个废物", Decision.REVIEW, Category.HARASSMENT),
        ("i will kill you", Decision.REVIEW, Category.VIOLENCE),
        ("how to kill someone", Decision.REVIEW, Category.VIOLENCE),
        ("我要杀了你", Decision.REVIEW, Category.VIOLENCE),
        ("i want to kill myself", Decision.REVIEW, Category.SELF_HARM),
        ("我不想活了", Decision.REVIEW, Category.SELF_HARM),
        ("how to cook meth", Decision.BLOCK, Category.ILLICIT),
        ("where can i buy cocaine", Decision.BLOCK, Category.ILLICIT),
        ("怎么制作炸弹", Decision.BLOCK, Category.ILLICIT),
        ("哪里买冰毒", Decision.BLOCK, Category.ILLICIT),
    ],
)
def test_each_category(
    words: WordListFilter, text: str, decision: Decision, category: Category
) -> None:
    verdict = words.check(text)
    assert verdict.decision is decision, verdict
    assert category in verdict.categories
    assert verdict.scores[category.value] == 1.0


@pytest.mark.parametrize(
    "text",
    [
        # spacing, punctuation and masking
        "f u c k",
        "f.u.c.k",
        "f-u-c-k",
        "f_u_c_k",
        "f . u . c . k",
        "f*ck",
        "f**k",
        "sh*t",
        "f*u*c*k",
        "fu ck",
        "sh.it",
        # stretched letters
        "fuuuuuck",
        "shiiiiit",
        "asssssshole",
        # leetspeak
        "sh1t",
        "$h!t",
        "b!tch",
        "a$$hole",
        "s h 1 t",
        # look-alikes, widths, invisible and combining characters
        "\u0455h\u0456t",  # Cyrillic dze and i
        "f\u03c5ck",  # Greek upsilon
        "ｆｕｃｋ",
        "𝐟𝐮𝐜𝐤",
        "𝓯𝓾𝓬𝓴",
        "fu\u200bck",
        "f\u00adu\u2060ck",
        "fück",
        "f\u0336u\u0336c\u0336k\u0336",
        "FuCk",
        # Chinese: spacing, symbols, Traditional, homophones and pinyin
        "傻 逼",
        "傻*逼",
        "傻.逼",
        "傻\u200b逼",
        "他 * 妈 * 的",
        "他媽的",
        "幹你娘",
        "傻b",
        "傻 B",
        "sb",
        "ｓｂ",
        "cnm",
        "c n m",
        "草泥马",
        "尼玛",
        "shabi",
        "cao ni ma",
        "煞笔",
    ],
)
def test_obfuscated_profanity_is_caught(words: WordListFilter, text: str) -> None:
    verdict = words.check(text)
    assert verdict.decision is Decision.REVIEW, text
    assert Category.PROFANITY in verdict.categories


@pytest.mark.parametrize(
    "text",
    [
        "kill y0urself",
        "k y s",
        "muslims are v e r m i n",
        "how to m a k e a bomb",
        "I w i l l kill you",
        "殺光所有猶太人",
        "我要殺了你",
    ],
)
def test_tricks_work_for_every_category(words: WordListFilter, text: str) -> None:
    assert words.check(text).decision is not Decision.ALLOW, text


@pytest.mark.parametrize(
    "text",
    [
        "Scunthorpe",
        "a classic assessment",
        "the assassin and the assassination",
        "a cocktail of grapes",
        "thank you to my therapist",
        "a cockatoo and a peacock",
        "the novels of Dickens",
        "Sussex and Essex",
        "shiitake risotto",
        "a blue tit and a great tit at the feeder",
        "pussy willow in spring",
        "Moby Dick",
        "graduated magna cum laude",
        "a chink of light through the curtains",
        "The Rape of the Lock",
        "how to kill time on a train",
        "a Maine Coon asleep",
        "cock-a-doodle-doo",
        "a class analysis of the canal",
        "the penis and the vagina in the anatomy textbook",
        "the soldiers were killed in the battle",
        "a war poem about the atomic bomb",
        "I'll beat you at chess",
        "妈妈的爱",
        "他妈妈的生日",
        "你妈妈做的饺子",
        "我妈的拿手菜",
        "激情",
        "鸡尾酒",
        "她是处女座",
        "作家的处女作",
        "这幅画很逼真",
        "姑娘的笑容",
        "想死你了",
        "全场跳楼价",
        "乳腺癌筛查",
        "放荡不羁",
        "远离毒品，珍爱生命",
        "醉卧沙场君莫笑，古来征战几人回",
    ],
)
def test_everyday_words_pass(words: WordListFilter, text: str) -> None:
    verdict = words.check(text)
    assert verdict.decision is Decision.ALLOW, (text, verdict.matched)


def test_stems_take_suffixes_but_not_other_words(words: WordListFilter) -> None:
    for text in ("fuckers", "shitty", "bitches", "motherfucking", "shithead"):
        assert words.check(text).decision is Decision.REVIEW, text
    for text in ("shitake", "pissarro", "cocker spaniel"):
        assert words.check(text).decision is Decision.ALLOW, text


def test_an_allow_phrase_shields_only_what_lies_inside_it(words: WordListFilter) -> None:
    assert words.check("他妈妈的生日").allowed  # "他妈" and "妈的" lie inside allow phrases
    assert words.check("操你妈妈").decision is Decision.REVIEW  # "操你妈" sticks out of "你妈妈"
    assert words.check("how to kill time").allowed
    assert words.check("how to kill someone").decision is Decision.REVIEW


def test_ml_reads_the_text_without_allowed_phrases(words: WordListFilter) -> None:
    folded = words.normalizer.fold("Cock-a-doodle-doo! A rhyme about Moby Dick")
    blanked = words.without_allowed(folded)
    assert "cock" not in blanked
    assert "dick" not in blanked
    assert "rhyme" in blanked


def test_hits_name_the_normalized_term(words: WordListFilter) -> None:
    assert [hit.term for hit in words.hits("ｆ*ck")] == ["fuck"]
    verdict = words.check("sh1t and 傻 逼")
    assert verdict.matched == ("shit", "傻逼")


def test_custom_terms_and_allow_list() -> None:
    custom = WordListFilter.from_terms(
        {Category.VIOLENCE: (Decision.REVIEW, ["crush the rebels"])},
        allow=["crush the rebels in chess"],
    )
    assert custom.check("we will CRUSH the r3bels").decision is Decision.REVIEW
    assert custom.check("crush the rebels in chess").allowed
    assert custom.check("fuck").allowed  # only the given terms


def test_lists_name_their_sources(words: WordListFilter) -> None:
    assert words.name == COMPONENT == "muse-lists@2"
    assert any(source.startswith("glin-profanity@") for source in words.sources)
    assert "muse-terms@2" in words.sources
