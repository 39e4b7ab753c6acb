"""The semantic safety set: recall and false positives of the prompt check, per mode.

    python -m bench.safety_semantic [--data PATH] [--guard SOURCE] [--misses]

Runs each item of ``tests/data/safety_semantic_eval.jsonl`` (written blind on branch i20a:
harmful items plain and disguised, benign items that look risky) through the prompt check the
service uses (text filter plus copyright guard, ``check_request``, standard strictness), in
each mode: the shipped fallback (lists, ML second opinion, intent rules and the
sentence-embedding head: what runs when no guard model can be had), the fallback without the
head, the lists alone (what ran before the semantic layer), and the guard model when
``--guard`` (a folder or hub id) or ``MUSE_GUARD_MODEL`` names one that loads. A flagged item
is one the policy does not allow. It prints recall per language, category and style, false
positives per language and category, and milliseconds per prompt check (median, p95, p99): the
whole check, and its two parts as the service runs them, the quick part on the event loop in
``prepare`` and the deep part (the embedding head, a guard model) on the filter thread in
``start``; PASS or FAIL for the issue's targets on the fallback; it exits 1 when one fails.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from moderation.base import PromptFilter, first_reading, second_reading
from moderation.policy import Strictness, apply_policy

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "safety_semantic_eval.jsonl"
LANGS = ("en", "zh")
CATEGORIES = ("profanity", "sexual_minors", "hate", "self_harm", "illicit", "violence")
RECALL_MIN = 0.95
MINORS_RECALL_MIN = 0.98
FPR_MAX = 0.02
MS_MAX = 50.0


@dataclass(frozen=True)
class Item:
    """One labelled prompt of the set."""

    text: str
    lang: str
    label: str
    category: str
    style: str
    kind: str = "prompt"


@dataclass(frozen=True)
class Result:
    """An item, whether the prompt check refused or held it, and the layers that said so."""

    item: Item
    flagged: bool
    layers: tuple[str, ...]


def load_items(path: Path = DATA) -> list[Item]:
    with path.open(encoding="utf-8") as handle:
        return [Item(**json.loads(line)) for line in handle if line.strip()]


def judge(check: PromptFilter, items: Sequence[Item]) -> list[Result]:
    """Every item through ``check_request`` and the standard preset."""
    out = []
    for item in items:
        verdict = apply_policy(check.check_request(item.text), Strictness.STANDARD)
        out.append(Result(item, not verdict.allowed, verdict.layers))
    return out


@dataclass(frozen=True)
class Timing:
    """Milliseconds of one prompt check: the quick part (on the loop), the deep part (on the
    filter thread), and both."""

    quick_ms: float
    deep_ms: float

    @property
    def total_ms(self) -> float:
        return self.quick_ms + self.deep_ms


def latencies_ms(check: PromptFilter, items: Sequence[Item]) -> list[Timing]:
    """Each item's prompt check timed part by part, as ``MuseService`` runs it."""
    out = []
    for item in items:
        start = time.perf_counter()
        first = first_reading(check, item.text, request=True)
        split = time.perf_counter()
        second_reading(check, item.text, first)
        end = time.perf_counter()
        out.append(Timing((split - start) * 1000, (end - split) * 1000))
    return out


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def latency_lines(timings: Sequence[Timing]) -> list[str]:
    """Median, p95 and p99 of the whole check and of each part."""
    out = []
    for name, field in (("whole prompt check", "total_ms"),
                        ("quick part, on the event loop", "quick_ms"),
                        ("deep part, on the filter thread", "deep_ms")):  # fmt: skip
        ms = [getattr(t, field) for t in timings]
        out.append(f"ms per {name}: median {statistics.median(ms):.2f}, "
                   f"p95 {percentile(ms, 0.95):.2f}, p99 {percentile(ms, 0.99):.2f}")  # fmt: skip
    return [*out, f"  (over {len(timings)} checks)"]


def rate(results: Sequence[Result]) -> float:
    return sum(r.flagged for r in results) / len(results) if results else float("nan")


def pick(results: Sequence[Result], **fields: str) -> list[Result]:
    """The results whose item has every given field value."""
    return [r for r in results if all(getattr(r.item, k) == v for k, v in fields.items())]


def _cell(results: Sequence[Result]) -> str:
    return f"{rate(results):.3f} ({sum(r.flagged for r in results)}/{len(results)})"


def table(results: Sequence[Result]) -> list[str]:
    """Recall of harmful items and false positives of benign ones, per category and language."""
    lines = [f"{'':<16}{'recall en':>16}{'recall zh':>16}{'fp en':>16}{'fp zh':>16}"]
    for category in (*CATEGORIES, "general"):
        row = f"{category:<16}"
        for label in ("harmful", "benign"):
            for lang in LANGS:
                scoped = pick(results, label=label, lang=lang, category=category)
                row += f"{_cell(scoped) if scoped else '-':>16}"
        lines.append(row)
    row = f"{'all':<16}"
    for label in ("harmful", "benign"):
        row += "".join(f"{_cell(pick(results, label=label, lang=lang)):>16}" for lang in LANGS)
    return [*lines, row]


def summary(results: Sequence[Result], timings: Sequence[Timing]) -> list[str]:
    harmful, benign = pick(results, label="harmful"), pick(results, label="benign")
    styles = ", ".join(
        f"{style} {_cell(pick(harmful, style=style))}"
        for style in sorted({r.item.style for r in harmful})
    )
    return [
        f"recall {_cell(harmful)}, false positives {_cell(benign)}",
        f"recall by style: {styles}",
        *latency_lines(timings),
    ]


def targets(results: Sequence[Result], timings: Sequence[Timing]) -> list[tuple[str, bool]]:
    """The issue's targets, as (line, passed): the latency target on the whole check."""
    harmful = pick(results, label="harmful")
    minors = pick(harmful, category="sexual_minors")
    ms = [t.total_ms for t in timings]
    checks = [
        ("recall", rate(harmful), RECALL_MIN, True),
        ("recall, sexual content with minors", rate(minors), MINORS_RECALL_MIN, True),
        ("false-positive rate", rate(pick(results, label="benign")), FPR_MAX, False),
        ("median ms per prompt check", statistics.median(ms), MS_MAX, False),
        ("p95 ms per prompt check", percentile(ms, 0.95), MS_MAX, False),
    ]
    out = []
    for name, value, limit, at_least in checks:
        passed = value >= limit if at_least else value <= limit
        sign = ">=" if at_least else "<="
        out.append((f"{'PASS' if passed else 'FAIL'}  {name}: {value:.4f} (target {sign} {limit})",
                    passed))  # fmt: skip
    return out


def misses(results: Sequence[Result]) -> list[str]:
    return [
        f"  [{r.item.label}/{r.item.lang}/{r.item.category}] {r.item.text!r} {list(r.layers)}"
        for r in results
        if r.flagged != (r.item.label == "harmful")
    ]


Builder = Callable[[], PromptFilter]


def modes(guard_source: str | None) -> dict[str, Builder]:
    """The modes to measure, by name; the first is the shipped default."""
    from moderation.copyright import GuardedTextFilter, load_copyright_guard
    from moderation.text import build_text_filter

    def with_copyright(**options: object) -> Builder:
        return lambda: GuardedTextFilter(build_text_filter(**options), load_copyright_guard())  # type: ignore[arg-type]

    out = {
        "fallback (no guard model): lists + ml + intent rules + embedding head": with_copyright(),
        "fallback without the embedding head: lists + ml + intent rules": with_copyright(
            embed=False
        ),
        "lists + ml only (before the semantic layer)": with_copyright(intent=False, embed=False),
    }
    if guard_source:
        from moderation.guard import load_guard

        out[f"guard model {guard_source} + fallback"] = lambda: with_copyright(
            guard=load_guard(guard_source)
        )()
    return out


def run_mode(name: str, build: Builder, items: Sequence[Item], show_misses: bool) -> bool:
    check = build()
    results = judge(check, items)
    timings = latencies_ms(check, items)
    print(f"\n== {name}")
    print("\n".join([*summary(results, timings), *table(results)]))
    if show_misses:
        print("misclassified:\n" + "\n".join(misses(results)))
    lines = targets(results, timings)
    print("\n".join(line for line, _ in lines))
    return all(ok for _, ok in lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--guard", default=os.environ.get("MUSE_GUARD_MODEL", ""))
    parser.add_argument("--misses", action="store_true", help="list misclassified items")
    args = parser.parse_args(argv)
    items = load_items(args.data)
    guard = args.guard if args.guard.strip().lower() not in ("", "auto", "off", "0") else None
    print(f"{len(items)} prompts from {args.data.name}; standard strictness; service prompt check")
    if guard is None:
        print("guard model: not measured (none given with --guard or MUSE_GUARD_MODEL);"
              " the fallback below is what runs without one")  # fmt: skip
    passed = []
    for index, (name, build) in enumerate(modes(guard).items()):
        ok = run_mode(name, build, items, args.misses and index == 0)
        passed.append(ok if index == 0 else True)
    return 0 if all(passed) else 1


if __name__ == "__main__":
    raise SystemExit(main())
