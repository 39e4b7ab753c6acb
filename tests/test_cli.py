"""The ``muse`` command line, in process, on the tiny offline model."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.storage import Storage


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


def test_export_and_delete_user(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["try", "poem", "--topic", "moon", "--seed", "1"]) == 0

    with sqlite3.connect(env) as raw:
        [(output_id,)] = raw.execute("SELECT id FROM outputs").fetchall()

    async def vote() -> None:
        async with await Storage.open(env) as db:
            await db.toggle_vote(output_id, 42, 1, 1.0)

    asyncio.run(vote())
    out_file = tmp_path / "ratings.jsonl"
    assert main(["export", "--out", str(out_file)]) == 0
    [row] = [json.loads(line) for line in out_file.read_text(encoding="utf-8").splitlines()]
    assert row["votes_up"] == 1 and row["options"]["topic"] == "moon" and row["seed"] == 1
    assert main(["delete-user", "0"]) == 0  # the CLI's own requests are user 0
    assert "1 jobs" in capsys.readouterr().out


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
    assert "hub is unreachable" in capsys.readouterr().err


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
