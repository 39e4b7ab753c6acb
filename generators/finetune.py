"""Fine-tune Muse's text model on exported feedback with TRL: SFT on kept outputs, DPO on pairs.

``finetune`` reads the JSON lines that Muse's exporter writes (TRL's conversational format),
trains the base model with ``SFTTrainer`` or ``DPOTrainer`` (optionally through a LoRA adapter
that is merged back afterwards) and saves a plain model folder that ``MUSE_TEXT_MODEL`` can
point at. A share of the rows is held out for an eval loss; checkpoints go to ``<out>.checkpoints``
so that an interrupted run can resume; beside the model go ``loss.png``, ``training_log.json``
and a model card (``README.md``). torch, transformers, TRL, PEFT and datasets are imported only
when training starts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generators.backend import load_hint
from generators.finetune_data import (
    DPO,
    SFT,
    FinetuneError,
    count_rows,
    detect_format,
    held_out_rows,
    load_rows,
    split_rows,
)
from generators.finetune_report import (
    LogCallback,
    LogForwarder,
    file_sha256,
    log_callback,
    write_report,
)

__all__ = ["DPO", "SFT", "FinetuneError", "FinetuneResult", "TrainPlan", "detect_format"]
MAX_LENGTH = 1024  # tokens per training sequence; longer rows are truncated
LORA_RANK = 16
DPO_BETA = 0.1


@dataclass(frozen=True)
class TrainPlan:
    """The hyper-parameters of one run."""

    lora: bool = False
    max_steps: int = 50
    learning_rate: float = 5e-5
    batch_size: int = 4
    seed: int = 0
    eval_fraction: float = 0.1  # share of rows held out for the eval loss
    save_steps: int = 0  # checkpoint every this many steps; 0: a fifth of max_steps
    beta: float = DPO_BETA  # DPO: how far the tuned model may drift from the base
    sft_weight: float = 0.0  # DPO: weight of an added SFT loss on the chosen texts (RPO)

    def checkpoint_every(self) -> int:
        return self.save_steps or max(1, self.max_steps // 5)


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
    train_rows: int = 0
    eval_rows: int = 0
    eval_loss: float | None = None  # on the held-out rows after the last step
    resumed_from: int = 0  # the checkpoint's step, 0 for a fresh run


def checkpoint_dir(out: Path) -> Path:
    """Where the checkpoints of the run writing ``out`` go."""
    return out.with_name(out.name + ".checkpoints")


def _check_args(plan: TrainPlan) -> None:
    max_steps, learning_rate, batch_size = plan.max_steps, plan.learning_rate, plan.batch_size
    if plan.save_steps < 0:
        raise FinetuneError(f"save_steps must be 0 or more, got {plan.save_steps}")
    if max_steps < 1:
        raise FinetuneError(f"max_steps must be at least 1, got {max_steps}")
    if batch_size < 1:
        raise FinetuneError(f"batch_size must be at least 1, got {batch_size}")
    if not learning_rate > 0:
        raise FinetuneError(f"learning_rate must be above 0, got {learning_rate}")
    if not plan.beta > 0:
        raise FinetuneError(f"beta must be above 0, got {plan.beta}")
    if plan.sft_weight < 0:
        raise FinetuneError(f"sft_weight must be 0 or more, got {plan.sft_weight}")


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


def _config_kwargs(work: Path, plan: TrainPlan, evaluate: bool) -> dict[str, Any]:
    """Settings shared by SFTConfig and DPOConfig: quiet, the last checkpoint kept in ``work``,
    the eval loss at each checkpoint when ``evaluate``, CPU unless CUDA."""
    import torch

    cuda = torch.cuda.is_available()
    every = plan.checkpoint_every()
    return _checkpointing_off() | dict(
        output_dir=str(work),
        max_steps=plan.max_steps,
        learning_rate=plan.learning_rate,
        per_device_train_batch_size=plan.batch_size,
        per_device_eval_batch_size=plan.batch_size,
        max_length=MAX_LENGTH,
        logging_steps=1,
        save_strategy="steps",
        save_steps=every,
        save_total_limit=1,
        eval_strategy="steps" if evaluate else "no",
        eval_steps=every,
        report_to="none",
        disable_tqdm=True,
        seed=plan.seed,
        data_seed=plan.seed,
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


def _dpo_kwargs(plan: TrainPlan) -> dict[str, Any]:
    """DPOConfig's loss settings: the sigmoid preference loss, plus an SFT loss on the chosen
    texts weighted ``sft_weight`` when above 0 (RPO: keeps the model close to what was liked)."""
    if plan.sft_weight == 0:
        return {"beta": plan.beta}
    return {
        "beta": plan.beta,
        "loss_type": ["sigmoid", "sft"],
        "loss_weights": [1.0, plan.sft_weight],
    }


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
        trainer = DPOTrainer(args=DPOConfig(**config), ref_model=ref_model, **common)
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
    plan: TrainPlan | None = None,
    *,
    resume: bool = False,
    manifest: Path | None = None,
    on_log: LogCallback | None = None,
    **hyper: Any,
) -> FinetuneResult:
    """Train ``base`` on ``data`` (SFT or DPO, told by its rows) and save the model to ``out``,
    with ``loss.png``, ``training_log.json`` and a model card beside it.

    ``hyper`` overrides fields of ``plan`` (``max_steps=20``). ``resume`` continues from the
    last checkpoint of an interrupted run into the same ``out``. ``manifest`` is the export's
    manifest, copied into the card. ``on_log`` gets each log entry the trainer writes
    (``step``, ``max_steps``, ``loss``, ``eval_loss``, ...).
    """
    started = time.perf_counter()
    plan = dataclasses.replace(plan or TrainPlan(), **hyper)
    _check_args(plan)
    _check_out(out)
    work = _checkpoints(out, resume)
    method = detect_format(data)
    count = count_rows(data, method)
    held = held_out_rows(count, plan.eval_fraction)
    forward = LogForwarder(on_log)
    config = _config_kwargs(work, plan, held > 0) | _method_kwargs(method, plan)
    with _no_progress_bars():
        steps, eval_loss, resumed = _train_and_save(
            data, method, base, out, config,
            plan=plan, held=held, forward=forward, resume=resume,
        )  # fmt: skip
    result = FinetuneResult(
        method=method, rows=count, steps=steps, first_loss=forward.losses[0],
        last_loss=forward.losses[-1], out_dir=out, lora=plan.lora,
        seconds=time.perf_counter() - started, train_rows=count - held, eval_rows=held,
        eval_loss=eval_loss, resumed_from=resumed,
    )  # fmt: skip
    write_report(out, _facts(result, base, data, plan), forward.log, manifest)
    shutil.rmtree(work, ignore_errors=True)  # the model is saved: the checkpoints are spent
    return result


def _method_kwargs(method: str, plan: TrainPlan) -> dict[str, Any]:
    return _dpo_kwargs(plan) if method == DPO else {}


def _checkpoints(out: Path, resume: bool) -> Path:
    """The checkpoint folder for ``out``: one with a checkpoint when resuming, else none yet."""
    work = checkpoint_dir(out)
    found = sorted(work.glob("checkpoint-*")) if work.is_dir() else []
    if resume and not found:
        raise FinetuneError(f"nothing to resume: no checkpoint in {str(work)!r}")
    if not resume and found:
        raise FinetuneError(
            f"an interrupted run left checkpoints in {str(work)!r}: pass --resume to continue "
            "it, or delete that folder to start over"
        )
    return work


def _facts(result: FinetuneResult, base: str, data: Path, plan: TrainPlan) -> dict[str, Any]:
    """What the model card and training_log.json record about the run."""
    results: dict[str, Any] = {
        "steps": result.steps,
        "first train loss": round(result.first_loss, 4),
        "last train loss": round(result.last_loss, 4),
        "eval loss": None if result.eval_loss is None else round(result.eval_loss, 4),
        "seconds": round(result.seconds, 1),
    }
    if result.resumed_from:
        results["resumed from step"] = result.resumed_from
    return {
        "name": result.out_dir.name,
        "base_model": base,
        "method": result.method,
        "data": str(data),
        "data_sha256": file_sha256(data),
        "rows": result.rows,
        "train_rows": result.train_rows,
        "eval_rows": result.eval_rows,
        "hyper_parameters": dataclasses.asdict(plan),
        "results": results,
    }


def _train_and_save(
    data: Path,
    method: str,
    base: str,
    out: Path,
    config: dict[str, Any],
    *,
    plan: TrainPlan,
    held: int,
    forward: LogForwarder,
    resume: bool,
) -> tuple[int, float | None, int]:
    """Train ``base`` on the rows of ``data`` and save it to ``out``; returns the steps taken,
    the final eval loss and the step resumed from. Raises ``FinetuneError`` when the loss
    diverged (nothing is saved then)."""
    train_rows, eval_rows = split_rows(load_rows(data, method), held, plan.seed)
    tokenizer, model = load_base(base)
    use_cache = bool(model.config.use_cache)
    trainer = _trainer(
        method,
        base,
        config,
        model=model,
        processing_class=tokenizer,
        train_dataset=train_rows,
        eval_dataset=eval_rows,
        callbacks=[log_callback(forward)],
        peft_config=_lora_config() if plan.lora else None,
    )
    trainer.train(resume_from_checkpoint=resume or None)
    resumed = forward.log.train[0][0] - 1 if resume and forward.log.train else 0
    if not forward.losses or not all(math.isfinite(loss) for loss in forward.losses):
        raise FinetuneError(
            f"training diverged (losses {forward.losses[-3:]}); try a lower learning rate"
        )
    steps = int(trainer.state.global_step)
    if eval_rows is not None and (not forward.log.eval or forward.log.eval[-1][0] != steps):
        trainer.evaluate()  # the figure after the last step, when no checkpoint fell on it
    save_model(trainer, out, plan.lora, use_cache)
    return steps, forward.log.eval[-1][1] if forward.log.eval else None, resumed
