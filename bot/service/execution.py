"""The generation path: run one queued batch on the model worker thread, follow its
denoising steps, and judge every image before it is kept."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

from bot.config import Settings
from bot.ops.metrics import Metrics
from bot.service.arena import ARENA_KIND, match_ticket, play_match
from bot.service.streaming import StreamFilter
from bot.service.types import Result, Rows
from bot.service.work import image_outputs, image_path
from bot.store.records import JobRecord, NewOutput
from bot.store.storage import Storage
from generators.backend import AsyncTextBackend, ImageBackend, TextBackend, is_remote, steppable
from generators.continuous import ContinuousRunner, TextSteps
from generators.queue import JobQueue, Throughput, Ticket
from generators.samples import DrawRow, ImageResult, TextResult
from generators.worker import ModelWorker
from moderation.base import ImageFilter
from moderation.policy import Strictness, apply_image_policy
from moderation.verdict import Decision

T = TypeVar("T")


def ticket(
    record: JobRecord, rows: Rows, *, remote: bool = False, remote_images: bool = False
) -> Ticket[Rows]:
    """A job's place in the queue. Images batch by size, steps and, for image-to-image, the
    strength (units: steps run x images); text rows all batch together (units: new tokens,
    decoded in parallel). A remote text job is a batch of its own in the "remote" lane: the
    server batches concurrent jobs itself; pictures from a picture engine run in the "images"
    lane, several batches at once, off the worker thread."""
    first, lane = rows[0], "local"
    if isinstance(first, DrawRow):
        key, kind = f"image:{first.width}x{first.height}:{first.steps}", "image"
        lane = "images" if remote_images else lane
        steps = first.steps
        if first.init_png is not None:  # image-to-image runs steps x strength steps
            key += f":restyle:{first.strength:g}:{first.mode}"
            steps = max(1, int(first.steps * first.strength))
        units = float(steps * len(rows))
    else:
        key, kind = ("remote:" + record.id, "text") if remote else ("text", "text")
        lane = "remote" if remote else lane
        units = float(max(p.sampling.max_new_tokens for p in rows))  # type: ignore[union-attr]
    return Ticket(record.id, record.user_id, key, len(rows), rows, True, kind, units, lane=lane)


@dataclass
class StepProgress:
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


class Executor:
    """Runs batches for the job queue; ``steps`` holds the progress of running image jobs,
    ``text_steps`` the text written so far by running text jobs."""

    def __init__(
        self,
        *,
        settings: Settings,
        storage: Storage,
        worker: ModelWorker,
        backend: TextBackend | AsyncTextBackend,
        image_backend: ImageBackend | None,
        image_filter: ImageFilter | None,
        clock: Callable[[], float],
        metrics: Metrics,
        streams: StreamFilter,
    ) -> None:
        self.settings = settings
        self.storage = storage
        self.worker = worker
        self.backend = backend
        self.image_backend = image_backend
        self.image_filter = image_filter
        self.clock = clock
        self.metrics = metrics
        self.steps: dict[str, StepProgress] = {}
        self.streams = streams  # which streamed text of running text jobs may be shown
        self.remote = is_remote(backend)
        self.remote_images = bool(getattr(image_backend, "remote", False))  # a picture engine
        self.remote_texts: dict[str, list[str]] = {}  # running remote jobs' text so far, per row
        self.text_steps = TextSteps(worker, backend, self._count_step, self._mark_running)  # type: ignore[arg-type]
        self.challenger: TextBackend | None = None  # set by whoever loaded one (bot.service.arena)
        self.match_random = random.Random()
        self._match_models: dict[str, tuple[str, ...]] = {}  # a running match's model per row

    def ticket(self, record: JobRecord, rows: Rows) -> Ticket[Rows]:
        """A job's queue ticket; a share of compare text jobs become champion-challenger
        matches when a challenger is served."""
        share = self.settings.challenger_share
        if self._can_match(record) and self.match_random.random() < share:
            return match_ticket(record, rows)  # type: ignore[arg-type, return-value]
        return ticket(record, rows, remote=self.remote, remote_images=self.remote_images)

    def _can_match(self, record: JobRecord) -> bool:
        return self.challenger is not None and record.compare and record.kind != "draw"

    def partial(self, job_id: str) -> tuple[str, ...] | None:
        """A running text job's rows so far (unfiltered), from the step loop or a server."""
        texts = self.remote_texts.get(job_id)
        return tuple(texts) if texts is not None else self.text_steps.partial(job_id)

    def text_runner(self) -> ContinuousRunner | None:
        """Text batches as a continuous batch (or static ones, per MUSE_TEXT_BATCHING) on the
        step loop, when the back-end can step; else None: whole ``generate`` calls."""
        if not steppable(self.backend):
            return None
        continuous = self.settings.text_batching == "continuous"
        return ContinuousRunner(
            self.text_steps, continuous=continuous, slots=self.settings.text_slots
        )

    async def _mark_running(self, job_ids: list[str]) -> None:
        await self.storage.mark_running(job_ids, self.clock())

    def _count_step(self, seconds: float, tokens: int) -> None:
        self.metrics.generation_seconds.labels("text").inc(seconds)
        self.metrics.tokens.inc(tokens)

    async def execute(self, batch: list[Ticket[Rows]], cancel: threading.Event) -> list[Result]:
        """Run one batch: one model call for every row of every job (on the worker thread, or
        on a text server). A text server's requests go out first and the job's "running" mark
        is written beside them: a member's first token waits on no database write, and jobs
        that start together send their requests together, not one commit apart each."""
        ids = [t.job_id for t in batch]
        rows: list[Any] = [row for ticket in batch for row in ticket.payload]
        started = time.perf_counter()
        try:
            if batch[0].kind == "text" and self.remote:
                samples: Sequence[Any] = await beside(
                    self._write(batch, rows, cancel), self._mark_running(ids)
                )
            else:
                await self._mark_running(ids)
                samples = await self._run_local(batch, rows, cancel)
        except asyncio.CancelledError:
            cancel.set()  # timed out: the thread stops at its next step
            raise
        finally:
            for ticket in batch:
                self.steps.pop(ticket.job_id, None)
                self.remote_texts.pop(ticket.job_id, None)
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
                models = self._match_models.pop(ticket.job_id, ())
                result = TextResult(chunk, self.backend.model_id, elapsed, len(rows))
                results.append(dataclasses.replace(result, model_ids=models))
        return results

    async def _run_local(
        self, batch: list[Ticket[Rows]], rows: list[Any], cancel: threading.Event
    ) -> Sequence[Any]:
        """Pictures, a champion-challenger match, or text: on the worker thread."""
        if batch[0].kind == "image":
            return await self._draw(batch, rows, cancel)
        if batch[0].kind == ARENA_KIND:
            return await self._match(batch[0], rows, cancel)
        return await self._write(batch, rows, cancel)

    async def _match(
        self, match: Ticket[Rows], rows: list[Any], cancel: threading.Event
    ) -> Sequence[Any]:
        """A and B from the champion and the challenger, in a random order."""
        assert self.challenger is not None
        champion = cast(TextBackend, self.backend)
        samples, models = await play_match(
            self.worker, champion, self.challenger, rows, cancel, self.match_random
        )
        self._match_models[match.job_id] = models
        return samples

    async def _write(
        self, batch: list[Ticket[Rows]], rows: list[Any], cancel: threading.Event
    ) -> Sequence[Any]:
        """Text on the worker thread, or on a remote server straight from the loop (streamed:
        each row's text so far lands in ``remote_texts``)."""
        if not self.remote:
            local = cast(TextBackend, self.backend)
            return await self.worker.call(local.generate, rows, cancel)
        owners = [(t.job_id, i) for t in batch for i in range(t.rows)]
        for t in batch:
            self.remote_texts[t.job_id] = [""] * t.rows

        def on_token(row: int, text: str, tokens: int) -> None:
            job_id, index = owners[row]
            if job_id in self.remote_texts:
                self.remote_texts[job_id][index] = text

        remote = cast(AsyncTextBackend, self.backend)
        return await remote.generate(rows, cancel, on_token)

    async def _draw(
        self, batch: list[Ticket[Rows]], rows: list[DrawRow], cancel: threading.Event
    ) -> Sequence[Any]:
        """Diffusion on the worker thread, with step progress delivered to the loop."""
        assert self.image_backend is not None
        loop = asyncio.get_running_loop()
        steps = StepProgress(started=time.perf_counter())
        for ticket in batch:
            self.steps[ticket.job_id] = steps

        def on_step(step: int, total: int) -> None:  # worker thread
            loop.call_soon_threadsafe(_record_step, steps, step, total)

        if self.remote_images:  # waiting on the engine: the worker thread stays free
            return await asyncio.to_thread(self.image_backend.generate, rows, cancel, on_step)
        return await self.worker.call(self.image_backend.generate, rows, cancel, on_step)

    def _count_generation(self, kind: str, seconds: float, samples: Sequence[Any]) -> None:
        self.metrics.generation_seconds.labels(kind).inc(seconds)
        if kind == "image":
            self.metrics.steps.inc(sum(getattr(s, "steps", 0) for s in samples))
        else:
            self.metrics.tokens.inc(sum(s.new_tokens for s in samples))

    async def judge_images(
        self, job: JobRecord, result: ImageResult, total_s: float, strictness: Strictness
    ) -> list[NewOutput]:
        """A verdict for every image before anyone sees it; blocked images are not kept."""
        assert self.image_filter is not None
        check, job_id = self.image_filter.check, job.id
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


async def beside(work: Awaitable[T], bookkeeping: Awaitable[None]) -> T:
    """``work``'s result, with ``bookkeeping`` run beside it as a task of its own instead of
    before it, so ``work``'s requests need not wait for it; it is awaited before this returns,
    so later writes still come after it, and its error fails the call."""
    keeping = asyncio.ensure_future(bookkeeping)
    try:
        return await work
    finally:
        await keeping


def _record_step(steps: StepProgress, step: int, total: int) -> None:
    steps.step, steps.steps, steps.last = step, total, time.perf_counter()


def _write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def has_content(out: NewOutput) -> bool:
    """Something to show or to review (a flagged empty text still counts)."""
    return bool(out.text or out.image_path or out.decision != Decision.ALLOW)


def job_queue(
    settings: Settings, executor: Executor, throughput: Throughput | None
) -> JobQueue[Rows, Result]:
    """The bounded queue: the local lane runs one batch at a time, the remote lanes several."""
    return JobQueue(
        executor.execute,
        max_depth=settings.queue_max_depth,
        per_user=settings.queue_per_user,
        max_batch_rows=settings.batch_max_rows,
        job_timeout_s=settings.job_timeout_s,
        throughput=throughput,
        runner=executor.text_runner(),
        lane_limits={"remote": settings.remote_concurrency, "images": settings.remote_concurrency},
    )
