"""Size rules of the house: no source file over 400 lines, no function over 50 lines."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("bot", "generators", "moderation", "tests", "bench")
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 50


def _sources() -> list[Path]:
    return sorted(p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py"))


def _long_functions(path: Path, limit: int, root: Path = ROOT) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > limit:
                found.append(f"{path.relative_to(root)}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_no_source_file_is_over_400_lines() -> None:
    sources = _sources()
    assert len(sources) > 50, "the walk found too few files"
    too_long = [
        f"{p.relative_to(ROOT)} ({n} lines)"
        for p in sources
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_FILE_LINES
    ]
    assert too_long == []


def test_no_function_is_over_50_lines() -> None:
    assert [f for p in _sources() for f in _long_functions(p, MAX_FUNCTION_LINES)] == []


def test_the_function_check_sees_a_long_function(tmp_path: Path) -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(60))
    (tmp_path / "long.py").write_text(f"async def grown() -> None:\n{body}")
    found = _long_functions(tmp_path / "long.py", MAX_FUNCTION_LINES, root=tmp_path)
    assert found == ["long.py:1 grown (61 lines)"]
