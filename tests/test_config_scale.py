"""The scale-out settings: text backend, server, key, concurrency and shards."""

from __future__ import annotations

import pytest

from bot.config import load_settings
from bot.errors import ConfigError

REMOTE = {
    "MUSE_TEXT_BACKEND": "openai",
    "MUSE_OPENAI_BASE_URL": "http://gpu-host:8000/v1",
    "MUSE_OPENAI_MODEL": "qwen2.5-0.5b-instruct",
}


def test_defaults_are_local_and_unsharded() -> None:
    settings = load_settings({})
    assert settings.text_backend == "local" and settings.remote_concurrency == 8
    assert settings.shards is None and settings.shard_ids is None


def test_an_openai_backend_is_read_with_its_settings() -> None:
    settings = load_settings(
        {**REMOTE, "MUSE_OPENAI_API_KEY": "sk-abc", "MUSE_REMOTE_CONCURRENCY": "32",
         "MUSE_OPENAI_TIMEOUT_S": "20", "MUSE_OPENAI_RETRIES": "0"}
    )  # fmt: skip
    assert settings.text_backend == "openai" and settings.openai_model == "qwen2.5-0.5b-instruct"
    assert settings.openai_base_url == "http://gpu-host:8000/v1"
    assert (settings.remote_concurrency, settings.openai_timeout_s) == (32, 20.0)
    assert settings.openai_retries == 0 and settings.openai_api_key == "sk-abc"
    assert "sk-abc" not in repr(settings)


def test_openai_without_a_server_or_model_lists_both_problems() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"MUSE_TEXT_BACKEND": "openai", "MUSE_OPENAI_BASE_URL": "gpu-host:8000"})
    assert "MUSE_OPENAI_BASE_URL like http://host:8000/v1" in str(caught.value)
    assert "needs MUSE_OPENAI_MODEL" in str(caught.value)


def test_an_unknown_backend_is_refused() -> None:
    with pytest.raises(ConfigError, match="MUSE_TEXT_BACKEND must be local or openai"):
        load_settings({"MUSE_TEXT_BACKEND": "vllm"})


def test_the_picture_engine_needs_a_url_and_a_known_backend() -> None:
    settings = load_settings(
        {"MUSE_IMAGE_BACKEND": "Remote", "MUSE_IMAGE_BASE_URL": "http://engine:8000/v1"}
    )
    assert settings.image_backend == "remote"
    assert settings.image_base_url == "http://engine:8000/v1"
    with pytest.raises(ConfigError, match="MUSE_IMAGE_BACKEND=remote needs MUSE_IMAGE_BASE_URL"):
        load_settings({"MUSE_IMAGE_BACKEND": "remote", "MUSE_IMAGE_BASE_URL": "engine:8000"})
    with pytest.raises(ConfigError, match="MUSE_IMAGE_BACKEND must be local or remote"):
        load_settings({"MUSE_IMAGE_BACKEND": "ray"})


def test_a_bad_key_value_never_shows_the_key() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(
            {**REMOTE, "MUSE_OPENAI_API_KEY": "sk-secret", "MUSE_REMOTE_CONCURRENCY": "0"}
        )
    assert "MUSE_REMOTE_CONCURRENCY must be at least 1" in str(caught.value)
    assert "sk-secret" not in str(caught.value)


@pytest.mark.parametrize(
    ("env", "shards", "ids"),
    [
        ({"MUSE_SHARDS": "auto"}, "auto", None),
        ({"MUSE_SHARDS": "AUTO"}, "auto", None),
        ({"MUSE_SHARDS": "4"}, 4, None),
        ({"MUSE_SHARDS": "4", "MUSE_SHARD_IDS": "3, 2"}, 4, (2, 3)),
    ],
)
def test_shards(env: dict[str, str], shards: object, ids: object) -> None:
    settings = load_settings(env)
    assert (settings.shards, settings.shard_ids) == (shards, ids)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MUSE_SHARDS": "0"}, "MUSE_SHARDS must be at least 1"),
        ({"MUSE_SHARDS": "many"}, "MUSE_SHARDS must be a number"),
        ({"MUSE_SHARDS": "2", "MUSE_SHARD_IDS": "2"}, "needs MUSE_SHARDS set to a count above"),
        ({"MUSE_SHARDS": "auto", "MUSE_SHARD_IDS": "0"}, "needs MUSE_SHARDS set to a count"),
        ({"MUSE_SHARD_IDS": "0,1"}, "needs MUSE_SHARDS set to a count"),
        ({"MUSE_SHARDS": "2", "MUSE_SHARD_IDS": "0;1"}, "MUSE_SHARD_IDS must be shard numbers"),
    ],
)
def test_bad_shard_settings(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env)
