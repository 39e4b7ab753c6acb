"""The figures of ``bench/quality.py``: before and after side by side, and the targets."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from statistics import median
from typing import Any

from generators.forms import checks
from generators.forms.spec import SLOGAN_EN, SLOGAN_ZH, form_spec
from generators.options import Language, PoemForm, TextKind, detect_language

Row = tuple[str, str, str, bool]  # label, before, after, target met (after)


def _share(hits: int, total: int) -> str:
    return f"{hits}/{total} ({100 * hits / max(total, 1):.0f}%)"


def _spec(form: PoemForm) -> Any:
    return form_spec(TextKind.POEM, form, form.native_language)


def poem_figures(side: Any) -> dict[str, tuple[int, int]]:
    """Counts (hits, total) per measure for one side."""
    out: dict[str, list[int]] = {}

    def add(key: str, hit: bool) -> None:
        pair = out.setdefault(key, [0, 0])
        pair[0] += int(hit)
        pair[1] += 1

    loops = [0, 0]
    for form, topic, text, used, limit in side.poems:
        spec = _spec(form)
        add("cut mid-line (token cap hit)", used >= limit)
        add("U+FFFD in text", "\ufffd" in text)
        add(f"structure: {form.value}", checks.structure_ok(spec, text))
        if spec.syllables:
            add("haiku syllables 5-7-5", checks.syllables_ok(spec, text))
        if spec.rhyme:
            add(f"rhyme: {form.value}", checks.rhyme_ok(spec, text))
        add("role talk in poem", checks.role_talk(text))
        add("uses a topic word", checks.uses_topic(topic, text))
        repeats, lines = checks.looping_lines(text)
        loops[0] += repeats
        loops[1] += lines
    figures = {k: (v[0], v[1]) for k, v in out.items()}
    figures["looping lines"] = (loops[0], loops[1])
    return figures


def slogan_figures(side: Any) -> dict[str, tuple[int, int]]:
    leaks = dupes = total = requests = 0
    for _product, texts in side.slogans:
        requests += 1
        dupes += len(texts) != len({t.strip().lower() for t in texts})
        for text in texts:
            spec = SLOGAN_ZH if detect_language(text) is Language.CHINESE else SLOGAN_EN
            leaks += bool(checks.slogan_leaks(spec, text))
            total += 1
    return {"slogan leaks": (leaks, total), "slogan requests with duplicates": (dupes, requests)}


def _target(key: str, hits: int, total: int) -> bool:
    if key.startswith(("structure", "uses")):
        return key.startswith("uses") or hits == total
    if key.startswith(("haiku", "rhyme")):
        return hits >= 0.9 * total
    return hits == 0


def table(before: Any, after: Any) -> tuple[list[str], bool]:
    b = {**poem_figures(before), **slogan_figures(before)}
    a = {**poem_figures(after), **slogan_figures(after)}
    lines = [f"{'measure':44} {'before (off)':>16} {'after (on)':>16}  target"]
    ok = True
    for key in b:
        met = _target(key, *a[key])
        ok = ok and met
        mark = "" if key.startswith("uses") else ("met" if met else "MISSED")
        lines.append(f"{key:44} {_share(*b[key]):>16} {_share(*a[key]):>16}  {mark}")
    piece_b, piece_a = median(before.piece_rates), median(after.piece_rates)
    ratio = piece_a / max(piece_b, 1e-9)
    ok = ok and ratio >= 0.8
    lines.append(
        f"{'tokens/s per piece (median poem)':44} {piece_b:16.1f} {piece_a:16.1f}  "
        f"ratio {ratio:.2f} {'met' if ratio >= 0.8 else 'MISSED'} (>= 0.8)"
    )
    decode_b, decode_a = median(before.decode_rates), median(after.decode_rates)
    lines.append(
        f"{'  of which writing, after the first text':44} {decode_b:16.1f} {decode_a:16.1f}  "
        f"ratio {decode_a / max(decode_b, 1e-9):.2f} (information: the masks' or grammar's cost)"
    )
    first_b, first_a = median(before.first_text_s), median(after.first_text_s)
    lines.append(
        f"{'  first text shown, s':44} {first_b:16.2f} {first_a:16.2f}  "
        f"ratio {first_a / max(first_b, 1e-9):.2f} (information)"
    )
    speed_b = before.tokens / max(before.seconds, 1e-9)
    speed_a = after.tokens / max(after.seconds, 1e-9)
    lines.append(
        f"{'tokens/s all rows (wall; batch occupancy)':44} {speed_b:16.1f} {speed_a:16.1f}  "
        f"ratio {speed_a / max(speed_b, 1e-9):.2f} (information)"
    )
    return lines, ok


def by_form(before: Any, after: Any) -> list[str]:
    """Per form: the median writing rate (tokens/s after the first text) of each side."""
    out = ["writing tokens/s by form (median)            before            after"]
    for form in dict.fromkeys(p[0] for p in after.poems):
        rates = [
            median([r for p, r in zip(side.poems, side.decode_rates, strict=True) if p[0] is form])
            for side in (before, after)
        ]
        out.append(
            f"  {form.value:42} {rates[0]:16.1f} {rates[1]:16.1f}  {rates[1] / rates[0]:.2f}"
        )
    return out


def show(side: Any, count: int) -> None:
    print(f"\n== {side.name}: first poems and slogans ==")
    for form, topic, text, used, _limit in side.poems[:: max(1, len(side.poems) // count)]:
        print(f"-- {form.value} / {topic} ({int(used)} tokens)\n{text}")
    for product, texts in side.slogans:
        print(f"-- slogans for {product}: {texts}")


def warmed(load: Callable[[Any], Any]) -> Any:
    """The transformers back-end with its one-off costs paid, kept out of both sides: the
    tokenizer's form view, every form's compiled grammar, the words a rhyme may be set on."""
    import torch

    from generators.constrain import SETTER
    from tests.real_models import real_lm_dir

    torch.set_num_threads(int(os.environ.get("MUSE_TORCH_THREADS", "1")))
    backend = load(real_lm_dir())
    tokens = backend.form_tokens()
    for form in PoemForm:
        tokens.matcher(_spec(form))
    tokens.matcher(SLOGAN_EN)
    tokens.matcher(SLOGAN_ZH)
    tokens.spellings(SETTER)
    return backend


def main(collect: Callable[[Any], Any], load: Callable[[Any], Any] | None) -> int:
    """Run ``collect`` on the back-end ``load`` gives (None: ``collect`` opens its own)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    before, after = asyncio.run(collect(warmed(load) if load is not None else None))
    count = int(sys.argv[sys.argv.index("--show") + 1]) if "--show" in sys.argv else 0
    if count:
        show(before, count)
        show(after, count)
    lines, ok = table(before, after)
    print("\n" + "\n".join([*lines, *by_form(before, after)]))
    print("all targets met" if ok else "some targets MISSED")
    return 0 if ok else 1
