"""docker-compose.yml and the Dockerfile, checked without docker: the compose file parses, Muse
points at the server the file starts (same host, port and model name), its environment is a
valid Muse configuration, and the image never takes the .env file (the bot token) with it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from bot.config import load_settings

ROOT = Path(__file__).resolve().parent.parent


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_compose_starts_muse_after_a_healthy_text_server() -> None:
    services = compose()["services"]
    assert set(services) == {"llm", "muse"}
    assert services["muse"]["build"] == "."
    assert services["muse"]["depends_on"]["llm"]["condition"] == "service_healthy"
    assert "curl" in services["llm"]["healthcheck"]["test"]
    assert services["muse"]["restart"] == services["llm"]["restart"] == "unless-stopped"


def test_muse_talks_to_the_server_compose_starts() -> None:
    services = compose()["services"]
    env, command = services["muse"]["environment"], services["llm"]["command"]
    match = re.fullmatch(r"http://([\w-]+):(\d+)/v1", env["MUSE_OPENAI_BASE_URL"])
    assert match is not None
    assert match.group(1) == "llm" and match.group(2) == option(command, "--port")
    assert env["MUSE_OPENAI_MODEL"] == option(command, "--alias")
    assert int(env["MUSE_REMOTE_CONCURRENCY"]) <= int(option(command, "--parallel"))
    assert "--jinja" in command  # the model's own chat template


def test_the_compose_environment_is_a_valid_configuration() -> None:
    env = {k: str(v) for k, v in compose()["services"]["muse"]["environment"].items()}
    settings = load_settings({**env, "DISCORD_TOKEN": "from .env"})
    assert settings.text_backend == "openai"
    assert str(settings.db_path).startswith("/data/")


def test_every_named_volume_is_declared_and_data_lives_on_one() -> None:
    spec = compose()
    used = {
        mount.split(":", 1)[0]
        for service in spec["services"].values()
        for mount in service.get("volumes", [])
    }
    assert used == set(spec["volumes"])
    muse_mounts = spec["services"]["muse"]["volumes"]
    assert any(m.endswith(":/data") for m in muse_mounts)


def test_the_dockerfile_builds_what_exists_and_runs_muse() -> None:
    lines = (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()
    copied = [line.split()[1:-1] for line in lines if line.startswith("COPY ")]
    for sources in copied:
        assert all((ROOT / source).exists() for source in sources), sources
    cmd = next(line for line in lines if line.startswith("CMD "))
    assert '"muse", "run"' in cmd
    port = next(line.split()[1] for line in lines if line.startswith("EXPOSE "))
    assert f'"--metrics-port", "{port}"' in cmd
    assert any("MUSE_DB_PATH=/data/" in line for line in lines)


def test_the_image_leaves_secrets_and_local_data_out() -> None:
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".env", "data", ".git", ".venv"} <= set(ignored)
