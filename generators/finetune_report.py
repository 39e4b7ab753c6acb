"""What ``muse finetune`` leaves beside the model: the loss curve as a PNG (drawn with Pillow),
the log as JSON and a model card (README.md) naming the base, the data and the settings; and
the callback that collects the trainer's losses for them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

PLOT_SIZE = (640, 400)
MARGIN = 48
TRAIN_COLOUR = (40, 90, 200)
EVAL_COLOUR = (220, 80, 30)
Point = tuple[int, float]  # (step, loss)


@dataclass
class LossLog:
    """Training and eval losses by step, as the trainer logs them."""

    train: list[Point] = field(default_factory=list)
    eval: list[Point] = field(default_factory=list)

    def as_json(self) -> dict[str, list[list[float]]]:
        return {"train": [list(p) for p in self.train], "eval": [list(p) for p in self.eval]}


def _scale(
    points: Sequence[Point], steps: tuple[int, int], losses: tuple[float, float]
) -> list[tuple[float, float]]:
    """Pixel positions of ``points`` inside the plot's margins."""
    width, height = PLOT_SIZE[0] - 2 * MARGIN, PLOT_SIZE[1] - 2 * MARGIN
    step_span = max(steps[1] - steps[0], 1)
    loss_span = max(losses[1] - losses[0], 1e-9)
    return [
        (
            MARGIN + width * (step - steps[0]) / step_span,
            MARGIN + height * (losses[1] - loss) / loss_span,
        )
        for step, loss in points
    ]


def draw_loss_plot(log: LossLog, path: Path) -> None:
    """Save train loss (blue line) and eval loss (orange dots) against the step as a PNG."""
    image = Image.new("RGB", PLOT_SIZE, "white")
    draw = ImageDraw.Draw(image)
    points = log.train + log.eval
    if points:
        steps = (min(p[0] for p in points), max(p[0] for p in points))
        losses = (min(p[1] for p in points), max(p[1] for p in points))
        train = _scale(log.train, steps, losses)
        if len(train) > 1:
            draw.line(train, fill=TRAIN_COLOUR, width=2)
        for x, y in train[:1] + _scale(log.eval, steps, losses):
            colour = EVAL_COLOUR if (x, y) not in train else TRAIN_COLOUR
            draw.ellipse((x - 4, y - 4, x + 4, y + 4), fill=colour)
        draw.text((MARGIN, 8), f"loss {losses[1]:.3f} (top) to {losses[0]:.3f}", fill="black")
        draw.text((MARGIN, PLOT_SIZE[1] - 20), f"step {steps[0]} to {steps[1]}", fill="black")
    draw.rectangle(
        (MARGIN, MARGIN, PLOT_SIZE[0] - MARGIN, PLOT_SIZE[1] - MARGIN), outline=(120, 120, 120)
    )
    draw.text((PLOT_SIZE[0] - 200, 8), "train (blue), eval (orange)", fill="black")
    image.save(path, format="PNG")


def file_sha256(path: Path) -> str:
    """The hex SHA-256 of a file (generators may not import moderation's twin)."""
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def read_manifest(path: Path | None) -> dict[str, Any] | None:
    """The export's manifest as a dict, or None when there is none or it is not JSON."""
    if path is None or not path.is_file():
        return None
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


def model_card(facts: dict[str, Any], manifest: dict[str, Any] | None) -> str:
    """A Hugging Face style README.md: base model, data, hyper-parameters and figures."""
    hyper = facts["hyper_parameters"]
    lines = [
        "---",
        f"base_model: {facts['base_model']}",
        "tags: [muse, trl, " + facts["method"] + "]",
        "---",
        "",
        f"# {facts['name']}",
        "",
        f"Fine-tuned by `muse finetune` ({facts['method'].upper()}"
        + (", LoRA merged" if hyper["lora"] else "")
        + f") from `{facts['base_model']}` on feedback exported by `muse export`.",
        "",
        "## Data",
        "",
        f"- file: `{facts['data']}` (sha256 `{facts['data_sha256']}`)",
        f"- rows: {facts['rows']} ({facts['train_rows']} trained on, "
        f"{facts['eval_rows']} held out for the eval loss)",
        "",
        "## Hyper-parameters",
        "",
        *(f"- {key}: {value}" for key, value in hyper.items()),
        "",
        "## Results",
        "",
        *(f"- {key}: {value}" for key, value in facts["results"].items()),
        "",
        "The loss curve is `loss.png`; every logged loss is in `training_log.json`.",
    ]
    if manifest is not None:
        lines += ["", "## Export manifest", "", "```json", json.dumps(manifest, indent=2), "```"]
    return "\n".join(lines) + "\n"


def write_report(
    out: Path, facts: dict[str, Any], log: LossLog, manifest_path: Path | None
) -> None:
    """Write loss.png, training_log.json and README.md (the model card) into ``out``."""
    draw_loss_plot(log, out / "loss.png")
    record = {**facts, "losses": log.as_json()}
    (out / "training_log.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
    card = model_card(facts, read_manifest(manifest_path))
    (out / "README.md").write_text(card, encoding="utf-8")


LogCallback = Callable[[dict[str, float]], None]


class LogForwarder:
    """Collects each step's loss and hands every numeric log entry to ``on_log``."""

    def __init__(self, on_log: LogCallback | None) -> None:
        self.on_log = on_log
        self.losses: list[float] = []
        self.log = LossLog()

    def __call__(self, step: int, max_steps: int, logs: dict[str, Any]) -> None:
        numbers = {
            key: float(value)
            for key, value in logs.items()
            if isinstance(value, int | float) and not isinstance(value, bool)
        }
        if "loss" in numbers:
            self.losses.append(numbers["loss"])
            self.log.train.append((step, numbers["loss"]))
        if "eval_loss" in numbers:
            self.log.eval.append((step, numbers["eval_loss"]))
        if self.on_log is not None:
            self.on_log({"step": float(step), "max_steps": float(max_steps), **numbers})


def log_callback(forward: LogForwarder) -> Any:
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
