"""Requests validate at the edge with clear messages, and prompts keep user text in its place."""

from __future__ import annotations

import pytest

from generators.options import (
    ImageSize,
    InvalidRequest,
    Language,
    Mood,
    PoemForm,
    Tone,
    detect_language,
)
from generators.prompts import clean_poem, clean_slogan, poem_prompt, slogan_prompt
from generators.requests import DrawRequest, PoemRequest, SloganRequest, request_from_fields
from generators.samples import SamplingParams


def test_language_follows_the_text() -> None:
    assert detect_language("春日花烂漫，") is Language.CHINESE
    assert detect_language("spring flowers") is Language.ENGLISH
    assert (
        PoemRequest(topic="moon", form=PoemForm.QIYAN_JUEJU).resolved_language() is Language.CHINESE
    )
    assert (
        PoemRequest(topic="月亮", language=Language.ENGLISH).resolved_language() is Language.ENGLISH
    )


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (PoemRequest(topic=" "), "topic must not be empty"),
        (PoemRequest(topic="x" * 201), "topic must be at most 200 characters, got 201"),
        (PoemRequest(topic="a\x00b"), "topic contains control characters"),
        (PoemRequest(topic="ok", style="s" * 101), "style must be at most 100 characters"),
        (PoemRequest(topic="ok", seed=-1), "seed must be between 0 and"),
        (SloganRequest(product="p", count=6), "count must be between 1 and 5, got 6"),
        (SloganRequest(product="p", audience="a" * 101), "audience must be at most 100"),
    ],
)
def test_invalid_requests_say_the_rule_and_value(request_: object, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        request_.check_inputs()  # type: ignore[attr-defined]


def test_requests_round_trip_through_stored_fields() -> None:
    poem = PoemRequest(topic="moon", form=PoemForm.HAIKU, style="ink", mood=Mood.CALM)
    assert request_from_fields("poem", poem.fields()) == poem
    slogan = SloganRequest(product="tea", audience="students", tone=Tone.WITTY, count=2)
    assert request_from_fields("slogan", slogan.fields()) == slogan
    draw = DrawRequest(prompt="fox", negative="text", style="anime", size=ImageSize.PORTRAIT,
                       steps=12, count=4)  # fmt: skip
    assert request_from_fields("draw", draw.fields()) == draw
    with pytest.raises(InvalidRequest, match="unknown request kind"):
        request_from_fields("song", {})


def test_prompts_are_in_the_resolved_language() -> None:
    zh = poem_prompt(
        PoemRequest(topic="春日花烂漫，", form=PoemForm.QIYAN_JUEJU), SamplingParams(1)
    )
    assert "七言绝句" in zh.messages[1].content and zh.messages[0].role == "system"
    en = slogan_prompt(SloganRequest(product="tea", tone=Tone.BOLD), SamplingParams(1))
    assert "Product: tea" in en.messages[1].content and "Tone: bold" in en.messages[1].content


def test_output_cleaning_keeps_lines_and_drops_control_characters() -> None:
    assert clean_poem("\n line one\x07\nline two \n") == "line one\nline two"
    assert clean_slogan('\n  "Fresh every day."  \nsecond line') == "Fresh every day."
    assert clean_slogan("   \n ") == ""


def test_sampling_params_are_checked() -> None:
    with pytest.raises(InvalidRequest, match="temperature"):
        SamplingParams(1, temperature=0)
