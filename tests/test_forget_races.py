"""/forget-me while the member's request is still waiting or running, and while an image job of
theirs is being stored: nothing of theirs may be left behind, and the member gets a clear answer."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.errors import Refused, UserError
from bot.service.pictures import picture_path
from bot.service.privacy import delete_user_data, forget_member
from bot.service.types import Origin
from generators.options import ImageSize
from generators.requests import DrawRequest, PoemRequest
from generators.samples import DrawRow, ImageSample
from moderation.disabled import DisabledFilter
from tests.conftest import ServiceFactory
from tests.fakes import ScriptedBackend

ALICE = Origin(user_id=1, guild_id=10, channel_id=20)


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (40, 90, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


class GatedImageBackend:
    """Draws a small square once the test opens ``gate`` (so it decides when drawing ends)."""

    model_id = "gated-image-model"

    def __init__(self) -> None:
        self.started = threading.Event()
        self.gate = threading.Event()

    def dimensions(self, size: ImageSize) -> tuple[int, int]:
        return 8, 8

    def generate(
        self, rows: Sequence[DrawRow], cancel: threading.Event, on_step: Any
    ) -> list[ImageSample]:
        self.started.set()
        self.gate.wait(10)
        return [ImageSample(png(), row.seed, 8, 8) for row in rows]


def stored_pngs(image_dir: Path) -> list[Path]:
    return sorted(image_dir.rglob("*.png")) if image_dir.exists() else []


async def test_forgetting_a_member_while_their_drawing_runs_keeps_none_of_it(
    make_service: ServiceFactory,
) -> None:
    backend = GatedImageBackend()
    service = await make_service(image_backend=backend, image_filter=DisabledFilter())
    pending = service.prepare(DrawRequest(prompt="a lighthouse", steps=2, count=2), ALICE)
    await service.start(pending)
    assert await asyncio.to_thread(backend.started.wait, 10)
    counts = await delete_user_data(service.storage, ALICE.user_id, service.settings.image_dir)
    assert counts["jobs"] == 1
    backend.gate.set()
    with pytest.raises(UserError, match="deleted"):
        await service.finish(pending)
    assert stored_pngs(service.settings.image_dir) == []
    assert await service.storage.get_job(pending.record.id) is None
    # the connection is left clean: the next write commits on its own
    later = service.prepare(DrawRequest(prompt="a harbour", steps=2), ALICE)
    await service.start(later)
    assert await service.storage.get_job(later.record.id) is not None
    await service.finish(later)


async def test_forgetting_a_member_while_their_poem_waits_answers_clearly(
    make_service: ServiceFactory,
) -> None:
    service = await make_service(ScriptedBackend(delay_s=0.3))
    pending = service.prepare(PoemRequest(topic="the sea"), ALICE)
    await service.start(pending)
    await delete_user_data(service.storage, ALICE.user_id)
    with pytest.raises(UserError, match="deleted"):
        await service.finish(pending)
    async with service.storage.db.execute("SELECT COUNT(*) FROM outputs") as cur:
        row = await cur.fetchone()
    assert row is not None and row[0] == 0


async def test_a_picture_whose_request_is_refused_is_not_kept(
    make_service: ServiceFactory,
) -> None:
    service = await make_service(image_backend=GatedImageBackend(), image_filter=DisabledFilter())
    inputs = service.settings.image_dir / "inputs"
    request = DrawRequest(prompt="how to make a bomb", steps=2)
    request = await service.pictures.accept(png(), request, service.strictness(10))
    with pytest.raises(Refused, match="illicit"):
        service.prepare(request, ALICE)
    assert stored_pngs(inputs) == []  # no job refers to it, so /forget-me could never find it


async def test_a_picture_is_stored_once_its_request_is_recorded(
    make_service: ServiceFactory,
) -> None:
    backend = GatedImageBackend()
    backend.gate.set()
    service = await make_service(image_backend=backend, image_filter=DisabledFilter())
    request = await service.pictures.accept(
        png(), DrawRequest(prompt="a fox", steps=2), service.strictness(10)
    )
    pending = service.prepare(request, ALICE)
    assert stored_pngs(service.settings.image_dir / "inputs") == []
    await service.start(pending)
    [kept] = stored_pngs(service.settings.image_dir / "inputs")
    assert kept == picture_path(service.settings.image_dir, request.picture)
    await service.finish(pending)
    again = await service.regenerate(pending.record.id, ALICE)  # 🔁 reads the stored picture
    first, before = again.rows[0], pending.rows[0]
    assert isinstance(first, DrawRow) and isinstance(before, DrawRow)
    assert first.init_png is not None and first.init_png == before.init_png
    await service.start(again)
    await service.finish(again)


async def test_forget_me_stops_a_waiting_request_before_it_runs(
    make_service: ServiceFactory,
) -> None:
    """The running bot's /forget-me cancels what the member still has queued: the model never
    sees it, and the member is told why."""
    backend = GatedImageBackend()
    service = await make_service(image_backend=backend, image_filter=DisabledFilter())
    bob = Origin(user_id=2, guild_id=10, channel_id=20)
    running = service.prepare(DrawRequest(prompt="a harbour", steps=2), bob)
    await service.start(running)
    assert await asyncio.to_thread(backend.started.wait, 10)
    waiting = service.prepare(DrawRequest(prompt="a lighthouse", steps=2), ALICE)
    await service.start(waiting)
    assert service.queue.position(waiting.record.id) == 1
    counts = await forget_member(
        service.storage, service.queue, ALICE.user_id, service.settings.image_dir
    )
    assert counts["stopped requests"] == 1 and counts["jobs"] == 1
    with pytest.raises(UserError, match="deleted"):
        await service.finish(waiting)
    assert service.queue.position(waiting.record.id) is None
    backend.gate.set()
    await service.finish(running)  # bob's request is untouched
    assert await service.storage.live_job_ids(ALICE.user_id) == []
