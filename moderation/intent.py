"""Intent rules: harm said in plain words, read as a target combined with an act.

The rules and their concepts live in ``moderation/data/intent_rules.toml``: a minor with a sexual
act, a group with an eliminationist or dehumanizing claim, oneself with a way to die, a person or
a place with a violent act and an intent, weapon or drug making, and buying weapons or drugs, in
English and Chinese. A rule fires when all of its concepts meet in one sentence of the folded
text (``moderation.normalize``: lower case, Simplified, evasions undone) and none of its context
concepts (prevention, medicine, history, toys, games) is anywhere in the text.

This is the meaning-aware layer that ships with Muse and needs no model; the sentence-embedding
head (``moderation.semantic``) and a guard model (``moderation.guard``) add to it.
"""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

from moderation.base import TextFilterError
from moderation.normalize import Normalizer, deleet, join_inner_punctuation
from moderation.verdict import Category, Decision, Verdict

log = logging.getLogger(__name__)

RULES_FILE = "intent_rules.toml"
LAYER = "intent"
# A word that starts with a letter and hides more behind digits or symbols: "k!ll", "b0mb".
_LEET_WORD = re.compile(r"(?<![a-z0-9])[a-z][a-z]*[0-9@$!|][a-z0-9@$!|]*[a-z][a-z0-9@$!|]*")
# Letters spelled out one by one with single spaces: "s h o o t".
_SPELLED = re.compile(r"(?<![a-z0-9])(?:[a-z] ){2,}[a-z](?![a-z0-9])")
# Spaces between Chinese characters: "杀 光 他 们".
_CJK_GAP = re.compile(r"(?<=[\u4e00-\u9fff])[ \u3000]+(?=[\u4e00-\u9fff])")
# The English words of acts match with their common endings too: "slit" in "slitting".
_SUFFIX = r"(?:s|es|d|ed|ing|[a-z]ing|[a-z]ed|er|ers)?"
# Sentence ends: a rule's concepts must meet inside one sentence.
_SENTENCE_END = re.compile(r"[!?。！？;；\n]+\s*|(?<=[a-z0-9\u4e00-\u9fff]{4})\.+(?:\s+|$)")


@dataclass(frozen=True)
class IntentRule:
    """A category and decision for texts where every concept in ``all`` meets in a sentence
    and no ``unless`` concept appears."""

    category: Category
    decision: Decision
    all: tuple[str, ...]
    unless: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{LAYER}: {self.category.value} ({' + '.join(self.all)})"


def _compile(en: Sequence[str], zh: Sequence[str], inflect: bool) -> re.Pattern[str]:
    suffix = _SUFFIX if inflect else ""
    parts = [rf"(?<![a-z0-9])(?:{p}){suffix}(?![a-z0-9])" for p in en] + [f"(?:{p})" for p in zh]
    return re.compile("|".join(parts) or "(?!)")


def compile_concepts(data: Mapping[str, Any]) -> dict[str, re.Pattern[str]]:
    """One pattern per concept name, joining its English and Chinese expressions; the English
    words of the concepts named in ``inflect`` also match with their common endings."""
    en: Mapping[str, list[str]] = data.get("en", {})
    zh: Mapping[str, list[str]] = data.get("zh", {})
    inflect = set(data.get("inflect", ()))
    return {
        name: _compile(en.get(name, []), zh.get(name, []), name in inflect) for name in {*en, *zh}
    }


def parse_rules(
    data: Mapping[str, Any], concepts: Mapping[str, re.Pattern[str]]
) -> list[IntentRule]:
    """The ``[[rule]]`` tables; an unknown concept name is an error."""
    rules = []
    for raw in data.get("rule", []):
        rule = IntentRule(
            Category(raw["category"]),
            Decision(raw["decision"]),
            tuple(raw["all"]),
            tuple(raw.get("unless", ())),
        )
        unknown = [c for c in (*rule.all, *rule.unless) if c not in concepts]
        if unknown:
            raise ValueError(f"rule for {rule.category.value} names unknown concepts {unknown}")
        rules.append(rule)
    return rules


def load_rules_data(path: Path | None = None) -> dict[str, Any]:
    """The parsed rules file (the shipped one unless ``path`` is given)."""
    source = path or Path(str(resources.files("moderation").joinpath("data", RULES_FILE)))
    with source.open("rb") as handle:
        return tomllib.load(handle)


def _allowed(verdict: Verdict) -> Verdict:
    return replace(verdict, decision=Decision.ALLOW, categories=(), matched=())


class IntentFilter:
    """Flags texts where a rule's target and act meet in a sentence; safe across threads."""

    def __init__(self, normalizer: Normalizer, data: Mapping[str, Any] | None = None) -> None:
        try:
            data = data if data is not None else load_rules_data()
            self._concepts = compile_concepts(data)
            self._rules = parse_rules(data, self._concepts)
            self._aliases = [(re.compile(k), v) for k, v in data.get("aliases", {}).items()]
            self._context = {k: tuple(v) for k, v in data.get("context", {}).items()}
            self._context_terms = dict(data.get("context_terms", {}))
            named = [*self._context_terms.values(), *(c for v in self._context.values() for c in v)]
            if unknown := sorted(set(named) - set(self._concepts)):
                raise ValueError(f"context names unknown concepts {unknown}")
            self.version = int(data.get("version", 1))
        except (OSError, KeyError, ValueError, re.error, tomllib.TOMLDecodeError) as err:
            raise TextFilterError(f"cannot load the intent rules: {err}") from err
        self._normalizer = normalizer

    @property
    def name(self) -> str:
        return f"muse-intent@{self.version}"

    @property
    def rules(self) -> tuple[IntentRule, ...]:
        return tuple(self._rules)

    def prepare(self, text: str) -> str:
        """The folded text the rules read: hyphens and dots inside words joined, leetspeak read
        as letters, spelled-out words joined ("s h o o t" -> "shoot", "杀 光" -> "杀光"), and
        the ``[aliases]`` (code words, pinyin, emoji) replaced."""
        folded = join_inner_punctuation(self._normalizer.fold(text)).replace("’", "'")
        folded = _LEET_WORD.sub(lambda m: deleet(m.group(0)), folded)
        folded = _SPELLED.sub(lambda m: m.group(0).replace(" ", ""), folded)
        folded = _CJK_GAP.sub("", folded)
        for pattern, replacement in self._aliases:
            folded = pattern.sub(replacement, folded)
        return re.sub(r"[ \t\u3000]+", " ", folded)

    def fired(self, text: str) -> list[IntentRule]:
        """The rules that fire on ``text``."""
        folded = self.prepare(text)
        sentences = [s for s in _SENTENCE_END.split(folded) if s.strip()] or [folded]
        return [rule for rule in self._rules if self._fires(rule, folded, sentences)]

    def _fires(self, rule: IntentRule, folded: str, sentences: Sequence[str]) -> bool:
        if any(self._concepts[c].search(folded) for c in rule.unless):
            return False
        return any(all(self._concepts[c].search(s) for c in rule.all) for s in sentences)

    def explain(self, text: str, verdict: Verdict) -> Verdict:
        """A word-list verdict without what the text's context explains away: a category whose
        context concepts appear (a hotline, an anti-drug week), or every matched term that is
        also a name in its context (尼玛 beside 藏族)."""
        folded = self.prepare(text)
        terms = [t for t in verdict.matched if not self._term_explained(folded, t)]
        if verdict.matched and not terms:
            return _allowed(verdict)
        if not verdict.matched and self._unmatched_explained(folded, verdict):
            return _allowed(verdict)
        kept = tuple(c for c in verdict.categories if not self._category_explained(folded, c))
        if not kept:
            return _allowed(verdict)
        return replace(verdict, categories=kept)

    def _term_explained(self, folded: str, term: str) -> bool:
        concept = self._context_terms.get(term)
        return concept is not None and self._concepts[concept].search(folded) is not None

    def _unmatched_explained(self, folded: str, verdict: Verdict) -> bool:
        """A classifier's profanity flag (no matched term) on a text whose listed-and-named
        term is explained by its context ("bitch" beside "litter")."""
        if verdict.categories != (Category.PROFANITY,):
            return False
        words = set(re.findall(r"[a-z]+|[\u4e00-\u9fff]+", folded))
        present = [
            t for t in self._context_terms if t in words or (not t.isascii() and t in folded)
        ]
        return bool(present) and all(self._term_explained(folded, t) for t in present)

    def _category_explained(self, folded: str, category: Category) -> bool:
        names = self._context.get(category.value, ())
        return any(self._concepts[c].search(folded) for c in names)

    def check(self, text: str) -> Verdict:
        verdict = Verdict(Decision.ALLOW, components=(self.name,))
        for rule in self.fired(text):
            found = Verdict(
                rule.decision,
                (rule.category,),
                {f"intent_{rule.category.value}": 1.0},
                (rule.label,),
                (self.name,),
            )
            verdict = verdict.worst(found)
        return verdict
