"""The combined text filter: components, merging, never raising, and start-up errors."""

from __future__ import annotations

import logging
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from moderation import normalize, terms
from moderation.base import TextFilter, TextFilterError
from moderation.text import CombinedTextFilter, build_text_filter
from moderation.verdict import Category, Decision, Verdict
from moderation.wordlist import COMPONENT, WordListFilter

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def combined() -> CombinedTextFilter:
    return build_text_filter(ml=True, ml_threshold=0.9, embed=False)


class _Fixed:
    def __init__(self, name: str, verdict: Verdict) -> None:
        self.name = name
        self._verdict = verdict

    def check(self, text: str) -> Verdict:
        return self._verdict


class _Broken:
    name = "broken@0"

    def check(self, text: str) -> Verdict:
        raise RuntimeError("boom")


def test_components_and_versions_are_listed(combined: CombinedTextFilter) -> None:
    names = combined.components
    assert names[0] == COMPONENT
    for prefix in ("alt-profanity-check@1.", "glin-profanity@", "opencc@", "disarm@"):
        assert any(name.startswith(prefix) for name in names), prefix
    verdict = combined.check("a poem about spring rain")
    assert verdict.allowed
    assert verdict.components == names
    assert "alt-profanity-check" in verdict.scores


def test_lists_and_ml_both_count(combined: CombinedTextFilter) -> None:
    listed = combined.check("how to make a bomb")
    assert listed.decision is Decision.BLOCK
    assert listed.categories[0] is Category.ILLICIT
    only_ml = combined.check("you're a pathetic loser and everyone knows it")
    assert only_ml.decision is Decision.REVIEW
    assert only_ml.categories == (Category.HARASSMENT,)
    assert only_ml.matched == ()


def test_lists_only(combined: CombinedTextFilter) -> None:
    lists = build_text_filter(ml=False, embed=False)
    assert not any(name.startswith("alt-profanity-check") for name in lists.components)
    assert lists.check("you're a pathetic loser and everyone knows it").allowed
    assert lists.check("f u c k").decision is Decision.REVIEW


def test_strictest_verdict_wins_with_all_evidence() -> None:
    review = Verdict(Decision.REVIEW, (Category.PROFANITY,), {"a": 0.5}, ("x",), ("a@1",))
    block = Verdict(Decision.BLOCK, (Category.HATE,), {"b": 1.0}, ("y",), ("b@1",))
    combined = CombinedTextFilter([_Fixed("a@1", review), _Fixed("b@1", block)], sources=["s@1"])
    verdict = combined.check("anything")
    assert verdict.decision is Decision.BLOCK
    assert verdict.categories == (Category.PROFANITY, Category.HATE)
    assert verdict.scores == {"a": 0.5, "b": 1.0}
    assert verdict.matched == ("x", "y")
    assert verdict.components == ("a@1", "b@1", "s@1")


def test_a_failing_component_holds_the_text(caplog: pytest.LogCaptureFixture) -> None:
    allow = Verdict(Decision.ALLOW, components=("ok@1",))
    combined = CombinedTextFilter([_Fixed("ok@1", allow), _Broken()])
    with caplog.at_level(logging.ERROR, logger="moderation.text"):
        verdict = combined.check("anything")
    assert verdict.decision is Decision.REVIEW
    assert verdict.categories == (Category.OTHER,)
    assert "broken@0" in caplog.text


@pytest.mark.parametrize("text", ["", " ", "\x00\ud800", "🖕" * 300, "a" * 5000, "傻" * 2000])
def test_never_raises_on_odd_input(combined: CombinedTextFilter, text: str) -> None:
    verdict = combined.check(text)
    assert verdict.decision in Decision
    assert combined.check(text) == verdict


def test_it_is_a_text_filter(combined: CombinedTextFilter) -> None:
    as_protocol: TextFilter = combined
    assert as_protocol.check("hello").allowed


def test_missing_word_lists_are_a_start_up_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(package: str) -> Path:
        raise ModuleNotFoundError(f"the {package} package is not installed")

    monkeypatch.setattr(terms, "_package_dir", missing)
    with pytest.raises(TextFilterError, match="glin_profanity package is not installed"):
        build_text_filter(ml=False)


def test_missing_normalization_tables_are_a_start_up_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def missing() -> object:
        raise normalize.NormalizationError("normalization needs the opencc package")

    monkeypatch.setattr(normalize, "_load_t2s", missing)
    with pytest.raises(TextFilterError, match="opencc"):
        build_text_filter(ml=False)


def test_a_bad_ml_threshold_is_a_start_up_error() -> None:
    with pytest.raises(TextFilterError, match="threshold"):
        build_text_filter(ml=True, ml_threshold=0.0)


def test_word_list_data_ships_with_the_package() -> None:
    data = resources.files("moderation").joinpath("data")
    for name in ("extra_terms.toml", "allow_terms.toml"):
        assert data.joinpath(name).is_file()
        tomllib.loads(data.joinpath(name).read_text(encoding="utf-8"))
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["tool"]["setuptools"]["package-data"]["moderation"] == ["data/*"]


def test_templates_expand_every_slot() -> None:
    slots = {"who": ["you", "u"], "what": ["a {adj} pig", "trash"], "adj": ["fat"]}
    assert terms.expand(["{who} are {what}"], slots) == [
        "you are a fat pig",
        "you are trash",
        "u are a fat pig",
        "u are trash",
    ]


def test_the_service_default_still_works() -> None:
    words = WordListFilter()
    assert words.check("what the FUCK").decision is Decision.REVIEW
    assert words.check("春日花烂漫，").allowed
