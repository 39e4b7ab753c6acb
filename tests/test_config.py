"""Settings are validated once, with every problem listed."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import DEFAULT_TEXT_MODEL, Settings, load_settings
from bot.errors import ConfigError


def test_defaults() -> None:
    settings = load_settings({})
    assert settings.text_model == DEFAULT_TEXT_MODEL
    assert settings.db_path == Path("data/muse.sqlite3")
    assert settings.device == "auto"
    assert settings.guild_id is None
    assert (settings.queue_max_depth, settings.queue_per_user) == (32, 2)
    assert settings.filter_embed and not load_settings({"MUSE_FILTER_EMBED": "0"}).filter_embed


def test_values_are_parsed(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "DISCORD_TOKEN": "abc",
            "MUSE_TEXT_MODEL": str(tmp_path),
            "MUSE_DB_PATH": str(tmp_path / "x.sqlite3"),
            "MUSE_DEVICE": "CUDA:1",
            "MUSE_GUILD_ID": "123456789012345678",
            "MUSE_QUEUE_MAX_DEPTH": "5",
            "MUSE_JOB_TIMEOUT_S": "2.5",
        }
    )
    assert settings.device == "cuda:1"
    assert settings.guild_id == 123456789012345678
    assert settings.queue_max_depth == 5
    assert settings.job_timeout_s == 2.5


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(
            {
                "MUSE_TEXT_MODEL": str(tmp_path / "missing-model"),
                "MUSE_DEVICE": "gpu",
                "MUSE_QUEUE_MAX_DEPTH": "zero",
                "MUSE_QUEUE_PER_USER": "0",
            }
        )
    text = str(err.value)
    for key in ("MUSE_TEXT_MODEL", "MUSE_DEVICE", "MUSE_QUEUE_MAX_DEPTH", "MUSE_QUEUE_PER_USER"):
        assert key in text


def test_malformed_hub_id_is_refused() -> None:
    with pytest.raises(ConfigError, match="neither a local folder nor a hub id"):
        load_settings({"MUSE_TEXT_MODEL": "not a model id"})


def test_missing_token_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="DISCORD_TOKEN is not set"):
        Settings().require_token()


def test_env_example_lists_every_key() -> None:
    example = (Path(__file__).resolve().parent.parent / ".env.example").read_text()
    source = (Path(__file__).resolve().parent.parent / "bot" / "config.py").read_text()
    import re

    keys = set(re.findall(r'"((?:MUSE|DISCORD)_[A-Z_]+)"', source))
    assert keys, "no keys found in config.py"
    missing = sorted(k for k in keys if f"{k}=" not in example)
    assert missing == []


def test_text_quant_is_parsed_and_validated() -> None:
    assert load_settings({}).text_quant == "none"
    assert load_settings({"MUSE_TEXT_QUANT": " 8BIT "}).text_quant == "8bit"
    with pytest.raises(ConfigError, match="MUSE_TEXT_QUANT must be none, 8bit or 4bit, got '2bit'"):
        load_settings({"MUSE_TEXT_QUANT": "2bit"})


def test_a_number_that_is_not_finite_is_refused() -> None:
    env = {
        "MUSE_JOB_TIMEOUT_S": "nan",
        "MUSE_SHUTDOWN_GRACE_S": "inf",
        "MUSE_IMAGE_BLOCK_AT": "NaN",
    }
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    message = str(caught.value)
    assert "MUSE_JOB_TIMEOUT_S must be a finite number, got 'nan'" in message
    assert "MUSE_SHUTDOWN_GRACE_S must be a finite number, got 'inf'" in message
    assert "MUSE_IMAGE_BLOCK_AT must be a finite number" in message
