"""The Discord-free service: validate, filter, queue, generate, moderate, store.

Adapters (the Discord cog, the CLI) call it in a fixed order::

    pending = service.prepare(request, origin)   # sync: validate, filter, admit (or refuse)
    await service.start(pending)                 # record the job, then let it run
    delivery = await service.finish(pending)     # await, moderate, store, or raise a UserError

Text and image jobs share one fair queue and one worker thread that owns the device.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import random
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.errors import Busy, Cancelled, GenerationFailed, NotAllowed, Refused, UserError
from bot.ops.metrics import Metrics
from bot.review.reviews import ReviewDesk
from bot.service.feedback import FeedbackStore, RateLimiter
from bot.service.work import (
    Rows,
    draw_rows,
    image_outputs,
    image_path,
    shown_prompt,
    text_outputs,
    text_rows,
)
from bot.store.storage import JobRecord, NewOutput, OutputRecord, Storage, Tally
from generators.backend import GenerationCancelled, ImageBackend, TextBackend, steppable
from generators.continuous import ContinuousRunner, TextSteps
from generators.queue import JobCancelled, JobQueue, JobTimeout, Overloaded, Throughput, Ticket
from generators.types import (
    SEED_MAX,
    DrawRequest,
    DrawRow,
    ImageResult,
    InvalidRequest,
    Request,
    TextResult,
    request_from_fields,
)
from generators.worker import ModelWorker
from moderation.image import ImageFilter
from moderation.policy import Strictness, apply_image_policy, apply_policy
from moderation.verdict import Decision, TextFilter, Verdict

log = logging.getLogger(__name__)

Result = TextResult | ImageResult
RESUME_WINDOW_S = 12 * 60  # interaction tokens last 15 minutes; leave time to generate


@dataclass(frozen=True)
class Origin:
    """Who asked, and where. ``guild_id``/``channel_id`` are None outside Discord."""

    user_id: int
    guild_id: int | None = None
    channel_id: int | None = None


@dataclass
class PendingJob:
    """A job admitted to the queue; ``future`` settles when the model has run it."""

    record: JobRecord
    request: Request
    rows: Rows
    future: asyncio.Future[Result]
    admitted_at: float


@dataclass(frozen=True)
class Progress:
    """Where a job is: queue position (0 = running), seconds left, and steps for images."""

    position: int
    wait_s: float
    step: int = 0
    steps: int = 0


@dataclass(frozen=True)
class ShownOutput:
    output_id: int
    candidate: int
    text: str
    tally: Tally
    seed: int = 0
    image_path: str | None = None
    edited: bool = False


@dataclass(frozen=True)
class Delivery:
    """What a finished job shows: the outputs that passed the filter, with provenance."""

    job_id: str
    group_id: str
    kind: str
    requester_id: int
    options: dict[str, str]
    model_id: str
    seed: int
    sample_number: int
    outputs: tuple[ShownOutput, ...]
    held: int = 0
    total_s: float = 0.0
    channel_id: int | None = None
    held_ids: tuple[int, ...] = ()  # outputs waiting for a moderator
    withheld: str | None = None  # why nothing is shown, when nothing is
    compare: bool = False
    picked: int | None = None  # the output the requester picked among candidates
    ab_counts: tuple[int, int, int] = (0, 0, 0)  # members preferring A, B, or a tie


@dataclass(frozen=True)
class VoteResult:
    vote: int  # the member's vote now: 1, -1 or 0 (removed)
    delivery: Delivery


@dataclass
class _Steps:
    """Live denoising progress of a running image job, fed from the worker thread."""

    step: int = 0
    steps: int = 0
    started: float = 0.0
    last: float = 0.0

    def left_s(self) -> float | None:
        if self.step == 0:
            return None
        per_step = (self.last - self.started) / self.step
        return per_step * (self.steps - self.step)


def _busy_message(err: Overloaded) -> str:
    if err.reason == "user_cap":
        return f"You already have {err.limit} request(s) in progress. Wait for one to finish."
    if err.reason == "closed":
        return "Muse is restarting and not taking new requests. Try again in a minute."
    return f"Muse is busy ({err.limit} requests waiting). Try again in a minute."


class MuseService:
    """Owns the job queue and everything between a request and a stored output."""

    def __init__(
        self,
        *,
        settings: Settings,
        storage: Storage,
        worker: ModelWorker,
        backend: TextBackend,
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
        self.image_filter = image_filter
        self.clock = clock
        self._seeds = random.SystemRandom()
        self._steps: dict[str, _Steps] = {}
        self.metrics = Metrics()
        self.metrics.queue_depth.set_function(lambda: len(self.queue.state.waiting))
        self.metrics.queue_running.set_function(lambda: len(self.queue.state.running))
        self.reviews = ReviewDesk(storage, clock)
        self.interrupted: list[JobRecord] = []  # cut short by a restart; too old to resume
        self.resumable: list[JobRecord] = []  # cut short, but still answerable: run them again
        self._deliveries = 0
        self._no_deliveries = asyncio.Event()
        self._no_deliveries.set()
        self.feedback = FeedbackStore(storage, clock)
        self.vote_limit = RateLimiter(settings.votes_per_minute)
        self.text_steps = TextSteps(worker, backend, self._count_step, self._mark_running)  # type: ignore[arg-type]
        continuous = settings.text_batching == "continuous"
        runner = ContinuousRunner(self.text_steps, continuous=continuous, slots=settings.text_slots)
        self.queue: JobQueue[Rows, Result] = JobQueue(
            self._execute,
            max_depth=settings.queue_max_depth,
            per_user=settings.queue_per_user,
            max_batch_rows=settings.batch_max_rows,
            job_timeout_s=settings.job_timeout_s,
            throughput=throughput,
            runner=runner if steppable(backend) else None,
        )

    @property
    def model_id(self) -> str:
        return self.backend.model_id

    async def __aenter__(self) -> MuseService:
        await self.reviews.load()
        now = self.clock()
        for job in await self.storage.unfinished_jobs():
            if job.reply_handle and now - job.created_at < RESUME_WINDOW_S:
                self.resumable.append(job)
            else:
                await self.storage.finish_job(job.id, "failed", now, "interrupted by a restart")
                self.interrupted.append(job)
        self.queue.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.queue.close()

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
        ``grace_s``; whatever is left fails with a "restarting" message, recorded."""
        started = time.monotonic()
        await self.queue.close(timeout_s=grace_s)
        left_s = max(0.1, grace_s - (time.monotonic() - started))
        try:
            await asyncio.wait_for(self._no_deliveries.wait(), left_s)
        except TimeoutError:
            log.warning("%d delivery(ies) still running after the grace period", self._deliveries)

    def prepare(
        self, request: Request, origin: Origin, *, parent: JobRecord | None = None
    ) -> PendingJob:
        """Validate, filter the prompt and take a queue place, or raise a ``UserError`` at once."""
        if request.seed is None:
            request = dataclasses.replace(request, seed=self._seeds.randint(0, SEED_MAX))
        self._validate(request)
        self._check_channel(origin)
        self._check_prompt(request, self.strictness(origin.guild_id))
        rows = self._rows(request)
        record = self._record(request, origin, rows, parent)
        try:
            future = self.queue.submit(self._ticket(record, request, rows))
        except Overloaded as err:
            raise Busy(_busy_message(err)) from err
        return PendingJob(record, request, rows, future, time.perf_counter())

    async def start(self, pending: PendingJob, reply_handle: str | None = None) -> None:
        """Record the job as queued (with how to answer it after a restart), then let it run."""
        if reply_handle:
            pending.record = dataclasses.replace(pending.record, reply_handle=reply_handle)
        try:
            await self.storage.insert_job(pending.record)
        except Exception:
            pending.future.cancel()
            self.queue.cancel(pending.record.id)
            raise
        self.queue.release(pending.record.id)

    def resume(self, job: JobRecord) -> PendingJob:
        """Run a job a restart cut short again: same options, same seed, same job id."""
        request = dataclasses.replace(request_from_fields(job.kind, job.options), seed=job.seed)
        rows = self._rows(request)
        try:
            future = self.queue.submit(self._ticket(job, request, rows))
        except Overloaded as err:
            raise Busy(_busy_message(err)) from err
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
        steps = self._steps.get(job_id)
        if position == 0 and steps is not None and steps.steps:
            left = steps.left_s()
            return Progress(0, wait_s if left is None else left, steps.step, steps.steps)
        return Progress(position, wait_s)

    async def finish(self, pending: PendingJob) -> Delivery:
        """Await the model, moderate and store each sample; raise a ``UserError`` on failure."""
        job_id = pending.record.id
        try:
            result = await pending.future
        except (JobCancelled, GenerationCancelled) as err:
            await self.storage.finish_job(job_id, "cancelled", self.clock(), None)
            self.metrics.jobs.labels(pending.record.kind, "cancelled").inc()
            raise Cancelled("❌ Cancelled.") from err
        except Exception as err:
            await self.storage.finish_job(job_id, "failed", self.clock(), repr(err))
            self.metrics.jobs.labels(pending.record.kind, "failed").inc()
            raise GenerationFailed(_failure_message(err)) from err
        total_s = time.perf_counter() - pending.admitted_at
        if isinstance(result, ImageResult):
            outputs = await self._judge_images(pending.record, result, total_s)
        else:
            request: Any = pending.request
            strictness = self.strictness(pending.record.guild_id)
            judge = functools.partial(self.judge_text, strictness=strictness)
            outputs = text_outputs(request, result, judge, total_s)
        if not any(_has_content(out) for out in outputs):
            await self.storage.finish_job(job_id, "failed", self.clock(), "empty output")
            raise GenerationFailed("The model returned an empty text. Try 🔁 or a new topic.")
        ids = await self.storage.add_outputs(job_id, outputs, self.clock())
        self._count_finished(pending, outputs)
        held = [oid for oid, out in zip(ids, outputs, strict=True) if out.decision == "review"]
        await self.reviews.hold(held)
        return await self.delivery(pending.record)

    async def regenerate(self, job_id: str, origin: Origin) -> PendingJob:
        """A new sample of a stored job's prompt, with a new seed, for its requester only."""
        job = await self.storage.get_job(job_id)
        if job is None:
            raise UserError("That request is no longer stored, so it cannot be regenerated.")
        if job.user_id != origin.user_id:
            raise NotAllowed("Only the member who asked for this can regenerate it.")
        request = request_from_fields(job.kind, job.options)
        return self.prepare(request, origin, parent=job)

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
        job, output = await self._owned_output(output_id, user_id, "pick a candidate")
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
            if not self.judge_text(text, strictness).allowed:
                raise Refused("Your edit was refused by the safety filter.")
            await self.feedback.add_edit(output_id, user_id, text)
        return await self.delivery(job)

    async def _owned_output(
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
        stored = await self.storage.job_outputs(job.id)
        shown = [
            o
            for o in stored
            if o.decision == Decision.ALLOW and not o.hidden and (o.text or o.image_path)
        ]
        held = sum(1 for out in stored if out.decision != Decision.ALLOW)
        withheld = _withheld_message(stored) if not shown and held else None
        tallies = await self.storage.tallies([out.id for out in shown])
        edits = await self.feedback.latest_edits([out.id for out in shown])
        picks = await self.feedback.pick_counts(job.id, "pick") if len(shown) > 1 else {}
        request = request_from_fields(job.kind, job.options)
        return Delivery(
            job_id=job.id,
            group_id=job.group_id,
            kind=job.kind,
            requester_id=job.user_id,
            options=request.options(),
            model_id=stored[0].model_id if stored else self.model_id,
            seed=job.seed,
            sample_number=await self.storage.group_size(job.group_id),
            outputs=tuple(
                ShownOutput(
                    o.id,
                    o.candidate,
                    edits.get(o.id, o.text),
                    tallies[o.id],
                    o.seed,
                    o.image_path,
                    edited=o.id in edits,
                )
                for o in shown
            ),
            held=held,
            total_s=max((out.timings.get("total_s", 0.0) for out in stored), default=0.0),
            channel_id=job.channel_id,
            held_ids=tuple(o.id for o in stored if o.decision == Decision.REVIEW),
            withheld=withheld,
            compare=job.compare,
            picked=next((oid for oid in picks if oid is not None), None),
            ab_counts=await self._ab_counts(job, shown) if job.compare else (0, 0, 0),
        )

    async def _ab_counts(self, job: JobRecord, shown: Sequence[Any]) -> tuple[int, int, int]:
        counts = await self.feedback.pick_counts(job.id, "compare")
        a = counts.get(shown[0].id, 0) if shown else 0
        b = counts.get(shown[1].id, 0) if len(shown) > 1 else 0
        return a, b, counts.get(None, 0)

    def _count_finished(self, pending: PendingJob, outputs: Sequence[NewOutput]) -> None:
        kind = pending.record.kind
        self.metrics.jobs.labels(kind, "done").inc()
        self.metrics.job_seconds.labels(kind).observe(time.perf_counter() - pending.admitted_at)
        for out in outputs:
            self.metrics.verdicts.labels(kind, out.decision).inc()

    def _count_step(self, seconds: float, tokens: int) -> None:
        self.metrics.generation_seconds.labels("text").inc(seconds)
        self.metrics.tokens.inc(tokens)

    async def _mark_running(self, job_ids: list[str]) -> None:
        await self.storage.mark_running(job_ids, self.clock())

    def _count_generation(self, kind: str, seconds: float, samples: Sequence[Any]) -> None:
        self.metrics.generation_seconds.labels(kind).inc(seconds)
        if kind == "image":
            self.metrics.steps.inc(sum(getattr(s, "steps", 0) for s in samples))
        else:
            self.metrics.tokens.inc(sum(s.new_tokens for s in samples))

    def _validate(self, request: Request) -> None:
        try:
            if isinstance(request, DrawRequest):
                if self.image_backend is None:
                    raise UserError("Drawing is turned off on this Muse.")
                request.check_inputs(max_steps=self.settings.image_max_steps)
            else:
                request.check_inputs()
        except InvalidRequest as err:
            raise UserError(str(err)) from err

    def strictness(self, guild_id: int | None) -> Strictness:
        return self.reviews.guilds.get(guild_id).strictness

    def judge_text(self, text: str, strictness: Strictness) -> Verdict:
        """The text filter's verdict, decided by the guild's strictness preset."""
        return apply_policy(self.text_filter.check(text), strictness)

    def _check_channel(self, origin: Origin) -> None:
        if origin.guild_id and not self.reviews.guilds.get(origin.guild_id).allows_channel(
            origin.channel_id
        ):
            raise NotAllowed("Muse is not enabled in this channel; try another one.")

    def _check_prompt(self, request: Request, strictness: Strictness) -> None:
        verdict = self.judge_text(request.prompt_text(), strictness)
        if not verdict.allowed:
            names = ", ".join(c.value for c in verdict.categories) or "unsafe content"
            raise Refused(f"Your request was refused by the safety filter ({names}).")

    def _rows(self, request: Request) -> Rows:
        if isinstance(request, DrawRequest):
            assert self.image_backend is not None  # checked by _validate
            width, height = self.image_backend.dimensions(request.size)
            return draw_rows(request, width, height)
        return text_rows(request, self.settings)

    def _ticket(self, record: JobRecord, request: Request, rows: Rows) -> Ticket[Rows]:
        """Images batch by size and steps (units: steps x images); text rows all batch
        together (units: new tokens, decoded in parallel)."""
        first = rows[0]
        if isinstance(first, DrawRow):
            key, kind = f"image:{first.width}x{first.height}:{first.steps}", "image"
            units = float(first.steps * len(rows))
        else:
            key, kind = "text", "text"
            units = float(max(p.sampling.max_new_tokens for p in rows))  # type: ignore[union-attr]
        return Ticket(record.id, record.user_id, key, len(rows), rows, True, kind, units)

    def _record(
        self, request: Request, origin: Origin, rows: Rows, parent: JobRecord | None
    ) -> JobRecord:
        job_id = secrets.token_hex(8)
        return JobRecord(
            id=job_id,
            group_id=parent.group_id if parent else job_id,
            parent_id=parent.id if parent else None,
            kind=request.kind.value,
            user_id=origin.user_id,
            guild_id=origin.guild_id,
            channel_id=origin.channel_id,
            options=request.fields(),
            prompt=shown_prompt(rows),
            seed=request.seed or 0,
            status="queued",
            created_at=self.clock(),
            compare=request.compare,
        )

    async def _execute(self, batch: list[Ticket[Rows]], cancel: threading.Event) -> list[Result]:
        """Run one batch on the worker thread: one model call for every row of every job."""
        await self.storage.mark_running([t.job_id for t in batch], self.clock())
        rows: list[Any] = [row for ticket in batch for row in ticket.payload]
        started = time.perf_counter()
        try:
            if batch[0].kind == "image":
                samples: Sequence[Any] = await self._draw(batch, rows, cancel)
            else:
                samples = await self.worker.call(self.backend.generate, rows, cancel)
        except asyncio.CancelledError:
            cancel.set()  # timed out: the thread stops at its next step
            raise
        finally:
            for ticket in batch:
                self._steps.pop(ticket.job_id, None)
        elapsed = time.perf_counter() - started
        self._count_generation(
            batch[0].kind, elapsed, rows if batch[0].kind == "image" else samples
        )
        results: list[Result] = []
        start = 0
        for ticket in batch:
            chunk = tuple(samples[start : start + ticket.rows])
            start += ticket.rows
            if ticket.kind == "image":
                assert self.image_backend is not None
                results.append(ImageResult(chunk, self.image_backend.model_id, elapsed, len(rows)))
            else:
                results.append(TextResult(chunk, self.backend.model_id, elapsed, len(rows)))
        return results

    async def _draw(
        self, batch: list[Ticket[Rows]], rows: list[DrawRow], cancel: threading.Event
    ) -> Sequence[Any]:
        """Diffusion on the worker thread, with step progress delivered to the loop."""
        assert self.image_backend is not None
        loop = asyncio.get_running_loop()
        steps = _Steps(started=time.perf_counter())
        for ticket in batch:
            self._steps[ticket.job_id] = steps

        def on_step(step: int, total: int) -> None:  # worker thread
            loop.call_soon_threadsafe(_record_step, steps, step, total)

        return await self.worker.call(self.image_backend.generate, rows, cancel, on_step)

    async def _judge_images(
        self, job: JobRecord, result: ImageResult, total_s: float
    ) -> list[NewOutput]:
        """A verdict for every image before anyone sees it; blocked images are not kept."""
        assert self.image_filter is not None
        check, job_id = self.image_filter.check, job.id
        strictness = self.strictness(job.guild_id)
        standard = (self.settings.image_review_at, self.settings.image_block_at)
        verdicts = [
            apply_image_policy(verdict, strictness, standard)
            for verdict in await asyncio.to_thread(lambda: [check(s.png) for s in result.samples])
        ]
        paths: list[Path | None] = []
        for index, (sample, verdict) in enumerate(zip(result.samples, verdicts, strict=True)):
            if verdict.decision is Decision.BLOCK:
                paths.append(None)
                continue
            path = image_path(self.settings.image_dir, job_id, index)
            await asyncio.to_thread(_write_file, path, sample.png)
            paths.append(path)
        return image_outputs(result, verdicts, paths, total_s)


def _has_content(out: NewOutput) -> bool:
    """Something to show or to review (a flagged empty text still counts)."""
    return bool(out.text or out.image_path or out.decision != Decision.ALLOW)


def _record_step(steps: _Steps, step: int, total: int) -> None:
    steps.step, steps.steps, steps.last = step, total, time.perf_counter()


def _write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _withheld_message(stored: Sequence[Any]) -> str:
    if any(out.decision == Decision.REVIEW for out in stored):
        return "The safety filter flagged this result, so Muse is holding it for a moderator."
    return "The safety filter blocked this result, so Muse did not post it."


async def delete_user_data(storage: Storage, user_id: int) -> dict[str, int]:
    """Remove a member's jobs, outputs, votes and image files; returns what was deleted."""
    paths = await storage.user_image_paths(user_id)
    counts = await storage.delete_user_data(user_id)
    removed = 0
    for name in paths:
        path = Path(name)
        if path.exists():
            await asyncio.to_thread(path.unlink)
            removed += 1
    return {**counts, "images": removed}


def _failure_message(err: BaseException) -> str:
    if isinstance(err, JobTimeout):
        return (
            "Generation took too long and was stopped. Try again, perhaps with a shorter request."
        )
    if isinstance(err, Overloaded):
        return _busy_message(err)
    return "Generation failed on Muse's side. The operator has the details in the log."
