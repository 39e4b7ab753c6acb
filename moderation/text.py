"""The text filter Muse runs on prompts and outputs: normalization and word lists, plus an
optional ML second opinion (alt-profanity-check, English) and optional local classifiers.

``build_text_filter`` loads what is configured and raises ``TextFilterError`` when something
cannot be loaded, so the bot can stop at start-up. The filter it returns never raises: an error
inside a component makes that component's verdict ``review`` with category ``other``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from importlib import metadata

from moderation.base import TextComponent, TextFilterError
from moderation.normalize import NormalizationError, Normalizer
from moderation.verdict import Category, Decision, Verdict
from moderation.wordlist import WordListFilter

log = logging.getLogger(__name__)

DEFAULT_ML_THRESHOLD = 0.9
DEFAULT_CLASSIFIER_THRESHOLD = 0.5
NORMALIZATION_PACKAGES = ("opencc", "disarm")


class CombinedTextFilter:
    """Runs every component and keeps the strictest verdict with all of their evidence."""

    def __init__(self, components: Sequence[TextComponent], *, sources: Sequence[str] = ()) -> None:
        self._components = tuple(components)
        names = [c.name for c in self._components]
        self.components = tuple(dict.fromkeys([*names, *sources]))

    def check(self, text: str) -> Verdict:
        verdict = Verdict(Decision.ALLOW, components=self.components)
        for component in self._components:
            verdict = verdict.worst(_run(component, text))
        return verdict


def _run(component: TextComponent, text: str) -> Verdict:
    try:
        return component.check(text)
    except Exception:  # a filter never raises; an error holds the text for review
        log.exception("text filter component %s failed", component.name)
        return Verdict(Decision.REVIEW, (Category.OTHER,), components=(component.name,))


def _versions(packages: Sequence[str]) -> list[str]:
    out = []
    for package in packages:
        try:
            out.append(f"{package}@{metadata.version(package)}")
        except metadata.PackageNotFoundError:
            out.append(package)
    return out


def _lists(normalizer: Normalizer) -> WordListFilter:
    try:
        return WordListFilter(normalizer=normalizer)
    except Exception as err:  # a missing package or a broken data file
        raise TextFilterError(f"cannot load the word lists: {err}") from err


def build_text_filter(
    *,
    ml: bool = True,
    ml_threshold: float = DEFAULT_ML_THRESHOLD,
    classifier_dir: str | None = None,
    classifier_threshold: float = DEFAULT_CLASSIFIER_THRESHOLD,
) -> CombinedTextFilter:
    """Lists always; the ML second opinion when ``ml``; a local transformers classifier when
    ``classifier_dir`` is set. Raises ``TextFilterError`` when a configured part cannot load."""
    from moderation.classifier import ProfanityCheckFilter, TransformersTextClassifier

    try:
        normalizer = Normalizer()
    except NormalizationError as err:
        raise TextFilterError(str(err)) from err
    words = _lists(normalizer)
    components: list[TextComponent] = [words]
    if ml:
        ml_filter = ProfanityCheckFilter.load(
            threshold=ml_threshold, normalizer=normalizer, prepare=words.without_allowed
        )
        components.append(ml_filter)
    if classifier_dir:
        components.append(
            TransformersTextClassifier.load(classifier_dir, threshold=classifier_threshold)
        )
    sources = [*words.sources, *_versions(NORMALIZATION_PACKAGES)]
    return CombinedTextFilter(components, sources=sources)
