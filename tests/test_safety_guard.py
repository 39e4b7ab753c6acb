"""The guard-model layer: parsing a generative guard's answer, its category mapping, the latency
budget, loading a (tiny, random) model saved with save_pretrained, and its place among the layers.

No real guard weights are used here (the hub is out of reach in tests): the tiny random Llama
exercises loading, the chat template and generation; a deterministic stand-in exercises what the
answer's content does.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from bot.cli import main
from moderation.copyright import GuardedTextFilter, load_copyright_guard
from moderation.disabled import DisabledFilter
from moderation.guard import (
    GuardModel,
    GuardUnavailable,
    guard_or_none,
    load_guard,
    parse_guard_output,
    verdict_for,
)
from moderation.policy import Strictness, apply_policy
from moderation.text import build_text_filter, describe_filter
from moderation.verdict import Category, Decision


@pytest.mark.parametrize(
    ("answer", "safety", "labels"),
    [
        ("Safety: Safe\nCategories: None", "safe", ()),
        ("Safety: Unsafe\nCategories: Violent", "unsafe", ("violent",)),
        (
            "Safety: Unsafe\nCategories: Violent, Suicide & Self-Harm\nRefusal: No",
            "unsafe",
            ("violent", "suicide & self-harm"),
        ),
        (
            "safety: controversial\ncategories: Sexual Content or Sexual Acts",
            "controversial",
            ("sexual content or sexual acts",),
        ),
        ("random tokens without the expected lines", "unparsed", ()),
    ],
)
def test_guard_answers_are_parsed(answer: str, safety: str, labels: tuple[str, ...]) -> None:
    parsed = parse_guard_output(answer)
    assert (parsed.safety, parsed.labels) == (safety, labels)


def test_guard_categories_map_onto_muse_categories() -> None:
    unsafe = verdict_for(parse_guard_output("Safety: Unsafe\nCategories: Violent"), "g")
    assert unsafe.decision is Decision.BLOCK
    assert unsafe.categories == (Category.VIOLENCE,)
    illegal = parse_guard_output("Safety: Unsafe\nCategories: Non-violent Illegal Acts")
    assert verdict_for(illegal, "g").categories == (Category.ILLICIT,)
    doubtful = parse_guard_output("Safety: Controversial\nCategories: Suicide & Self-Harm")
    assert verdict_for(doubtful, "g").decision is Decision.REVIEW
    political = parse_guard_output("Safety: Unsafe\nCategories: Politically Sensitive Topics")
    assert verdict_for(political, "g").allowed  # not a harm for a creative assistant
    odd = parse_guard_output("Safety: Unsafe\nCategories: Something New")
    assert verdict_for(odd, "g").categories == (Category.OTHER,)
    assert verdict_for(parse_guard_output("Safety: Safe"), "g").allowed
    assert verdict_for(parse_guard_output("gibberish"), "g").scores == {"guard_unparsed": 1.0}


def _stand_in(text: str) -> str:
    """A deterministic guard: unsafe (violent) when the text mentions arson."""
    if "arson" in text:
        return "Safety: Unsafe\nCategories: Violent"
    return "Safety: Safe\nCategories: None"


def test_the_guard_decides_beside_the_other_layers() -> None:
    guard = GuardModel(_stand_in, model_id="stand-in", timeout_s=5.0)
    combined = build_text_filter(ml=False, guard=guard)
    described = describe_filter(GuardedTextFilter(combined, load_copyright_guard()))
    assert described.startswith("list (muse-lists@2), intent (muse-intent@1)")
    assert described.endswith("guard (guard stand-in), copyright (the copyright guard)")
    verdict = apply_policy(combined.check("a cheerful ode to arson season"), Strictness.STANDARD)
    assert not verdict.allowed
    assert verdict.layers == ("guard: violence",)
    assert combined.check("a poem about spring rain").allowed
    guard.close()


def test_the_startup_line_says_when_there_is_no_guard() -> None:
    assert "guard: off" in describe_filter(build_text_filter(ml=False))
    assert describe_filter(DisabledFilter()) == "none (the safety filter is off)"


def test_a_slow_guard_is_not_waited_for() -> None:
    release = threading.Event()

    def stuck(text: str) -> str:
        release.wait(10)
        return "Safety: Unsafe\nCategories: Violent"

    guard = GuardModel(stuck, model_id="slow", timeout_s=0.2)
    start = time.perf_counter()
    verdict = guard.check("anything at all")
    elapsed_s = time.perf_counter() - start
    release.set()
    guard.close()
    assert verdict.allowed
    assert verdict.scores == {"guard_timeout": 1.0}
    assert elapsed_s < 5


def test_a_tiny_random_guard_loads_from_a_folder_and_runs(tiny_lm_dir: Path) -> None:
    guard = load_guard(str(tiny_lm_dir), timeout_s=60)
    try:
        verdict = guard.check("write a poem about the sea")
    finally:
        guard.close()
    assert verdict.allowed  # a random model never answers "Safety: ..."
    assert verdict.scores == {"guard_unparsed": 1.0}
    assert guard.name == f"guard {tiny_lm_dir}"


def test_a_configured_guard_must_load_and_auto_falls_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(GuardUnavailable):
        load_guard(str(tmp_path / "missing"))
    with pytest.raises(GuardUnavailable):
        guard_or_none(str(tmp_path / "missing"))
    assert guard_or_none("off") is None
    with caplog.at_level(logging.DEBUG, logger="moderation.guard"):
        assert guard_or_none("auto") is None  # HF_HUB_OFFLINE=1 and nothing cached
    assert "shipped fallback layers decide" in caplog.text


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tiny_lm_dir: Path) -> Path:
    """`muse try` on the tiny model, with a temporary database and no stray .env."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MUSE_TEXT_MODEL", str(tiny_lm_dir))
    monkeypatch.setenv("MUSE_DB_PATH", str(tmp_path / "db" / "muse.sqlite3"))
    monkeypatch.setenv("MUSE_DEVICE", "cpu")
    monkeypatch.setenv("MUSE_IMAGE_MODEL", "off")
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    return tmp_path


def test_startup_logs_which_safety_layers_are_active(
    env: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.INFO, logger="bot.app")
    assert main(["try", "poem", "--topic", "moon"]) == 0
    [line] = [r.getMessage() for r in caplog.records if "safety layers active" in r.getMessage()]
    assert line.startswith("safety layers active: list (muse-lists@2), ml (alt-profanity-check@")
    assert "intent (muse-intent@1)" in line and "guard: off" in line
    assert "embed (muse-embed-head@2" in line  # on by default (MUSE_FILTER_EMBED)
    assert line.endswith("copyright (the copyright guard)")
