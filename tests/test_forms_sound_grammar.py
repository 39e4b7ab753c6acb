"""English syllables and rhyme forced by GBNF word lists (the grammar llama.cpp and vLLM get):
llguidance, parsing the same GBNF, accepts a right haiku or limerick and refuses a wrong count or
a line that does not rhyme; and llama-server holds them on random weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from generators.forms.checks import rhyme_ok, structure_ok, syllables_ok
from generators.forms.grammar import gbnf, row_gbnf
from generators.forms.sound_grammar import forced_by_grammar, rhyme_sounds
from generators.forms.spec import form_spec
from generators.options import Language, PoemForm, TextKind

HAIKU = form_spec(TextKind.POEM, PoemForm.HAIKU, Language.ENGLISH)
LIMERICK = form_spec(TextKind.POEM, PoemForm.LIMERICK, Language.ENGLISH)
SONNET = form_spec(TextKind.POEM, PoemForm.SONNET, Language.ENGLISH)


def _accepts(tokenizer: Any, grammar: str, text: str) -> bool:
    import llguidance
    import llguidance.hf
    from llguidance.gbnf_to_lark import gbnf_to_lark

    matcher = llguidance.LLMatcher(llguidance.hf.from_tokenizer(tokenizer), gbnf_to_lark(grammar))
    assert not matcher.is_error(), matcher.get_error()
    ids = tokenizer.encode(text, add_special_tokens=False)
    return bool(matcher.try_consume_tokens(ids) == len(ids) and matcher.is_accepting())


@pytest.fixture(scope="module")
def tokenizer(tiny_lm_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_lm_dir))


def test_haiku_grammar_takes_five_seven_five_only(tokenizer: Any) -> None:
    grammar = row_gbnf(HAIKU, 1)
    assert len(grammar) < 200_000  # parsed per request: a 1-token request took no longer with it
    good = "The old man is here,\nin the water we can find\nthe light of the day."
    assert syllables_ok(HAIKU, good)
    assert _accepts(tokenizer, grammar, good)
    six = good.replace("man is here", "man is still here")  # 6 syllables on line one
    assert not _accepts(tokenizer, grammar, six)
    assert not _accepts(tokenizer, grammar, good + "\nand more")  # a fourth line


def test_limerick_grammar_ends_each_group_on_its_drawn_sound(tokenizer: Any) -> None:
    seed = 5
    sounds = rhyme_sounds(LIMERICK, seed)
    a, b = sounds["A"], sounds["B"]
    assert set(a).isdisjoint(b)
    lines = [
        f"There once was a cat by the {a[0]}",
        f"who sat all alone in the {a[1]}",
        f"she went to the {b[0]}",
        f"and came with a {b[1]}",
        f"then slept for a year by the {a[2]}",
    ]
    text = "\n".join(lines)
    assert structure_ok(LIMERICK, text) and rhyme_ok(LIMERICK, text)
    grammar = row_gbnf(LIMERICK, seed)
    assert _accepts(tokenizer, grammar, text)
    wrong_word = text.replace(b[1], "table")  # line 4 no longer ends on B's sound
    assert not _accepts(tokenizer, grammar, wrong_word)
    same_word = text.replace(a[1], a[0])  # line 2 repeats line 1's word instead of rhyming
    assert not _accepts(tokenizer, grammar, same_word)


def test_sounds_follow_the_seed_and_groups_differ() -> None:
    drawn = [rhyme_sounds(SONNET, seed) for seed in range(6)]
    assert drawn[0] == rhyme_sounds(SONNET, 0)
    assert len({tuple(sorted(d.values())) for d in drawn}) > 1
    for sounds in drawn:
        assert len(set(sounds.values())) == len(sounds) == 7


def test_forms_without_english_sound_rules_keep_their_grammar() -> None:
    for form, language in (
        (PoemForm.FREE_VERSE, Language.ENGLISH),
        (PoemForm.QIYAN_JUEJU, Language.CHINESE),
        (PoemForm.LIMERICK, Language.CHINESE),
    ):
        spec = form_spec(TextKind.POEM, form, language)
        assert not forced_by_grammar(spec)
        assert row_gbnf(spec, 3) == gbnf(spec)
