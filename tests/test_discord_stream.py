"""Streaming text in Discord: the placeholder shows a poem growing, edited no faster than the
interval, and never shows words the output filter flags.

The model is the tiny random Llama run by the real continuous batch; only its token choice is
scripted (``ScriptedBatch._choose``), so the words are known and a flagged one can be injected.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from bot.discord.client import MuseBot
from bot.errors import Withheld
from bot.service.core import MuseService
from generators.decode import DecodeBatch
from generators.samples import TextPrompt
from tests.conftest import ServiceFactory
from tests.discord_harness import Harness
from tests.discord_http import Call, TimedHTTP
from tests.discord_payloads import custom_ids

INTERVAL_S = 0.25
CLEAN = "the quiet moon rises over the river and the garden light is bright"
FLAGGED = CLEAN + "\nwhat the fuck is this morning"


class ScriptedBatch(DecodeBatch):
    """The real continuous batch, slowed to ``step_s`` a step, writing ``script`` then ending."""

    def __init__(self, backend: Any, script: str, step_s: float) -> None:
        super().__init__(backend)
        self.script = self.tokenizer(script, add_special_tokens=False)["input_ids"]
        self.step_s = step_s

    def step(
        self,
        joining: Sequence[tuple[str, TextPrompt]],
        leaving: Sequence[str],
        cancel: threading.Event,
    ) -> Any:
        time.sleep(self.step_s)
        return super().step(joining, leaving, cancel)

    def _choose(self, logits: Any, rows: Sequence[Any]) -> list[int]:
        end = min(self.eos_ids)
        return [
            self.script[len(r.new_ids)] if len(r.new_ids) < len(self.script) else end for r in rows
        ]


@pytest.fixture(scope="module")
def scripted_backend(tiny_lm_dir: Path) -> Any:
    from generators.text import TransformersTextBackend

    class ScriptedBackend(TransformersTextBackend):
        script = CLEAN
        step_s = 0.04

        def open_batch(self) -> DecodeBatch:
            return ScriptedBatch(self, self.script, self.step_s)

    return ScriptedBackend.load(str(tiny_lm_dir), device="cpu")


async def stream_poem(service: MuseService) -> tuple[Harness[MuseBot], TimedHTTP]:
    bot = MuseBot(service, service.settings, min_edit_interval_s=INTERVAL_S)
    http = TimedHTTP()
    async with Harness(bot, http) as h:
        http.clear()
        payload = h.slash("poem", {"topic": "moon", "seed": "3"})
        await h.run(payload, timeout=30)
    return h, http


def placeholder_edits(http: TimedHTTP) -> list[tuple[float, Call]]:
    return [
        (http.times[i], call)
        for i, call in enumerate(http.calls)
        if call.method == "PATCH" and call.path.endswith("/messages/@original")
    ]


def streamed(call: Call) -> str | None:
    content = call.json.get("content") or ""
    return content.split("\n\n", 1)[1] if "\n\n" in content else None


async def test_the_placeholder_shows_the_poem_growing_then_the_result(
    make_service: ServiceFactory, scripted_backend: Any
) -> None:
    scripted_backend.script = CLEAN
    service = await make_service(scripted_backend)  # progress_interval_s 0.05: clamped
    h, http = await stream_poem(service)
    assert h.errors == []
    edits = placeholder_edits(http)
    *progress, (_, final) = edits
    texts = [t for _, call in progress if (t := streamed(call)) is not None]
    assert len(texts) >= 2, [c.json.get("content") for _, c in progress]
    assert all(b.startswith(a) for a, b in itertools.pairwise(texts))
    assert len(texts[-1]) > len(texts[0])  # it grew
    assert all(CLEAN.startswith(text) for text in texts)
    times = [at for at, _ in progress]
    assert min(b - a for a, b in itertools.pairwise(times)) >= INTERVAL_S - 0.01
    assert all(custom_ids(call.json)[0].startswith("muse:cancel:") for _, call in progress)
    embed = final.json["embeds"][0]
    assert embed["description"] == CLEAN and final.json["content"] in ("", None)
    assert any(i.startswith("muse:regen:") for i in custom_ids(final.json))


async def test_flagged_words_never_reach_the_placeholder(
    make_service: ServiceFactory, scripted_backend: Any
) -> None:
    scripted_backend.script = FLAGGED
    service = await make_service(scripted_backend)
    h, http = await stream_poem(service)
    assert [e for e in h.errors if not isinstance(e, Withheld)] == []
    edits = placeholder_edits(http)
    shown = [streamed(call) or "" for _, call in edits]
    assert any("quiet moon" in text for text in shown)  # the clean start was streamed
    assert all("fuck" not in repr(call.json) for call in http.calls)
    job_id = custom_ids(edits[0][1].json)[0].removeprefix("muse:cancel:")
    [output] = await service.storage.job_outputs(job_id)
    assert output.decision == "review" and "fuck" in output.text  # held for moderators
    assert any("holding it for a moderator" in repr(call.json) for call in http.calls)
