"""The command line explains itself: help for every option, README's names for choices,
``--model`` for ``muse try``, and progress while a generation runs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from bot.cli import _parser, main
from bot.cli_try import overrides
from generators.options import Language


def _parsers(parser: argparse.ArgumentParser, path: str = "muse") -> list[tuple[str, Any]]:
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found += _parsers(child, f"{path} {name}")
    return found


def test_every_option_and_argument_has_a_help_text() -> None:
    missing = [
        f"{path} {action.dest}"
        for path, parser in _parsers(_parser())
        for action in parser._actions
        if not isinstance(action, argparse._SubParsersAction) and not action.help
    ]
    assert missing == []


def test_the_top_level_help_reads_as_plain_text() -> None:
    text = _parser().format_help()
    assert "``" not in text and "muse COMMAND --help" in text


@pytest.mark.parametrize(
    ("typed", "language"),
    [("English", Language.ENGLISH), ("en", Language.ENGLISH), ("中文", Language.CHINESE),
     ("zh", Language.CHINESE), ("auto", Language.AUTO)],
)  # fmt: skip
def test_language_takes_readmes_names_and_the_codes(typed: str, language: Language) -> None:
    args = _parser().parse_args(["try", "poem", "--topic", "moon", "--language", typed])
    assert args.language is language


def test_a_wrong_language_is_refused_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["try", "poem", "--topic", "moon", "--language", "klingon"])
    assert "must be auto, en (English) or zh (中文), got 'klingon'" in capsys.readouterr().err


def test_model_feeds_the_model_setting_and_text_needs_no_image_model() -> None:
    poem = _parser().parse_args(["try", "poem", "--topic", "m", "--model", "a/b"])
    assert overrides(poem) == {"MUSE_TEXT_MODEL": "a/b", "MUSE_IMAGE_MODEL": "off"}
    draw = _parser().parse_args(["try", "draw", "--prompt", "m", "--model", "c/d"])
    assert overrides(draw) == {"MUSE_IMAGE_MODEL": "c/d"}
    assert overrides(_parser().parse_args(["stats"])) == {}


def test_try_model_is_checked_like_the_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MUSE_DB_PATH", str(tmp_path / "muse.sqlite3"))
    assert main(["try", "poem", "--topic", "m", "--model", str(tmp_path / "none")]) == 2
    assert "MUSE_TEXT_MODEL=" in capsys.readouterr().err


def test_try_shows_progress_and_the_growing_text_on_stderr(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tiny_lm_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MUSE_DB_PATH", str(tmp_path / "muse.sqlite3"))
    monkeypatch.setenv("MUSE_DEVICE", "cpu")
    monkeypatch.setenv("MUSE_FILTER", "0")  # random words: nothing may hide the stream
    monkeypatch.setenv("MUSE_POEM_MAX_NEW_TOKENS", "120")
    monkeypatch.setattr("bot.cli_try.POLL_S", 0.01)
    args = ["try", "poem", "--topic", "moon", "--seed", "5", "--model", str(tiny_lm_dir)]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "loading the text model" in captured.err
    final = captured.out.split("--- candidate 1")[1].split("\n", 1)[1].split("\n--- model")[0]
    streamed = captured.err.split("writing…\n")[-1]
    assert final and streamed.strip(), captured.err
    assert final.split()[0] in streamed  # the text began to appear before the result
