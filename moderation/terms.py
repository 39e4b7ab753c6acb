"""Loading Muse's word lists: raw terms with the rule each carries, allow terms and near pairs.

The lists are glin-profanity's English and Chinese dictionaries (MIT, shipped inside its wheel)
plus Muse's own files in ``moderation/data``: ``extra_terms.toml`` maps terms, templates and
"near" pairs to a category and a decision (project terms override the package's), and
``allow_terms.toml`` names everyday words and phrases that are never flagged. Nothing here is
normalized; ``moderation.termindex`` does that.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import string
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata, resources
from pathlib import Path
from typing import Any

from moderation.verdict import Category, Decision

GLIN_PACKAGE = "glin-profanity"
GLIN_DICTIONARIES = ("english.json", "chinese.json")


@dataclass(frozen=True)
class Rule:
    """What a listed term means: its category and the decision it gets."""

    category: Category
    decision: Decision


@dataclass(frozen=True)
class Near:
    """Flags a text where a term of ``first`` and one of ``second`` occur close together."""

    rule: Rule
    first: tuple[str, ...]
    second: tuple[str, ...]
    window: int = 4  # Latin: words between the two; Chinese: characters between them
    window_cjk: int = 8


@dataclass(frozen=True)
class TermLists:
    """Raw (not yet normalized) terms with their rules, allow terms, near pairs and sources."""

    terms: Mapping[str, Rule]
    stems: Mapping[str, Rule] = field(default_factory=dict)
    allow: tuple[str, ...] = ()
    near: tuple[Near, ...] = ()
    sources: tuple[str, ...] = ()


def stricter(old: Rule | None, new: Rule) -> Rule:
    """The rule with the stricter decision; ``old`` wins a tie."""
    if old is None or new.decision.severity > old.decision.severity:
        return new
    return old


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"the {package} package is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def load_glin_terms() -> tuple[list[str], str]:
    """glin-profanity's English and Chinese words, read from its wheel without importing it."""
    folder = _package_dir("glin_profanity") / "data" / "dictionaries"
    words: list[str] = []
    for name in GLIN_DICTIONARIES:
        data = json.loads((folder / name).read_text(encoding="utf-8"))
        words += [w for w in data["words"] if isinstance(w, str) and w.strip()]
    if not words:
        raise ValueError(f"{folder} has no words")
    return words, f"{GLIN_PACKAGE}@{metadata.version(GLIN_PACKAGE)}"


def _data_file(name: str) -> dict[str, Any]:
    text = resources.files("moderation").joinpath("data", name).read_text(encoding="utf-8")
    return tomllib.loads(text)


def expand(
    templates: Iterable[str], slots: Mapping[str, Sequence[str]], depth: int = 3
) -> list[str]:
    """Each template with every combination of its ``{slot}`` values filled in; slot values may
    hold slots themselves, up to ``depth`` levels."""
    out: list[str] = []
    for template in templates:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name]
        if not names:
            out.append(template)
            continue
        if depth == 0:
            raise ValueError(f"slots nest too deep in {template!r}")
        unique = list(dict.fromkeys(names))
        filled = [
            template.format(**dict(zip(unique, values, strict=True)))
            for values in itertools.product(*(slots[name] for name in unique))
        ]
        out += expand(filled, slots, depth - 1)
    return out


def _rule_of(entry: Mapping[str, Any]) -> Rule:
    return Rule(Category(entry["category"]), Decision(entry["decision"]))


def _project_terms(data: Mapping[str, Any]) -> tuple[dict[str, Rule], dict[str, Rule]]:
    slots = data.get("slots", {})
    terms: dict[str, Rule] = {}
    stems: dict[str, Rule] = {}
    for entry in data.get("rule", []):
        rule = _rule_of(entry)
        for term in [*entry.get("terms", []), *expand(entry.get("templates", []), slots)]:
            terms[term] = stricter(terms.get(term), rule)
        for stem in entry.get("stems", []):
            stems[stem] = stricter(stems.get(stem), rule)
            terms[stem] = stricter(terms.get(stem), rule)
    return terms, stems


def _near_rules(data: Mapping[str, Any]) -> tuple[Near, ...]:
    slots = data.get("slots", {})
    return tuple(
        Near(
            _rule_of(entry),
            tuple(expand(entry["first"], slots)),
            tuple(expand(entry["second"], slots)),
            int(entry.get("window", 4)),
            int(entry.get("window_cjk", 8)),
        )
        for entry in data.get("near", [])
    )


def load_term_lists() -> TermLists:
    """glin-profanity's lists (profanity, review) under Muse's own terms and allow list."""
    package_words, source = load_glin_terms()
    extra = _data_file("extra_terms.toml")
    allow = tuple(t for group in _data_file("allow_terms.toml")["allow"] for t in group["terms"])
    default = Rule(Category.PROFANITY, Decision.REVIEW)
    terms = dict.fromkeys(package_words, default)
    own, stems = _project_terms(extra)
    terms.update(own)
    version = extra.get("version", "?")
    return TermLists(terms, stems, allow, _near_rules(extra), (source, f"muse-terms@{version}"))
