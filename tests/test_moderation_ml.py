"""The alt-profanity-check second opinion: bundled, verified, fast, and optional."""

from __future__ import annotations

import joblib
import pytest

from moderation import classifier
from moderation.base import TextFilterError
from moderation.classifier import (
    ML_SCORE_KEY,
    PROFANITY_CHECK_SHA256,
    CalibratedLinear,
    ProfanityCheckFilter,
    is_mostly_latin,
    profanity_check_files,
)
from moderation.normalize import Normalizer
from moderation.verdict import Category, Decision
from moderation.wordlist import WordListFilter


@pytest.fixture(scope="module")
def normalizer() -> Normalizer:
    return Normalizer()


@pytest.fixture(scope="module")
def ml(normalizer: Normalizer) -> ProfanityCheckFilter:
    return ProfanityCheckFilter.load(threshold=0.9, normalizer=normalizer)


TEXTS = [
    "you are a fucking idiot",
    "a poem about spring rain",
    "shut up you moron",
    "the soldiers marched to the front",
    "",
]


def test_the_model_ships_in_the_wheel_and_is_verified() -> None:
    files = profanity_check_files()
    assert set(files) == set(PROFANITY_CHECK_SHA256)
    assert all(path.is_file() for path in files.values())


def test_fast_path_gives_scikit_learns_probabilities(ml: ProfanityCheckFilter) -> None:
    files = profanity_check_files()
    vectorizer = joblib.load(files["vectorizer.joblib"])
    model = joblib.load(files["model.joblib"])
    fast = CalibratedLinear.from_sklearn(model)
    for text in TEXTS:
        expected = float(model.predict_proba(vectorizer.transform([text]))[0, 1])
        assert fast.probability(vectorizer.transform([text])) == pytest.approx(expected, abs=1e-9)
        assert ml.probability(text) == pytest.approx(expected, abs=1e-9)


def test_offensive_english_goes_to_review_with_its_score(ml: ProfanityCheckFilter) -> None:
    addressed = ml.check("shut up you moron")
    assert addressed.decision is Decision.REVIEW
    assert addressed.categories == (Category.HARASSMENT,)
    assert addressed.scores[ML_SCORE_KEY] >= 0.9
    assert addressed.components == (ml.name,)
    assert ml.name.startswith("alt-profanity-check@1.")

    general = ml.check("what a fucking shitty day")
    assert general.decision is Decision.REVIEW
    assert general.categories == (Category.PROFANITY,)


def test_clean_english_passes_with_its_score(ml: ProfanityCheckFilter) -> None:
    verdict = ml.check("a poem about spring rain on the temple roof")
    assert verdict.decision is Decision.ALLOW
    assert verdict.categories == ()
    assert 0.0 <= verdict.scores[ML_SCORE_KEY] < 0.9


def test_chinese_is_left_to_the_lists(ml: ProfanityCheckFilter) -> None:
    assert not is_mostly_latin("你是傻逼 sb")
    assert is_mostly_latin("a poem about 春 and the spring rain")
    verdict = ml.check("你是傻逼")
    assert verdict.decision is Decision.ALLOW
    assert verdict.scores == {}


def test_threshold_is_configurable(normalizer: Normalizer) -> None:
    eager = ProfanityCheckFilter.load(threshold=0.001, normalizer=normalizer)
    assert eager.check("a poem about spring rain").decision is Decision.REVIEW
    for bad in (0.0, -1.0, 1.5):
        with pytest.raises(TextFilterError, match="threshold"):
            ProfanityCheckFilter.load(threshold=bad, normalizer=normalizer)


def test_the_allow_list_is_applied_before_the_model(normalizer: Normalizer) -> None:
    words = WordListFilter(normalizer=normalizer)
    plain = ProfanityCheckFilter.load(normalizer=normalizer)
    prepared = ProfanityCheckFilter.load(normalizer=normalizer, prepare=words.without_allowed)
    text = "Cock-a-doodle-doo! Write a farmyard rhyme for toddlers"
    assert plain.check(text).decision is Decision.REVIEW  # the model alone is fooled
    assert prepared.check(text).decision is Decision.ALLOW


def test_a_tampered_model_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(classifier.PROFANITY_CHECK_SHA256, "model.joblib", "0" * 64)
    with pytest.raises(TextFilterError, match="SHA-256"):
        ProfanityCheckFilter.load()


def test_a_missing_package_is_a_load_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(classifier, "PROFANITY_CHECK_PACKAGE", "no_such_package_here")
    with pytest.raises(TextFilterError, match="alt-profanity-check"):
        ProfanityCheckFilter.load()


def test_errors_inside_the_model_hold_the_text(normalizer: Normalizer) -> None:
    broken = ProfanityCheckFilter.load(normalizer=normalizer)
    broken._vectorizer = None
    verdict = broken.check("some english text here")
    assert verdict.decision is Decision.REVIEW
    assert verdict.categories == (Category.OTHER,)
