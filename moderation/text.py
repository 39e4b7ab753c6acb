"""The text filter Muse runs on prompts and outputs: normalization and word lists, plus an
optional ML second opinion (alt-profanity-check, English) and optional local classifiers.

``build_text_filter`` loads what is configured and raises ``TextFilterError`` when something
cannot be loaded, so the bot can stop at start-up. The filter it returns never raises: an error
inside a component makes that component's verdict ``review`` with category ``other``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata

from moderation.base import TextComponent, TextFilterError, use_threads
from moderation.intent import IntentFilter
from moderation.normalize import NormalizationError, Normalizer
from moderation.semantic import DEFAULT_THRESHOLD
from moderation.verdict import Category, Decision, Verdict
from moderation.wordlist import WordListFilter

log = logging.getLogger(__name__)

DEFAULT_ML_THRESHOLD = 0.9
DEFAULT_CLASSIFIER_THRESHOLD = 0.5
DEFAULT_EMBED_THRESHOLD = DEFAULT_THRESHOLD
NORMALIZATION_PACKAGES = ("opencc", "disarm")


# Context that a word list cannot see: (text, list verdict) -> the verdict without what the
# context explains away (a hotline, an anti-drug week, a listed word that is also a name).
# The intent layer (``IntentFilter.explain``) supplies it.
Context = Callable[[str, Verdict], Verdict]


class CombinedTextFilter:
    """Runs every component and keeps the strictest verdict with all of their evidence; each
    flag is noted with the layer that raised it (``Verdict.layers``). A ``LayeredFilter``:
    ``quick`` runs the list, ML and intent layers, ``deep`` the model layers after them."""

    def __init__(
        self,
        components: Sequence[TextComponent],
        *,
        sources: Sequence[str] = (),
        layers: Mapping[str, str] | None = None,
        context: Context | None = None,
    ) -> None:
        names = [c.name for c in components]
        self.components = tuple(dict.fromkeys([*names, *sources]))
        self._context = context
        # each component with its layer ("list" unless named otherwise), fixed here: a check
        # reads them for every component
        named = dict(layers or {})
        self._layered = tuple(
            (c, named.get(n, "list")) for c, n in zip(components, names, strict=True)
        )

    @property
    def active_layers(self) -> tuple[str, ...]:
        """The layers that run, in order, each once."""
        return tuple(dict.fromkeys(layer for _, layer in self._layered))

    def describe(self) -> str:
        """One line for the startup log: each active layer and what runs it, and the guard
        model's absence spelled out: "list (muse-lists@2), intent (muse-intent@1), guard: off"."""
        by_layer: dict[str, list[str]] = {}
        for component, layer in self._layered:
            by_layer.setdefault(layer, []).append(component.name)
        parts = [f"{layer} ({', '.join(names)})" for layer, names in by_layer.items()]
        if "guard" not in by_layer:
            parts.append("guard: off (no guard model could be loaded; the layers above decide)")
        return ", ".join(parts)

    @property
    def has_deep(self) -> bool:
        """Whether a deep layer (``DEEP_LAYERS``) runs: the part for the service's filter
        thread."""
        return any(layer in DEEP_LAYERS for _, layer in self._layered)

    def check(self, text: str) -> Verdict:
        return self.deep(text, self.quick(text))

    def quick(self, text: str) -> Verdict:
        """The verdict of the quick layers (lists, ML second opinion, intent rules)."""
        start = Verdict(Decision.ALLOW, components=self.components)
        return self._fold(text, start, deep=False)

    def deep(self, text: str, quick: Verdict) -> Verdict:
        """The whole verdict: the deep layers (embedding head, guard model) run on top of the
        quick part's ``quick``; the head is skipped once it blocks (``AFTER_BLOCK_SKIPPED``)."""
        return self._fold(text, quick, deep=True)

    def use_threads(self, threads: int) -> None:
        """The CPU threads the deep layers may use for the checks that follow (see
        ``base.use_threads``)."""
        for component, layer in self._layered:
            if layer in DEEP_LAYERS:
                use_threads(component, threads)

    def _fold(self, text: str, verdict: Verdict, *, deep: bool) -> Verdict:
        for component, layer in self._layered:
            if (layer in DEEP_LAYERS) is not deep:
                continue
            if layer in AFTER_BLOCK_SKIPPED and verdict.decision is Decision.BLOCK:
                continue  # the costly second reading adds nothing to a refusal
            found = _run(component, text)
            if layer in LIST_LAYERS and self._context is not None and not found.allowed:
                found = self._context(text, found)
            verdict = verdict.worst(found.with_layer(layer))
        return verdict


LIST_LAYERS = frozenset({"list", "ml"})
# Layers that do not run once an earlier one blocked the text (the embedding head's encoder is
# the check's main cost).
AFTER_BLOCK_SKIPPED = frozenset({"embed"})
# The layers that run a model (tens of milliseconds a text or more): the deep part of the check,
# which the service runs on its filter thread, after the quick layers.
DEEP_LAYERS = frozenset({"embed", "guard"})


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


def _semantic(
    normalizer: Normalizer,
    intent: bool,
    embed: bool,
    embed_threshold: float,
    guard: TextComponent | None,
) -> list[tuple[str, TextComponent]]:
    """The semantic layers that are on, each with its layer name."""
    out: list[tuple[str, TextComponent]] = []
    if intent:
        out.append(("intent", IntentFilter(normalizer)))
    if embed:
        from moderation.semantic import EmbeddingFilter

        out.append(("embed", EmbeddingFilter.load(normalizer, threshold=embed_threshold)))
    if guard is not None:
        out.append(("guard", guard))
    return out


def build_text_filter(
    *,
    intent: bool = True,
    ml: bool = True,
    ml_threshold: float = DEFAULT_ML_THRESHOLD,
    classifier_dir: str | None = None,
    classifier_threshold: float = DEFAULT_CLASSIFIER_THRESHOLD,
    embed: bool = True,
    embed_threshold: float = DEFAULT_EMBED_THRESHOLD,
    guard: TextComponent | None = None,
) -> CombinedTextFilter:
    """Lists always; the intent rules when ``intent`` (they also tell the lists which contexts
    explain a listed word away); the ML second opinion when ``ml``; a local transformers
    classifier when ``classifier_dir`` is set; the sentence-embedding head when ``embed``; a
    loaded guard model (``moderation.guard``) when given. Logs which layers are active.
    Raises ``TextFilterError`` when a configured part cannot load."""
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
    layers = {c.name: "ml" for c in components[1:]}
    semantic = _semantic(normalizer, intent, embed, embed_threshold, guard)
    context = next((c.explain for _, c in semantic if isinstance(c, IntentFilter)), None)
    components += [component for _, component in semantic]
    layers |= {component.name: layer for layer, component in semantic}
    sources = [*words.sources, *_versions(NORMALIZATION_PACKAGES)]
    combined = CombinedTextFilter(components, sources=sources, layers=layers, context=context)
    log.debug("safety layers built: %s", combined.describe())
    return combined


def describe_filter(text_filter: object) -> str:
    """The startup line's list of safety layers for any text filter: a combined filter's
    layers, the copyright guard beside it, or "none" for filtering turned off."""
    inner = getattr(text_filter, "text_filter", text_filter)
    describe = getattr(inner, "describe", None)
    if describe is None:
        return "none (the safety filter is off)"
    out: str = describe()
    if inner is not text_filter:
        out += ", copyright (the copyright guard)"
    return out
