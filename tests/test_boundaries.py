"""Architecture rules that are cheap to break by accident."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Mapping, Sequence
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


# --- the import graph ------------------------------------------------------------------------

GRAPH_PACKAGES = ("bot", "generators", "moderation")


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(node: ast.ImportFrom, name: str, is_package: bool) -> str:
    """The module an ``from ... import`` names, with a relative one resolved against ``name``."""
    if node.level == 0:
        return node.module or ""
    package = name.split(".") if is_package else name.split(".")[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def _edges(path: Path, name: str, known: set[str]) -> set[str]:
    """The known modules that ``path`` imports anywhere in the file, functions included;
    ``from pkg import sub`` counts as importing ``pkg.sub`` when that is a module."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(node, name, path.name == "__init__.py")
            for alias in node.names:
                if f"{module}.{alias.name}" in known:
                    out.add(f"{module}.{alias.name}")
                elif module in known:
                    out.add(module)
    return out


def _import_graph(root: Path, packages: Sequence[str]) -> dict[str, set[str]]:
    """Every module of ``packages`` under ``root`` -> the modules of ``packages`` it imports."""
    files = {
        _module_name(p, root): p for pkg in packages for p in sorted((root / pkg).rglob("*.py"))
    }
    known = set(files)
    return {name: _edges(path, name, known) for name, path in files.items()}


def _find_cycle(graph: Mapping[str, set[str]]) -> list[str]:
    """One cycle as ``[a, b, ..., a]``, or ``[]`` when the graph has none (depth-first search)."""
    state: dict[str, str] = {}  # "open" while on the current path, then "done"
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = "open"
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return [*path[path.index(target) :], target]
            found = [] if target in state else visit(target)
            if found:
                return found
        path.pop()
        state[node] = "done"
        return []

    for node in sorted(graph):
        found = [] if node in state else visit(node)
        if found:
            return found
    return []


def test_the_cycle_finder_finds_a_made_up_cycle() -> None:
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"a"}}) == ["a", "a"]
    assert _find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_the_graph_sees_imports_inside_functions_and_of_submodules(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "a.py").write_text("def f() -> None:\n    from pkg import b\n")
    (tmp_path / "pkg" / "b.py").write_text("from . import c\n")
    (tmp_path / "pkg" / "c.py").write_text("import pkg.a\n")
    graph = _import_graph(tmp_path, ["pkg"])
    assert graph == {"pkg": set(), "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.c"}, "pkg.c": {"pkg.a"}}
    assert _find_cycle(graph) == ["pkg.a", "pkg.b", "pkg.c", "pkg.a"]


def test_bot_generators_and_moderation_import_no_cycle() -> None:
    graph = _import_graph(ROOT, GRAPH_PACKAGES)
    assert "moderation.wordlist" in graph["moderation.text"], "the walk missed a known import"
    assert _find_cycle(graph) == []


def test_generators_and_moderation_never_import_bot_in_the_graph() -> None:
    graph = _import_graph(ROOT, GRAPH_PACKAGES)
    offenders = [
        f"{name} -> {target}"
        for name, targets in sorted(graph.items())
        if name.startswith(("generators", "moderation"))
        for target in sorted(targets)
        if target.split(".")[0] == "bot"
    ]
    assert offenders == []
    assert any(t.startswith("generators.") for t in graph["bot.service.core"]), (
        "the walk missed bot's imports"
    )


def test_ops_sits_below_the_service_and_never_builds_it() -> None:
    """The arrow points one way: the service imports ``bot.ops`` (metrics), so ``bot.ops``
    never imports ``bot.service`` nor ``bot.app``, which builds the service."""
    graph = _import_graph(ROOT, GRAPH_PACKAGES)
    offenders = [
        f"{name} -> {target}"
        for name, targets in sorted(graph.items())
        if name.startswith("bot.ops")
        for target in sorted(targets)
        if target.startswith(("bot.service", "bot.app", "bot.discord", "bot.cli"))
    ]
    assert offenders == []
    assert "bot.ops.metrics" in graph["bot.service.core"], "the walk missed the service's import"
    assert "bot.service.core" in graph["bot.app"], "bot.app no longer builds the service"
