"""The Discord-free service: validate, filter, queue, generate, moderate, store.

Adapters (the Discord cog, the CLI) call it in a fixed order::

    pending = service.prepare(request, origin)   # sync: validate, filter, admit (or refuse)
    await service.start(pending)                 # record the job, then let it run
    delivery = await service.finish(pending)     # await, moderate, store, or raise a UserError
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import random
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.config import Settings
from bot.errors import Busy, GenerationFailed, NotAllowed, Refused, UserError, Withheld
from bot.storage import JobRecord, NewOutput, Storage, Tally
from generators.backend import TextBackend
from generators.prompts import clean_poem, clean_slogan, poem_prompt, slogan_prompt
from generators.queue import JobCancelled, JobQueue, JobTimeout, Overloaded, Throughput, Ticket
from generators.types import (
    SEED_MAX,
    InvalidRequest,
    PoemRequest,
    SamplingParams,
    TextKind,
    TextPrompt,
    TextRequest,
    TextResult,
    request_from_fields,
)
from generators.worker import ModelWorker
from moderation.verdict import Decision, TextFilter, Verdict

log = logging.getLogger(__name__)

TEXT_BATCH_KEY = "text"


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
    request: TextRequest
    prompts: tuple[TextPrompt, ...]
    future: asyncio.Future[TextResult]
    admitted_at: float


@dataclass(frozen=True)
class ShownOutput:
    output_id: int
    candidate: int
    text: str
    tally: Tally


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


@dataclass(frozen=True)
class VoteResult:
    vote: int  # the member's vote now: 1, -1 or 0 (removed)
    delivery: Delivery


def _busy_message(err: Overloaded) -> str:
    if err.reason == "user_cap":
        return f"You already have {err.limit} request(s) in progress. Wait for one to finish."
    if err.reason == "closed":
        return "Muse is restarting and not taking new requests. Try again in a minute."
    return f"Muse is busy ({err.limit} requests waiting). Try again in a minute."


class MuseService:
    """Owns the queue for text jobs and everything between a request and a stored output."""

    def __init__(
        self,
        *,
        settings: Settings,
        storage: Storage,
        worker: ModelWorker,
        backend: TextBackend,
        text_filter: TextFilter,
        clock: Callable[[], float] = time.time,
        initial_batch_s: float = 1.0,
    ) -> None:
        self.settings = settings
        self.storage = storage
        self.worker = worker
        self.backend = backend
        self.text_filter = text_filter
        self.clock = clock
        self._seeds = random.SystemRandom()
        self.queue: JobQueue[tuple[TextPrompt, ...], TextResult] = JobQueue(
            self._execute,
            max_depth=settings.queue_max_depth,
            per_user=settings.queue_per_user,
            max_batch_rows=settings.batch_max_rows,
            job_timeout_s=settings.job_timeout_s,
            throughput=Throughput(batch_s=initial_batch_s),
        )

    @property
    def model_id(self) -> str:
        return self.backend.model_id

    async def __aenter__(self) -> MuseService:
        self.queue.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.queue.close()

    def prepare(
        self, request: TextRequest, origin: Origin, *, parent: JobRecord | None = None
    ) -> PendingJob:
        """Validate, filter the prompt and take a queue place, or raise a ``UserError`` at once."""
        if request.seed is None:
            request = dataclasses.replace(request, seed=self._seeds.randint(0, SEED_MAX))
        try:
            request.check_inputs()
        except InvalidRequest as err:
            raise UserError(str(err)) from err
        self._check_prompt(request)
        prompts = self._prompts(request)
        record = self._record(request, origin, prompts, parent)
        ticket = Ticket(record.id, origin.user_id, TEXT_BATCH_KEY, len(prompts), prompts, held=True)
        try:
            future = self.queue.submit(ticket)
        except Overloaded as err:
            raise Busy(_busy_message(err)) from err
        return PendingJob(record, request, prompts, future, time.perf_counter())

    async def start(self, pending: PendingJob) -> None:
        """Record the job as queued, then let the queue run it."""
        try:
            await self.storage.insert_job(pending.record)
        except Exception:
            pending.future.cancel()
            self.queue.cancel(pending.record.id)
            raise
        self.queue.release(pending.record.id)

    async def abandon(self, pending: PendingJob) -> None:
        """The requester is gone: drop the job if it has not started."""
        pending.future.cancel()
        if self.queue.cancel(pending.record.id):
            await self.storage.finish_job(pending.record.id, "cancelled", self.clock(), None)

    def progress(self, pending: PendingJob) -> tuple[int, float] | None:
        """(queue position, estimated seconds left); position 0 means running."""
        position = self.queue.position(pending.record.id)
        wait_s = self.queue.wait_s(pending.record.id)
        return None if position is None or wait_s is None else (position, wait_s)

    async def finish(self, pending: PendingJob) -> Delivery:
        """Await the model, moderate and store each sample; raise a ``UserError`` on failure."""
        job_id = pending.record.id
        try:
            result = await pending.future
        except Exception as err:
            await self.storage.finish_job(job_id, "failed", self.clock(), repr(err))
            raise GenerationFailed(_failure_message(err)) from err
        outputs = self._judge(pending, result)
        if not any(out.text for out in outputs):
            await self.storage.finish_job(job_id, "failed", self.clock(), "empty output")
            raise GenerationFailed("The model returned an empty text. Try 🔁 or a new topic.")
        await self.storage.add_outputs(job_id, outputs, self.clock())
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
        if output is None or output.decision != Decision.ALLOW:
            raise UserError("This output is no longer available for voting.")
        vote = await self.storage.toggle_vote(output_id, user_id, value, self.clock())
        job = await self.storage.get_job(output.job_id)
        if job is None:
            raise UserError("This output is no longer available for voting.")
        return VoteResult(vote, await self.delivery(job))

    async def delivery(self, job: JobRecord) -> Delivery:
        """A stored job's shown state: outputs that passed the filter, with current votes."""
        stored = await self.storage.job_outputs(job.id)
        shown = [out for out in stored if out.decision == Decision.ALLOW and out.text]
        held = sum(1 for out in stored if out.decision != Decision.ALLOW)
        if not shown and held:
            raise Withheld(
                "Muse held this result back: the safety filter flagged it, so it was not posted."
            )
        tallies = await self.storage.tallies([out.id for out in shown])
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
            outputs=tuple(ShownOutput(o.id, o.candidate, o.text, tallies[o.id]) for o in shown),
            held=held,
            total_s=max((out.timings.get("total_s", 0.0) for out in stored), default=0.0),
        )

    async def delete_user_data(self, user_id: int) -> dict[str, int]:
        return await self.storage.delete_user_data(user_id)

    def _check_prompt(self, request: TextRequest) -> None:
        verdict = self.text_filter.check(request.prompt_text())
        if not verdict.allowed:
            names = ", ".join(c.value for c in verdict.categories) or "unsafe content"
            raise Refused(f"Your request was refused by the safety filter ({names}).")

    def _prompts(self, request: TextRequest) -> tuple[TextPrompt, ...]:
        seed = request.seed or 0
        if isinstance(request, PoemRequest):
            sampling = SamplingParams(seed, max_new_tokens=self.settings.poem_max_new_tokens)
            return (poem_prompt(request, sampling),)
        return tuple(
            slogan_prompt(
                request,
                SamplingParams(
                    (seed + i) % (SEED_MAX + 1),
                    max_new_tokens=self.settings.slogan_max_new_tokens,
                    temperature=1.0,
                ),
            )
            for i in range(request.count)
        )

    def _record(
        self,
        request: TextRequest,
        origin: Origin,
        prompts: Sequence[TextPrompt],
        parent: JobRecord | None,
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
            prompt=prompts[0].messages[-1].content,
            seed=request.seed or 0,
            status="queued",
            created_at=self.clock(),
        )

    async def _execute(
        self, batch: list[Ticket[tuple[TextPrompt, ...]]], cancel: threading.Event
    ) -> list[TextResult]:
        """Run one batch on the worker thread: one ``generate`` call for every row."""
        await self.storage.mark_running([t.job_id for t in batch], self.clock())
        rows = [prompt for ticket in batch for prompt in ticket.payload]
        started = time.perf_counter()
        try:
            samples = await self.worker.call(self.backend.generate, rows, cancel)
        finally:
            cancel.set()  # a cancelled await must still stop the thread
        elapsed = time.perf_counter() - started
        results, start = [], 0
        for ticket in batch:
            chunk = tuple(samples[start : start + ticket.rows])
            results.append(TextResult(chunk, self.backend.model_id, elapsed, len(rows)))
            start += ticket.rows
        return results

    def _judge(self, pending: PendingJob, result: TextResult) -> list[NewOutput]:
        clean = clean_poem if pending.request.kind is TextKind.POEM else clean_slogan
        total_s = time.perf_counter() - pending.admitted_at
        outputs = []
        for index, sample in enumerate(result.samples):
            text = clean(sample.text)
            verdict = self.text_filter.check(text) if text else Verdict(Decision.ALLOW)
            timings = {
                "queue_s": round(max(0.0, total_s - result.generate_s), 4),
                "generate_s": round(result.generate_s, 4),
                "total_s": round(total_s, 4),
                "batch_rows": float(result.batch_rows),
                "new_tokens": float(sample.new_tokens),
            }
            outputs.append(
                NewOutput(index, text, result.model_id, sample.seed, verdict.to_json(), timings)
            )
        return outputs


async def export_ratings(storage: Storage, out: Path) -> int:
    """Write every rated output as one JSON line; returns the number of lines."""
    count = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as handle:
        async for row in storage.rated_outputs():
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


def _failure_message(err: BaseException) -> str:
    if isinstance(err, JobTimeout):
        return (
            "Generation took too long and was stopped. Try again, perhaps with a shorter request."
        )
    if isinstance(err, Overloaded):
        return _busy_message(err)
    if isinstance(err, JobCancelled):
        return "The request was cancelled before it ran."
    return "Generation failed on Muse's side. The operator has the details in the log."
