"""Every benchmark exits non-zero when it misses its target, so `make bench` and CI notice."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from bench.export import flat_memory

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p for p in (ROOT / "bench").glob("*.py") if "__main__" in p.read_text())


def _main_block(tree: ast.Module) -> ast.If:
    for node in tree.body:
        if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test):
            return node
    raise AssertionError("no __main__ block")


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_each_bench_passes_its_verdict_to_the_exit_status(script: Path) -> None:
    block = _main_block(ast.parse(script.read_text()))
    exits = [
        n for n in ast.walk(block) if isinstance(n, ast.Raise) and "SystemExit" in ast.unparse(n)
    ]
    assert exits, f"{script.name} ends without raise SystemExit(...): a FAIL would exit 0"
    assert all(n.exc is not None and isinstance(n.exc, ast.Call) and n.exc.args for n in exits)


def test_flat_memory_fails_when_the_peak_grows_with_the_rows(
    capsys: pytest.CaptureFixture[str],
) -> None:
    flat = [{"peak": 100}] * 5
    assert flat_memory({10: flat, 100: [{"peak": 140}] * 5})
    assert not flat_memory({10: flat, 100: [{"peak": 140}] * 4 + [{"peak": 400}]})
    assert "FAIL" in capsys.readouterr().out


def test_the_export_bench_exits_1_when_memory_grows(tmp_path: Path) -> None:
    """A run of the real script: its exit status follows its verdict (sizes tiny, so fast)."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.export", "--sizes", "40", "80"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    passed = all("PASS" in line for line in done.stdout.splitlines() if "target <=" in line)
    assert "target <=" in done.stdout, done.stdout + done.stderr
    assert done.returncode == (0 if passed else 1)
