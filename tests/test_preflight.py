"""Startup problems come all at once, before any model loads, without the hub's retries."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import constants

from bot.config import Settings
from bot.ops.preflight import Access, StartupError, check_startup

ROOT = Path(__file__).resolve().parents[1]


def _unreachable(endpoint: str) -> bool:
    return False


def _cache_model(cache: Path, repo_id: str, marker: str) -> None:
    """The layout huggingface_hub leaves after downloading ``repo_id`` (one file of it)."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / marker).write_text("{}")


@pytest.fixture
def online_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """HF_HUB_OFFLINE unset and an empty Hugging Face cache; the probe decides reachability."""
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


def test_every_problem_is_listed_in_one_error(online_hub: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    settings = Settings(
        text_model="muse-test/not-cached",
        image_model="muse-test/no-pipeline",
        image_dir=blocker / "images",
    )
    with pytest.raises(StartupError) as caught:
        check_startup(settings, token=True, probe=_unreachable)
    lines = str(caught.value).splitlines()
    assert lines[0] == "cannot start:"
    problems = "\n".join(lines[1:])
    assert len(lines) == 5, problems
    assert "DISCORD_TOKEN is not set" in problems
    assert "MUSE_IMAGE_DIR" in problems and "not writable" in problems
    for key, value in (("MUSE_TEXT_MODEL", "not-cached"), ("MUSE_IMAGE_MODEL", "no-pipeline")):
        assert f"{key}='muse-test/{value}' is not in the local Hugging Face cache" in problems
    assert "cannot be reached" in problems


def test_cached_models_load_without_the_hub_when_it_is_unreachable(
    online_hub: Path, tmp_path: Path
) -> None:
    _cache_model(online_hub, "muse-test/cached-lm", "config.json")
    settings = Settings(text_model="muse-test/cached-lm", image_model=None)
    assert check_startup(settings, probe=_unreachable) == Access(local_only=True)
    assert check_startup(settings, probe=lambda endpoint: True) == Access(local_only=False)


def test_offline_mode_is_not_probed(online_hub: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)

    def probe(endpoint: str) -> bool:
        raise AssertionError("HF_HUB_OFFLINE=1 must not touch the network")

    with pytest.raises(StartupError, match="not in the local Hugging Face cache and HF_HUB_OFF"):
        check_startup(Settings(text_model="muse-test/x", image_model=None), probe=probe)


def test_local_models_need_no_hub(tiny_lm_dir: Path, tmp_path: Path) -> None:
    def probe(endpoint: str) -> bool:
        raise AssertionError("local folders need no hub")

    settings = Settings(text_model=str(tiny_lm_dir), image_model=str(tmp_path))
    with pytest.raises(StartupError, match=r"MUSE_IMAGE_MODEL=.* has no model_index.json"):
        check_startup(settings, probe=probe)
    assert check_startup(dataclasses.replace(settings, image_model=None), probe=probe) == Access()


def test_muse_run_with_the_hub_unreachable_fails_at_once_and_quietly(tmp_path: Path) -> None:
    """The real command, the hub's address refusing connections and HF_HUB_OFFLINE unset:
    one error listing the token and both models, no retry warnings, no traceback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "MUSE_", "DISCORD"))}
    env |= {
        "HF_ENDPOINT": "http://127.0.0.1:9",  # the discard port: nothing listens there
        "HF_HOME": str(tmp_path / "hf"),
        "MUSE_DB_PATH": str(tmp_path / "muse.sqlite3"),
        "MUSE_IMAGE_DIR": str(tmp_path / "images"),
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "Retrying" not in output and "Traceback" not in output
    assert "local_dir_use_symlinks" not in output and "PyNaCl" not in output
    lines = output.splitlines()
    assert lines[0] == "muse: error: cannot start:", output
    assert len(lines) == 4, output  # the heading and three problems
    assert "DISCORD_TOKEN" in lines[1]
    assert "MUSE_TEXT_MODEL" in lines[2] and "MUSE_IMAGE_MODEL" in lines[3]


def test_a_cached_hub_id_loads_from_its_snapshot_folder_when_local_only(online_hub: Path) -> None:
    """Loaders then never ask the hub, not even for optional files (a PEFT adapter's config)."""
    from generators.backend import pretrained_source

    _cache_model(online_hub, "muse-test/cached-lm", "config.json")
    local = pretrained_source("muse-test/cached-lm", local_files_only=True)
    folder = Path(local["pretrained_model_name_or_path"])
    assert folder.is_dir() and (folder / "config.json").is_file()
    online = pretrained_source("muse-test/cached-lm")
    assert online["pretrained_model_name_or_path"] == "muse-test/cached-lm"
