"""What a member receives, before and after forms by construction: the real SmolLM2-135M-Instruct
through the production service, constraints off (MUSE_TEXT_FORMS=0) and on, side by side.

Fixed set: 2 topics x 7 forms (free verse, haiku, quatrain, limerick, sonnet in English;
五言绝句, 七言绝句 in Chinese) x 2 seeds = 28 poems per side, and 3 products (2 English, 1 Chinese)
x 3 slogan candidates = 9 slogans per side: about 10 minutes on one thread of a loaded machine.
The two sides alternate by group (English poems, Chinese poems, slogans), all requests of a
group submitted at once, so machine load hits both alike. Exits 1 when an "after" target is
missed.

Speed is printed two ways. "tokens/s per piece" (the median over poems of a poem's new tokens
over its own generation time, prefill included) is how fast each member's piece is written: the
target (0.8x) applies to it. Beside it, for reading it: the same rate counted from the piece's
first streamed text to its end (what the masks or the grammar cost per token), and the median
time to that first text (under 14 concurrent requests mostly the other rows' prompts: a piece
that ends at 25 tokens divides that wait by 25, one cut at the 200-token cap by 200). "tokens/s
all rows" (all new tokens over wall time) also counts how full the batch is: before, every row
runs to the 200-token cap, so the batch stays full; after, pieces end where their form ends (a
haiku in about 25 tokens), the batch empties, and a step costs about the same with fewer rows in
it. With requests waiting, freed slots are refilled.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 python -m bench.quality [--show N]
        [--backend gguf] [--forms limerick,haiku] [--seeds N] [--no-slogans]

``--backend gguf`` measures the llama.cpp path instead (SmolLM2's Q4_1 GGUF, the CPU default;
forms there are the engine's grammar, in llguidance's dialect on the wheel's engine, with a
second try only for a repeated line or a slogan preamble; see README), with the same table.
``--forms`` keeps only the named forms, ``--seeds N`` uses N seeds per topic (2 by default;
``--forms limerick --seeds 6`` gives 12 limericks per side), ``--no-slogans`` skips slogans.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import load_backend, real_service
from bot.service.types import Origin
from generators.forms.spec import form_spec
from generators.options import Language, PoemForm, TextKind
from generators.requests import PoemRequest, SloganRequest

TOPICS = {
    Language.ENGLISH: ("the sea at night", "an old library"),
    Language.CHINESE: ("秋天的月亮", "江南春雨"),
}
FORMS = (
    PoemForm.FREE_VERSE, PoemForm.HAIKU, PoemForm.QUATRAIN, PoemForm.LIMERICK, PoemForm.SONNET,
    PoemForm.WUYAN_JUEJU, PoemForm.QIYAN_JUEJU,
)  # fmt: skip
SEEDS = (11, 12)  # --seeds N: 11, 12, ... 10 + N
PRODUCTS = ("moon coffee", "a bicycle repair shop", "桂花绿茶")
SLOGANS_PER_REQUEST = 3
POLL_S = 0.02  # how often the streamed texts are looked at for each job's first text


@dataclass
class Side:
    """The outputs and timings of one side (constraints off or on)."""

    name: str
    poems: list[tuple[PoemForm, str, str, float, int]] = field(default_factory=list)
    piece_rates: list[float] = field(default_factory=list)  # a poem's new tokens / its time
    decode_rates: list[float] = field(default_factory=list)  # the same after its first text
    first_text_s: list[float] = field(default_factory=list)  # sent -> its first text shown
    slogans: list[tuple[str, list[str]]] = field(default_factory=list)
    tokens: int = 0
    seconds: float = 0.0


@dataclass
class Timing:
    """When each job of a group was sent, showed its first text and was done (perf_counter)."""

    sent: float
    first: dict[str, float] = field(default_factory=dict)
    done: dict[str, float] = field(default_factory=dict)

    def decode_rate(self, job_id: str, tokens: float) -> float:
        """New tokens after the first over the time after the first text was shown."""
        first = self.first.get(job_id, self.sent)
        return max(tokens - 1, 0) / max(self.done[job_id] - first, 1e-9)


async def _watch_first_text(service: Any, jobs: list[Any], timing: Timing) -> None:
    """Poll each job's text so far (the executor's, unfiltered: a cheap look) until it has
    some; note when."""
    while len(timing.first) < len(jobs):
        for job in jobs:
            texts = service.executor.partial(job.record.id)
            if texts and any(texts) and job.record.id not in timing.first:
                timing.first[job.record.id] = time.perf_counter()
        await asyncio.sleep(POLL_S)


async def _finish(service: Any, job: Any, timing: Timing) -> None:
    await service.finish(job)
    timing.done[job.record.id] = time.perf_counter()


async def _run_jobs(
    service: Any, requests: list[Any]
) -> tuple[list[list[Any]], int, float, Timing, list[str]]:
    """Submit all ``requests`` at once; their stored outputs, new tokens, wall time, timings
    and job ids."""
    started = time.perf_counter()
    jobs = [service.prepare(r, Origin(i + 1)) for i, r in enumerate(requests)]
    timing = Timing(started)
    for job in jobs:
        await service.start(job)
    watcher = asyncio.create_task(_watch_first_text(service, jobs, timing))
    await asyncio.gather(*(_finish(service, job, timing) for job in jobs))
    watcher.cancel()
    elapsed = time.perf_counter() - started
    outputs = [await service.storage.job_outputs(job.record.id) for job in jobs]
    tokens = sum(int(o.timings.get("new_tokens", 0)) for outs in outputs for o in outs)
    return outputs, tokens, elapsed, timing, [job.record.id for job in jobs]


def _form(name: str) -> PoemForm:
    """A form by its value ("free verse", "七言绝句") or its name ("qiyan_jueju")."""
    key = name.upper().replace(" ", "_")
    return PoemForm[key] if key in PoemForm.__members__ else PoemForm(name)


@dataclass(frozen=True)
class Plan:
    """What one run asks for (``--forms``, ``--seeds``, ``--no-slogans``)."""

    forms: tuple[PoemForm, ...] = FORMS
    seeds: tuple[int, ...] = SEEDS
    slogans: bool = True

    @classmethod
    def from_argv(cls, argv: list[str]) -> Plan:
        def value(flag: str) -> str:
            return argv[argv.index(flag) + 1] if flag in argv else ""

        names = [f.strip() for f in value("--forms").split(",") if f.strip()]
        forms = tuple(_form(name) for name in names) or FORMS
        seeds = tuple(range(11, 11 + int(value("--seeds")))) if value("--seeds") else SEEDS
        return cls(forms, seeds, "--no-slogans" not in argv)


async def _poems(
    service: Any, side: Side, forms: list[PoemForm], cap: int | None, seeds: tuple[int, ...]
) -> None:
    asked = [(f, t, s) for f in forms for t in TOPICS[f.native_language] for s in seeds]
    requests = [
        PoemRequest(topic=t, form=f, language=f.native_language, seed=s) for f, t, s in asked
    ]
    outputs, tokens, elapsed, timing, ids = await _run_jobs(service, requests)
    side.tokens, side.seconds = side.tokens + tokens, side.seconds + elapsed
    for (form, topic, _), outs, job_id in zip(asked, outputs, ids, strict=True):
        spec = form_spec(TextKind.POEM, form, form.native_language)
        used = outs[0].timings.get("new_tokens", 0)
        side.poems.append((form, topic, outs[0].text, used, cap or spec.budget_tokens()))
        side.piece_rates.append(used / max(outs[0].timings.get("generate_s", 0.0), 1e-9))
        side.decode_rates.append(timing.decode_rate(job_id, used))
        side.first_text_s.append(timing.first.get(job_id, timing.done[job_id]) - timing.sent)


async def _slogans(service: Any, side: Side) -> None:
    requests = [SloganRequest(product=p, seed=5, count=SLOGANS_PER_REQUEST) for p in PRODUCTS]
    outputs, tokens, elapsed, _, _ = await _run_jobs(service, requests)
    side.tokens, side.seconds = side.tokens + tokens, side.seconds + elapsed
    for product, outs in zip(PRODUCTS, outputs, strict=True):
        side.slogans.append((product, [o.text for o in outs]))


def transformers_sides(backend: Any) -> Callable[[bool], AbstractAsyncContextManager[Any]]:
    """The service over the in-process transformers back-end, forms off or on."""
    common = {"batch_max_rows": 20, "text_slots": 20, "queue_max_depth": 64, "queue_per_user": 64,
              "job_timeout_s": 3600.0}  # fmt: skip
    return lambda forms: real_service(backend, text_forms=forms, **common)


@asynccontextmanager
async def gguf_side(forms: bool) -> AsyncIterator[Any]:
    """The service over SmolLM2's Q4_1 GGUF on Muse's llama.cpp engine (its own engine process
    per side), forms off or on: the CPU default path, on the xllamacpp wheel's engine (forms as
    llguidance grammars) unless MUSE_LLAMA_SERVER names a llama-server binary (forms as GBNF
    unless it was built with llguidance)."""
    from bot.app import open_service
    from bot.config import Settings
    from tests.real_models import smollm2_gguf

    binary = os.environ.get("MUSE_LLAMA_SERVER")
    print(f"  engine: {binary or 'the xllamacpp wheel'}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            db_path=Path(folder) / "quality.sqlite3", image_model=None,
            text_model=str(smollm2_gguf()), llama_server=Path(binary) if binary else None,
            text_forms=forms,
            remote_concurrency=8, queue_max_depth=64, queue_per_user=64, job_timeout_s=3600.0,
            openai_timeout_s=600.0,
        )  # fmt: skip
        async with open_service(settings) as service:
            yield service


async def collect(
    sides: Callable[[bool], AbstractAsyncContextManager[Any]], plan: Plan
) -> tuple[Side, Side]:
    before, after = Side("before"), Side("after")
    async with sides(False) as off, sides(True) as on:
        for chinese in (False, True):
            group = [f for f in plan.forms if f.is_chinese is chinese]
            if not group:
                continue
            cap = 200  # MUSE_POEM_MAX_NEW_TOKENS's default, the "before" cap
            await _poems(off, before, group, cap, plan.seeds)
            await _poems(on, after, group, None, plan.seeds)
            print(f"  {[f.value for f in group]}: done", file=sys.stderr, flush=True)
        if plan.slogans:
            await _slogans(off, before)
            await _slogans(on, after)
    return before, after


if __name__ == "__main__":
    from bench.quality_report import main

    plan = Plan.from_argv(sys.argv)
    if "--backend" in sys.argv and sys.argv[sys.argv.index("--backend") + 1] == "gguf":
        raise SystemExit(main(lambda _: collect(gguf_side, plan), None))
    raise SystemExit(main(lambda b: collect(transformers_sides(b), plan), load_backend))
