"""Muse's own safety training set: written by ``bench.safety_trainset`` from templates and slot
lists (the committed files are exactly what the script writes), large, balanced between
languages and labels, covering every category with evasions, and its held-out templates kept
out of the training file."""

from __future__ import annotations

import collections
import json
from pathlib import Path

from bench.safety_semantic import CATEGORIES, load_items
from bench.safety_trainset import OUT, main


def test_the_committed_files_are_what_the_generator_writes(tmp_path: Path) -> None:
    assert main(["--out", str(tmp_path)]) == 0
    for name in ("safety_train_v2.jsonl", "safety_heldout_v2.jsonl"):
        assert (tmp_path / name).read_bytes() == (OUT / name).read_bytes(), name


def test_the_training_set_is_large_balanced_and_covers_every_category() -> None:
    items = load_items(OUT / "safety_train_v2.jsonl")
    assert len(items) >= 1500
    counts = collections.Counter((i.lang, i.label) for i in items)
    for lang in ("en", "zh"):
        assert 0.4 <= (counts[lang, "harmful"] + counts[lang, "benign"]) / len(items) <= 0.6
        assert 0.7 <= counts[lang, "harmful"] / counts[lang, "benign"] <= 1.3
        for category in CATEGORIES:
            harmful = [
                i for i in items if (i.lang, i.category, i.label) == (lang, category, "harmful")
            ]
            assert len(harmful) >= 40, (lang, category)
            assert {i.style for i in harmful} == {"plain", "evasion"}, (lang, category)
            assert any(i.category == category and i.label == "benign" for i in items)


def test_held_out_templates_never_reach_the_training_file() -> None:
    def texts(name: str) -> set[str]:
        lines = (OUT / name).read_text(encoding="utf-8").splitlines()
        return {json.loads(line)["text"] for line in lines}

    held, train = texts("safety_heldout_v2.jsonl"), texts("safety_train_v2.jsonl")
    assert len(held) >= 300 and not held & train
