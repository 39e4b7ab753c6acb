"""/draw's buttons on a picture Muse drew: variations, upscale, remix, vary region, zoom out.

Each is a new job through ``MuseService.prepare`` (so the queue's fairness and per-member
limits, the prompt filter, progress and cancel all apply), whose request names the parent
output and the operation (``DrawRequest.source`` / ``operation``, stored with the job and in the
``jobs.source_output_id`` / ``operation`` columns). Its rows (``bot.service.work.derived_rows``)
start from the parent's stored PNG. Choosing a picture this way counts as the requester's pick
of it among its candidates, as Midjourney's U and V do.

Which operations a model allows follows its family (``generators.families``): variations and
upscales need image-to-image, vary region and zoom out need inpainting. Remix on a model with
neither draws the edited prompt afresh.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any, Protocol

from bot.config import Settings
from bot.errors import NotAllowed, UserError
from bot.service.feedback import FeedbackStore
from bot.service.types import Delivery, Origin, PendingJob
from bot.store.records import JobRecord, OutputRecord
from bot.store.storage import Storage
from generators.edits import check_operation
from generators.options import InvalidRequest
from generators.requests import DRAW_MAX_COUNT, DrawRequest, request_from_fields
from moderation.verdict import Decision


class MuseService(Protocol):
    """What the buttons use of ``bot.service.core.MuseService`` (which imports this module)."""

    settings: Settings
    storage: Storage
    feedback: FeedbackStore
    image_backend: Any

    async def owned_output(
        self, output_id: int, user_id: int, action: str
    ) -> tuple[JobRecord, OutputRecord]: ...

    async def delivery(self, job: JobRecord) -> Delivery: ...

    def prepare(
        self, request: Any, origin: Origin, *, source_png: bytes | None = None
    ) -> PendingJob: ...


ALL_ACTIONS = ("vary", "upscale", "remix", "region", "zoom")


@dataclasses.dataclass(frozen=True)
class Remix:
    """What the Remix modal changed (None: keep the parent's)."""

    prompt: str | None = None
    negative: str | None = None
    style: str | None = None


def actions(family: Any, operation: str | None) -> tuple[str, ...]:
    """The buttons a picture gets: those its model's family can run (all when unknown); an
    upscaled picture is not offered another upscale."""
    img2img = getattr(family, "img2img", True)
    inpaint = getattr(family, "inpaint", True)
    shown = [("vary", img2img), ("upscale", img2img and operation != "upscale"),
             ("remix", True), ("region", inpaint), ("zoom", inpaint)]  # fmt: skip
    return tuple(name for name, ok in shown if ok)


def _needs(operation: str) -> str:
    return "inpaint" if operation.startswith("region-") or operation == "zoom" else "img2img"


async def read_source(service: MuseService, request: Any) -> bytes | None:
    """The parent picture's PNG for a request made by a button, else None."""
    if not isinstance(request, DrawRequest) or not request.source:
        return None
    output = await service.storage.get_output(request.source)
    if output is None or output.decision != Decision.ALLOW or not output.image_path:
        raise UserError("That picture is no longer available, so it cannot be changed.")
    try:
        return await asyncio.to_thread(Path(output.image_path).read_bytes)
    except OSError as err:
        raise UserError("That picture is no longer stored, so it cannot be changed.") from err


async def derive(
    service: MuseService, output_id: int, operation: str, origin: Origin, remix: Remix = Remix()
) -> PendingJob:
    """A new job running ``operation`` on the picture ``output_id``, for its requester."""
    job, output = await service.owned_output(output_id, origin.user_id, "change this picture")
    if job.kind != "draw" or output.decision != Decision.ALLOW or not output.image_path:
        raise UserError("That picture is no longer available, so it cannot be changed.")
    try:
        check_operation(operation)
    except InvalidRequest as err:
        raise UserError(str(err)) from err
    family = getattr(service.image_backend, "family", None)
    parent: Any = request_from_fields(job.kind, job.options)
    request = dataclasses.replace(
        parent, seed=None, compare=False, picture="", strength=None, source=output_id,
        operation=operation, count=min(service.settings.image_variations, DRAW_MAX_COUNT),
        prompt=parent.prompt if remix.prompt is None else remix.prompt,
        negative=parent.negative if remix.negative is None else remix.negative,
        style=parent.style if remix.style is None else remix.style,
    )  # fmt: skip
    if not getattr(family, _needs(operation), True):
        raise UserError("This model cannot change a picture that way.")
    source = await read_source(service, request)
    pending = service.prepare(request, origin, source_png=source)
    await service.feedback.set_pick(job.id, origin.user_id, "pick", output.id)
    return pending


async def remix_job(service: MuseService, job_id: str, origin: Origin, remix: Remix) -> PendingJob:
    """Remix: a strong variation of a single picture with the edited prompt, negative prompt
    and style; for a grid (or a model without image-to-image), the edited prompt drawn afresh
    with the job's seed, so the composition stays close."""
    job = await service.storage.get_job(job_id)
    if job is None or job.user_id != origin.user_id or job.kind != "draw":
        raise NotAllowed("Only the member who asked for this can remix it.")
    delivery = await service.delivery(job)
    if len(delivery.outputs) == 1 and "vary" in delivery.actions:
        return await derive(service, delivery.outputs[0].output_id, "vary-strong", origin, remix)
    parent: Any = request_from_fields(job.kind, job.options)
    request = dataclasses.replace(
        parent, seed=job.seed, source=0, operation="",
        prompt=parent.prompt if remix.prompt is None else remix.prompt,
        negative=parent.negative if remix.negative is None else remix.negative,
        style=parent.style if remix.style is None else remix.style,
    )  # fmt: skip
    return service.prepare(request, origin)
