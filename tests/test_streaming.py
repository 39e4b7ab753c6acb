"""Streamed partial text: cleaned like the result, shown only while the output filter allows it
at the guild's strictness, and hidden for good once a partial is flagged."""

from __future__ import annotations

import logging

import pytest

from bot.config import Settings
from bot.discord.client import MuseBot
from bot.discord.flow import edit_interval_s
from bot.service.streaming import StreamFilter
from moderation.policy import Strictness, apply_policy
from moderation.verdict import Verdict
from moderation.wordlist import WordListFilter
from tests.conftest import ServiceFactory


def stream_filter() -> StreamFilter:
    words = WordListFilter()

    def judge(text: str, strictness: Strictness) -> Verdict:
        return apply_policy(words.check(text), strictness)

    return StreamFilter(judge)


def test_partials_are_cleaned_like_the_result() -> None:
    streams = stream_filter()
    assert streams.shown("a", "poem", ["  The moon\n", ""], Strictness.STANDARD) == (
        "The moon",
        "",
    )
    assert streams.shown("b", "slogan", ['"Fresh beans"\nmore'], Strictness.STANDARD) == (
        "Fresh beans",
    )
    assert streams.shown("c", "poem", ["\n\x00 "], Strictness.STANDARD) == ()  # nothing yet


def test_a_flagged_partial_hides_the_job_for_good() -> None:
    streams = stream_filter()
    assert streams.shown("j", "poem", ["calm moon"], Strictness.STANDARD) == ("calm moon",)
    assert streams.shown("j", "poem", ["calm moon, shit"], Strictness.STANDARD) == ()
    long = "calm moon, shit" + " and a long, gentle, peaceful river" * 20
    assert streams.shown("j", "poem", [long], Strictness.STANDARD) == ()  # still hidden
    assert streams.shown("k", "slogan", ["fine", "shit"], Strictness.STANDARD) == ()  # any row
    streams.forget("j")
    assert streams.hidden == {"k"}


def test_the_guild_strictness_decides_like_for_results() -> None:
    streams = stream_filter()
    assert streams.shown("r", "poem", ["shit moon"], Strictness.RELAXED) == ("shit moon",)
    assert streams.shown("s", "poem", ["shit moon"], Strictness.STRICT) == ()


def test_edits_are_never_faster_than_the_floor() -> None:
    assert edit_interval_s(0.05) == 1.0
    assert edit_interval_s(2.5) == 2.5
    assert edit_interval_s(0.05, floor_s=0.2) == 0.2


async def test_the_bot_says_when_it_raises_the_interval(
    make_service: ServiceFactory, caplog: pytest.LogCaptureFixture
) -> None:
    service = await make_service()
    with caplog.at_level(logging.WARNING, logger="bot.discord.client"):
        bot = MuseBot(service, Settings(progress_interval_s=0.3))
    assert bot.presenters.min_edit_interval_s == 1.0
    assert "edited every 1.0 s instead" in caplog.text
