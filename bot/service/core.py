"""The Discord-free service: validate, filter, queue, generate, moderate, store.

Adapters (the Discord cog, the CLI) call it in a fixed order::

    pending = service.prepare(request, origin)   # sync: validate, quick filter, admit (or refuse)
    await service.start(pending)                 # deep filter, record the job, then let it run
    delivery = await service.finish(pending)     # await, moderate, store, or raise a UserError

Text and image jobs share one fair queue and one worker thread that owns the device; the text
filter's deep part (model layers) runs on the service's filter thread (``filtering``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from bot.config import Settings
from bot.errors import (
    Busy,
    Cancelled,
    GenerationFailed,
    Interrupted,
    NotAllowed,
    Refused,
    UserError,
)
from bot.ops.metrics import Metrics
from bot.review.reviews import ReviewDesk
from bot.service.checks import check_prompt, validate_request
from bot.service.copyright import result_withheld
from bot.service.delivery import build_delivery
from bot.service.derive import actions, read_source
from bot.service.execution import Executor, has_content, job_queue
from bot.service.feedback import FeedbackStore, RateLimiter
from bot.service.filtering import FilterThread
from bot.service.messages import busy_message, failure_message
from bot.service.pictures import Pictures
from bot.service.privacy import cancelled_notice, store_outputs
from bot.service.restart import sort_leftovers
from bot.service.types import Delivery, Origin, PendingJob, Progress, Rows, VoteResult
from bot.service.work import derived_rows, draw_rows, job_record, text_outputs, text_rows
from bot.store.records import JobRecord, NewOutput, OutputRecord
from bot.store.storage import Storage
from generators.backend import AsyncTextBackend, GenerationCancelled, ImageBackend, TextBackend
from generators.queue import JobCancelled, Overloaded, Throughput
from generators.requests import SEED_MAX, DrawRequest, Request, request_from_fields
from generators.samples import ImageResult
from generators.worker import ModelWorker
from moderation.base import ImageFilter, TextFilter
from moderation.policy import Strictness
from moderation.verdict import Decision

log = logging.getLogger(__name__)

NOTICE_S = 5.0  # after the grace, time to tell members whose jobs will finish after a restart
INTERRUPTED_NOTICE = "⏳ Muse is restarting; your request will be finished after the restart."


class MuseService:
    """Owns the job queue and everything between a request and a stored output."""

    def __init__(
        self,
        *,
        settings: Settings,
        storage: Storage,
        worker: ModelWorker,
        backend: TextBackend | AsyncTextBackend,
        text_filter: TextFilter,
        image_backend: ImageBackend | None = None,
        image_filter: ImageFilter | None = None,
        clock: Callable[[], float] = time.time,
        throughput: Throughput | None = None,
    ) -> None:
        if image_backend is not None and image_filter is None:
            raise ValueError("an image backend needs an image filter")
        self.settings = settings
        self.storage = storage
        self.worker = worker
        self.backend = backend
        self.image_backend = image_backend
        self.text_filter = text_filter
        self.filters = FilterThread(text_filter, lambda: bool(self.queue.state.running))
        self.image_filter = image_filter
        self.clock = clock
        self._seeds = random.SystemRandom()
        self.metrics = Metrics()
        self.metrics.queue_depth.set_function(lambda: len(self.queue.state.waiting))
        self.metrics.queue_running.set_function(lambda: len(self.queue.state.running))
        self.reviews = ReviewDesk(storage, clock)
        self.interrupted: list[JobRecord] = []  # cut short by a restart; too old to resume
        self.resumable: list[JobRecord] = []  # cut short, but still answerable: run them again
        self.undelivered: list[JobRecord] = []  # done, but the member never got the result
        self._deliveries = 0
        self._no_deliveries = asyncio.Event()
        self._no_deliveries.set()
        self.feedback = FeedbackStore(storage, clock)
        self.pictures = Pictures(settings, image_filter, self._dimensions)
        self.vote_limit = RateLimiter(settings.votes_per_minute)
        self.executor = Executor(
            settings=settings,
            storage=storage,
            worker=worker,
            backend=backend,
            image_backend=image_backend,
            image_filter=image_filter,
            clock=clock,
            metrics=self.metrics,
            streams=self.filters.stream_filter(self.strictness),
        )
        self.queue = job_queue(settings, self.executor, throughput)

    @property
    def model_id(self) -> str:
        return self.backend.model_id

    async def __aenter__(self) -> MuseService:
        await self.reviews.load()
        left = await sort_leftovers(self.storage, self.clock())
        self.resumable, self.interrupted, self.undelivered = (
            left.resumable,
            left.interrupted,
            left.undelivered,
        )
        await self.filters.warm()
        self.queue.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if not self.queue.closed:  # stop() closed it already
            await self.queue.close()
        await self.filters.close()

    @contextlib.asynccontextmanager
    async def delivering(self) -> AsyncIterator[None]:
        """Marks an adapter's delivery in progress, so a graceful stop can wait for it."""
        self._deliveries += 1
        self._no_deliveries.clear()
        try:
            yield
        finally:
            self._deliveries -= 1
            if self._deliveries == 0:
                self._no_deliveries.set()

    async def stop(self, grace_s: float) -> None:
        """Refuse new jobs, let queued and running ones finish and be delivered within
        ``grace_s``; whatever is left stays recorded for the next start to resume, and its
        member is told so (``Interrupted``), within ``NOTICE_S`` more."""
        started = time.monotonic()
        await self.queue.close(timeout_s=grace_s)
        left_s = max(NOTICE_S, grace_s - (time.monotonic() - started))
        try:
            await asyncio.wait_for(self._no_deliveries.wait(), left_s)
        except TimeoutError:
            log.warning("%d delivery(ies) still running after the grace period", self._deliveries)

    def prepare(
        self,
        request: Request,
        origin: Origin,
        *,
        parent: JobRecord | None = None,
        source_png: bytes | None = None,
    ) -> PendingJob:
        """Validate, filter the prompt (the filter's quick part) and take a queue place, or
        raise a ``UserError`` at once (``source_png``: the parent picture of a button's
        operation, ``bot.service.derive``)."""
        if request.seed is None:
            request = dataclasses.replace(request, seed=self._seeds.randint(0, SEED_MAX))
        self._validate(request)
        self._check_channel(origin)
        first = check_prompt(self.text_filter, request, self.strictness(origin.guild_id))
        rows = self._rows(request, source_png)
        record = job_record(request, origin, rows, parent, self.clock())
        try:
            future = self.queue.submit(self.executor.ticket(record, rows))
        except Overloaded as err:
            raise Busy(busy_message(err)) from err
        return PendingJob(record, request, rows, future, time.perf_counter(), first)

    async def start(self, pending: PendingJob, reply_handle: str | None = None) -> None:
        """The filter's deep part reads the prompt (on the filter thread; ``Refused`` gives the
        queue place back), then the job is recorded as queued (with how to answer it after a
        restart) and let run."""
        if reply_handle:
            pending.record = dataclasses.replace(pending.record, reply_handle=reply_handle)
        try:
            if pending.prompt_check is not None:  # the prompt check's deep part
                strictness = self.strictness(pending.record.guild_id)
                await self.filters.finish_prompt(pending.request, pending.prompt_check, strictness)
            await self.storage.insert_job(pending.record)
        except BaseException:  # refused, not recorded, or cancelled: the place is given back
            pending.future.cancel()
            self.queue.cancel(pending.record.id)
            raise
        await self.pictures.keep(pending.request, pending.rows)  # now /forget-me can find it
        self.queue.release(pending.record.id)

    async def resume(self, job: JobRecord) -> PendingJob:
        """Run a job a restart cut short again: same options, same seed, same job id."""
        request = dataclasses.replace(request_from_fields(job.kind, job.options), seed=job.seed)
        rows = self._rows(request, await read_source(self, request))
        try:
            future = self.queue.submit(self.executor.ticket(job, rows))
        except Overloaded as err:
            await self.storage.finish_job(job.id, "failed", self.clock(), "not resumed: busy")
            raise Busy(busy_message(err)) from err
        self.queue.release(job.id)
        return PendingJob(job, request, rows, future, time.perf_counter())

    async def abandon(self, pending: PendingJob) -> None:
        """The requester is gone: drop the job if it has not started."""
        pending.future.cancel()
        if self.queue.cancel(pending.record.id):
            await self.storage.finish_job(pending.record.id, "cancelled", self.clock(), None)

    async def cancel(self, job_id: str, user_id: int) -> None:
        """The requester's ❌: stop a waiting or running job."""
        job = await self.storage.get_job(job_id)
        if job is None or job.user_id != user_id:
            raise NotAllowed("Only the member who asked for this can cancel it.")
        if not self.queue.cancel(job_id):
            raise UserError("This request is no longer waiting or running.")

    def progress(self, pending: PendingJob) -> Progress | None:
        """Queue position and estimated seconds left, with denoising steps when drawing."""
        job_id = pending.record.id
        position = self.queue.position(job_id)
        wait_s = self.queue.wait_s(job_id)
        if position is None or wait_s is None:
            return None
        steps = self.executor.steps.get(job_id)
        if position == 0 and steps is not None and steps.steps:
            left = steps.left_s()
            return Progress(0, wait_s if left is None else left, steps.step, steps.steps)
        texts = self.executor.partial(job_id) if position == 0 else None
        partial = self.executor.streams.shown(pending.record, texts) if texts is not None else ()
        return Progress(position, wait_s, partial=partial)

    async def finish(self, pending: PendingJob) -> Delivery:
        """Await the model, moderate and store each sample; raise a ``UserError`` on failure."""
        job_id = pending.record.id
        try:
            result = await pending.future
        except (JobCancelled, GenerationCancelled) as err:
            await self.storage.finish_job(job_id, "cancelled", self.clock(), None)
            self.metrics.jobs.labels(pending.record.kind, "cancelled").inc()
            raise Cancelled(await cancelled_notice(self.storage, job_id)) from err
        except Overloaded as err:  # the queue closed: left as it is, for the next start
            raise Interrupted(INTERRUPTED_NOTICE) from err
        except Exception as err:
            await self.storage.finish_job(job_id, "failed", self.clock(), repr(err))
            self.metrics.jobs.labels(pending.record.kind, "failed").inc()
            raise GenerationFailed(failure_message(err)) from err
        finally:
            self.executor.streams.forget(job_id)  # no more partial texts
        total_s = time.perf_counter() - pending.admitted_at
        strictness = self.strictness(pending.record.guild_id)
        if isinstance(result, ImageResult):
            outputs = await self.executor.judge_images(pending.record, result, total_s, strictness)
        else:
            request: Any = pending.request
            judge = functools.partial(self.filters.judge, strictness=strictness)
            outputs = await self.filters.call(text_outputs, request, result, judge, total_s)
        if not any(has_content(out) for out in outputs):
            await self.storage.finish_job(job_id, "failed", self.clock(), "empty output")
            raise GenerationFailed("The model returned an empty text. Try 🔁 or a new topic.")
        ids = await store_outputs(self.storage, job_id, outputs, self.clock())
        self._count_finished(pending, outputs)
        held = [oid for oid, out in zip(ids, outputs, strict=True) if out.decision == "review"]
        await self.reviews.hold(held)
        delivery = await self.delivery(pending.record)
        copied = result_withheld(outputs) if delivery.withheld else None
        return dataclasses.replace(delivery, withheld=copied) if copied else delivery

    async def regenerate(self, job_id: str, origin: Origin) -> PendingJob:
        """A new sample of a stored job's prompt, with a new seed, for its requester only."""
        job = await self.storage.get_job(job_id)
        if job is None:
            raise UserError("That request is no longer stored, so it cannot be regenerated.")
        if job.user_id != origin.user_id:
            raise NotAllowed("Only the member who asked for this can regenerate it.")
        request = request_from_fields(job.kind, job.options)
        return self.prepare(
            request, origin, parent=job, source_png=await read_source(self, request)
        )

    async def vote(self, output_id: int, user_id: int, value: int) -> VoteResult:
        """Set, change or remove a member's vote, and return the job's fresh state."""
        output = await self.storage.get_output(output_id)
        job = await self.storage.get_job(output.job_id) if output else None
        if output is None or job is None or output.decision != Decision.ALLOW:
            raise UserError("This output is no longer available for voting.")
        if not self.vote_limit.allow(user_id):
            raise Busy("You're voting very fast; wait a minute and try again.")
        own = job.user_id == user_id
        vote = await self.storage.toggle_vote(output_id, user_id, value, self.clock(), own=own)
        return VoteResult(vote, await self.delivery(job))

    async def pick(self, output_id: int, user_id: int) -> Delivery:
        """The requester picks the best of several candidates (picking again replaces it)."""
        job, output = await self.owned_output(output_id, user_id, "pick a candidate")
        await self.feedback.set_pick(job.id, user_id, "pick", output.id)
        return await self.delivery(job)

    async def compare_vote(self, job_id: str, user_id: int, choice: str) -> Delivery:
        """Any member says which of A and B is better, or that they tie (one choice each)."""
        job = await self.storage.get_job(job_id)
        if job is None or not job.compare:
            raise UserError("This comparison is no longer stored.")
        if not self.vote_limit.allow(user_id):
            raise Busy("You're voting very fast; wait a minute and try again.")
        shown = (await self.delivery(job)).outputs
        if choice == "tie" or len(shown) < 2:
            chosen = None
        else:
            chosen = shown[0 if choice == "a" else 1].output_id
        await self.feedback.set_pick(job.id, user_id, "compare", chosen)
        return await self.delivery(job)

    async def edit(self, job_id: str, user_id: int, texts: dict[int, str]) -> Delivery:
        """The requester's revisions of text outputs, stored as corrections after the filter."""
        job = await self.storage.get_job(job_id)
        if job is None or job.user_id != user_id:
            raise NotAllowed("Only the member who asked for this can edit it.")
        current = {o.output_id: o.text for o in (await self.delivery(job)).outputs}
        strictness = self.strictness(job.guild_id)
        for output_id, text in texts.items():
            text = text.strip()
            if output_id not in current or not text or text == current[output_id]:
                continue
            if not (await self.filters.call(self.filters.judge, text, strictness)).allowed:
                raise Refused("Your edit was refused by the safety filter.")
            await self.feedback.add_edit(output_id, user_id, text)
        return await self.delivery(job)

    async def owned_output(
        self, output_id: int, user_id: int, action: str
    ) -> tuple[JobRecord, OutputRecord]:
        output = await self.storage.get_output(output_id)
        job = await self.storage.get_job(output.job_id) if output else None
        if output is None or job is None:
            raise UserError("This output is no longer stored.")
        if job.user_id != user_id:
            raise NotAllowed(f"Only the member who asked for this can {action}.")
        return job, output

    async def delivery(self, job: JobRecord) -> Delivery:
        """A stored job's shown state: outputs that passed the filter, with current votes."""
        delivery = await build_delivery(self.storage, self.feedback, job, self.model_id)
        if job.kind != "draw":
            return delivery
        family = getattr(self.image_backend, "family", None)
        notes = family.notes() if family else {}
        return dataclasses.replace(delivery, options=delivery.options | notes,
                                   actions=actions(family, job.operation))  # fmt: skip

    def _count_finished(self, pending: PendingJob, outputs: Sequence[NewOutput]) -> None:
        kind = pending.record.kind
        self.metrics.jobs.labels(kind, "done").inc()
        self.metrics.job_seconds.labels(kind).observe(time.perf_counter() - pending.admitted_at)
        for out in outputs:
            self.metrics.verdicts.labels(kind, out.decision).inc()

    def _validate(self, request: Request) -> None:
        validate_request(request, self.image_backend, self.settings.image_max_steps)

    def strictness(self, guild_id: int | None) -> Strictness:
        return self.reviews.guilds.get(guild_id).strictness

    def _check_channel(self, origin: Origin) -> None:
        if origin.guild_id and not self.reviews.guilds.get(origin.guild_id).allows_channel(
            origin.channel_id
        ):
            raise NotAllowed("Muse is not enabled in this channel; try another one.")

    def _dimensions(self, request: DrawRequest) -> tuple[int, int]:
        if self.image_backend is None:
            raise UserError("Drawing is turned off on this Muse.")
        return self.image_backend.dimensions(request.size)

    def _rows(self, request: Request, source_png: bytes | None = None) -> Rows:
        if isinstance(request, DrawRequest) and source_png is not None:
            multiple = getattr(getattr(self.image_backend, "family", None), "multiple", 8)
            return derived_rows(request, source_png, multiple, self.clock())
        if isinstance(request, DrawRequest):
            width, height = self._dimensions(request)
            picture = self.pictures.read(request.picture) if request.picture else None
            return draw_rows(request, width, height, self.clock(), picture)
        return text_rows(request, self.settings)
