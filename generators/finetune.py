"""Fine-tune Muse's text model on exported feedback with TRL: SFT on kept outputs, DPO on pairs.

``finetune`` reads the JSON lines that Muse's exporter writes (TRL's conversational format),
trains the base model with ``SFTTrainer`` or ``DPOTrainer`` (optionally through a LoRA adapter
that is merged back afterwards) and saves a plain model folder that ``MUSE_TEXT_MODEL`` can
point at. torch, transformers, TRL, PEFT and datasets are imported only when training starts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generators.backend import load_hint

SFT = "sft"
DPO = "dpo"
COLUMNS: dict[str, tuple[str, ...]] = {SFT: ("messages",), DPO: ("prompt", "chosen", "rejected")}
MAX_LENGTH = 1024  # tokens per training sequence; longer rows are truncated
LORA_RANK = 16
DPO_BETA = 0.1

LogCallback = Callable[[dict[str, float]], None]


@dataclass(frozen=True)
class FinetuneResult:
    """What a finished run did and where the trained model is."""

    method: str  # "sft" or "dpo"
    rows: int
    steps: int
    first_loss: float
    last_loss: float
    out_dir: Path
    lora: bool
    seconds: float


class FinetuneError(RuntimeError):
    """Fine-tuning cannot start or finish; the message says why and what to do."""


def _row_format(row: object) -> str | None:
    """``sft`` or ``dpo`` when ``row`` has that format's fields, else None."""
    if not isinstance(row, dict):
        return None
    if isinstance(row.get("messages"), list) and row["messages"]:
        return SFT
    if all(isinstance(row.get(key), list | str) and row[key] for key in COLUMNS[DPO]):
        return DPO
    return None


def _rows(path: Path) -> Iterator[tuple[int, object]]:
    """(line number, parsed JSON) for each non-blank line; FinetuneError on a missing file or
    a line that is not JSON."""
    if not path.is_file():
        raise FinetuneError(f"training data {str(path)!r} does not exist or is not a file")
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as err:
                raise FinetuneError(f"{path}:{number} is not valid JSON: {err}") from err


def detect_format(path: Path) -> str:
    """``sft`` when the first row has ``messages``, ``dpo`` when it has ``prompt``, ``chosen``
    and ``rejected``."""
    for number, row in _rows(path):
        found = _row_format(row)
        if found is None:
            raise FinetuneError(
                f"{path}:{number} is neither an SFT row (a 'messages' list) nor a DPO row "
                "('prompt', 'chosen' and 'rejected'); export the data with `muse export`"
            )
        return found
    raise FinetuneError(f"training data {str(path)!r} is empty: export some rated outputs first")


def _row_problem(row: object, method: str) -> str | None:
    """What keeps ``row`` from training with ``method``, or None."""
    if not isinstance(row, dict) or _row_format(row) != method:
        columns = ", ".join(repr(c) for c in COLUMNS[method])
        return f"is not a {method.upper()} row like the first one (it needs {columns})"
    if method == SFT:
        last = row["messages"][-1]
        if not isinstance(last, dict) or last.get("role") != "assistant":
            return "does not end with an assistant message to learn from"
    return None


def count_rows(path: Path, method: str) -> int:
    """How many rows ``path`` has; every one must be in ``method``'s format."""
    count = 0
    for number, row in _rows(path):
        problem = _row_problem(row, method)
        if problem is not None:
            raise FinetuneError(f"{path}:{number} {problem}")
        count += 1
    return count


def _check_args(max_steps: int, learning_rate: float, batch_size: int) -> None:
    if max_steps < 1:
        raise FinetuneError(f"max_steps must be at least 1, got {max_steps}")
    if batch_size < 1:
        raise FinetuneError(f"batch_size must be at least 1, got {batch_size}")
    if not learning_rate > 0:
        raise FinetuneError(f"learning_rate must be above 0, got {learning_rate}")


def _check_out(out: Path) -> None:
    """``out`` must be new or empty, so no file of an older model is left beside the new one."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FinetuneError(f"output folder {str(out)!r} already exists and is not empty")


def load_base(base: str) -> tuple[Any, Any]:
    """Tokenizer and float32 causal LM from a hub id or a folder; FinetuneError if either fails."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(base).expanduser()
    if path.exists() and not path.is_dir():
        raise FinetuneError(f"base model {base!r} is a file; pass a model folder or a hub id")
    try:
        tokenizer = AutoTokenizer.from_pretrained(base)
        model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    except (OSError, ValueError) as err:
        raise FinetuneError(load_hint("base model", base, "--base", err)) from err
    if not getattr(tokenizer, "chat_template", None):
        raise FinetuneError(
            f"base model {base!r} has no chat template, but the exported data is chat messages; "
            "fine-tune an instruct (chat) model"
        )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer, model


def load_rows(data: Path, method: str) -> Any:
    """The JSONL as a ``datasets.Dataset`` holding only the columns ``method`` trains on."""
    import datasets

    with tempfile.TemporaryDirectory(prefix="muse-ft-data-") as cache:
        try:
            table = datasets.load_dataset(
                "json", data_files=str(data), split="train", cache_dir=cache, keep_in_memory=True
            )
        except Exception as err:  # pyarrow and datasets raise many kinds for bad files
            raise FinetuneError(f"cannot read training data {str(data)!r}: {err}") from err
    table = table.select_columns(list(COLUMNS[method]))
    if method == SFT:
        table = table.map(split_completion, remove_columns=["messages"])
    return table


def split_completion(row: dict[str, Any]) -> dict[str, Any]:
    """A ``messages`` row as TRL's prompt-completion pair, so SFT learns only the final
    assistant message, not Muse's own system and user prompts."""
    messages = row["messages"]
    return {"prompt": messages[:-1], "completion": messages[-1:]}


class _LogForwarder:
    """Collects each step's loss and hands every numeric log entry to ``on_log``."""

    def __init__(self, on_log: LogCallback | None) -> None:
        self.on_log = on_log
        self.losses: list[float] = []

    def __call__(self, step: int, max_steps: int, logs: dict[str, Any]) -> None:
        numbers = {
            key: float(value)
            for key, value in logs.items()
            if isinstance(value, int | float) and not isinstance(value, bool)
        }
        if "loss" in numbers:
            self.losses.append(numbers["loss"])
        if self.on_log is not None:
            self.on_log({"step": float(step), "max_steps": float(max_steps), **numbers})


def _callback(forward: _LogForwarder) -> Any:
    """A ``TrainerCallback`` that passes the trainer's ``logs`` to ``forward``."""
    from transformers import TrainerCallback

    class ForwardLogs(TrainerCallback):
        def on_log(
            self,
            args: Any,
            state: Any,
            control: Any,
            logs: dict[str, Any] | None = None,
            **kwargs: Any,
        ) -> None:
            if logs:
                forward(int(state.global_step), int(state.max_steps), logs)

    return ForwardLogs()


def _config_kwargs(
    work: str, *, max_steps: int, learning_rate: float, batch_size: int, seed: int
) -> dict[str, Any]:
    """Settings shared by SFTConfig and DPOConfig: quiet, no checkpoints, CPU unless CUDA."""
    import torch

    cuda = torch.cuda.is_available()
    return _checkpointing_off() | dict(
        output_dir=work,
        max_steps=max_steps,
        learning_rate=learning_rate,
        per_device_train_batch_size=batch_size,
        max_length=MAX_LENGTH,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        seed=seed,
        data_seed=seed,
        use_cpu=not cuda,
        bf16=cuda and torch.cuda.is_bf16_supported(),
        fp16=False,
        dataloader_num_workers=0,
    )


def _checkpointing_off() -> dict[str, bool]:
    """Turn off TRL's default activation checkpointing (slow for small models), under the name
    this transformers knows: TRL's ``gradient_checkpointing`` warns from transformers 5.24 on."""
    from transformers import TrainingArguments

    names = {field.name for field in dataclasses.fields(TrainingArguments)}
    if "activation_checkpointing" in names:
        return {"activation_checkpointing": False}
    return {"gradient_checkpointing": False}


def _lora_config() -> Any:
    from peft import LoraConfig

    return LoraConfig(
        r=LORA_RANK,
        lora_alpha=2 * LORA_RANK,
        lora_dropout=0.0,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )


def _trainer(method: str, base: str, config: dict[str, Any], **common: Any) -> Any:
    """The TRL trainer for ``method``, quiet apart from the callbacks in ``common``."""
    from transformers import PrinterCallback

    trainer: Any
    if method == SFT:
        from trl.trainer.sft_config import SFTConfig
        from trl.trainer.sft_trainer import SFTTrainer

        trainer = SFTTrainer(args=SFTConfig(**config), **common)
    else:
        from trl.trainer.dpo_config import DPOConfig
        from trl.trainer.dpo_trainer import DPOTrainer

        # With LoRA the reference is the base itself, adapter off; otherwise a frozen copy.
        ref_model = None if common["peft_config"] else load_base(base)[1]
        trainer = DPOTrainer(args=DPOConfig(beta=DPO_BETA, **config), ref_model=ref_model, **common)
    trainer.remove_callback(PrinterCallback)  # it prints every log line to stdout
    return trainer


def save_model(trainer: Any, out: Path, lora: bool, use_cache: bool) -> None:
    """Write a plain model folder to ``out``; with LoRA also the adapter, under ``out/adapter``."""
    model = trainer.accelerator.unwrap_model(trainer.model)
    out.mkdir(parents=True, exist_ok=True)
    if lora:
        model.save_pretrained(str(out / "adapter"))
        model = model.merge_and_unload()
    model.config.use_cache = use_cache  # Trainer turns the KV cache off for training
    model.save_pretrained(str(out))
    trainer.processing_class.save_pretrained(str(out))


@contextlib.contextmanager
def _no_progress_bars() -> Iterator[None]:
    """Silence the datasets and transformers progress bars, restoring them afterwards."""
    import datasets
    from transformers.utils import logging as hf_logging

    datasets_on = datasets.is_progress_bar_enabled()
    transformers_on = hf_logging.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        if datasets_on:
            datasets.enable_progress_bars()
        if transformers_on:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


def finetune(
    data: Path,
    base: str,
    out: Path,
    *,
    lora: bool = False,
    max_steps: int = 50,
    learning_rate: float = 5e-5,
    batch_size: int = 4,
    seed: int = 0,
    on_log: LogCallback | None = None,
) -> FinetuneResult:
    """Train ``base`` on ``data`` (SFT or DPO, told by its rows) and save the model to ``out``.

    ``on_log`` gets each log entry the trainer writes (``step``, ``max_steps``, ``loss``, ...).
    """
    started = time.perf_counter()
    _check_args(max_steps, learning_rate, batch_size)
    _check_out(out)
    method = detect_format(data)
    count = count_rows(data, method)
    forward = _LogForwarder(on_log)
    with _no_progress_bars(), tempfile.TemporaryDirectory(prefix="muse-ft-") as work:
        config = _config_kwargs(
            work, max_steps=max_steps, learning_rate=learning_rate, batch_size=batch_size, seed=seed
        )
        steps = _train_and_save(data, method, base, out, config, lora=lora, forward=forward)
    return FinetuneResult(
        method=method,
        rows=count,
        steps=steps,
        first_loss=forward.losses[0],
        last_loss=forward.losses[-1],
        out_dir=out,
        lora=lora,
        seconds=time.perf_counter() - started,
    )


def _train_and_save(
    data: Path,
    method: str,
    base: str,
    out: Path,
    config: dict[str, Any],
    *,
    lora: bool,
    forward: _LogForwarder,
) -> int:
    """Train ``base`` on the rows of ``data`` and save it to ``out``; returns the steps taken.
    Raises ``FinetuneError`` when the loss diverged (nothing is saved then)."""
    rows = load_rows(data, method)
    tokenizer, model = load_base(base)
    use_cache = bool(model.config.use_cache)
    trainer = _trainer(
        method,
        base,
        config,
        model=model,
        processing_class=tokenizer,
        train_dataset=rows,
        callbacks=[_callback(forward)],
        peft_config=_lora_config() if lora else None,
    )
    trainer.train()
    if not forward.losses or not all(math.isfinite(loss) for loss in forward.losses):
        raise FinetuneError(
            f"training diverged (losses {forward.losses[-3:]}); try a lower learning rate"
        )
    save_model(trainer, out, lora, use_cache)
    return int(trainer.state.global_step)
