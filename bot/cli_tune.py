"""``muse finetune`` (train the text model on an exported dataset, with a progress line and ETA)
and ``muse promote`` (swap champion and challenger, bot.service.arena)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TextIO

from bot.config import Settings

BAR_WIDTH = 24


class Progress:
    """One line, rewritten in place on a terminal: bar, step, losses and time left."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.start: tuple[float, int] | None = None  # (clock, step) at the first loss
        self.loss: float | None = None
        self.eval_loss: float | None = None
        self.tty = stream.isatty()

    def __call__(self, entry: dict[str, float]) -> None:
        if "loss" not in entry and "eval_loss" not in entry:
            return
        self.loss = entry.get("loss", self.loss)
        self.eval_loss = entry.get("eval_loss", self.eval_loss)
        now = time.monotonic()
        step = int(entry["step"])
        if self.start is None:
            self.start = (now, step)  # the time per step is known from the next step on
        self.stream.write(self.line(step, int(entry["max_steps"]), now))
        self.stream.write("\r" if self.tty else "\n")
        self.stream.flush()

    def line(self, step: int, total: int, now: float) -> str:
        """``[#####.....] step 5/10 loss 1.2345 eval 1.3000 ETA 0:00:12``."""
        filled = BAR_WIDTH * step // max(total, 1)
        parts = [f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] step {step}/{total}"]
        if self.loss is not None:
            parts.append(f"loss {self.loss:.4f}")
        if self.eval_loss is not None:
            parts.append(f"eval {self.eval_loss:.4f}")
        done = step - self.start[1] if self.start else 0
        if self.start and done > 0:
            left_s = round((now - self.start[0]) / done * (total - step))
            parts.append(f"ETA {left_s // 3600}:{left_s // 60 % 60:02d}:{left_s % 60:02d}")
        return " ".join(parts)


def add_finetune(tune: argparse.ArgumentParser) -> None:
    """The arguments of ``muse finetune``."""
    tune.add_argument("--data", type=Path, required=True, help="sft or dpo JSONL from export")
    tune.add_argument("--base", required=True, help="hub id or folder of the model to tune")
    tune.add_argument("--out", type=Path, required=True, help="new folder for the tuned model")
    tune.add_argument("--lora", action="store_true", help="train a LoRA adapter, then merge it")
    tune.add_argument("--steps", type=int, default=50, help="training steps (default: 50)")
    tune.add_argument(
        "--learning-rate", type=float, default=5e-5, help="optimizer step size (default: 5e-5)"
    )
    tune.add_argument("--batch-size", type=int, default=4, help="rows per step (default: 4)")
    tune.add_argument("--eval-fraction", type=float, default=0.1, help="rows held out (0.1)")
    tune.add_argument("--save-steps", type=int, default=0, help="checkpoint interval (steps/5)")
    tune.add_argument("--beta", type=float, default=0.1, help="DPO: drift allowed (0.1)")
    tune.add_argument(
        "--sft-weight", type=float, default=0.0, help="DPO: weight of an SFT loss on chosen (0)"
    )
    tune.add_argument("--resume", action="store_true", help="continue an interrupted run")
    tune.add_argument("--seed", type=int, default=0, help="seed of the split and the training")
    tune.add_argument("--manifest", type=Path, help="export manifest (default: DATA.manifest.json)")


def run_finetune(args: argparse.Namespace) -> int:
    """Train, print progress to stderr and the summary to stdout."""
    from generators.finetune import TrainPlan, finetune

    plan = TrainPlan(
        lora=args.lora, max_steps=args.steps, learning_rate=args.learning_rate,
        batch_size=args.batch_size, seed=args.seed, eval_fraction=args.eval_fraction,
        save_steps=args.save_steps, beta=args.beta, sft_weight=args.sft_weight,
    )  # fmt: skip
    manifest = args.manifest or Path(f"{args.data}.manifest.json")
    result = finetune(
        args.data, args.base, args.out, plan, resume=args.resume, manifest=manifest,
        on_log=Progress(sys.stderr),
    )  # fmt: skip
    if sys.stderr.isatty():
        print(file=sys.stderr)
    evaluated = "" if result.eval_loss is None else f", eval loss {result.eval_loss:.4f}"
    print(
        f"{result.method} on {result.train_rows} rows ({result.eval_rows} held out), "
        f"{result.steps} steps: loss {result.first_loss:.4f} -> {result.last_loss:.4f}"
        f"{evaluated} in {result.seconds:.0f} s. Model card, loss.png: {result.out_dir}. "
        f"Set MUSE_TEXT_MODEL={result.out_dir} to use it."
    )
    return 0


def add_promote(promote: argparse.ArgumentParser) -> None:
    """``muse promote``: no arguments; it reads MUSE_TEXT_MODEL and MUSE_TEXT_CHALLENGER."""
    promote.description = (
        "Swap champion and challenger. The swap is saved in the database and applied at the "
        "next start, while MUSE_TEXT_MODEL and MUSE_TEXT_CHALLENGER name the same two models."
    )


async def run_promote(settings: Settings) -> int:
    """Swap the roles in the database and say what the next start will serve."""
    from bot.service.arena import promote
    from bot.store.storage import Storage

    async with await Storage.open(settings.db_path) as storage:
        champion, challenger = await promote(storage, settings, time.time())
    print(
        f"champion is now {champion}, challenger {challenger}; "
        "restart Muse to serve them (the swap is kept across restarts)"
    )
    return 0
