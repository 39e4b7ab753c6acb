"""The continuous batch (generators.decode) on the tiny random Llama: rows join and leave between
steps and still give the text ``generate`` gives them alone."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path
from typing import Any

import pytest

from generators.prompts import poem_prompt, slogan_prompt
from generators.requests import PoemRequest, SloganRequest
from generators.samples import SamplingParams, TextPrompt, TextSample


@pytest.fixture(scope="module")
def backend(tiny_lm_dir: Path) -> Any:
    from generators.text import TransformersTextBackend

    return TransformersTextBackend.load(str(tiny_lm_dir), device="cpu")


def poem(seed: int, max_new_tokens: int = 24) -> TextPrompt:
    topic = "moon river " * (1 + seed % 3)  # prompts of different lengths pad differently
    return poem_prompt(PoemRequest(topic=topic), SamplingParams(seed, max_new_tokens))


def run(backend: Any, rows: list[TextPrompt], join_at: list[int]) -> tuple[list[TextSample], Any]:
    """Step a batch where row i joins at step ``join_at[i]``; the samples in row order."""
    batch, done, step = backend.open_batch(), {}, 0
    waiting = dict(enumerate(join_at))
    while waiting or batch.rows:
        joining = [(str(i), rows[i]) for i, at in sorted(waiting.items()) if at <= step]
        for key, _ in joining:
            del waiting[int(key)]
        for update in batch.step(joining, [], threading.Event()):
            if update.done is not None:
                done[update.key] = update.done
        step += 1
    return [done[str(i)] for i in range(len(rows))], batch


def test_the_tiny_llama_can_step(backend: Any) -> None:
    assert backend.can_step


def test_rows_joining_at_any_step_give_their_text_alone(backend: Any) -> None:
    rows = [poem(seed) for seed in (1, 2, 3, 4)]
    rows.append(slogan_prompt(SloganRequest(product="moon coffee"), SamplingParams(9, 6)))
    alone = [backend.generate([row], threading.Event())[0] for row in rows]
    reused = []
    for join_at in ([0, 0, 0, 0, 0], [0, 3, 5, 5, 11], [7, 0, 2, 30, 1]):
        samples, batch = run(backend, rows, join_at)
        reused.append(batch.prefixes.reused_tokens)
        assert [s.text for s in samples] == [s.text for s in alone], join_at
        assert [(s.new_tokens, s.finish_reason) for s in samples] == [
            (s.new_tokens, s.finish_reason) for s in alone
        ]
        assert [s.prompt_tokens for s in samples] == [s.prompt_tokens for s in alone]
        assert batch.rows == [] and batch.cache is None  # every row left and freed its slot
    assert len({s.text for s in alone}) > 1
    assert reused[0] == 0 and reused[1] > 0 and reused[2] > 0  # later joiners reused prefixes


def test_each_row_ends_at_its_own_limit_and_leaves(backend: Any) -> None:
    batch = backend.open_batch()
    cancel = threading.Event()
    updates = batch.step([("short", poem(5, 2)), ("long", poem(6, 20))], [], cancel)
    assert [u.new_tokens for u in updates] == [1, 1]
    updates = batch.step([], [], cancel)
    short = next(u for u in updates if u.key == "short")
    assert short.done is not None and short.done.new_tokens == 2
    assert short.done.finish_reason == "length"
    assert batch.keys == ["long"]
    assert batch.mask is not None and batch.mask.shape[0] == 1
    assert int(batch.mask[0, 0]) == 1  # padding no longer needed by anyone was cut


def test_updates_carry_the_growing_text(backend: Any) -> None:
    batch = backend.open_batch()
    texts = []
    for update in _drain(batch, [("a", poem(8, 16))]):
        texts.append(update.text)
    assert all(
        later.startswith(earlier) or "\ufffd" in earlier
        for earlier, later in itertools.pairwise(texts)
    )
    assert texts[-1] == backend.generate([poem(8, 16)], threading.Event())[0].text


def test_leaving_rows_are_dropped_before_the_step(backend: Any) -> None:
    batch = backend.open_batch()
    cancel = threading.Event()
    batch.step([("a", poem(1)), ("b", poem(2))], [], cancel)
    updates = batch.step([], ["a"], cancel)
    assert [u.key for u in updates] == ["b"]
    assert batch.keys == ["b"]


def test_nothing_runs_once_cancel_is_set(backend: Any) -> None:
    batch = backend.open_batch()
    cancel = threading.Event()
    batch.step([("a", poem(1))], [], cancel)
    cancel.set()
    assert batch.step([("b", poem(2))], [], cancel) == []
    assert batch.keys == ["a"]


def _drain(batch: Any, joining: list[tuple[str, TextPrompt]]) -> list[Any]:
    updates = list(batch.step(joining, [], threading.Event()))
    while batch.rows:
        updates += batch.step([], [], threading.Event())
    return updates


def test_an_int8_model_steps_to_its_generate_text(tiny_lm_dir: Path) -> None:
    from generators.text import TransformersTextBackend

    int8 = TransformersTextBackend.load(str(tiny_lm_dir), device="cpu", quant="8bit")
    assert int8.can_step
    rows = [poem(seed) for seed in (1, 2)]
    alone = [int8.generate([row], threading.Event())[0].text for row in rows]
    samples, _ = run(int8, rows, [0, 4])
    assert [s.text for s in samples] == alone


def test_rows_left_after_others_are_dropped_still_give_their_text_alone(backend: Any) -> None:
    """Cancelled rows leave mid-batch (their cache rows and padding columns are cut); the rows
    that stay go on exactly as they would alone."""
    rows = {str(seed): poem(seed) for seed in (1, 2, 3, 4)}
    alone = {key: backend.generate([row], threading.Event())[0].text for key, row in rows.items()}
    batch, done, cancel = backend.open_batch(), {}, threading.Event()
    plan = {0: (["1", "2"], []), 3: (["3", "4"], []), 5: ([], ["1"]), 8: ([], ["4"])}
    for step in range(40):
        joining, leaving = plan.get(step, ([], []))
        updates = batch.step([(key, rows[key]) for key in joining], leaving, cancel)
        done.update({u.key: u.done.text for u in updates if u.done is not None})
    assert set(done) == {"2", "3"} and batch.rows == []
    assert done == {key: alone[key] for key in ("2", "3")}
