"""Forms by construction on the tiny random Llama: the structure comes from the grammar and the
word rules, not from the weights, so random weights write a 七言绝句 with four lines of seven Han
characters whose lines 2 and 4 rhyme, a three-line haiku, a five-line limerick, a fourteen-line
sonnet and a one-line slogan; in the continuous batch and in ``generate`` alike."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from generators.forms import checks
from generators.forms.spec import QIYAN, SLOGAN_EN, WUYAN, form_spec
from generators.options import Language, PoemForm, TextKind
from generators.prompts import poem_prompt, slogan_prompt
from generators.requests import PoemRequest, SloganRequest
from generators.samples import SamplingParams, TextPrompt, TextSample


@pytest.fixture(scope="module")
def backend(tiny_lm_dir: Path) -> Any:
    from generators.text import TransformersTextBackend

    return TransformersTextBackend.load(str(tiny_lm_dir), device="cpu")


def poem(form: PoemForm, seed: int, topic: str = "moon river") -> TextPrompt:
    request = PoemRequest(topic=topic, form=form)
    return poem_prompt(request, SamplingParams(seed), forms=True)


def stepped(backend: Any, rows: list[TextPrompt], job: str = "job") -> list[TextSample]:
    """All rows of one request through the continuous batch, in row order."""
    batch, done = backend.open_batch(), {}
    joining = [(f"{job}:{i}", row) for i, row in enumerate(rows)]
    while joining or batch.rows:
        for update in batch.step(joining, [], threading.Event()):
            if update.done is not None:
                done[update.key] = update.done
        joining = []
    return [done[f"{job}:{i}"] for i in range(len(rows))]


@pytest.mark.parametrize("form", [PoemForm.QIYAN_JUEJU, PoemForm.WUYAN_JUEJU])
def test_jueju_from_random_weights(backend: Any, form: PoemForm) -> None:
    spec = QIYAN if form is PoemForm.QIYAN_JUEJU else WUYAN
    samples = stepped(backend, [poem(form, seed, "春江花月夜") for seed in (1, 2)])
    for sample in samples:
        lines = sample.text.split("\n")
        assert len(lines) == 4, sample.text
        for i, line in enumerate(lines):
            assert len(line) == spec.han_exact + 1 and line[-1] == "，。"[i % 2], sample.text
            assert all("\u4e00" <= ch <= "\u9fff" for ch in line[:-1]), sample.text
        assert checks.structure_ok(spec, sample.text) and checks.rhyme_ok(spec, sample.text)
        assert lines[1][-2] != lines[3][-2]  # a rhyme, not the same character again
        assert sample.finish_reason == "stop" and "\ufffd" not in sample.text


@pytest.mark.parametrize(
    ("form", "lines"), [(PoemForm.HAIKU, 3), (PoemForm.LIMERICK, 5), (PoemForm.SONNET, 14)]
)
def test_english_forms_keep_their_line_count(backend: Any, form: PoemForm, lines: int) -> None:
    spec = form_spec(TextKind.POEM, form, Language.ENGLISH)
    [sample] = stepped(backend, [poem(form, 3)])
    assert checks.structure_ok(spec, sample.text), sample.text
    assert len(checks.lines_of(sample.text)) == lines
    assert checks.looping_lines(sample.text)[0] == 0
    assert sample.finish_reason == "stop"


def test_haiku_counts_syllables_on_random_weights(backend: Any) -> None:
    spec = form_spec(TextKind.POEM, PoemForm.HAIKU, Language.ENGLISH)
    samples = stepped(backend, [poem(PoemForm.HAIKU, seed) for seed in (4, 5, 6)])
    kept = [checks.syllables_ok(spec, s.text) for s in samples]
    assert sum(kept) >= 2, [s.text for s in samples]


def test_slogans_are_single_distinct_lines(backend: Any) -> None:
    request = SloganRequest(product="moon coffee")
    rows = [
        slogan_prompt(request, SamplingParams(seed, temperature=1.0), forms=True)
        for seed in (9, 10, 11)
    ]
    samples = stepped(backend, rows)
    texts = [s.text for s in samples]
    assert len(set(texts)) == 3, texts
    for text in texts:
        assert "\n" not in text and not checks.slogan_leaks(SLOGAN_EN, text), text


def test_a_slogan_may_not_end_on_a_sibling_s_text(backend: Any) -> None:
    """Two rows with the same seed take the same path; the second may not stop where the
    first stopped (or where it might stop), so the two candidates differ."""
    request = SloganRequest(product="moon coffee")
    for seed in (4, 5, 10):  # 4 and 10 once ended both on the same closing "?"
        row = slogan_prompt(request, SamplingParams(seed, temperature=1.0), forms=True)
        first, second = stepped(backend, [row, row])
        assert second.text != first.text, (seed, first, second)


def test_generate_keeps_the_form_too(backend: Any) -> None:
    """The static path (``generate``) masks rows the same way."""
    rows = [poem(PoemForm.QIYAN_JUEJU, 7, "秋月"), poem(PoemForm.HAIKU, 8)]
    qiyan, haiku = backend.generate(rows, threading.Event())
    assert checks.structure_ok(QIYAN, qiyan.text) and checks.rhyme_ok(QIYAN, qiyan.text)
    haiku_spec = form_spec(TextKind.POEM, PoemForm.HAIKU, Language.ENGLISH)
    assert checks.structure_ok(haiku_spec, haiku.text), haiku.text


def test_same_seed_same_constrained_text(backend: Any) -> None:
    first = stepped(backend, [poem(PoemForm.LIMERICK, 21)], "a")
    again = stepped(backend, [poem(PoemForm.LIMERICK, 21), poem(PoemForm.HAIKU, 2)], "b")
    assert first[0].text == again[0].text


async def test_the_service_stores_and_streams_whole_pieces(make_service: Any, backend: Any) -> None:
    """Through the service (queue, continuous batch, cleaning, storage): the stored 七言绝句 keeps
    its form, and no streamed partial ever holds half a character."""
    from bot.service.types import Origin

    service = await make_service(backend, text_forms=True)
    seen: list[str] = []
    service.executor.text_steps.listeners.append(lambda _job, texts: seen.extend(texts))
    request = PoemRequest(topic="秋月", form=PoemForm.QIYAN_JUEJU, seed=3, count=2)
    pending = service.prepare(request, Origin(1))
    await service.start(pending)
    await service.finish(pending)
    stored = await service.storage.job_outputs(pending.record.id)
    assert len(stored) == 2 and len({o.text for o in stored}) == 2
    for output in stored:
        assert checks.structure_ok(QIYAN, output.text) and checks.rhyme_ok(QIYAN, output.text)
    assert seen and not any("\ufffd" in text for text in seen)
