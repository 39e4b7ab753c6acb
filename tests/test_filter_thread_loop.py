"""The deep part of the filter never stalls the event loop, and its verdicts reach Discord: a
prompt only it refuses replaces the placeholder with the refusal, and streamed words it flags
are never shown.

The deep layer is ``SleepyHead`` (a real ``TextComponent`` registered as layer "embed"); the
model is the tiny random Llama on the real continuous batch, its words scripted.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.discord.client import MuseBot
from bot.errors import Refused, Withheld
from bot.service.core import MuseService
from generators.decode import DecodeBatch
from generators.requests import PoemRequest
from tests.conftest import ServiceFactory
from tests.discord_harness import Harness
from tests.discord_http import TimedHTTP
from tests.discord_payloads import APP_ID, custom_ids
from tests.fakes import ScriptedBackend
from tests.test_discord_stream import CLEAN, ScriptedBatch
from tests.test_filter_thread import ALICE, SleepyHead, layered, stored_jobs

EPHEMERAL = 64
LAG_LIMIT_S = 0.1


@pytest.fixture(scope="module")
def streaming_backend(tiny_lm_dir: Path) -> Any:
    from generators.text import TransformersTextBackend

    class Scripted(TransformersTextBackend):
        script = CLEAN
        step_s = 0.04

        def open_batch(self) -> DecodeBatch:
            return ScriptedBatch(self, self.script, self.step_s)

    return Scripted.load(str(tiny_lm_dir), device="cpu")


class LagTicker:
    """Wakes every ``period_s`` on the loop and keeps the worst lateness."""

    def __init__(self, period_s: float = 0.01) -> None:
        self.period_s = period_s
        self.worst_s = 0.0
        self.ticks = 0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self.period_s)
            self.worst_s = max(self.worst_s, loop.time() - before - self.period_s)
            self.ticks += 1


async def follow(service: MuseService, pending: Any) -> list[tuple[str, ...]]:
    """Poll progress like the Discord flow does, keeping the streamed texts shown."""
    partials = []
    while not pending.future.done():
        status = service.progress(pending)
        if status is not None and status.partial:
            partials.append(status.partial)
        await asyncio.sleep(0.02)
    return partials


async def test_the_event_loop_never_waits_on_the_deep_part(
    make_service: ServiceFactory, streaming_backend: Any
) -> None:
    streaming_backend.script = CLEAN
    head = SleepyHead("outsiders", sleep_s=0.5)
    service = await make_service(streaming_backend, text_filter=layered(head))
    ticker = LagTicker()
    ticking = asyncio.create_task(ticker.run())
    try:
        pending = service.prepare(PoemRequest(topic="the moon", seed=3), ALICE)
        await service.start(pending)  # the prompt's deep part: 0.5 s
        await follow(service, pending)  # each partial's deep part: 0.5 s
        delivery = await service.finish(pending)  # the output's: 0.5 s
        [shown] = delivery.outputs
        await service.edit(delivery.job_id, ALICE.user_id, {shown.output_id: "the moon, again"})
    finally:
        ticking.cancel()
    assert shown.text == CLEAN
    assert len(head.seen) >= 5  # the warm-up, the prompt, a partial, the output and the edit
    assert head.seen[1].startswith("the moon") and head.seen[-2:] == [CLEAN, "the moon, again"]
    assert ticker.ticks > 100 and ticker.worst_s < LAG_LIMIT_S, ticker.worst_s
    assert head.threads == {"muse-filter_0"}


async def test_discord_replaces_the_placeholder_with_the_deep_refusal(
    make_service: ServiceFactory,
) -> None:
    head = SleepyHead("outsiders", sleep_s=0.05)
    backend = ScriptedBackend()
    service = await make_service(backend, text_filter=layered(head))
    async with Harness(MuseBot(service, service.settings)) as h:
        payload = h.slash("poem", {"topic": "drive the outsiders from our town"})
        await h.run(payload)
        [callback] = h.http.interaction_responses()
        deleted = h.http.calls_to("DELETE", r"/messages/@original$")
        [notice] = h.http.calls_to("POST", rf"/webhooks/{APP_ID}/{payload['token']}$")
        assert [e for e in h.errors if not isinstance(e, Refused)] == []
    assert callback["type"] == 5  # deferred: the quick part let the prompt through
    assert len(deleted) == 1  # the "thinking" placeholder gives way to the refusal
    assert notice.json["flags"] == EPHEMERAL
    assert notice.json["content"] == "⚠️ Your request was refused by the safety filter (hate)."
    assert backend.calls == []  # nothing was generated
    assert not service.queue.state.waiting and not service.queue.state.running
    assert stored_jobs(service.storage.path) == 0


async def test_discord_never_shows_streamed_words_the_deep_part_flags(
    make_service: ServiceFactory, streaming_backend: Any
) -> None:
    streaming_backend.script = CLEAN  # "... over the river and the garden light is bright"
    head = SleepyHead("garden", sleep_s=0.05)
    service = await make_service(streaming_backend, text_filter=layered(head))
    http = TimedHTTP()
    async with Harness(MuseBot(service, service.settings, min_edit_interval_s=0.25), http) as h:
        payload = h.slash("poem", {"topic": "moon", "seed": "3"})
        await h.run(payload, timeout=30)
        assert [e for e in h.errors if not isinstance(e, Withheld)] == []
    edits = [c for c in http.calls if c.method == "PATCH" and c.path.endswith("/@original")]
    assert any("quiet moon" in (c.json.get("content") or "") for c in edits)  # clean start shown
    assert all("garden" not in repr(call.json) for call in http.calls)
    job_id = custom_ids(edits[0].json)[0].removeprefix("muse:cancel:")
    [output] = await service.storage.job_outputs(job_id)
    assert output.decision != "allow" and "garden" in output.text
