"""What a member receives, before and after forms by construction: the real SmolLM2-135M-Instruct
through the production service, constraints off (MUSE_TEXT_FORMS=0) and on, side by side.

Fixed set: 2 topics x 7 forms (free verse, haiku, quatrain, limerick, sonnet in English;
五言绝句, 七言绝句 in Chinese) x 2 seeds = 28 poems per side, and 3 products (2 English, 1 Chinese)
x 3 slogan candidates = 9 slogans per side: about 10 minutes on one thread of a loaded machine.
The two sides alternate by group (English poems, Chinese poems, slogans), all requests of a
group submitted at once, so machine load hits both alike. Exits 1 when an "after" target is
missed.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 python -m bench.quality [--show N]
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass, field
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
SEEDS = (11, 12)
PRODUCTS = ("moon coffee", "a bicycle repair shop", "桂花绿茶")
SLOGANS_PER_REQUEST = 3


@dataclass
class Side:
    """The outputs and timings of one side (constraints off or on)."""

    name: str
    poems: list[tuple[PoemForm, str, str, float, int]] = field(default_factory=list)
    slogans: list[tuple[str, list[str]]] = field(default_factory=list)
    tokens: int = 0
    seconds: float = 0.0


async def _run_jobs(service: Any, requests: list[Any]) -> tuple[list[list[Any]], int, float]:
    """Submit all ``requests`` at once; their stored outputs, new tokens and wall time."""
    started = time.perf_counter()
    jobs = [service.prepare(r, Origin(i + 1)) for i, r in enumerate(requests)]
    for job in jobs:
        await service.start(job)
    await asyncio.gather(*(service.finish(job) for job in jobs))
    elapsed = time.perf_counter() - started
    outputs = [await service.storage.job_outputs(job.record.id) for job in jobs]
    tokens = sum(int(o.timings.get("new_tokens", 0)) for outs in outputs for o in outs)
    return outputs, tokens, elapsed


def _language(form: PoemForm) -> Language:
    return Language.CHINESE if form.is_chinese else Language.ENGLISH


async def _poems(service: Any, side: Side, forms: list[PoemForm], cap: int | None) -> None:
    asked = [(f, t, s) for f in forms for t in TOPICS[_language(f)] for s in SEEDS]
    requests = [PoemRequest(topic=t, form=f, language=_language(f), seed=s) for f, t, s in asked]
    outputs, tokens, elapsed = await _run_jobs(service, requests)
    side.tokens, side.seconds = side.tokens + tokens, side.seconds + elapsed
    for (form, topic, _), outs in zip(asked, outputs, strict=True):
        spec = form_spec(TextKind.POEM, form, _language(form))
        used = outs[0].timings.get("new_tokens", 0)
        side.poems.append((form, topic, outs[0].text, used, cap or spec.budget_tokens()))


async def _slogans(service: Any, side: Side) -> None:
    requests = [SloganRequest(product=p, seed=5, count=SLOGANS_PER_REQUEST) for p in PRODUCTS]
    outputs, tokens, elapsed = await _run_jobs(service, requests)
    side.tokens, side.seconds = side.tokens + tokens, side.seconds + elapsed
    for product, outs in zip(PRODUCTS, outputs, strict=True):
        side.slogans.append((product, [o.text for o in outs]))


async def collect(backend: Any) -> tuple[Side, Side]:
    before, after = Side("before"), Side("after")
    common = {"batch_max_rows": 20, "text_slots": 20, "queue_max_depth": 64, "queue_per_user": 64,
              "job_timeout_s": 3600.0}  # fmt: skip
    async with (
        real_service(backend, text_forms=False, **common) as off,
        real_service(backend, text_forms=True, **common) as on,
    ):
        for group in ([f for f in FORMS if not f.is_chinese], [f for f in FORMS if f.is_chinese]):
            cap = 200  # MUSE_POEM_MAX_NEW_TOKENS's default, the "before" cap
            await _poems(off, before, group, cap)
            await _poems(on, after, group, None)
            print(f"  {[f.value for f in group]}: done", file=sys.stderr, flush=True)
        await _slogans(off, before)
        await _slogans(on, after)
    return before, after


if __name__ == "__main__":
    from bench.quality_report import main

    raise SystemExit(main(collect, load_backend))
