"""Architecture rules that are cheap to break by accident."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imported_modules(path: Path) -> set[str]:
    return {name.split(".")[0] for name in _full_modules(path)}


def test_generators_and_moderation_never_import_discord_or_bot() -> None:
    offenders = []
    for package in ("generators", "moderation"):
        for path in sorted((ROOT / package).rglob("*.py")):
            bad = _imported_modules(path) & {"discord", "bot"}
            if bad:
                offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert offenders == []
    assert list((ROOT / "generators").rglob("*.py")), "the walk found no files"


def _top_level_modules(path: Path) -> set[str]:
    """Full names of the modules a file imports at module level (not inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _touches_adapter(names: set[str]) -> bool:
    return any(n == "discord" or n.startswith(("discord.", "bot.discord")) for n in names)


def _full_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_only_the_adapter_imports_discord() -> None:
    """The core never imports discord; the CLI reaches the adapter only inside `muse run`."""
    adapter = ROOT / "bot" / "discord"
    offenders = []
    for path in sorted((ROOT / "bot").rglob("*.py")):
        if adapter in path.parents:
            continue
        is_cli = path == ROOT / "bot" / "cli.py"
        names = _top_level_modules(path) if is_cli else _full_modules(path)
        if _touches_adapter(names):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
    assert list(adapter.rglob("*.py")), "the adapter package was not found"


def test_the_adapter_check_sees_a_stray_import(tmp_path: Path) -> None:
    stray = tmp_path / "stray.py"
    stray.write_text("def f() -> None:\n    from bot.discord.replies import report_error\n")
    assert _touches_adapter(_full_modules(stray))
    assert not _touches_adapter(_top_level_modules(stray))


def test_importing_the_service_and_bot_loads_no_ml_stack() -> None:
    code = (
        "import sys, bot.service.core, bot.discord.client, bot.cli, generators.queue,"
        " moderation.wordlist;"
        "print(sorted(m for m in ('torch', 'transformers', 'diffusers') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"
