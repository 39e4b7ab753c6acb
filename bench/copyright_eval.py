"""Copyright guard on its labelled evaluation set: recall, false positives and latency.

    python -m bench.copyright_eval [--data PATH] [--groups] [--misses SPLIT] [--repeats N]

Loads the guard with the shipped data plus fingerprints of the Muse-written stand-in works in
``tests/data/copyright/works.jsonl`` (built in memory, exactly as an operator's file would be),
runs ``check_request`` on request items and ``check`` on output items of
``tests/data/copyright_eval.jsonl``, and prints recall (protected items refused) and the
false-positive rate (benign items refused) per kind and language, for the items used while
tuning (dev), the third held out (holdout) and two batches written later (blind, blind2),
then PASS or FAIL per target. ``--data tests/data/copyright_heldout.jsonl`` measures the held-out
requests instead (written before the request patterns were read, never used to tune them)
against ``HELDOUT_FLOORS``; ``--groups`` adds a row per group (lyrics, slogan, summary, …).
``bench.safety_eval`` prints the same figures beside the text filter's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Sequence
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
# Floors on the held-out requests: what the guard measured the one time it was run on them
# (recall 0.979, FPR 0.036; en 0.973 / 0.066, zh 0.986 / 0.000), less a small margin, so a
# regression shows. Not targets to tune towards: the set must stay unseen by the patterns.
HELDOUT_FLOORS = {"all": (0.95, 0.06), "en": (0.94, 0.10), "zh": (0.95, 0.03)}
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


def target_lines(
    outcomes: Sequence[Outcome],
    recall_min: float = RECALL_MIN,
    fpr_max: float = FPR_MAX,
    name: str = "copyright",
) -> tuple[list[str], bool]:
    """PASS/FAIL lines for recall and FPR over ``outcomes``, and whether both pass."""
    recall, fpr = rate(outcomes, "copyright"), rate(outcomes, "benign")
    ok_recall, ok_fpr = recall >= recall_min, fpr <= fpr_max
    lines = [
        f"{'PASS' if ok_recall else 'FAIL'}  {name} recall: {recall:.4f} (target >= {recall_min})",
        f"{'PASS' if ok_fpr else 'FAIL'}  {name} false-positive rate: {fpr:.4f}"
        f" (target <= {fpr_max})",
    ]
    return lines, ok_recall and ok_fpr


def heldout_lines(outcomes: Sequence[Outcome]) -> tuple[list[str], bool]:
    """PASS/FAIL lines for the held-out floors, overall and per language."""
    lines: list[str] = []
    passed = True
    for scope, (recall_min, fpr_max) in HELDOUT_FLOORS.items():
        scoped = outcomes if scope == "all" else select(outcomes, lang=scope)
        more, ok = target_lines(scoped, recall_min, fpr_max, f"held-out {scope}")
        lines, passed = lines + more, passed and ok
    return lines, passed


def side_by_side(dev: Sequence[Outcome], heldout: Sequence[Outcome]) -> list[str]:
    """Recall and FPR per kind and language on the dev set and on the held-out set."""
    head = f"{'n+':>5}{'recall':>8}{'n-':>5}{'fpr':>8}"
    lines = [
        f"{'':<16}{'dev (tuned on)':^26}   {'held-out (not tuned on)':^26}",
        f"{'items':<16}{head}   {head}",
    ]
    scopes = [(f"{k} {lang}", {"kind": k, "lang": lang}) for k in KINDS for lang in LANGS]
    for name, fields in [*scopes, ("requests", {"kind": "request"}), ("all", {})]:
        cells = [_row("", select(rows, **fields))[22:] for rows in (dev, heldout)]
        lines.append(f"{name:<16}{cells[0]}   {cells[1] if select(heldout, **fields) else '':>26}")
    return lines


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


Targets = Callable[[Sequence[Outcome]], tuple[list[str], bool]]


def report(
    guard: CopyrightGuard,
    items: Sequence[Item],
    repeats: int,
    groups: bool = False,
    targets: Targets = target_lines,
) -> tuple[list[str], bool]:
    """The table, the latency and the PASS/FAIL lines of ``targets``."""
    outcomes = run(guard, items)
    lines = [f"copyright guard: {guard.name}, {len(items)} labelled items"]
    lines += table(outcomes, groups)
    lines.append(latency_line(guard, items, repeats))
    verdicts, ok = targets(outcomes)
    return [*lines, *verdicts], ok


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data", type=Path, default=DATA, help="a labelled JSON-lines file")
    parser.add_argument("--groups", action="store_true", help="a row per group")
    parser.add_argument("--misses", metavar="SPLIT", default=None, help="list a split's errors")
    args = parser.parse_args(argv)
    guard, items = eval_guard(), load_items(args.data)
    targets = heldout_lines if args.data.resolve() == HELDOUT.resolve() else target_lines
    lines, ok = report(guard, items, args.repeats, args.groups, targets)
    print("\n".join(lines))
    if args.misses:
        print(
            f"\nmisclassified ({args.misses}):\n"
            + "\n".join(misses(run(guard, items), args.misses))
        )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
