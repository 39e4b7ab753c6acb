"""The plain-Python side of forms: grammars llguidance accepts, the reader's checks, cleaning,
and decoding that never shows half a character."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from generators.forms import checks
from generators.forms.chinese import level_rhyme_groups, rhymes_zh
from generators.forms.english import rhymes_en, syllables
from generators.forms.grammar import gbnf_for
from generators.forms.spec import QIYAN, SLOGAN_EN, SLOGAN_ZH, form_spec
from generators.options import Language, PoemForm, TextKind
from generators.prompts import clean_poem, clean_slogan


def test_sound_rules() -> None:
    assert syllables("An old silent pond") == 5
    assert syllables("A frog jumps into the pond") == 7
    assert rhymes_en("moon", "soon") and not rhymes_en("moon", "moon")
    assert not rhymes_en("moon", "sun")
    assert rhymes_zh("花", "家") and rhymes_zh("光", "霜") and not rhymes_zh("光", "月")
    assert all(len(chars) >= 40 for chars in level_rhyme_groups().values())


@pytest.mark.parametrize("form", list(PoemForm))
def test_every_form_has_a_grammar_llguidance_compiles(tiny_lm_dir: Path, form: PoemForm) -> None:
    import llguidance
    import llguidance.hf
    from llguidance.gbnf_to_lark import gbnf_to_lark
    from transformers import AutoTokenizer

    tokenizer: Any = AutoTokenizer.from_pretrained(str(tiny_lm_dir))
    text = gbnf_for(TextKind.POEM, form, form.native_language)
    assert text.startswith("root ::=")
    matcher = llguidance.LLMatcher(llguidance.hf.from_tokenizer(tokenizer), gbnf_to_lark(text))
    assert not matcher.is_error(), matcher.get_error()


def test_qiyan_grammar_accepts_a_classic_and_refuses_a_broken_rhyme(tiny_lm_dir: Path) -> None:
    import llguidance
    import llguidance.hf
    from llguidance.gbnf_to_lark import gbnf_to_lark
    from transformers import AutoTokenizer

    tokenizer: Any = AutoTokenizer.from_pretrained(str(tiny_lm_dir))
    ll = llguidance.hf.from_tokenizer(tokenizer)
    lark = gbnf_to_lark(gbnf_for(TextKind.POEM, PoemForm.QIYAN_JUEJU, Language.CHINESE))
    good = "朝辞白帝彩云间，\n千里江陵一日还。\n两岸猿声啼不住，\n轻舟已过万重山。"
    bad = good.replace("万重山", "万重月")
    for text, accepted in ((good.replace("还", "闲"), True), (bad, False)):
        matcher = llguidance.LLMatcher(ll, lark)
        ids = tokenizer.encode(text, add_special_tokens=False)
        assert (matcher.try_consume_tokens(ids) == len(ids) and matcher.is_accepting()) is accepted


def test_checks_judge_as_a_reader() -> None:
    haiku = form_spec(TextKind.POEM, PoemForm.HAIKU, Language.ENGLISH)
    text = "An old silent pond\nA frog jumps into the pond\nSplash! Silence again"
    assert checks.structure_ok(haiku, text) and checks.syllables_ok(haiku, text)
    assert not checks.structure_ok(haiku, text + "\nAnd one line more here")
    jueju = "床前明月光，\n疑是地上霜。\n举头望明月，\n低头思故乡。"
    assert checks.structure_ok(QIYAN, jueju) is False  # five characters, not seven
    assert checks.looping_lines("a b c\nd e f\na b c") == (1, 3)
    assert checks.slogan_leaks(SLOGAN_EN, "Here's a slogan: Moon Coffee") == ["preamble"]
    assert checks.slogan_leaks(SLOGAN_EN, '"Wake up to the moon"') == ["quotes"]
    assert checks.slogan_leaks(SLOGAN_ZH, "月光咖啡，唤醒你的夜晚") == []
    assert checks.slogan_leaks(SLOGAN_ZH, "以下是一句广告语") == ["preamble"]
    assert checks.role_talk("我是一位诗人") and checks.role_talk("I am the Muse, a poet")
    assert checks.uses_topic("the sea at night", "Night falls on the sea")


def test_cleaning_drops_labels_numbers_quotes_and_half_characters() -> None:
    assert clean_slogan('1. Slogan: "Wake up to the moon"') == "Wake up to the moon"
    assert clean_slogan("广告语：月光咖啡") == "月光咖啡"
    assert clean_poem("月光\ufffd\n") == "月光"


def test_decoding_stops_before_half_a_character(tiny_lm_dir: Path) -> None:
    from transformers import AutoTokenizer

    from generators.decode import complete_text

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_lm_dir))
    ids = tokenizer.encode("月光", add_special_tokens=False)
    texts = [complete_text(tokenizer, ids[:n]) for n in range(len(ids) + 1)]
    assert all("\ufffd" not in t for t in texts) and texts[-1] == "月光"


def test_chinese_lines_and_slogans_may_not_open_with_role_talk(tiny_lm_dir: Path) -> None:
    import llguidance
    import llguidance.hf
    from llguidance.gbnf_to_lark import gbnf_to_lark
    from transformers import AutoTokenizer

    tokenizer: Any = AutoTokenizer.from_pretrained(str(tiny_lm_dir))
    ll = llguidance.hf.from_tokenizer(tokenizer)
    poem = gbnf_to_lark(gbnf_for(TextKind.POEM, PoemForm.QIYAN_JUEJU, Language.CHINESE))
    slogan = gbnf_to_lark(gbnf_for(TextKind.SLOGAN, None, Language.CHINESE))
    good = "朝辞白帝彩云间，\n我辞江陵一日闲。\n两岸猿声啼不住，\n轻舟已过万重山。"
    cases = [
        (poem, good, True),  # 我 may open a line
        (poem, good.replace("两岸猿声", "这是猿声"), False),
        (poem, good.replace("我辞江陵", "我是江陵"), False),
        (slogan, "桂花绿茶香满城！", True),
        (slogan, "这是一杯好茶！", False),
    ]
    for grammar, text, accepted in cases:
        matcher = llguidance.LLMatcher(ll, grammar)
        ids = tokenizer.encode(text, add_special_tokens=False)
        assert (matcher.try_consume_tokens(ids) == len(ids) and matcher.is_accepting()) is accepted
