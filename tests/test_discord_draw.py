"""/draw through real discord.py: progress, ❌ Cancel, PNG attachments, per-image votes."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from bot.discord.client import MuseBot
from bot.errors import Cancelled
from generators.backend import GenerationCancelled
from generators.options import ImageSize
from generators.samples import DrawRow, ImageSample
from tests.conftest import ServiceFactory
from tests.discord_harness import Harness
from tests.discord_http import TimedHTTP
from tests.discord_payloads import APP_ID, USER_ID, custom_ids

OTHER_USER = USER_ID + 100


class PacedPipeline:
    """The real tiny pipeline, slowed to ``step_s`` per step so progress can be watched."""

    def __init__(self, real: Any, step_s: float) -> None:
        self.real, self.step_s = real, step_s

    @property
    def model_id(self) -> str:
        return str(self.real.model_id)

    def dimensions(self, size: ImageSize) -> tuple[int, int]:
        return self.real.dimensions(size)  # type: ignore[no-any-return]

    def generate(
        self, rows: Sequence[DrawRow], cancel: threading.Event, on_step: Any
    ) -> list[ImageSample]:
        def paced(step: int, total: int) -> None:
            on_step(step, total)
            time.sleep(self.step_s)

        return self.real.generate(rows, cancel, paced)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def pipeline(tiny_sd_dir: Path) -> Any:
    from generators.image import DiffusersImageBackend

    return DiffusersImageBackend.load(str(tiny_sd_dir), device="cpu")


async def drawing_bot(
    make_service: ServiceFactory, backend: Any, image_filter: Any, **kw: Any
) -> MuseBot:
    service = await make_service(image_backend=backend, image_filter=image_filter, **kw)
    return MuseBot(service, service.settings, min_edit_interval_s=0)  # fast edits for tests


async def test_draw_is_registered_with_presets_and_the_configured_step_limit(
    make_service: ServiceFactory, pipeline: Any, image_filter: Any
) -> None:
    bot = await drawing_bot(make_service, pipeline, image_filter, image_max_steps=12)
    async with Harness(bot) as h:
        [sync] = h.http.calls_to("PUT", rf"/applications/{APP_ID}/commands$")
    draw = {c["name"]: c for c in sync.json}["draw"]
    options = {o["name"]: o for o in draw["options"]}
    assert options["prompt"]["max_length"] == 500 and options["prompt"]["required"]
    assert "ink wash 水墨" in [c["value"] for c in options["style"]["choices"]]
    assert [c["value"] for c in options["size"]["choices"]] == ["square", "portrait", "landscape"]
    assert (options["steps"]["min_value"], options["steps"]["max_value"]) == (1, 12)
    assert (options["count"]["min_value"], options["count"]["max_value"]) == (1, 4)
    assert draw["description_localizations"]["zh-CN"] == "根据描述画图"

    async with Harness(MuseBot(await make_service(), bot.settings)) as plain:  # drawing off
        [sync] = plain.http.calls_to("PUT", rf"/applications/{APP_ID}/commands$")
    assert "draw" not in {c["name"] for c in sync.json}


async def test_draw_shows_steps_then_posts_pngs_with_votes_per_image(
    make_service: ServiceFactory, pipeline: Any, image_filter: Any
) -> None:
    backend = PacedPipeline(pipeline, step_s=0.03)
    bot = await drawing_bot(make_service, backend, image_filter, progress_interval_s=0.1)
    http = TimedHTTP()
    async with Harness(bot, http) as h:
        http.clear()
        payload = h.slash("draw", {"prompt": "a fox", "steps": 12, "count": 3, "seed": 5})
        await h.run(payload, timeout=30)
        assert h.errors == []
        edits = h.http.calls_to("PATCH", r"/messages/@original$")
        times = [http.times[http.calls.index(c)] for c in edits]
    texts = [e.json.get("content") or "" for e in edits[:-1]]
    assert any(t.startswith("🎨 Drawing… step ") for t in texts), texts
    assert all(custom_ids(e.json) == [f"muse:cancel:{custom_ids(edits[0].json)[0][12:]}"]
               for e in edits[:-1])  # fmt: skip
    progress_times = times[:-1]  # the result itself is never held back
    assert len(progress_times) >= 2
    assert min(b - a for a, b in itertools.pairwise(progress_times)) >= 0.09
    final = edits[-1]
    job_id = custom_ids(final.json)[-1].removeprefix("muse:report:")
    assert final.files == [f"muse-{job_id}-{n}.png" for n in (1, 2, 3)]
    embed = final.json["embeds"][0]
    assert embed["title"] == "🎨 Drawing"
    assert embed["description"].startswith("**1** · seed 5\n**2** · seed 6\n**3** · seed 7")
    ids = custom_ids(final.json)
    assert len([i for i in ids if i.startswith("muse:vote:")]) == 6
    rows = [[b["label"] for b in row["components"]] for row in final.json["components"]]
    assert rows[:2] == [["U1", "U2", "U3"], ["V1", "V2", "V3"]]  # Midjourney's U and V rows
    assert rows[2][:3] == ["1 · 0", "1 · 0", "2 · 0"]
    assert rows[-1] == ["Reroll", "Remix", "Report"]


async def answer(h: Harness[MuseBot], count: int) -> dict[str, Any]:
    """The ``count``-th interaction response, once it has arrived."""
    for _ in range(500):
        responses = h.http.interaction_responses()
        if len(responses) >= count:
            return responses[count - 1]
        await asyncio.sleep(0.01)
    raise AssertionError(f"only {len(h.http.interaction_responses())} responses arrived")


async def test_requester_cancels_a_running_drawing(
    make_service: ServiceFactory, pipeline: Any, image_filter: Any
) -> None:
    backend = PacedPipeline(pipeline, step_s=0.05)
    bot = await drawing_bot(
        make_service, backend, image_filter, progress_interval_s=0.05, image_max_steps=200
    )
    async with Harness(bot) as h:
        payload = h.slash("draw", {"prompt": "a long one", "steps": 200})
        h.dispatch(payload)
        for _ in range(200):
            await asyncio.sleep(0.02)
            message = h.http.original_message(payload["token"])
            if message and (message.get("content") or "").startswith("🎨 Drawing… step"):
                break
        assert message is not None
        [cancel_id] = custom_ids(message)
        h.dispatch(h.click(cancel_id, message, user_id=OTHER_USER))
        refusal = await answer(h, 2)
        assert refusal["data"]["flags"] == 64 and "Only the member" in refusal["data"]["content"]
        h.dispatch(h.click(cancel_id, message))
        update = await answer(h, 3)
        assert update["type"] == 7 and update["data"]["content"] == "❌ Cancelling…"
        await h.settle(timeout=30)
        expected = (GenerationCancelled, Cancelled)  # raised inside tasks, then handled
        assert [e for e in h.errors if not isinstance(e, expected)] == []
        final = h.http.original_message(payload["token"])
    assert final is not None
    assert final["content"] == "❌ Cancelled." and final["components"] == []
    assert not final.get("attachments")


async def test_held_images_are_never_posted_and_the_requester_is_told(
    make_service: ServiceFactory, pipeline: Any, image_filter: Any
) -> None:
    bot = await drawing_bot(
        make_service, pipeline, image_filter, image_review_at=0.0, image_block_at=1.0
    )
    async with Harness(bot) as h:
        payload = h.slash("draw", {"prompt": "a cat", "steps": 2, "count": 2})
        await h.run(payload, timeout=30)
        assert h.errors == []
        assert h.http.calls_to("DELETE", r"/messages/@original$")  # the placeholder goes
        [notice] = h.http.calls_to("POST", rf"/webhooks/{APP_ID}/{payload['token']}$")
        assert not any(call.files for call in h.http.calls)
    assert notice.json["flags"] == 64
    assert "holding it for a moderator" in notice.json["content"]


async def test_a_held_image_is_spoilered_for_moderators_and_published_on_approval(
    make_service: ServiceFactory, pipeline: Any, image_filter: Any
) -> None:
    from bot.review.reviews import GuildSettings
    from tests.discord_payloads import CHANNEL_ID, GUILD_ID

    mod_channel = CHANNEL_ID + 7
    bot = await drawing_bot(
        make_service, pipeline, image_filter, image_review_at=0.0, image_block_at=1.0
    )
    await bot.service.reviews.save_settings(GuildSettings(GUILD_ID, mod_channel), USER_ID)
    async with Harness(bot) as h:
        await h.run(h.slash("draw", {"prompt": "a cat", "steps": 2}), timeout=30)
        [card] = h.http.calls_to("POST", rf"/channels/{mod_channel}/messages$")
        assert card.files == ["SPOILER_review-1.png"]
        message = next(m for m in h.http.messages.values() if m["channel_id"] == str(mod_channel))
        await h.run(h.click("muse:mod:1:ok:c", message, channel_id=mod_channel), timeout=30)
        assert h.errors == []
        [post] = h.http.calls_to("POST", rf"/channels/{CHANNEL_ID}/messages$")
    assert post.files == [f"muse-{custom_ids(post.json)[-1].removeprefix('muse:report:')}-1.png"]
    assert post.json["embeds"][0]["title"] == "🎨 Drawing"
