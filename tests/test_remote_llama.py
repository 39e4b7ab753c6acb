"""The OpenAI-compatible backend against a real server: llama.cpp's ``llama-server`` on
127.0.0.1, serving the tiny test Llama converted to GGUF here. ``.ci/run`` builds the server
(``.ci/llama-server``); without it these tests skip locally and fail in CI."""

from __future__ import annotations

import json
import os
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import open_service
from bot.config import Settings
from bot.service.types import Origin
from generators.options import PoemForm
from generators.remote import OpenAITextBackend, RemoteConfig
from generators.requests import PoemRequest
from generators.samples import ChatMessage, SamplingParams, TextPrompt
from tests.llama_server import ALIAS, find_binary, serve
from tests.tiny_gguf import hf_to_gguf


@pytest.fixture(scope="session")
def llama_url(tiny_lm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a running llama-server with the tiny Llama (4 slots)."""
    binary = find_binary()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("llama-server is missing: .ci/run must build it with .ci/llama-server")
        pytest.skip("llama-server not built (run .ci/llama-server)")
    folder = tmp_path_factory.mktemp("llama")
    gguf = hf_to_gguf(tiny_lm_dir, folder / "tiny.gguf")
    with serve(binary, gguf, slots=4, log=folder / "server.log") as url:
        yield url


def prompt(seed: int, tokens: int = 24) -> TextPrompt:
    messages = (ChatMessage("system", "You write poems."), ChatMessage("user", "moon river"))
    return TextPrompt(messages, "moon river", SamplingParams(seed, tokens))


@pytest.fixture
async def remote(llama_url: str) -> OpenAITextBackend:
    return OpenAITextBackend.connect(RemoteConfig(llama_url, "whatever-muse-asks-for"))


async def test_streams_tokens_and_reports_the_servers_model(remote: OpenAITextBackend) -> None:
    updates: list[tuple[int, str, int]] = []
    [sample] = await remote.generate([prompt(5)], threading.Event(), lambda *u: updates.append(u))
    await remote.close()
    assert sample.text and 0 < sample.new_tokens <= 24 and sample.prompt_tokens > 0
    assert sample.finish_reason in ("stop", "length")
    assert len(updates) > 1  # streamed, not one final answer
    assert updates[-1][1] == sample.text and [u[2] for u in updates] == list(
        range(1, len(updates) + 1)
    )
    assert remote.model_id == ALIAS  # what the server says it ran, not what Muse asked for


async def test_the_same_seed_gives_the_same_text(remote: OpenAITextBackend) -> None:
    first = await remote.generate([prompt(11)], threading.Event())
    again = await remote.generate([prompt(11)], threading.Event())
    other = await remote.generate([prompt(12)], threading.Event())
    await remote.close()
    assert first[0].text == again[0].text
    assert other[0].text != first[0].text


async def test_rows_of_one_call_run_in_parallel_slots(remote: OpenAITextBackend) -> None:
    samples = await remote.generate([prompt(s) for s in (1, 2, 3, 4)], threading.Event())
    await remote.close()
    assert [s.seed for s in samples] == [1, 2, 3, 4]
    assert all(s.text for s in samples)


async def test_cancel_stops_the_stream(remote: OpenAITextBackend) -> None:
    cancel = threading.Event()
    [sample] = await remote.generate([prompt(5, 200)], cancel, lambda *_: cancel.set())
    await remote.close()
    assert sample.finish_reason == "cancelled" and sample.new_tokens <= 2


def test_the_gguf_file_is_the_same_model(llama_url: str, tiny_lm_dir: Path) -> None:
    """llama.cpp's next-token log-probabilities equal transformers' for the same tokens, so the
    conversion (names, Q/K rotary layout, tokenizer) is exact."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_lm_dir))
    model = AutoModelForCausalLM.from_pretrained(str(tiny_lm_dir))
    text = "moon river light shadow 春日 <|user|> coffee brave rocket"
    root = llama_url.removesuffix("/v1")
    ids = _post(root, "/tokenize", {"content": text, "parse_special": True})["tokens"]
    assert ids == tokenizer(text, add_special_tokens=False)["input_ids"]
    body = {"prompt": ids, "n_predict": 1, "n_probs": 5, "temperature": 0, "cache_prompt": False}
    top = _post(root, "/completion", body)["completion_probabilities"][0]["top_logprobs"]
    with torch.no_grad():
        expected = model(torch.tensor([ids])).logits[0, -1].log_softmax(-1).topk(5)
    assert [t["id"] for t in top] == expected.indices.tolist()
    assert [t["logprob"] for t in top] == pytest.approx(expected.values.tolist(), abs=1e-3)


def _post(root: str, path: str, body: dict[str, object]) -> dict[str, Any]:
    request = urllib.request.Request(
        root + path, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return dict(json.load(answer))


async def test_a_poem_through_muse_on_llama_cpp(llama_url: str, tmp_path: Path) -> None:
    """Production wiring (open_service) against the real server: queued, generated, filtered
    and stored, credited to the model the server reports; the same seed gives the same poem."""
    settings = Settings(
        db_path=tmp_path / "muse.sqlite3",
        image_model=None,
        filter_ml=False,
        text_backend="openai",
        openai_base_url=llama_url,
        openai_model="asked-for",
        poem_max_new_tokens=8,
        text_forms=False,  # 8 tokens: a longer row may drift on llama.cpp's reused prompt cache
        # (random weights give near-even odds; the second request reuses the first's keys)
    )
    async with open_service(settings) as service:
        texts = []
        for user in (1, 2):
            pending = service.prepare(PoemRequest(topic="moon", seed=77), Origin(user))
            await service.start(pending)
            delivery = await service.finish(pending)
            assert delivery.model_id == ALIAS
            texts.append(delivery.outputs[0].text)
    assert texts[0] and texts[0] == texts[1]


async def test_the_form_grammar_holds_on_llama_server(remote: OpenAITextBackend) -> None:
    """The GBNF of a 七言绝句 goes in the request (llama.cpp's ``grammar`` field), so even the
    tiny random model writes four lines of seven Han characters, lines 2 and 4 rhyming."""
    from generators.forms import checks
    from generators.forms.spec import QIYAN, SLOGAN_EN
    from generators.prompts import poem_prompt, slogan_prompt
    from generators.requests import SloganRequest

    request = PoemRequest(topic="春江花月夜", form=PoemForm.QIYAN_JUEJU)
    rows = [poem_prompt(request, SamplingParams(seed), forms=True) for seed in (1, 2)]
    slogan = slogan_prompt(SloganRequest(product="moon coffee"), SamplingParams(3), forms=True)
    *poems, line = await remote.generate([*rows, slogan], threading.Event())
    await remote.close()
    for sample in poems:
        assert checks.structure_ok(QIYAN, sample.text), sample.text
        assert checks.rhyme_ok(QIYAN, sample.text), sample.text
    assert "\n" not in line.text and not checks.slogan_leaks(SLOGAN_EN, line.text), line.text


async def test_english_syllables_and_rhyme_hold_on_llama_server(remote: OpenAITextBackend) -> None:
    """Haiku syllables and limerick rhyme are in the grammar itself (word lists per syllable
    count, rhyme words of a drawn sound), so the tiny random model keeps them too, on a
    llama-server without llguidance (Lark refused, GBNF sent)."""
    from generators.forms import checks
    from generators.prompts import poem_prompt

    rows = [
        poem_prompt(PoemRequest(topic="moon river", form=form), SamplingParams(seed), forms=True)
        for form in (PoemForm.HAIKU, PoemForm.LIMERICK)
        for seed in (1, 2)
    ]
    samples = await remote.generate(rows, threading.Event())
    await remote.close()
    # llama-server as .ci/llama-server builds it has no llguidance: the grammars went as GBNF
    assert remote.fields.grammar and not remote.fields.llguidance
    for row, sample in zip(rows, samples, strict=True):
        spec = row.form
        assert spec is not None
        assert checks.structure_ok(spec, sample.text), sample.text
        assert checks.syllables_ok(spec, sample.text) or not spec.syllables, sample.text
        assert checks.rhyme_ok(spec, sample.text), sample.text
