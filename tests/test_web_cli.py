"""Starting the web view: its settings, ``muse web`` on its own, and beside ``muse run``."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import load_settings
from bot.errors import ConfigError
from tests.web_seed import TOKEN

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_web_settings_are_read_and_checked() -> None:
    settings = load_settings({"MUSE_WEB_PORT": "8781", "MUSE_WEB_TOKEN": TOKEN})
    assert (settings.web_port, settings.web_host, settings.web_token) == (8781, "127.0.0.1", TOKEN)
    assert TOKEN not in repr(settings)
    assert load_settings({}).web_port is None
    with pytest.raises(ConfigError) as err:
        load_settings({"MUSE_WEB_PORT": "70000", "MUSE_WEB_TOKEN": "short"})
    assert "MUSE_WEB_PORT must be at most 65535" in str(err.value)
    assert "MUSE_WEB_TOKEN must be at least 16 characters, got 5" in str(err.value)
    with pytest.raises(ConfigError, match="MUSE_WEB_PORT is set, but MUSE_WEB_TOKEN is not set"):
        load_settings({"MUSE_WEB_PORT": "8781"})


def test_muse_web_refuses_to_start_without_a_token(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MUSE_WEB_TOKEN", raising=False)
    monkeypatch.setenv("MUSE_DB_PATH", str(tmp_path / "muse.sqlite3"))
    assert main(["web", "--port", str(free_port())]) == 2
    assert "MUSE_WEB_TOKEN is not set" in capsys.readouterr().err
    assert not (tmp_path / "muse.sqlite3").exists()


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def test_muse_web_serves_until_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ, "PYTHONPATH": str(ROOT), "MUSE_WEB_TOKEN": TOKEN,
        "MUSE_DB_PATH": str(tmp_path / "muse.sqlite3"), "MUSE_WEB_PORT": str(port),
    }  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "bot", "web"], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                status = _status(f"http://127.0.0.1:{port}/")
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("muse web did not answer")
        assert status == 401
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=15)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert server.returncode == 0, output
    assert f"moderators' web view on http://127.0.0.1:{port}/" in output
    assert TOKEN not in output


def test_muse_run_serves_the_web_view_beside_the_bot(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tiny_lm_dir: Path,
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    import discord

    port = free_port()
    monkeypatch.chdir(tmp_path)
    for key, value in {
        "MUSE_TEXT_MODEL": str(tiny_lm_dir), "MUSE_DB_PATH": str(tmp_path / "muse.sqlite3"),
        "MUSE_DEVICE": "cpu", "MUSE_IMAGE_MODEL": "off", "DISCORD_TOKEN": "a.b.c",
        "MUSE_WEB_PORT": str(port), "MUSE_WEB_TOKEN": TOKEN,
    }.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(discord.http.Route, "BASE", "http://127.0.0.1:9/api/v10")  # refused
    caplog.set_level(logging.DEBUG)
    assert main(["run"]) == 2  # Discord cannot be reached, so `muse run` stops...
    captured = capsys.readouterr()
    assert f"moderators' web view on http://127.0.0.1:{port}/" in caplog.text  # ...after this
    for text in (captured.out, captured.err, caplog.text):
        assert TOKEN not in text
    with socket.socket() as again:  # and the web view let go of its port
        again.bind(("127.0.0.1", port))
