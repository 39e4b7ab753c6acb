"""What a trainer's users expect of ``muse finetune``: eval split, loss plot, model card,
checkpoints to resume from, a progress line with ETA, and a clear error for too little data."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.cli import main
from bot.cli_tune import Progress
from generators.finetune import FinetuneError, checkpoint_dir, finetune
from generators.finetune_report import PLOT_SIZE
from tests.test_finetune import _write_jsonl, sft_rows


class Interrupted(Exception):
    """Raised from the log callback to stop a run mid-way, as a crash or Ctrl-C would."""


def test_eval_split_plot_and_card(tiny_lm_dir: Path, tmp_path: Path) -> None:
    data = _write_jsonl(tmp_path / "sft.jsonl", sft_rows(20))
    manifest = tmp_path / "sft.jsonl.manifest.json"
    manifest.write_text(json.dumps({"format": "sft", "rows": 20, "models": ["m-1"]}), "utf-8")
    out = tmp_path / "tuned"
    result = finetune(
        data, str(tiny_lm_dir), out, manifest=manifest, max_steps=10, learning_rate=1e-3,
        eval_fraction=0.2, save_steps=5,
    )  # fmt: skip
    assert (result.rows, result.train_rows, result.eval_rows) == (20, 16, 4)
    assert result.eval_loss is not None and result.eval_loss > 0
    log = json.loads((out / "training_log.json").read_text(encoding="utf-8"))
    assert [step for step, _ in log["losses"]["eval"]] == [5, 10]
    assert len(log["losses"]["train"]) == 10
    assert log["losses"]["eval"][-1][1] == result.eval_loss
    with Image.open(out / "loss.png") as plot:
        assert (plot.format, plot.size) == ("PNG", PLOT_SIZE)
        assert len(plot.getcolors(PLOT_SIZE[0] * PLOT_SIZE[1]) or []) > 2  # not a blank canvas
    card = (out / "README.md").read_text(encoding="utf-8")
    assert f"base_model: {tiny_lm_dir}" in card
    assert log["data_sha256"] in card and "16 trained on, 4 held out" in card
    assert "learning_rate: 0.001" in card and "eval_fraction: 0.2" in card
    assert f"eval loss: {round(result.eval_loss, 4)}" in card
    assert '"models": [\n    "m-1"' in card  # the export's manifest, copied in
    assert not checkpoint_dir(out).exists()  # spent once the model is saved


def test_resume_after_an_interruption(tiny_lm_dir: Path, tmp_path: Path) -> None:
    data = _write_jsonl(tmp_path / "sft.jsonl", sft_rows(12))
    out = tmp_path / "tuned"
    hyper: dict[str, Any] = {"max_steps": 6, "learning_rate": 1e-3, "save_steps": 2}
    with pytest.raises(FinetuneError, match="nothing to resume"):
        finetune(data, str(tiny_lm_dir), out, resume=True, **hyper)

    def crash_at_step_5(entry: dict[str, float]) -> None:
        if entry["step"] == 5:
            raise Interrupted

    with pytest.raises(Interrupted):
        finetune(data, str(tiny_lm_dir), out, on_log=crash_at_step_5, **hyper)
    assert (checkpoint_dir(out) / "checkpoint-4").is_dir() and not out.exists()
    with pytest.raises(FinetuneError, match="pass --resume"):
        finetune(data, str(tiny_lm_dir), out, **hyper)
    steps: list[float] = []
    result = finetune(
        data, str(tiny_lm_dir), out, resume=True, on_log=lambda e: steps.append(e["step"]), **hyper
    )
    assert (result.steps, result.resumed_from) == (6, 4)
    assert min(steps) == 5  # steps 1 to 4 came from the checkpoint, not trained again
    assert "resumed from step: 4" in (out / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("rows", "fraction", "needed"),
    [(0, 0.1, "is empty"), (2, 0.1, "at least 3"), (1, 0.0, "at least 2")],
)
def test_too_little_data_is_an_error(
    tmp_path: Path, rows: int, fraction: float, needed: str
) -> None:
    data = _write_jsonl(tmp_path / "sft.jsonl", sft_rows(rows))
    with pytest.raises(FinetuneError, match=needed):
        finetune(data, "never/loaded", tmp_path / "out", eval_fraction=fraction)
    assert not (tmp_path / "out").exists()


def test_cli_too_little_data_exits_2_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    data = _write_jsonl(tmp_path / "sft.jsonl", sft_rows(2))
    args = ["finetune", "--data", str(data), "--base", "never/loaded", "--out", "out"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "too few to train on" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("flags", "message"),
    [(["--beta", "0"], "beta must be above 0"), (["--sft-weight", "-1"], "sft_weight must be")],
)
def test_cli_dpo_flags_reach_the_plan(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    flags: list[str],
    message: str,
) -> None:
    """``--beta`` and ``--sft-weight`` are checked like the other hyper-parameters."""
    monkeypatch.chdir(tmp_path)
    data = _write_jsonl(tmp_path / "sft.jsonl", sft_rows(8))
    args = ["finetune", "--data", str(data), "--base", "never/loaded", "--out", "out", *flags]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_cli_progress_summary_and_files(
    tiny_lm_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    data = _write_jsonl(tmp_path / "sft.jsonl", sft_rows(10))
    args = ["finetune", "--data", str(data), "--base", str(tiny_lm_dir), "--out", "tuned"]
    assert main([*args, "--steps", "4", "--learning-rate", "1e-3", "--eval-fraction", "0.2"]) == 0
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) >= 4 and lines[-1].startswith(f"[{'#' * 24}] step 4/4 loss ")
    assert "ETA 0:00:00" in lines[-1] and " eval " in lines[-1]
    assert "ETA" not in lines[0] and "ETA" in lines[2]  # known once one step has been timed
    assert "sft on 8 rows (2 held out), 4 steps" in captured.out and "eval loss" in captured.out
    assert {"loss.png", "README.md", "training_log.json"} <= {
        p.name for p in (tmp_path / "tuned").iterdir()
    }


def test_progress_line_eta() -> None:
    stream = io.StringIO()
    progress = Progress(stream)
    progress({"step": 1.0, "max_steps": 4.0, "learning_rate": 0.1})  # no loss: nothing printed
    assert stream.getvalue() == ""
    progress.start, progress.loss = (100.0, 0), 1.5
    assert progress.line(3, 10, 106.0) == f"[{'#' * 7}{'.' * 17}] step 3/10 loss 1.5000 ETA 0:00:14"
    progress.eval_loss = 2.0
    assert progress.line(10, 10, 4000.0).endswith("loss 1.5000 eval 2.0000 ETA 0:00:00")
    progress.start = (0.0, 0)
    assert progress.line(1, 3601, 1.0).endswith("ETA 1:00:00")
    progress.start = (0.0, 5)
    assert "ETA" not in progress.line(5, 10, 1.0)  # resumed at step 5: no step timed yet
