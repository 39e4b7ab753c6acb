"""Copyright guard on its labelled evaluation set: recall, false positives and latency.

    python -m bench.copyright_eval [--data PATH] [--groups] [--misses SPLIT] [--repeats N]

Loads the guard with the shipped data plus fingerprints of the Muse-written stand-in works in
``tests/data/copyright/works.jsonl`` (built in memory, exactly as an operator's file would be),
runs ``check_request`` on request items and ``check`` on output items of
``tests/data/copyright_eval.jsonl``, and prints recall (protected items refused) and the
false-positive rate (benign items refused) per kind and language, for the items used while
tuning (dev), the third held out (holdout) and two batches written later (blind, blind2),
then PASS or FAIL per target. ``--data tests/data/copyright_heldout.jsonl`` measures the held-out
requests instead (written before the patterns were read, never used to tune them);
``--groups`` adds a row per group (lyrics, slogan, summary, …).
``bench.safety_eval`` prints the same figures beside the text filter's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from moderation.copyright import CopyrightGuard, load_public_domain
from moderation.verdict import Category, Verdict

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "copyright_eval.jsonl"
HELDOUT = ROOT / "tests" / "data" / "copyright_heldout.jsonl"
STAND_INS = ROOT / "tests" / "data" / "copyright" / "works.jsonl"
RECALL_MIN = 0.9
FPR_MAX = 0.03
KINDS = ("request", "output")
LANGS = ("en", "zh")
# The dev set's splits: dev and holdout were written with the guard; blind items were written
# after it and measured once before the patterns were tuned on them (see README).
SPLITS = ("dev", "holdout", "blind", "blind2")


@dataclass(frozen=True)
class Item:
    """One labelled request or output."""

    text: str
    lang: str
    kind: str
    label: str  # "copyright" or "benign"
    group: str
    split: str  # see SPLITS


@dataclass(frozen=True)
class Outcome:
    item: Item
    verdict: Verdict

    @property
    def flagged(self) -> bool:
        return Category.COPYRIGHT in self.verdict.categories


def load_items(path: Path = DATA) -> list[Item]:
    with path.open(encoding="utf-8") as handle:
        return [Item(**json.loads(line)) for line in handle if line.strip()]


def eval_guard() -> CopyrightGuard:
    """The shipped guard plus the stand-in works' fingerprints."""
    from moderation import fingerprint as fp
    from moderation.copyright import FINGERPRINTS_FILE
    from moderation.normalize import Normalizer

    normalizer = Normalizer()
    shipped = fp.load(ROOT / "moderation" / "data" / FINGERPRINTS_FILE)
    stand_ins = fp.read_sources([STAND_INS], normalizer)
    return CopyrightGuard(shipped + stand_ins, load_public_domain(normalizer), normalizer)


def judge(guard: CopyrightGuard, item: Item) -> Verdict:
    return guard.check_request(item.text) if item.kind == "request" else guard.check(item.text)


def run(guard: CopyrightGuard, items: Sequence[Item]) -> list[Outcome]:
    return [Outcome(item, judge(guard, item)) for item in items]


def rate(outcomes: Sequence[Outcome], label: str) -> float:
    """Share flagged among the outcomes with ``label`` (recall for copyright, FPR for benign)."""
    rows = [o for o in outcomes if o.item.label == label]
    return sum(o.flagged for o in rows) / len(rows) if rows else float("nan")


def select(outcomes: Sequence[Outcome], **fields: str) -> list[Outcome]:
    return [o for o in outcomes if all(getattr(o.item, k) == v for k, v in fields.items())]


def _row(name: str, rows: Sequence[Outcome]) -> str:
    pos = sum(o.item.label == "copyright" for o in rows)
    return (
        f"{name:<22}{pos:>5}{rate(rows, 'copyright'):>8.3f}"
        f"{len(rows) - pos:>5}{rate(rows, 'benign'):>8.3f}"
    )


def table(outcomes: Sequence[Outcome], groups: bool = False) -> list[str]:
    """Recall and FPR per kind and language, per split, and (``groups``) per group."""
    lines = [f"{'items':<22}{'n+':>5}{'recall':>8}{'n-':>5}{'fpr':>8}"]
    for kind in KINDS:
        for lang in LANGS:
            if scoped := select(outcomes, kind=kind, lang=lang):
                lines.append(_row(f"{kind} {lang}", scoped))
    for split in dict.fromkeys(o.item.split for o in outcomes):
        lines.append(_row(f"split {split}", select(outcomes, split=split)))
    for group in sorted({o.item.group for o in outcomes} if groups else ()):
        lines.append(_row(f"group {group}"[:21], select(outcomes, group=group)))
    return [*lines, _row("all", outcomes)]


def target_lines(outcomes: Sequence[Outcome]) -> tuple[list[str], bool]:
    """PASS/FAIL lines for recall and FPR over the whole set, and whether both pass."""
    recall, fpr = rate(outcomes, "copyright"), rate(outcomes, "benign")
    ok_recall, ok_fpr = recall >= RECALL_MIN, fpr <= FPR_MAX
    lines = [
        f"{'PASS' if ok_recall else 'FAIL'}  copyright recall: {recall:.4f}"
        f" (target >= {RECALL_MIN})",
        f"{'PASS' if ok_fpr else 'FAIL'}  copyright false-positive rate: {fpr:.4f}"
        f" (target <= {FPR_MAX})",
    ]
    return lines, ok_recall and ok_fpr


def latency_line(guard: CopyrightGuard, items: Sequence[Item], repeats: int) -> str:
    times = []
    for _ in range(repeats):
        for item in items:
            start = time.perf_counter()
            judge(guard, item)
            times.append((time.perf_counter() - start) * 1000)
    times.sort()
    p99 = times[min(len(times) - 1, int(0.99 * len(times)))]
    return f"copyright check latency: median {statistics.median(times):.3f} ms, p99 {p99:.3f} ms"


def misses(outcomes: Sequence[Outcome], split: str = "dev") -> list[str]:
    return [
        f"  [{o.item.kind}/{o.item.lang}/{o.item.label}] {o.item.text[:90]!r}"
        f" -> {', '.join(o.verdict.matched) or '-'}"
        for o in select(outcomes, split=split)
        if o.flagged != (o.item.label == "copyright")
    ]


def report(
    guard: CopyrightGuard, items: Sequence[Item], repeats: int, groups: bool = False
) -> tuple[list[str], bool]:
    outcomes = run(guard, items)
    lines = [f"copyright guard: {guard.name}, {len(items)} labelled items"]
    lines += table(outcomes, groups)
    lines.append(latency_line(guard, items, repeats))
    targets, ok = target_lines(outcomes)
    return [*lines, *targets], ok


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data", type=Path, default=DATA, help="a labelled JSON-lines file")
    parser.add_argument("--groups", action="store_true", help="a row per group")
    parser.add_argument("--misses", metavar="SPLIT", default=None, help="list a split's errors")
    args = parser.parse_args(argv)
    guard, items = eval_guard(), load_items(args.data)
    lines, ok = report(guard, items, args.repeats, args.groups)
    print("\n".join(lines))
    if args.misses:
        print(
            f"\nmisclassified ({args.misses}):\n"
            + "\n".join(misses(run(guard, items), args.misses))
        )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
