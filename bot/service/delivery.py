"""Build a finished job's ``Delivery`` from its stored rows: the outputs that passed the
filter, with current votes, edits, picks and A/B choices."""

from __future__ import annotations

from collections.abc import Sequence

from bot.service.feedback import FeedbackStore
from bot.service.types import Delivery, ShownOutput
from bot.store.records import JobRecord, OutputRecord
from bot.store.storage import Storage
from generators.requests import request_from_fields
from moderation.verdict import Decision

MATCH_MODEL = "two models, named once you choose"  # a match's public footer hides them


async def build_delivery(
    storage: Storage, feedback: FeedbackStore, job: JobRecord, default_model_id: str
) -> Delivery:
    """A stored job's shown state; ``default_model_id`` names the model when nothing is stored."""
    stored = await storage.job_outputs(job.id)
    shown = [
        o
        for o in stored
        if o.decision == Decision.ALLOW and not o.hidden and (o.text or o.image_path)
    ]
    held = sum(1 for out in stored if out.decision != Decision.ALLOW)
    withheld = _withheld_message(stored) if not shown and held else None
    tallies = await storage.tallies([out.id for out in shown])
    edits = await feedback.latest_edits([out.id for out in shown])
    picks = await feedback.pick_counts(job.id, "pick") if len(shown) > 1 else {}
    request = request_from_fields(job.kind, job.options)
    models = tuple(o.model_id for o in stored if o.candidate in (0, 1)) if job.compare else ()
    match = models if len(set(models)) > 1 else ()
    return Delivery(
        job_id=job.id,
        group_id=job.group_id,
        kind=job.kind,
        requester_id=job.user_id,
        options=request.options(),
        model_id=MATCH_MODEL if match else stored[0].model_id if stored else default_model_id,
        seed=job.seed,
        sample_number=await storage.group_size(job.group_id),
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
        ab_counts=await _ab_counts(feedback, job, shown) if job.compare else (0, 0, 0),
        match_models=match,
    )


async def _ab_counts(
    feedback: FeedbackStore, job: JobRecord, shown: Sequence[OutputRecord]
) -> tuple[int, int, int]:
    counts = await feedback.pick_counts(job.id, "compare")
    a = counts.get(shown[0].id, 0) if shown else 0
    b = counts.get(shown[1].id, 0) if len(shown) > 1 else 0
    return a, b, counts.get(None, 0)


def _withheld_message(stored: Sequence[OutputRecord]) -> str:
    if any(out.decision == Decision.REVIEW for out in stored):
        return "The safety filter flagged this result, so Muse is holding it for a moderator."
    return "The safety filter blocked this result, so Muse did not post it."
