"""Streamed partial text: cleaned like the result, shown only while the output filter allows it
at the guild's strictness, and hidden for good once a partial is flagged."""

from __future__ import annotations

import logging

import pytest

from bot.config import Settings
from bot.discord.client import MuseBot
from bot.discord.flow import edit_interval_s
from bot.service.streaming import HIDDEN_KEPT, StreamFilter
from bot.store.records import JobRecord
from moderation.policy import Strictness, apply_policy
from moderation.verdict import Verdict
from moderation.wordlist import WordListFilter
from tests.conftest import ServiceFactory

RELAXED_GUILD, STRICT_GUILD = 1, 2


def stream_filter() -> StreamFilter:
    words = WordListFilter()
    levels = {RELAXED_GUILD: Strictness.RELAXED, STRICT_GUILD: Strictness.STRICT}

    def judge(text: str, strictness: Strictness) -> Verdict:
        return apply_policy(words.check(text), strictness)

    return StreamFilter(judge, lambda guild: levels.get(guild or 0, Strictness.STANDARD))


def job(job_id: str, kind: str = "poem", guild: int | None = None) -> JobRecord:
    return JobRecord(job_id, job_id, None, kind, 1, guild, None, {}, "", 0, "running", 0.0)


def test_partials_are_cleaned_like_the_result() -> None:
    streams = stream_filter()
    assert streams.shown(job("a"), ["  The moon\n", ""]) == ("The moon", "")
    assert streams.shown(job("b", "slogan"), ['"Fresh beans"\nmore']) == ("Fresh beans",)
    assert streams.shown(job("c"), ["\n\x00 "]) == ()  # nothing to show yet


def test_a_flagged_partial_hides_the_job_for_good() -> None:
    streams = stream_filter()
    assert streams.shown(job("j"), ["calm moon"]) == ("calm moon",)
    assert streams.shown(job("j"), ["calm moon, shit"]) == ()
    long = "calm moon, shit" + " and a long, gentle, peaceful river" * 20
    assert streams.shown(job("j"), [long]) == ()  # still hidden
    assert streams.shown(job("k", "slogan"), ["fine", "shit"]) == ()  # any row hides all
    assert list(streams.hidden) == ["j", "k"]


def test_the_guild_strictness_decides_like_for_results() -> None:
    streams = stream_filter()
    assert streams.shown(job("r", guild=RELAXED_GUILD), ["shit moon"]) == ("shit moon",)
    assert streams.shown(job("s", guild=STRICT_GUILD), ["shit moon"]) == ()


def test_only_so_many_hidden_jobs_are_remembered() -> None:
    streams = stream_filter()
    for i in range(HIDDEN_KEPT + 5):
        streams.hide(f"j{i}")
    assert len(streams.hidden) == HIDDEN_KEPT and "j0" not in streams.hidden


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
