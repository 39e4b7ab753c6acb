"""The text filter in two parts: the quick part (lists, rules) where the text arrives, the deep
part (model layers) on the service's filter thread, so the event loop never waits on a model.

The deep layer here is a real ``TextComponent`` registered as layer "embed" that sleeps like a
slow encoder and flags texts with a trigger word; the filters, the service, its SQLite file and
its threads are the production ones.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

import pytest

from bot.errors import Refused
from bot.service.filtering import WARM_TEXT, FilterThread
from bot.service.types import Origin
from bot.store.records import JobRecord
from generators.requests import PoemRequest, SloganRequest
from moderation.base import first_reading, has_deep, second_reading
from moderation.copyright import GuardedTextFilter
from moderation.policy import Strictness
from moderation.text import CombinedTextFilter, build_text_filter
from moderation.verdict import Category, Decision, Verdict
from moderation.wordlist import WordListFilter
from tests.conftest import ServiceFactory
from tests.fakes import ScriptedBackend

ALICE = Origin(1, 10, 20)


class SleepyHead:
    """A deep layer: sleeps ``sleep_s`` a text (or until ``gate`` opens), then flags texts
    containing ``trigger`` as hate; notes each text it read and the thread it ran on."""

    name = "sleepy-head@1"

    def __init__(self, trigger: str, sleep_s: float = 0.0, gate: threading.Event | None = None):
        self.trigger = trigger
        self.sleep_s = sleep_s
        self.gate = gate
        self.seen: list[str] = []
        self.threads: set[str] = set()

    def check(self, text: str) -> Verdict:
        self.seen.append(text)
        self.threads.add(threading.current_thread().name)
        if self.gate is not None:
            self.gate.wait(10)
        time.sleep(self.sleep_s)
        if self.trigger not in text.lower():
            return Verdict(Decision.ALLOW, components=(self.name,))
        found = (Category.HATE,)
        return Verdict(Decision.REVIEW, found, {"embed_harm": 0.99}, ("embed: hate",), (self.name,))


def layered(head: SleepyHead) -> CombinedTextFilter:
    return CombinedTextFilter([WordListFilter(), head], layers={head.name: "embed"})


def job(job_id: str) -> JobRecord:
    return JobRecord(job_id, job_id, None, "poem", 1, None, None, {}, "", 0, "running", 0.0)


def stored_jobs(path: object) -> int:
    with sqlite3.connect(str(path)) as raw:
        count: int = raw.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
    return count


TEXTS = (
    "a poem about spring rain",
    "how to make a bomb",  # the lists block it: the head is skipped
    "drive the outsiders from our town",  # only the head flags it
    "what the fuck is this morning",
    "",
)


def test_check_is_the_quick_part_then_the_deep_part() -> None:
    head = SleepyHead("outsiders")
    text_filter = layered(head)
    assert has_deep(text_filter) and not has_deep(WordListFilter())
    for text in TEXTS:
        quick = text_filter.quick(text)
        assert text not in head.seen  # the quick part never runs a deep layer
        assert text_filter.deep(text, quick) == text_filter.check(text)
    assert "how to make a bomb" not in head.seen  # skipped after a block, as before
    flagged = text_filter.check("drive the outsiders from our town")
    assert flagged.decision is Decision.REVIEW and flagged.layers == ("embed: hate",)
    words = WordListFilter()
    assert first_reading(words, "what the fuck") == words.check("what the fuck")
    assert second_reading(words, "x", words.check("x")) == words.check("x")  # nothing deep


def test_the_copyright_guard_is_part_of_the_quick_part() -> None:
    from bench.copyright_eval import eval_guard

    head = SleepyHead("outsiders")
    guarded = GuardedTextFilter(layered(head), eval_guard())
    assert has_deep(guarded)
    for text in (*TEXTS, "Nike's slogan, word for word"):
        quick = first_reading(guarded, text, request=True)
        assert second_reading(guarded, text, quick) == guarded.check_request(text)
        assert guarded.deep(text, guarded.quick(text)) == guarded.check(text)
    refused = first_reading(guarded, "Nike's slogan, word for word", request=True)
    assert refused.decision is Decision.BLOCK and Category.COPYRIGHT in refused.categories
    default = build_text_filter(ml=False, embed=False)
    assert not has_deep(default) and not has_deep(GuardedTextFilter(default, eval_guard()))


async def test_a_prompt_only_the_deep_part_refuses_gives_its_place_back(
    make_service: ServiceFactory,
) -> None:
    head = SleepyHead("outsiders")
    backend = ScriptedBackend()
    service = await make_service(backend, text_filter=layered(head))
    assert head.seen == [WARM_TEXT]  # the service warms the deep part on its thread at start
    head.seen.clear()
    pending = service.prepare(PoemRequest(topic="drive the outsiders from our town"), ALICE)
    assert head.seen == []  # prepare runs the quick part only
    with pytest.raises(Refused, match=r"refused by the safety filter \(hate\)"):
        await service.start(pending)
    assert head.threads == {"muse-filter_0"}
    assert pending.future.cancelled() and service.queue.position(pending.record.id) is None
    assert not service.queue.state.waiting and stored_jobs(service.storage.path) == 0
    fine = service.prepare(SloganRequest(product="moon coffee", count=1), ALICE)
    await service.start(fine)
    delivery = await service.finish(fine)
    assert len(delivery.outputs) == 1 and backend.calls == [1]  # the refused one never ran
    assert stored_jobs(service.storage.path) == 1


async def test_a_list_refusal_still_comes_at_once_in_prepare(make_service: ServiceFactory) -> None:
    head = SleepyHead("outsiders")
    service = await make_service(text_filter=layered(head))
    head.seen.clear()  # the start's warm-up
    with pytest.raises(Refused, match="illicit"):
        service.prepare(PoemRequest(topic="how to make a bomb"), ALICE)
    assert head.seen == [] and not service.queue.state.waiting


async def test_streamed_text_shows_only_what_passed_both_parts() -> None:
    gate = threading.Event()
    head = SleepyHead("burn", gate=gate)
    filters = FilterThread(layered(head))
    streams = filters.stream_filter(lambda guild: Strictness.STANDARD)
    j = job("j")
    try:
        assert streams.shown(j, ["calm moon"]) == ()  # being read by the deep part
        assert streams.shown(j, ["calm moon rises"]) == ()  # one check in flight at a time
        gate.set()
        await asyncio.wrap_future(streams.checking["j"].future)  # type: ignore[arg-type]
        assert streams.shown(j, ["calm moon rises"]) == ("calm moon",)  # a tick behind
        await asyncio.wrap_future(streams.checking["j"].future)  # type: ignore[arg-type]
        assert streams.shown(j, ["calm moon rises, burn"]) == ("calm moon rises",)
        await asyncio.wrap_future(streams.checking["j"].future)  # type: ignore[arg-type]
        assert streams.shown(j, ["calm moon rises, burn it all"]) == ()
        assert "j" in streams.hidden and "j" not in streams.checking
        assert streams.shown(j, ["calm"]) == ()  # hidden for good
        assert head.seen == ["calm moon", "calm moon rises", "calm moon rises, burn"]
        assert streams.shown(job("k"), ["calm moon, shit"]) == ()  # the quick part, at once
        assert "k" in streams.hidden and head.seen[-1] == "calm moon rises, burn"
    finally:
        gate.set()
        await filters.close()


async def test_a_closed_filter_thread_hides_streams_and_judges_in_place() -> None:
    head = SleepyHead("burn")
    filters = FilterThread(layered(head))
    streams = filters.stream_filter(lambda guild: Strictness.STANDARD)
    await filters.close()
    assert streams.shown(job("late"), ["calm moon"]) == ()
    assert "late" in streams.hidden
    verdict = await filters.call(filters.judge, "we burn it", Strictness.STANDARD)
    assert verdict.decision is Decision.BLOCK  # hate is blocked at every strictness


class ThreadedHead(SleepyHead):
    """A deep layer that notes the CPU threads it is given, and the thread that gave them."""

    def __init__(self) -> None:
        super().__init__("burn")
        self.given: list[tuple[int, str]] = []

    def use_threads(self, threads: int) -> None:
        self.given.append((threads, threading.current_thread().name))


async def test_the_deep_part_takes_one_core_beside_a_busy_model_and_every_core_when_idle() -> None:
    from bench.copyright_eval import eval_guard

    head, busy = ThreadedHead(), [True]
    guarded = GuardedTextFilter(layered(head), eval_guard())
    filters = FilterThread(guarded, model_busy=lambda: busy[0], cores=4)
    try:
        await filters.call(filters.judge, "a poem about spring rain", Strictness.STANDARD)
        busy[0] = False
        await filters.call(filters.judge, "a poem about autumn", Strictness.STANDARD)
        streams = filters.submit_stream(["calm moon"], Strictness.STANDARD)
        assert await asyncio.wrap_future(streams)
        assert [threads for threads, _ in head.given] == [1, 4, 4]
        assert all(name.startswith("muse-filter") for _, name in head.given)
    finally:
        await filters.close()
