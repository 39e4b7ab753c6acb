"""Text safety filter on the labelled evaluation set: quality per category and language, and
latency per check.

    python -m bench.safety_eval [--no-ml] [--repeats N] [--data PATH]

Runs ``build_text_filter`` (word lists plus the alt-profanity-check second opinion unless
``--no-ml``) over ``tests/data/safety_eval.jsonl`` and prints, per category and language,
recall (labelled items flagged), precision (items given that category that carry its label) and
the false-positive rate (benign items given that category); recall on obfuscated profanity per
language; the false-positive rate on benign creative texts; median and p99 milliseconds per
check, split as the service runs it: the quick part (lists, ML, intent rules) on the event loop,
which the latency target is about, and the deep part (the embedding head) on the filter thread.
A flagged item is one whose decision is not ``allow``. It prints PASS or FAIL for the
three targets and exits 1 when one fails. The copyright guard's recall and false-positive rate
follow (``bench.copyright_eval``): on ``tests/data/copyright_eval.jsonl`` (the dev set its
patterns were tuned on) beside ``tests/data/copyright_heldout.jsonl`` (held-out requests, never
tuned on), with the dev targets and the held-out floors. Last, the semantic set
(``bench.safety_semantic``): plain-language and disguised harm and tricky benign prompts in
English and Chinese, through the service's prompt check, in each mode (no guard model: the
shipped fallback; with the embedding head; the lists alone; a guard model when
``MUSE_GUARD_MODEL`` names one).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from moderation.base import TextFilter, first_reading, second_reading
from moderation.verdict import Decision, Verdict

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "safety_eval.jsonl"
CATEGORIES = (
    "profanity",
    "sexual",
    "sexual_minors",
    "hate",
    "harassment",
    "violence",
    "self_harm",
    "illicit",
)
LANGS = ("en", "zh")
OBFUSCATED_RECALL_MIN = 0.95
BENIGN_FPR_MAX = 0.02
MEDIAN_MS_MAX = 5.0


@dataclass(frozen=True)
class Item:
    """One labelled text of the evaluation set."""

    text: str
    lang: str
    category: str
    obfuscated: bool
    expect: str


@dataclass(frozen=True)
class Outcome:
    """An item with the verdict the filter gave it."""

    item: Item
    verdict: Verdict

    @property
    def flagged(self) -> bool:
        return self.verdict.decision is not Decision.ALLOW

    def has(self, category: str) -> bool:
        return any(c.value == category for c in self.verdict.categories)


@dataclass(frozen=True)
class Target:
    """One pass/fail target."""

    name: str
    value: float
    limit: float
    at_least: bool

    @property
    def passed(self) -> bool:
        return self.value >= self.limit if self.at_least else self.value <= self.limit

    def line(self) -> str:
        sign = ">=" if self.at_least else "<="
        verdict = "PASS" if self.passed else "FAIL"
        return f"{verdict}  {self.name}: {self.value:.4f} (target {sign} {self.limit})"


def load_items(path: Path = DATA) -> list[Item]:
    """The evaluation set, one JSON object a line."""
    with path.open(encoding="utf-8") as handle:
        return [Item(**json.loads(line)) for line in handle if line.strip()]


def run(text_filter: TextFilter, items: Sequence[Item]) -> list[Outcome]:
    """Every item's verdict."""
    return [Outcome(item, text_filter.check(item.text)) for item in items]


def latencies_ms(
    text_filter: TextFilter, items: Sequence[Item], repeats: int
) -> tuple[list[float], list[float]]:
    """Milliseconds per check over ``repeats`` passes of the set: (the quick part, on the event
    loop; the deep part, on the service's filter thread)."""
    quick, deep = [], []
    for _ in range(repeats):
        for item in items:
            start = time.perf_counter()
            first = first_reading(text_filter, item.text)
            split = time.perf_counter()
            second_reading(text_filter, item.text, first)
            quick.append((split - start) * 1000)
            deep.append((time.perf_counter() - split) * 1000)
    return quick, deep


def _ratio(hits: int, total: int) -> float:
    return hits / total if total else float("nan")


def recall(outcomes: Iterable[Outcome]) -> float:
    """Share of the outcomes that were flagged."""
    rows = list(outcomes)
    return _ratio(sum(o.flagged for o in rows), len(rows))


def select(
    outcomes: Iterable[Outcome],
    *,
    category: str | None = None,
    lang: str | None = None,
    obfuscated: bool | None = None,
) -> list[Outcome]:
    """The outcomes whose item matches every given field."""
    return [
        o
        for o in outcomes
        if (category is None or o.item.category == category)
        and (lang is None or o.item.lang == lang)
        and (obfuscated is None or o.item.obfuscated == obfuscated)
    ]


def category_row(outcomes: Sequence[Outcome], category: str, lang: str) -> str:
    """n, recall, precision and benign false-positive rate of one category in one language."""
    scoped = select(outcomes, lang=lang)
    labelled = select(scoped, category=category)
    given = [o for o in scoped if o.has(category)]
    benign = select(scoped, category="benign")
    precision = _ratio(sum(o.item.category == category for o in given), len(given))
    fpr = _ratio(sum(o.has(category) for o in benign), len(benign))
    exact = _ratio(sum(o.verdict.decision.value == o.item.expect for o in labelled), len(labelled))
    return (
        f"{category:<14}{lang:<4}{len(labelled):>5}{recall(labelled):>9.3f}"
        f"{precision:>11.3f}{fpr:>9.3f}{exact:>11.3f}"
    )


def targets(outcomes: Sequence[Outcome], latencies: Sequence[float]) -> list[Target]:
    """The three targets: obfuscated profanity recall per language, benign FPR, median ms."""
    out = [
        Target(
            f"recall on obfuscated profanity ({lang})",
            recall(select(outcomes, category="profanity", lang=lang, obfuscated=True)),
            OBFUSCATED_RECALL_MIN,
            at_least=True,
        )
        for lang in LANGS
    ]
    out.append(
        Target(
            "false-positive rate on benign creative texts",
            recall(select(outcomes, category="benign")),
            BENIGN_FPR_MAX,
            at_least=False,
        )
    )
    if latencies:
        median = statistics.median(latencies)
        name = "median ms per check on the event loop (quick part)"
        out.append(Target(name, median, MEDIAN_MS_MAX, at_least=False))
    return out


def _latency_line(latencies: Sequence[float]) -> str:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return (
        f"median {statistics.median(ordered):.3f} ms, p99 {p99:.3f} ms,"
        f" mean {statistics.fmean(ordered):.3f} ms over {len(ordered)} checks"
    )


def report(
    outcomes: Sequence[Outcome],
    latencies: Sequence[float],
    long_latencies: Sequence[float] = (),
) -> list[str]:
    """The printed report, line by line."""
    lines = [
        f"{len(outcomes)} items: "
        + ", ".join(f"{lang} {len(select(outcomes, lang=lang))}" for lang in LANGS),
        "",
        f"{'category':<14}{'lang':<4}{'n':>5}{'recall':>9}{'precision':>11}{'fpr':>9}"
        f"{'decision=':>11}",
    ]
    lines += [category_row(outcomes, c, lang) for c in CATEGORIES for lang in LANGS]
    lines.append("")
    for lang in LANGS:
        obfuscated = select(outcomes, category="profanity", lang=lang, obfuscated=True)
        benign = select(outcomes, category="benign", lang=lang)
        lines.append(
            f"{lang}: obfuscated profanity recall {recall(obfuscated):.3f} (n={len(obfuscated)}),"
            f" all obfuscated items {recall(select(outcomes, lang=lang, obfuscated=True)):.3f},"
            f" benign false positives {sum(o.flagged for o in benign)}/{len(benign)}"
        )
    if latencies:
        lines.append(f"latency per check, quick part: {_latency_line(latencies)}")
    if long_latencies:
        lines.append(f"  the same, texts of 200-500 chars: {_latency_line(long_latencies)}")
    lines.append("")
    lines += [t.line() for t in targets(outcomes, latencies)]
    return lines


def misses(outcomes: Sequence[Outcome]) -> list[str]:
    """Benign items flagged and labelled items let through, for tuning the lists."""
    out = []
    for o in outcomes:
        if o.flagged != (o.item.category != "benign"):
            cats = ",".join(c.value for c in o.verdict.categories) or "-"
            out.append(f"  [{o.item.category}/{o.item.lang}] {o.item.text!r} -> {cats}")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    from moderation.text import build_text_filter

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-ml", action="store_true", help="word lists only")
    parser.add_argument("--ml-threshold", type=float, default=None)
    parser.add_argument("--repeats", type=int, default=3, help="passes for the latency figure")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--misses", action="store_true", help="list misclassified items")
    args = parser.parse_args(argv)

    options = {} if args.ml_threshold is None else {"ml_threshold": args.ml_threshold}
    text_filter = build_text_filter(ml=not args.no_ml, **options)
    items = load_items(args.data)
    outcomes = run(text_filter, items)
    latencies, deep = latencies_ms(text_filter, items, args.repeats)
    long_items = [item for item in items if 200 <= len(item.text) <= 500]
    long_latencies, long_deep = latencies_ms(text_filter, long_items, args.repeats * 20)
    print("components:", ", ".join(text_filter.components))
    print("\n".join(report(outcomes, latencies, long_latencies)))
    print(f"latency per check, deep part (filter thread): {_latency_line(deep)}")
    print(f"  the same, texts of 200-500 chars: {_latency_line(long_deep)}")
    if args.misses:
        print("\nmisclassified:\n" + "\n".join(misses(outcomes)))
    passed = all(t.passed for t in targets(outcomes, latencies))
    copyright_ok = _copyright_figures(args.repeats)
    return 0 if passed and copyright_ok and _semantic_figures() else 1


def _semantic_figures() -> bool:
    """The semantic set (blind, from branch i20a) in every mode: ``bench.safety_semantic``."""
    from bench import safety_semantic

    print("\nsemantic safety set (bench.safety_semantic):")
    return safety_semantic.main([]) == 0


def _copyright_figures(repeats: int) -> bool:
    """The copyright guard's recall and false positives, beside the text filter's: the dev set
    (tuned on) and the held-out requests (not tuned on) side by side, then both sets' targets."""
    from bench import copyright_eval as ce

    guard = ce.eval_guard()
    dev_items, heldout_items = ce.load_items(), ce.load_items(ce.HELDOUT)
    dev, heldout = ce.run(guard, dev_items), ce.run(guard, heldout_items)
    dev_lines, dev_ok = ce.target_lines(dev, name="dev")
    heldout_lines, heldout_ok = ce.heldout_lines(heldout)
    print(f"\ncopyright guard: {guard.name}")
    print("\n".join([*ce.side_by_side(dev, heldout), *dev_lines, *heldout_lines]))
    print(ce.latency_line(guard, [*dev_items, *heldout_items], repeats))
    return dev_ok and heldout_ok


if __name__ == "__main__":
    raise SystemExit(main())
