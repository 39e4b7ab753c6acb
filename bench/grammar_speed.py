"""What the English sound grammars cost llama.cpp per token: SmolLM2's Q4_1 GGUF on one
``llama-server`` slot, each form's request sent with the plain form grammar (``gbnf``: lines and
words only) and with the sound grammar (``row_gbnf``: haiku words per syllable count, rhyme words
of drawn sounds), alternating, same seeds, so machine load hits both alike.

Prints per form the grammar's size and the decode speed (llama-server's own
``predicted_per_second``, prefill excluded) of each side, and their ratio. Exits 1 when a sound
grammar decodes at under 0.8x the plain grammar's speed (the speed target of issue 19).

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 python -m bench.grammar_speed [--seeds N]
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from generators.forms.grammar import gbnf, row_gbnf
from generators.forms.spec import FormSpec, form_spec
from generators.options import Language, PoemForm, TextKind

FORMS = (PoemForm.HAIKU, PoemForm.LIMERICK, PoemForm.SONNET)
TARGET = 0.8


def _decode_speed(url: str, grammar: str, seed: int, budget: int) -> float:
    body = {
        "messages": [
            {"role": "system", "content": "You are a poet. Answer with the poem only."},
            {"role": "user", "content": "Write a poem about the sea at night."},
        ],
        "seed": seed, "max_tokens": budget, "temperature": 0.8, "grammar": grammar,
    }  # fmt: skip
    request = urllib.request.Request(
        f"{url}/chat/completions", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=600) as response:
        answer: dict[str, Any] = json.load(response)
    return float(answer["timings"]["predicted_per_second"])


def _measure(url: str, spec: FormSpec, seeds: range) -> tuple[float, float]:
    plain, sound = [], []
    for seed in seeds:
        plain.append(_decode_speed(url, gbnf(spec), seed, spec.budget_tokens()))
        sound.append(_decode_speed(url, row_gbnf(spec, seed), seed, spec.budget_tokens()))
    return statistics.median(plain), statistics.median(sound)


def main(argv: list[str]) -> int:
    from tests.llama_server import find_binary, serve
    from tests.real_models import smollm2_gguf

    seeds = range(1, 1 + int(argv[argv.index("--seeds") + 1]) if "--seeds" in argv else 4)
    binary = find_binary()
    if binary is None:
        print("llama-server not built (.ci/llama-server)")
        return 1
    missed = False
    print(f"{'form':10} {'grammar bytes':>14} {'plain tok/s':>12} {'sound tok/s':>12}  ratio")
    with tempfile.TemporaryDirectory() as folder:
        with serve(binary, smollm2_gguf(), slots=1, log=Path(folder) / "server.log") as url:
            for form in FORMS:
                spec = form_spec(TextKind.POEM, form, Language.ENGLISH)
                plain, sound = _measure(url, spec, seeds)
                ratio = sound / plain
                missed |= ratio < TARGET
                size = len(row_gbnf(spec, seeds[0]).encode())
                print(f"{spec.name:10} {size:14} {plain:12.1f} {sound:12.1f}  {ratio:.2f}")
    print("target missed" if missed else f"all ratios >= {TARGET}")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
