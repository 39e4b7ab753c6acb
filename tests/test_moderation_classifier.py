"""A local transformers classifier as a pluggable component, tested on a tiny random BERT with a
tokenizer trained here: structure (labels, categories, scores, thresholds), not content."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pytest

from moderation.base import TextFilterError
from moderation.classifier import (
    TransformersTextClassifier,
    label_key,
    map_labels,
)
from moderation.text import build_text_filter
from moderation.verdict import Category, Decision

SENTENCES = [
    "a poem about spring rain",
    "you are an idiot and I will hurt you",
    "the soldiers marched through the snow",
    "write a slogan for a coffee shop",
    "春 日 花 烂 漫",
]
MULTI_LABELS = {0: "safe", 1: "toxic", 2: "threat", 3: "sexual/minors"}


def _tokenizer() -> Any:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordLevelTrainer(special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]"])
    tok.train_from_iterator(SENTENCES, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
    )
    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        model_max_length=64,
    )


ProblemType = Literal["single_label_classification", "multi_label_classification"] | None


def _save_tiny_bert(path: Path, labels: dict[int, str], problem_type: ProblemType) -> Path:
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    tokenizer = _tokenizer()
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        id2label=labels,
        label2id={v: k for k, v in labels.items()},
        problem_type=problem_type,
    )
    BertForSequenceClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def multi_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("tiny-toxic")
    return _save_tiny_bert(folder, MULTI_LABELS, "multi_label_classification")


@pytest.fixture(scope="module")
def single_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-binary")
    return _save_tiny_bert(folder, {0: "non-toxic", 1: "toxic"}, "single_label_classification")


def test_labels_map_to_categories(multi_dir: Path) -> None:
    clf = TransformersTextClassifier.load(multi_dir)
    assert clf.categories == {
        1: Category.HARASSMENT,
        2: Category.VIOLENCE,
        3: Category.SEXUAL_MINORS,
    }
    assert clf.multi_label
    assert clf.name.startswith("classifier:tiny-toxic")
    assert "@transformers-" in clf.name


def test_scores_are_probabilities_per_label(multi_dir: Path) -> None:
    clf = TransformersTextClassifier.load(multi_dir)
    for text in [*SENTENCES, "words it never saw", ""]:
        scores = clf.scores(text)
        assert set(scores) == set(MULTI_LABELS.values())
        assert all(0.0 <= p <= 1.0 for p in scores.values())


def test_thresholds_decide(multi_dir: Path) -> None:
    everything = TransformersTextClassifier.load(multi_dir, threshold=0.0).check("a poem")
    assert everything.decision is Decision.BLOCK  # sexual_minors is always blocked
    assert set(everything.categories) == {
        Category.HARASSMENT,
        Category.VIOLENCE,
        Category.SEXUAL_MINORS,
    }
    assert len(everything.scores) == 4

    nothing = TransformersTextClassifier.load(multi_dir, threshold=1.0).check("a poem")
    assert nothing.decision is Decision.ALLOW
    assert nothing.categories == ()
    assert all(0.0 <= p <= 1.0 for p in nothing.scores.values())


def test_single_label_models_use_softmax(single_dir: Path) -> None:
    clf = TransformersTextClassifier.load(single_dir, threshold=0.0)
    assert not clf.multi_label
    scores = clf.scores("a poem about spring rain")
    assert sum(scores.values()) == pytest.approx(1.0, abs=1e-5)
    verdict = clf.check("a poem about spring rain")
    assert verdict.categories == (Category.HARASSMENT,)
    assert verdict.decision is Decision.REVIEW


def test_unknown_labels_need_a_label_map(tmp_path: Path) -> None:
    folder = _save_tiny_bert(tmp_path / "opaque", {0: "LABEL_0", 1: "LABEL_1"}, None)
    with pytest.raises(TextFilterError, match="maps to a category"):
        TransformersTextClassifier.load(folder)
    clf = TransformersTextClassifier.load(
        folder, threshold=0.0, label_map={"LABEL_0": None, "LABEL_1": Category.HATE}
    )
    assert clf.categories == {1: Category.HATE}
    assert clf.check("x").decision is Decision.BLOCK


def test_label_names_are_normalized() -> None:
    assert label_key(" Sexual/Minors ") == "sexual_minors"
    assert label_key("self-harm") == "self_harm"
    assert map_labels({0: "Neutral", 1: "identity_hate", 2: "obscene", 3: "insult"}) == {
        1: Category.HATE,
        2: Category.PROFANITY,
        3: Category.HARASSMENT,
    }


def test_the_factory_adds_the_classifier(multi_dir: Path) -> None:
    combined = build_text_filter(ml=False, classifier_dir=str(multi_dir), classifier_threshold=0.0)
    assert any(name.startswith("classifier:tiny-toxic") for name in combined.components)
    verdict = combined.check("a poem about spring rain")
    assert verdict.decision is Decision.BLOCK
    assert Category.SEXUAL_MINORS in verdict.categories


def test_missing_or_empty_folders_are_load_errors(tmp_path: Path) -> None:
    with pytest.raises(TextFilterError, match="does not exist"):
        TransformersTextClassifier.load(tmp_path / "nowhere")
    with pytest.raises(TextFilterError, match="cannot load a text classifier"):
        TransformersTextClassifier.load(tmp_path)
    with pytest.raises(TextFilterError, match="does not exist"):
        build_text_filter(ml=False, classifier_dir=str(tmp_path / "nowhere"))


def test_errors_inside_the_model_hold_the_text(multi_dir: Path) -> None:
    clf = TransformersTextClassifier.load(multi_dir)
    clf._model = None
    verdict = clf.check("a poem")
    assert verdict.decision is Decision.REVIEW
    assert verdict.categories == (Category.OTHER,)
