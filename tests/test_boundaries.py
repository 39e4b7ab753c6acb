"""Architecture rules that are cheap to break by accident."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_generators_and_moderation_never_import_discord_or_bot() -> None:
    offenders = []
    for package in ("generators", "moderation"):
        for path in sorted((ROOT / package).rglob("*.py")):
            bad = _imported_modules(path) & {"discord", "bot"}
            if bad:
                offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert offenders == []
    assert list((ROOT / "generators").rglob("*.py")), "the walk found no files"


def test_importing_the_service_and_bot_loads_no_ml_stack() -> None:
    code = (
        "import sys, bot.service, bot.client, bot.cli, generators.queue, moderation.wordlist;"
        "print(sorted(m for m in ('torch', 'transformers', 'diffusers') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"
