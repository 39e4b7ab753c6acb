"""Rules a row's mask forces whatever the model's scores say, on the tiny random Llama's
tokenizer: the English rhyme of a limerick (a rhyming line ends on its partner's rhyme at about
its partner's length; a line that sets a rhyme ends on a word others can rhyme with), and the
no-preamble rule of a Chinese slogan whose characters are split over byte tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from generators.constrain import FormTokens, RowConstraint
from generators.forms.english import last_word, rhyme_words, rhymes_en, words
from generators.forms.rules import MIN_RHYME_CHOICES
from generators.forms.spec import SLOGAN_ZH, FormSpec, form_spec
from generators.options import Language, PoemForm, TextKind

LIMERICK = form_spec(TextKind.POEM, PoemForm.LIMERICK, Language.ENGLISH)


@pytest.fixture(scope="module")
def tokens(tiny_lm_dir: Path) -> FormTokens:
    from transformers import AutoTokenizer

    tokenizer: Any = AutoTokenizer.from_pretrained(str(tiny_lm_dir))
    return FormTokens(tokenizer, [int(tokenizer.eos_token_id)])


def row_after(tokens: FormTokens, spec: FormSpec, text: str) -> RowConstraint:
    row = RowConstraint(spec, tokens, 400, {})
    for token in tokens.tokenizer.encode(text, add_special_tokens=False):
        row.advance(int(token))
    assert row.text == text
    return row


def finish_line(row: RowConstraint, seed: int) -> str:
    """Draw the likeliest allowed token under random scores until the line ends."""
    scores_from = torch.Generator().manual_seed(seed)
    start = len(row.text)
    for _ in range(60):
        scores = torch.randn(row.tokens.vocab, generator=scores_from)
        row.restrict(scores)
        token = int(scores.argmax())
        if "\n" in row.tokens.texts[token]:
            break
        row.advance(token)
    return row.text[start:]


@pytest.mark.parametrize("seed", range(6))
def test_a_rhyming_line_ends_on_its_partner_s_rhyme(tokens: FormTokens, seed: int) -> None:
    opening = "There once was a fellow named Ray\nWho sat on"
    row = row_after(tokens, LIMERICK, opening)
    line = "Who sat on" + finish_line(row, seed)
    assert rhymes_en(last_word(line), "ray"), line


@pytest.mark.parametrize("seed", range(6))
def test_a_short_partner_keeps_its_rhyming_line_short(tokens: FormTokens, seed: int) -> None:
    """A limerick's fourth line rhymes with the short third one: its rhyme word comes by about
    the third line's length (five words here), not only at the long lines' seventh word."""
    opening = (
        "There once was a fellow named Ray\nWho sat on a chair every day\n"
        "He ate a big cat\nAnd then he"
    )
    row = row_after(tokens, LIMERICK, opening)
    line = "And then he" + finish_line(row, seed)
    assert rhymes_en(last_word(line), "cat"), line
    assert len(words(line)) <= 7, line


@pytest.mark.parametrize("seed", range(4))
def test_a_line_that_sets_a_rhyme_ends_on_a_word_others_can_rhyme_with(
    tokens: FormTokens, seed: int
) -> None:
    opening = "There once was an old man who lived"
    row = row_after(tokens, LIMERICK, opening)
    line = opening + finish_line(row, seed)
    assert len(rhyme_words(last_word(line))) >= MIN_RHYME_CHOICES, line
    assert len(words(line)) <= 9, line


def byte_split(tokens: FormTokens, text: str) -> tuple[list[int], int]:
    ids = [int(i) for i in tokens.tokenizer.encode(text, add_special_tokens=False)]
    assert "\ufffd" in tokens.texts[ids[-1]]  # the last character's last byte, alone
    return ids[:-1], ids[-1]


@pytest.mark.parametrize(("text", "refused"), [("以下是", True), ("月光是", False)])
def test_a_chinese_preamble_is_refused_at_the_byte_that_completes_it(
    tokens: FormTokens, text: str, refused: bool
) -> None:
    """ "以下是" opens a preamble; its "是" is three byte tokens here, each U+FFFD alone. The
    rule judges the decoded text, so the last byte is masked, and only there: "月光是" is fine."""
    head, last = byte_split(tokens, text)
    row = RowConstraint(SLOGAN_ZH, tokens, 40, {})
    for token in head:
        row.advance(token)
    scores = torch.zeros(tokens.vocab)
    scores[last] = 10.0
    row.restrict(scores)
    assert bool(scores[last] == float("-inf")) is refused
    assert bool(torch.isfinite(scores).any())


def test_masks_computed_during_the_forward_pass_are_the_ones_restrict_computes(
    tokens: FormTokens,
) -> None:
    """``start_masks`` (one llguidance batch call on a worker thread) gives every row exactly
    the mask that ``restrict`` computes on its own."""
    texts = [(LIMERICK, "There once was a fellow named Ray\nWho sat on"), (SLOGAN_ZH, "月光")]
    alone = [row_after(tokens, spec, text) for spec, text in texts]
    early = [row_after(tokens, spec, text) for spec, text in texts]
    tokens.start_masks(early)
    assert all(row.pending is not None for row in early)
    draws = torch.Generator().manual_seed(3)
    for one, other in zip(alone, early, strict=True):
        scores = torch.randn(tokens.vocab, generator=draws)
        same = scores.clone()
        one.restrict(scores)
        other.restrict(same)
        assert other.pending is None and torch.equal(scores, same)
