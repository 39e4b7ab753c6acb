"""Classifiers that give the word lists a second opinion. Both are optional and load only when
configured; neither downloads anything.

``ProfanityCheckFilter`` is alt-profanity-check's trained model (MIT; a TF-IDF vectorizer and a
calibrated linear SVM pickled inside the wheel, English only). Its files are checked against
pinned SHA-256 digests before they are unpickled, and the calibrated ensemble is evaluated with
numpy directly, which gives scikit-learn's probabilities about six times faster.

``TransformersTextClassifier`` loads any sequence-classification model that an operator has put
in a local folder (``save_pretrained`` layout) and maps its labels to categories.
"""

from __future__ import annotations

import importlib.util
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

import moderation.normalize as nz
from moderation.base import TextFilterError
from moderation.image import file_sha256
from moderation.normalize import Normalizer
from moderation.verdict import Category, Decision, Verdict

log = logging.getLogger(__name__)

DEFAULT_DECISIONS: Mapping[Category, Decision] = {
    Category.PROFANITY: Decision.REVIEW,
    Category.SEXUAL: Decision.REVIEW,
    Category.SEXUAL_MINORS: Decision.BLOCK,
    Category.HATE: Decision.BLOCK,
    Category.HARASSMENT: Decision.REVIEW,
    Category.VIOLENCE: Decision.REVIEW,
    Category.SELF_HARM: Decision.REVIEW,
    Category.ILLICIT: Decision.BLOCK,
    Category.OTHER: Decision.REVIEW,
}

# --- alt-profanity-check ---------------------------------------------------------------------

PROFANITY_CHECK_DIST = "alt-profanity-check"
PROFANITY_CHECK_PACKAGE = "profanity_check"
PROFANITY_CHECK_SHA256 = {
    "vectorizer.joblib": "19c5200dc6a41f026e0558e2f164f5fe8d8f58e502b46b37e4385037fcfa4831",
    "model.joblib": "aeafc04849d4d93db4721cf30a86ebf22085595294b8a07d51918e7fa98f538b",
}
ML_SCORE_KEY = "alt-profanity-check"
SECOND_PERSON = frozenset("you your youre yours yourself yourselves u ur ya yall".split())
_WORD = re.compile(r"[a-z]+")

FloatArray = npt.NDArray[np.float64]


def profanity_check_files() -> dict[str, Path]:
    """The two pickles inside the installed wheel, verified against their pinned digests."""
    spec = importlib.util.find_spec(PROFANITY_CHECK_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise TextFilterError(f"the ML filter needs the {PROFANITY_CHECK_DIST} package")
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    files = {}
    for name, expected in PROFANITY_CHECK_SHA256.items():
        path = folder / name
        if not path.is_file():
            raise TextFilterError(f"{PROFANITY_CHECK_DIST} has no bundled {name}")
        actual = file_sha256(path)
        if actual != expected:
            raise TextFilterError(f"{path} has SHA-256 {actual}, expected {expected}")
        files[name] = path
    return files


@dataclass(frozen=True)
class CalibratedLinear:
    """A sigmoid-calibrated ensemble of linear models, as ``CalibratedClassifierCV`` holds."""

    weights: FloatArray  # (features, members)
    intercepts: FloatArray  # (members,)
    slopes: FloatArray  # sigmoid a_ per member
    offsets: FloatArray  # sigmoid b_ per member

    @classmethod
    def from_sklearn(cls, model: Any) -> CalibratedLinear:
        """Reads the members of a fitted binary ``CalibratedClassifierCV(method="sigmoid")``."""
        if getattr(model, "method", None) != "sigmoid" or list(model.classes_) != [0, 1]:
            raise TextFilterError("the profanity model is not a binary sigmoid-calibrated model")
        members = model.calibrated_classifiers_
        return cls(
            weights=np.stack([m.estimator.coef_.ravel() for m in members], axis=1),
            intercepts=np.array([float(m.estimator.intercept_[0]) for m in members]),
            slopes=np.array([float(m.calibrators[0].a_) for m in members]),
            offsets=np.array([float(m.calibrators[0].b_) for m in members]),
        )

    def probability(self, features: Any) -> float:
        """Mean calibrated probability of the positive class for one row of features."""
        margins = np.asarray(features @ self.weights).ravel() + self.intercepts
        return float(np.mean(1.0 / (1.0 + np.exp(self.slopes * margins + self.offsets))))


def is_mostly_latin(folded: str) -> bool:
    """Whether a folded text is written in Latin letters rather than CJK (the ML is English)."""
    letters = sum(1 for ch in folded if "a" <= ch <= "z")
    return letters >= 3 and nz.cjk_count(folded) * 3 <= letters


class ProfanityCheckFilter:
    """alt-profanity-check's probability; at ``threshold`` or above the text goes to review as
    harassment when it addresses someone ("you", "your"), else as profanity.

    The model reads the folded text, after ``prepare`` (the word list passes its
    ``without_allowed``, so "Moby Dick" or "cock-a-doodle-doo" do not count against a text).
    """

    def __init__(
        self,
        vectorizer: Any,
        model: CalibratedLinear,
        *,
        threshold: float = 0.9,
        normalizer: Normalizer | None = None,
        prepare: Callable[[str], str] | None = None,
        version: str = "?",
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise TextFilterError(f"the ML threshold must be in (0, 1], not {threshold}")
        self._vectorizer = vectorizer
        self._model = model
        self.threshold = threshold
        self._normalizer = normalizer or Normalizer()
        self._prepare = prepare
        self.name = f"{PROFANITY_CHECK_DIST}@{version}"

    @classmethod
    def load(
        cls,
        *,
        threshold: float = 0.9,
        normalizer: Normalizer | None = None,
        prepare: Callable[[str], str] | None = None,
    ) -> ProfanityCheckFilter:
        """The bundled model, verified and unpickled; raises ``TextFilterError``."""
        files = profanity_check_files()
        try:
            import joblib

            vectorizer = joblib.load(files["vectorizer.joblib"])
            model = CalibratedLinear.from_sklearn(joblib.load(files["model.joblib"]))
        except TextFilterError:
            raise
        except Exception as err:  # unpickling reports version problems in many ways
            raise TextFilterError(f"cannot load the {PROFANITY_CHECK_DIST} model: {err}") from err
        version = metadata.version(PROFANITY_CHECK_DIST)
        return cls(
            vectorizer,
            model,
            threshold=threshold,
            normalizer=normalizer,
            prepare=prepare,
            version=version,
        )

    def probability(self, text: str) -> float:
        """The model's probability that ``text`` (already folded or not) is offensive."""
        return self._model.probability(self._vectorizer.transform([text]))

    def check(self, text: str) -> Verdict:
        try:
            return self._check(text)
        except Exception:  # a filter never raises; an error holds the text for review
            log.exception("ML text filter failed")
            return Verdict(Decision.REVIEW, (Category.OTHER,), components=(self.name,))

    def _check(self, text: str) -> Verdict:
        folded = self._normalizer.fold(text)
        if not is_mostly_latin(folded):
            return Verdict(Decision.ALLOW, components=(self.name,))
        score = self.probability(self._prepare(folded) if self._prepare else folded)
        scores = {ML_SCORE_KEY: round(score, 4)}
        if score < self.threshold:
            return Verdict(Decision.ALLOW, scores=scores, components=(self.name,))
        addressed = not SECOND_PERSON.isdisjoint(_WORD.findall(folded))
        category = Category.HARASSMENT if addressed else Category.PROFANITY
        return Verdict(Decision.REVIEW, (category,), scores, (), (self.name,))


# --- transformers ----------------------------------------------------------------------------

# Label names as models spell them (lower case, "-", "/" and spaces as "_") -> category; None
# marks a label that means "nothing wrong".
LABEL_CATEGORIES: Mapping[str, Category | None] = {
    **dict.fromkeys(
        "safe neutral non_toxic nontoxic not_toxic clean ok normal none benign acceptable "
        "not_offensive non_offensive no_hate not_hate negative".split(),
        None,
    ),
    **dict.fromkeys(
        "obscene profanity profane vulgar swear cursing offensive".split(), Category.PROFANITY
    ),
    **dict.fromkeys(
        "toxic toxicity severe_toxic severe_toxicity insult insults harassment bullying abusive "
        "abuse harassment_threatening".split(),
        Category.HARASSMENT,
    ),
    **dict.fromkeys(
        "identity_hate identity_attack hate hateful hate_speech hate_threatening racism sexism "
        "identity_hate_speech".split(),
        Category.HATE,
    ),
    **dict.fromkeys(
        "threat threatening violence violent violence_graphic graphic_violence".split(),
        Category.VIOLENCE,
    ),
    **dict.fromkeys(
        "sexual sexual_explicit explicit nsfw porn sexual_content sexually_explicit".split(),
        Category.SEXUAL,
    ),
    **dict.fromkeys(
        "sexual_minors csam child_sexual_abuse child_safety minors".split(),
        Category.SEXUAL_MINORS,
    ),
    **dict.fromkeys(
        "self_harm self_harm_intent self_harm_instructions selfharm suicide".split(),
        Category.SELF_HARM,
    ),
    **dict.fromkeys(
        "illicit illicit_violent illegal crime criminal drugs weapons".split(), Category.ILLICIT
    ),
    "other": Category.OTHER,
}


def label_key(label: str) -> str:
    """A label as the mapping spells it: "Sexual/Minors" -> "sexual_minors"."""
    return re.sub(r"[\s/\-]+", "_", label.strip().lower())


def map_labels(
    id2label: Mapping[int, str], extra: Mapping[str, Category | None] | None = None
) -> dict[int, Category]:
    """Label ids whose names map to a category; safe labels are left out, unknown ones logged."""
    table = {**LABEL_CATEGORIES, **{label_key(k): v for k, v in (extra or {}).items()}}
    mapped: dict[int, Category] = {}
    for index, name in id2label.items():
        key = label_key(name)
        if key not in table:
            log.warning("classifier label %r maps to no category; it is ignored", name)
            continue
        category = table[key]
        if category is not None:
            mapped[int(index)] = category
    if not mapped:
        names = sorted(id2label.values())
        raise TextFilterError(f"none of the classifier's labels {names} maps to a category")
    return mapped


class TransformersTextClassifier:
    """A local ``AutoModelForSequenceClassification``: a label at ``threshold`` or above flags
    its category with that category's default decision (``DEFAULT_DECISIONS``)."""

    def __init__(
        self,
        tokenizer: Any,
        model: Any,
        *,
        name: str,
        threshold: float = 0.5,
        label_map: Mapping[str, Category | None] | None = None,
        max_length: int = 256,
    ) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise TextFilterError(f"the classifier threshold must be in [0, 1], not {threshold}")
        config = model.config
        self._tokenizer = tokenizer
        self._model = model
        self.name = name
        self.threshold = threshold
        self.max_length = max_length
        self.id2label = {int(k): str(v) for k, v in config.id2label.items()}
        self.categories = map_labels(self.id2label, label_map)
        multi = getattr(config, "problem_type", None) == "multi_label_classification"
        self.multi_label = multi or len(self.id2label) == 1

    @classmethod
    def load(
        cls,
        model_dir: str | Path,
        *,
        threshold: float = 0.5,
        label_map: Mapping[str, Category | None] | None = None,
        max_length: int = 256,
    ) -> TransformersTextClassifier:
        """Tokenizer and model from a local folder only; raises ``TextFilterError``."""
        folder = Path(model_dir).expanduser()
        if not folder.is_dir():
            raise TextFilterError(f"text classifier folder {folder} does not exist")
        try:
            import transformers

            tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
            model = transformers.AutoModelForSequenceClassification.from_pretrained(
                folder, local_files_only=True
            )
        except Exception as err:  # transformers raises OSError, ValueError, KeyError, ...
            raise TextFilterError(f"cannot load a text classifier from {folder}: {err}") from err
        model.eval()
        name = f"classifier:{folder.name}@transformers-{transformers.__version__}"
        return cls(
            tokenizer,
            model,
            name=name,
            threshold=threshold,
            label_map=label_map,
            max_length=max_length,
        )

    def scores(self, text: str) -> dict[str, float]:
        """Each label's probability for ``text``."""
        import torch

        inputs = self._tokenizer(
            text, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        with torch.inference_mode():
            logits = self._model(**inputs).logits[0].float()
        probs = torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, dim=-1)
        return {self.id2label[i]: float(p) for i, p in enumerate(probs.tolist())}

    def check(self, text: str) -> Verdict:
        try:
            return self._check(text)
        except Exception:  # a filter never raises; an error holds the text for review
            log.exception("text classifier %s failed", self.name)
            return Verdict(Decision.REVIEW, (Category.OTHER,), components=(self.name,))

    def _check(self, text: str) -> Verdict:
        probs = self.scores(text)
        verdict = Verdict(
            Decision.ALLOW,
            scores={f"{self.name.split('@')[0]}:{k}": round(v, 4) for k, v in probs.items()},
            components=(self.name,),
        )
        for index, category in self.categories.items():
            score = probs[self.id2label[index]]
            if score >= self.threshold:
                found = Verdict(DEFAULT_DECISIONS[category], (category,), matched=())
                verdict = verdict.worst(found)
        return verdict
