"""Per-kind pieces of a job: the rows a model runs, and the outputs stored from its result.

Plain functions over plain data, so the service stays one readable sequence.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path

from bot.config import Settings
from bot.service.types import Origin, Rows
from bot.store.records import JobRecord, NewOutput
from generators.edits import describe, plan
from generators.prompts import clean_poem, clean_slogan, poem_prompt, slogan_prompt
from generators.requests import SEED_MAX, DrawRequest, PoemRequest, Request, SloganRequest
from generators.samples import DrawRow, ImageResult, SamplingParams, TextPrompt, TextResult
from moderation.verdict import Decision, Verdict


def _seed(base: int, offset: int) -> int:
    return (base + offset) % (SEED_MAX + 1)


def text_rows(request: PoemRequest | SloganRequest, settings: Settings) -> tuple[TextPrompt, ...]:
    """One prompt per poem or slogan candidate, with consecutive seeds."""
    seed = request.seed or 0
    forms = settings.text_forms
    if isinstance(request, PoemRequest):
        tokens = settings.poem_max_new_tokens
        return tuple(
            poem_prompt(request, SamplingParams(_seed(seed, i), tokens), forms=forms)
            for i in range(request.samples)
        )
    tokens = settings.slogan_max_new_tokens
    return tuple(
        slogan_prompt(request, SamplingParams(_seed(seed, i), tokens, temperature=1.0), forms=forms)
        for i in range(request.count)
    )


def draw_rows(
    request: DrawRequest,
    width: int,
    height: int,
    created_s: float = 0.0,
    picture: bytes | None = None,
) -> tuple[DrawRow, ...]:
    """One row per image, seeds ``seed`` .. ``seed + count - 1``; with the member's
    ``picture`` (PNG at ``width`` x ``height``) they run image-to-image."""
    seed = request.seed or 0
    prompt, negative = request.full_prompt(), request.full_negative()
    rows = tuple(
        DrawRow(prompt, negative, _seed(seed, i), width, height, request.steps, created_s)
        for i in range(request.samples)
    )
    if picture is None:
        return rows
    sha256 = request.picture.split("-")[0]
    return tuple(
        dataclasses.replace(r, init_png=picture, strength=request.denoise, init_sha256=sha256)
        for r in rows
    )


def derived_rows(
    request: DrawRequest, parent: bytes, multiple: int, created_s: float = 0.0
) -> tuple[DrawRow, ...]:
    """The rows of a button's operation on the ``parent`` picture (``generators.edits``): new
    seeds ``seed`` .. ``seed + n - 1``, its lineage in every row."""
    seed = request.seed or 0
    how = plan(request.operation, parent, request.samples, multiple)
    sha256 = hashlib.sha256(parent).hexdigest()
    steps = max(request.steps, math.ceil(1 / how.strength))  # at least one denoising step
    base = DrawRow(
        request.full_prompt(), request.full_negative(), seed, how.width, how.height,
        steps, created_s, init_png=how.picture, strength=how.strength,
        init_sha256=sha256, mode="" if how.mode == "img2img" else how.mode, mask_png=how.mask,
        operation=describe(request.operation), parent=f"muse:output:{request.source}",
    )  # fmt: skip
    return tuple(dataclasses.replace(base, seed=_seed(seed, i)) for i in range(how.samples))


def shown_prompt(rows: Rows) -> str:
    """The prompt text stored with the job: the user turn for text, the full prompt for images."""
    first = rows[0]
    return first.prompt if isinstance(first, DrawRow) else first.messages[-1].content


def job_record(
    request: Request, origin: Origin, rows: Rows, parent: JobRecord | None, created_at: float
) -> JobRecord:
    """A new queued job with a fresh id; a regeneration joins its ``parent``'s group."""
    job_id = secrets.token_hex(8)
    return JobRecord(
        id=job_id,
        group_id=parent.group_id if parent else job_id,
        parent_id=parent.id if parent else None,
        kind=request.kind.value,
        user_id=origin.user_id,
        guild_id=origin.guild_id,
        channel_id=origin.channel_id,
        guild_name=origin.guild_name,
        channel_name=origin.channel_name,
        options=request.fields(),
        prompt=shown_prompt(rows),
        seed=request.seed or 0,
        status="queued",
        created_at=created_at,
        compare=request.compare,
        source_output_id=request.source or None if isinstance(request, DrawRequest) else None,
        operation=request.operation or None if isinstance(request, DrawRequest) else None,
    )


def _timings(
    total_s: float, generate_s: float, batch_rows: int, **extra: float
) -> dict[str, float]:
    return {
        "queue_s": round(max(0.0, total_s - generate_s), 4),
        "generate_s": round(generate_s, 4),
        "total_s": round(total_s, 4),
        "batch_rows": float(batch_rows),
        **extra,
    }


def text_outputs(
    request: PoemRequest | SloganRequest,
    result: TextResult,
    judge: Callable[[str], Verdict],
    total_s: float,
) -> list[NewOutput]:
    """Cleaned samples with their verdicts; empty samples stay empty (the caller decides)."""
    clean = clean_poem if isinstance(request, PoemRequest) else clean_slogan
    outputs = []
    for index, sample in enumerate(result.samples):
        text = clean(sample.text)
        verdict = judge(text) if text else Verdict(Decision.ALLOW)
        tokens = float(sample.new_tokens)
        timings = _timings(total_s, result.generate_s, result.batch_rows, new_tokens=tokens)
        model_id = result.model_ids[index] if result.model_ids else result.model_id
        outputs.append(NewOutput(index, text, model_id, sample.seed, verdict.to_json(), timings))
    return outputs


def image_outputs(
    result: ImageResult,
    verdicts: Sequence[Verdict],
    paths: Sequence[Path | None],
    total_s: float,
) -> list[NewOutput]:
    """One output per image; ``paths`` is None where the image was not kept (blocked)."""
    timings = _timings(total_s, result.generate_s, result.batch_rows)
    rows = zip(result.samples, verdicts, paths, strict=True)
    return [
        NewOutput(
            index,
            "",
            result.model_id,
            sample.seed,
            verdict.to_json(),
            timings,
            image_path=str(path) if path else None,
        )
        for index, (sample, verdict, path) in enumerate(rows)
    ]


def image_path(folder: Path, job_id: str, candidate: int) -> Path:
    return folder / job_id[:2] / f"{job_id}-{candidate + 1}.png"
