"""Fine-tuning the tiny Llama with TRL, offline on CPU: SFT, DPO with LoRA, and bad inputs."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from generators.finetune import FinetuneError, detect_format, finetune
from generators.prompts import poem_prompt
from generators.requests import PoemRequest
from generators.samples import SamplingParams, TextSample

# PEFT 0.21.2 reads `model.is_gradient_checkpointing`, which transformers 5.24 deprecated.
PEFT_WARNING = pytest.mark.filterwarnings(
    "ignore:`is_gradient_checkpointing` is deprecated and will be removed in v6:FutureWarning"
)
TOPICS = ["moon", "river", "garden", "ocean", "rocket", "coffee", "shadow", "morning"]
POEMS = [
    "the moon is bright\nriver light in the dream\nsimple and fresh",
    "a river of light\nmorning whisper to the garden\nevery day is bold",
    "garden of the moon\nshadow and coffee\nbright dream of morning",
    "ocean whisper\nthe bright rocket is fast\nmake a simple dream",
]


def _prompt_messages(topic: str) -> list[dict[str, str]]:
    prompt = poem_prompt(PoemRequest(topic=topic), SamplingParams(seed=1))
    return [{"role": m.role, "content": m.content} for m in prompt.messages]


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def sft_rows(n: int = 16) -> list[dict[str, Any]]:
    """Kept poems in the exporter's SFT format, with provenance keys TRL does not know."""
    return [
        {
            "messages": [
                *_prompt_messages(TOPICS[i % len(TOPICS)]),
                {"role": "assistant", "content": POEMS[i % len(POEMS)]},
            ],
            "output_id": i + 1,
            "model_id": "tiny-llama",
            "kind": "poem",
            "score": 1 if i % 2 else None,
            "rating": i if i % 3 else "up",  # mixed types in a column nobody trains on
        }
        for i in range(n)
    ]


def dpo_rows(n: int = 16) -> list[dict[str, Any]]:
    """Preference pairs in the exporter's DPO format: a poem chosen over word salad."""
    return [
        {
            "prompt": [{"role": "user", "content": f"Write a haiku about: {TOPICS[i % 8]}"}],
            "chosen": [{"role": "assistant", "content": POEMS[i % len(POEMS)]}],
            "rejected": [{"role": "assistant", "content": "of of of the the a a to to in is"}],
            "chosen_id": 2 * i,
            "rejected_id": 2 * i + 1,
            "model_id": "tiny-llama",
        }
        for i in range(n)
    ]


def _generates(out: Path) -> TextSample:
    from generators.text import TransformersTextBackend

    backend = TransformersTextBackend.load(str(out), device="cpu")
    prompt = poem_prompt(PoemRequest(topic="moon"), SamplingParams(seed=1, max_new_tokens=8))
    [sample] = backend.generate([prompt], threading.Event())
    return sample


def test_sft_end_to_end(tiny_lm_dir: Path, tmp_path: Path) -> None:
    data = _write_jsonl(tmp_path / "sft.jsonl", sft_rows())
    logs: list[dict[str, float]] = []
    result = finetune(
        data,
        str(tiny_lm_dir),
        tmp_path / "out",
        max_steps=20,
        learning_rate=1e-3,
        batch_size=4,
        on_log=logs.append,
    )
    assert (result.method, result.rows, result.steps, result.lora) == ("sft", 16, 20, False)
    assert result.last_loss < result.first_loss
    losses = [log["loss"] for log in logs if "loss" in log]
    assert len(losses) == 20
    assert (losses[0], losses[-1]) == (result.first_loss, result.last_loss)
    assert max(log["step"] for log in logs) == logs[-1]["max_steps"] == 20
    config = json.loads((result.out_dir / "config.json").read_text(encoding="utf-8"))
    assert config["use_cache"] is True  # Trainer turned it off for training
    assert (result.out_dir / "tokenizer.json").is_file()
    assert not (result.out_dir / "adapter").exists()
    assert isinstance(_generates(result.out_dir), TextSample)


@PEFT_WARNING
def test_dpo_with_lora_end_to_end(tiny_lm_dir: Path, tmp_path: Path) -> None:
    data = _write_jsonl(tmp_path / "dpo.jsonl", dpo_rows())
    result = finetune(
        data, str(tiny_lm_dir), tmp_path / "out", lora=True, max_steps=8, learning_rate=5e-3
    )
    assert (result.method, result.rows, result.steps, result.lora) == ("dpo", 16, 8, True)
    assert math.isclose(result.first_loss, math.log(2), abs_tol=1e-3)  # policy == reference
    assert result.last_loss < math.log(2)
    assert (result.out_dir / "adapter" / "adapter_config.json").is_file()
    assert not (result.out_dir / "adapter_config.json").exists()  # merged: a plain model
    assert isinstance(_generates(result.out_dir), TextSample)


@PEFT_WARNING
def test_dpo_with_an_sft_term_and_beta(tiny_lm_dir: Path, tmp_path: Path) -> None:
    """``sft_weight`` adds the chosen texts' language-model loss to DPO's (RPO): with the policy
    equal to the reference the DPO part is log 2, so the first loss is that plus the SFT part."""
    data = _write_jsonl(tmp_path / "dpo.jsonl", dpo_rows())
    out = tmp_path / "out"
    result = finetune(
        data, str(tiny_lm_dir), out, lora=True, max_steps=4, learning_rate=5e-3,
        beta=0.5, sft_weight=1.0,
    )  # fmt: skip
    assert result.first_loss > math.log(2) + 1.0  # a random tiny model: several nats per token
    assert result.last_loss < result.first_loss
    card = json.loads((out / "training_log.json").read_text(encoding="utf-8"))
    assert card["hyper_parameters"]["beta"] == 0.5
    assert card["hyper_parameters"]["sft_weight"] == 1.0


@PEFT_WARNING
@pytest.mark.parametrize(("rows", "lora"), [(sft_rows, True), (dpo_rows, False)])
def test_other_combinations(
    tiny_lm_dir: Path, tmp_path: Path, rows: Callable[[], list[dict[str, Any]]], lora: bool
) -> None:
    """SFT through LoRA, and full DPO against a frozen copy of the base."""
    data = _write_jsonl(tmp_path / "data.jsonl", rows())
    result = finetune(
        data, str(tiny_lm_dir), tmp_path / "out", lora=lora, max_steps=4, learning_rate=5e-3
    )
    assert result.steps == 4
    assert result.last_loss < result.first_loss
    assert (result.out_dir / "adapter").is_dir() is lora
    assert isinstance(_generates(result.out_dir), TextSample)


def test_detect_format(tmp_path: Path) -> None:
    assert detect_format(_write_jsonl(tmp_path / "a.jsonl", sft_rows(2))) == "sft"
    assert detect_format(_write_jsonl(tmp_path / "b.jsonl", dpo_rows(2))) == "dpo"
    plain = {"prompt": "The moon is", "chosen": " bright.", "rejected": " of of."}
    assert detect_format(_write_jsonl(tmp_path / "c.jsonl", [plain])) == "dpo"
    blank_first = tmp_path / "d.jsonl"
    blank_first.write_text("\n" + json.dumps(sft_rows(1)[0]) + "\n", encoding="utf-8")
    assert detect_format(blank_first) == "sft"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("", "is empty"),
        ("\n  \n", "is empty"),
        ("{not json\n", "not valid JSON"),
        ('{"text": "a poem"}\n', "neither an SFT row"),
        ('{"prompt": "x", "chosen": "y"}\n', "neither an SFT row"),
        ('{"messages": []}\n', "neither an SFT row"),
        ("[1, 2]\n", "neither an SFT row"),
    ],
)
def test_detect_format_errors(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "data.jsonl"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(FinetuneError, match=message):
        detect_format(path)


def test_bad_later_rows_fail_before_loading(tmp_path: Path) -> None:
    data = _write_jsonl(tmp_path / "mixed.jsonl", [*sft_rows(2), dpo_rows(1)[0]])
    with pytest.raises(FinetuneError, match=r"mixed.jsonl:3 is not a SFT row"):
        finetune(data, "no/such-model", tmp_path / "out")
    unanswered = sft_rows(1)[0]
    unanswered["messages"] = unanswered["messages"][:-1]
    data = _write_jsonl(tmp_path / "open.jsonl", [*sft_rows(1), unanswered])
    with pytest.raises(FinetuneError, match=r"open.jsonl:2 does not end with an assistant message"):
        finetune(data, "no/such-model", tmp_path / "out")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_steps": 0}, "max_steps"),
        ({"batch_size": 0}, "batch_size"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"beta": 0.0}, "beta"),
        ({"sft_weight": -1.0}, "sft_weight"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict[str, Any], message: str) -> None:
    data = _write_jsonl(tmp_path / "sft.jsonl", sft_rows(4))
    with pytest.raises(FinetuneError, match=message):
        finetune(data, "unused", tmp_path / "out", **kwargs)


def test_output_folder_must_be_new(tmp_path: Path) -> None:
    data = _write_jsonl(tmp_path / "sft.jsonl", sft_rows(2))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "model.safetensors").write_bytes(b"old")
    with pytest.raises(FinetuneError, match="already exists and is not empty"):
        finetune(data, "unused", tmp_path / "out")
    with pytest.raises(FinetuneError, match="already exists and is not empty"):
        finetune(data, "unused", data)


def test_unloadable_base(tiny_base_lm_dir: Path, tmp_path: Path) -> None:
    data = _write_jsonl(tmp_path / "sft.jsonl", sft_rows(4))
    out = tmp_path / "out"
    with pytest.raises(FinetuneError, match="not in the local Hugging Face cache"):
        finetune(data, "muse-tests/no-such-model", out)
    with pytest.raises(FinetuneError, match="folder is missing or incomplete"):
        finetune(data, str(tmp_path / "missing"), out)
    with pytest.raises(FinetuneError, match="folder is missing or incomplete"):
        finetune(data, str(tmp_path), out)  # a folder without a model
    with pytest.raises(FinetuneError, match="is a file"):
        finetune(data, str(data), out)
    with pytest.raises(FinetuneError, match="no chat template"):
        finetune(data, str(tiny_base_lm_dir), out)
    assert not out.exists()


def test_import_is_light() -> None:
    code = (
        "import sys, generators.finetune; "
        "print(sorted(m for m in ('torch', 'trl', 'peft', 'datasets', 'transformers') "
        "if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
