"""The ``muse`` command line, in process, on the tiny offline model."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.store.storage import Storage
from tests.test_image_to_image import picture, png_header_only


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tiny_lm_dir: Path) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    monkeypatch.setenv("MUSE_TEXT_MODEL", str(tiny_lm_dir))
    monkeypatch.setenv("MUSE_DB_PATH", str(tmp_path / "db" / "muse.sqlite3"))
    monkeypatch.setenv("MUSE_DEVICE", "cpu")
    monkeypatch.setenv("MUSE_IMAGE_MODEL", "off")
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    return tmp_path / "db" / "muse.sqlite3"


def test_try_poem_runs_the_service_path(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["try", "poem", "--topic", "春日花烂漫，", "--form", "七言绝句", "--seed", "5"])
    out = capsys.readouterr().out
    assert code == 0
    assert "verdict allow" in out and "seed 5" in out
    assert "tiny-lm" in out

    with sqlite3.connect(env) as raw:
        assert raw.execute("SELECT kind, status FROM jobs").fetchall() == [("poem", "done")]


def test_try_slogan_prints_each_candidate(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["try", "slogan", "--product", "moon coffee", "--count", "2"]) == 0
    out = capsys.readouterr().out
    assert "candidate 1" in out and "candidate 2" in out


def test_try_draw_uses_the_image_model_and_filter(
    env: Path, tmp_path: Path, tiny_sd_dir: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("MUSE_IMAGE_MODEL", str(tiny_sd_dir))
    monkeypatch.setenv("MUSE_IMAGE_DIR", str(tmp_path / "pictures"))
    code = main(
        ["try", "draw", "--prompt", "a kite", "--steps", "2", "--count", "2", "--seed", "8"]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.count("verdict allow") == 2 and "seed 9" in out
    assert len(list((tmp_path / "pictures").rglob("*.png"))) == 2


def _vote_up_everything(db_path: Path) -> None:
    with sqlite3.connect(db_path) as raw:
        output_ids = [row[0] for row in raw.execute("SELECT id FROM outputs")]

    async def vote() -> None:
        async with await Storage.open(db_path) as db:
            for output_id in output_ids:
                await db.toggle_vote(output_id, 42, 1, 1.0)

    asyncio.run(vote())


def test_export_stats_and_delete_user(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["try", "poem", "--topic", "moon", "--seed", "1"]) == 0
    _vote_up_everything(env)
    out_file = tmp_path / "ratings.jsonl"
    assert main(["export", "--out", str(out_file)]) == 2
    assert "MUSE_EXPORT_SECRET is not set" in capsys.readouterr().err
    monkeypatch.setenv("MUSE_EXPORT_SECRET", "a-long-random-secret")
    assert main(["export", "--out", str(out_file), "--min-votes", "1"]) == 0
    [row] = [json.loads(line) for line in out_file.read_text(encoding="utf-8").splitlines()]
    assert (
        row["votes_up"] == 1 and row["seed"] == 1 and json.loads(row["options"])["topic"] == "moon"
    )
    assert Path(f"{out_file}.manifest.json").is_file()
    assert main(["stats"]) == 0
    assert "raters" in capsys.readouterr().out.lower()
    assert main(["delete-user", "0"]) == 0  # the CLI's own requests are user 0
    assert "1 jobs" in capsys.readouterr().out


def test_collect_export_finetune_and_serve(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The whole loop on the tiny model: generate, rate, export SFT, fine-tune, serve the result."""
    monkeypatch.setenv("MUSE_EXPORT_SECRET", "a-long-random-secret")
    for seed in range(6):
        assert main(["try", "poem", "--topic", f"moon {seed}", "--seed", str(seed)]) == 0
    _vote_up_everything(env)
    data = tmp_path / "sft.jsonl"
    assert main(["export", "--format", "sft", "--out", str(data), "--min-votes", "1"]) == 0
    rows = len(data.read_text(encoding="utf-8").splitlines())
    assert rows >= 3  # random text is sometimes held by the filter, and held text is never exported
    assert f"wrote {rows} sft row(s)" in capsys.readouterr().out
    tuned = tmp_path / "tuned"
    base = os.environ["MUSE_TEXT_MODEL"]
    args = ["finetune", "--data", str(data), "--base", base, "--out", str(tuned)]
    assert main([*args, "--steps", "12", "--learning-rate", "1e-3"]) == 0
    out = capsys.readouterr().out
    first, last = (float(x) for x in re.search(r"loss ([\d.]+) -> ([\d.]+)", out).groups())  # type: ignore[union-attr]
    assert last < first
    monkeypatch.setenv("MUSE_TEXT_MODEL", str(tuned))
    assert main(["try", "poem", "--topic", "moon", "--seed", "3"]) == 0
    assert "tuned" in capsys.readouterr().out


def test_startup_errors_are_messages_not_tracebacks(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run"]) == 2
    assert "DISCORD_TOKEN is not set" in capsys.readouterr().err
    monkeypatch.setenv("MUSE_TEXT_MODEL", str(tmp_path / "no-such-model"))
    assert main(["try", "poem", "--topic", "x"]) == 2
    err = capsys.readouterr().err
    assert "MUSE_TEXT_MODEL" in err and "Traceback" not in err
    monkeypatch.setenv("MUSE_TEXT_MODEL", "muse-test/not-cached")
    assert main(["try", "poem", "--topic", "x"]) == 2
    assert "not in the local Hugging Face cache" in capsys.readouterr().err


def test_text_quant_through_the_cli(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MUSE_TEXT_QUANT", "4bit")
    assert main(["try", "poem", "--topic", "moon"]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if " INFO bot.app " not in line]
    assert len(lines) == 1 and "Traceback" not in err, err  # after "loading the text model …"
    assert lines[0].startswith("muse: error: MUSE_TEXT_QUANT=4bit needs a CUDA GPU")
    monkeypatch.setenv("MUSE_TEXT_QUANT", "8bit")
    assert main(["try", "poem", "--topic", "moon", "--seed", "2"]) == 0
    assert "tiny-lm0 [cpu-int8]" in capsys.readouterr().out


def test_python_dash_m_bot_is_the_same_cli() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bot", "--help"], capture_output=True, text=True, check=True
    )
    assert "run" in out.stdout and "export" in out.stdout and "try" in out.stdout


def test_filter_off_is_loud_and_a_broken_filter_stops_startup(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    monkeypatch.setenv("MUSE_FILTER", "0")
    assert main(["try", "poem", "--topic", "moon"]) == 0
    assert "SAFETY FILTER IS OFF" in caplog.text
    assert "verdict allow" in capsys.readouterr().out
    monkeypatch.setenv("MUSE_FILTER", "1")
    empty = tmp_path / "not-a-classifier"
    empty.mkdir()
    monkeypatch.setenv("MUSE_FILTER_CLASSIFIER_DIR", str(empty))
    assert main(["try", "poem", "--topic", "moon"]) == 2
    err = capsys.readouterr().err
    assert "not-a-classifier" in err and "Traceback" not in err


def test_backup_and_restore(env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["try", "poem", "--topic", "moon", "--seed", "1"]) == 0
    copy = tmp_path / "backups" / "muse-1.sqlite3"
    assert main(["backup", str(copy)]) == 0
    assert "integrity: ok" in capsys.readouterr().out
    assert main(["backup", str(copy)]) == 2  # never overwrites
    assert main(["try", "poem", "--topic", "sun", "--seed", "2"]) == 0
    with sqlite3.connect(env) as raw:
        assert raw.execute("SELECT COUNT(*) FROM jobs").fetchone() == (2,)
    assert main(["restore", str(copy)]) == 0
    with sqlite3.connect(env) as raw:
        assert raw.execute("SELECT COUNT(*) FROM jobs").fetchone() == (1,)
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    broken = tmp_path / "broken.sqlite3"
    broken.write_bytes(b"not a database" * 50)
    assert main(["restore", str(broken)]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_the_token_never_reaches_the_output_or_logs(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    import logging

    import discord

    token = "MTIzNDU2Nzg5MDEyMzQ1Njc4.secret-token-value.abcdef"
    monkeypatch.setenv("DISCORD_TOKEN", token)
    monkeypatch.setattr(discord.http.Route, "BASE", "http://127.0.0.1:9/api/v10")  # refused
    caplog.set_level(logging.DEBUG)
    assert main(["run"]) == 2
    captured = capsys.readouterr()
    assert "cannot reach Discord" in captured.err
    for text in (captured.out, captured.err, caplog.text):
        assert token not in text and "secret-token-value" not in text


@pytest.fixture
def drawing(env: Path, tmp_path: Path, tiny_sd_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CLI with the tiny image model on; returns the picture folder."""
    monkeypatch.setenv("MUSE_IMAGE_MODEL", str(tiny_sd_dir))
    monkeypatch.setenv("MUSE_IMAGE_DIR", str(tmp_path / "pictures"))
    return tmp_path / "pictures"


def test_try_draw_restyles_a_picture_like_draw_does(
    drawing: Path, env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(picture(fmt="JPEG"))
    args = ["try", "draw", "--prompt", "a kite", "--steps", "4", "--seed", "3"]
    code = main([*args, "--image", str(photo), "--strength", "0.5"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "verdict allow" in out
    [kept] = (drawing / "inputs").rglob("*.png")  # checked, sized and stored, as from Discord
    with sqlite3.connect(env) as raw:
        [(options,)] = raw.execute("SELECT options FROM jobs").fetchall()
    assert json.loads(options)["picture"] == kept.stem
    assert json.loads(options)["strength"] == "0.5"


def test_try_draw_refuses_a_bad_picture_in_one_line(
    drawing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    def refused(path: Path, *extra: str) -> str:
        assert main(["try", "draw", "--prompt", "a kite", "--image", str(path), *extra]) == 2
        err = capsys.readouterr().err  # the log lines of loading the models come first
        assert err.endswith("\n") and err.count("muse: error: ") == 1, err
        assert "Traceback" not in err
        return err.splitlines()[-1]

    assert "cannot read --image" in refused(tmp_path / "missing.png")
    assert "cannot read --image" in refused(tmp_path)  # a folder
    (tmp_path / "anim.gif").write_bytes(picture(fmt="GIF"))
    assert "must be a PNG, JPEG or WebP picture, got image/gif" in refused(tmp_path / "anim.gif")
    (tmp_path / "bomb.png").write_bytes(png_header_only(5_000, 5_000))
    assert "5000×5000 pixels; the limit is" in refused(
        tmp_path / "bomb.png"
    )  # read from the header
    (tmp_path / "broken.png").write_bytes(b"%PDF-1.7 not an image")
    assert "not a PNG, JPEG or WebP picture" in refused(tmp_path / "broken.png")
    photo = tmp_path / "photo.png"
    photo.write_bytes(picture((300, 300)))
    assert photo.stat().st_size > 1024
    monkeypatch.setenv("MUSE_IMAGE_INPUT_MAX_BYTES", "1024")
    assert "the limit is" in refused(photo)
    monkeypatch.delenv("MUSE_IMAGE_INPUT_MAX_BYTES")
    monkeypatch.setenv("MUSE_IMAGE_REVIEW_AT", "0")  # every picture scores at least 0
    monkeypatch.setenv("MUSE_IMAGE_BLOCK_AT", "0")
    assert "refused by the safety filter" in refused(photo)
    assert list(drawing.rglob("*.png")) == []  # nothing refused was kept


def test_try_draw_strength_needs_a_picture_and_a_range(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["try", "draw", "--prompt", "a kite", "--strength", "0.5"]) == 2
    assert "--strength applies to a picture: give one with --image" in capsys.readouterr().err
    with pytest.raises(SystemExit) as caught:
        main(["try", "draw", "--prompt", "a kite", "--image", "x.png", "--strength", "2"])
    assert caught.value.code == 2
    assert "must be a number from 0.1 to 1.0, got '2'" in capsys.readouterr().err
