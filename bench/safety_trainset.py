"""Write Muse's own labelled safety set: templates x slot lists, English and Chinese.

    python -m bench.safety_trainset [--seed 20] [--per-core 6]

Writes ``tests/data/safety_train_v2.jsonl`` (what ``moderation.semantic_train`` fits the head
on) and ``tests/data/safety_heldout_v2.jsonl``: every item of about one core template in five
per category and language, so the held-out figures measure templates the head never saw, not
new slot values in known sentences. Harmful cores cover the six categories in plain words and
in evasions (leetspeak, masks, spacing, regional-indicator letters; split characters, 🐴,
Traditional script, pinyin); benign cores look like one of them (hotlines, medicine, history,
idioms, cooking, games, place names, new slogans). Items have the fields of
``bench.safety_semantic.Item``.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType

from bench import safety_trainset_en as en
from bench import safety_trainset_zh as zh

OUT = Path(__file__).resolve().parent.parent / "tests" / "data"
HELD_OUT_SHARE = 0.2
EVASION_SHARE = {"harmful": 0.35, "benign": 0.15}
PREFIXES = {
    "en": ("", "", "please: ", "hey muse, ", "quick one: ", "ok so ", "Muse, "),
    "zh": ("", "", "在吗，", "问一下，", "小助手，", "急！", "那个，"),
}
SUFFIXES = {
    "en": ("", "", " thanks", "!", " in four lines", " 🙏", "?"),
    "zh": ("", "", "，谢谢", "！", "，四句就行", "🙏", "？"),
}
SLOT = re.compile(r"\{(\w+)\}")
_REGIONAL = {c: chr(0x1F1E6 + i) for i, c in enumerate("abcdefghijklmnopqrstuvwxyz")}
_LEET = str.maketrans({"a": "4", "e": "3", "i": "1", "o": "0", "s": "$", "t": "7"})


def fill(core: str, slots: dict[str, tuple[str, ...]], rng: random.Random) -> str:
    """The core with each ``{slot}`` replaced by a random value of that slot."""
    return SLOT.sub(lambda m: rng.choice(slots[m.group(1)]), core)


def shape(core: str, lang: str, table: ModuleType, rng: random.Random) -> str:
    """A request around the filled core: a wrapper, or a prefix and a suffix for a whole one."""
    text = fill(core.lstrip("~"), table.SLOTS, rng)
    if core.startswith("~"):
        return rng.choice(PREFIXES[lang]) + text + rng.choice(SUFFIXES[lang])
    wrapped: str = rng.choice(table.WRAPPERS).format(x=text)
    return wrapped


def disguise_en(word: str, rng: random.Random) -> str:
    """One English evasion of ``word``."""
    kind = rng.randrange(5)
    if kind == 0:
        return word.translate(_LEET)
    if kind == 1:
        return word[0] + "*" * (len(word) - 2) + word[-1] if len(word) > 2 else word + "*"
    if kind == 2:
        return " ".join(word)
    if kind == 3:
        return ".".join(word)
    return "\u200b".join(_REGIONAL.get(c, c) for c in word.lower())


def disguise_zh(text: str, rng: random.Random) -> str:
    """One Chinese evasion of ``text``: split characters or 🐴, Traditional, pinyin or symbols."""
    kind = rng.randrange(4)
    if kind == 0:
        swapped = "".join(zh.SPLITS.get(c, c) for c in text)
        if swapped != text:
            return swapped
    import opencc

    if kind <= 1:
        return str(opencc.OpenCC("s2t").convert(text))
    word = next((w for w in zh.TRIGGERS if w in text), "")
    if not word:
        out = opencc.OpenCC("s2t").convert(text) if kind == 3 else text.replace("，", " ")
        return str(out)
    if kind == 2:
        from pypinyin import lazy_pinyin

        return text.replace(word, "".join(lazy_pinyin(word)), 1)
    return text.replace(word, "*".join(word), 1)


def disguise(text: str, lang: str, rng: random.Random) -> str:
    """``text`` with one trigger word (English) or the whole text (Chinese) disguised."""
    if lang == "zh":
        return disguise_zh(text, rng)
    words = [w for w in en.TRIGGERS if re.search(rf"\b{w}", text, re.IGNORECASE)]
    if not words:
        return text.translate(_LEET) if rng.random() < 0.5 else text.upper()
    word = rng.choice(words)
    return re.sub(rf"\b{word}", disguise_en(word, rng), text, count=1, flags=re.IGNORECASE)


def variants(core: str, lang: str, per_core: int, rng: random.Random) -> Iterator[str]:
    """Up to ``per_core`` distinct texts from one core."""
    table = en if lang == "en" else zh
    seen: set[str] = set()
    for _ in range(per_core * 6):
        text = shape(core, lang, table, rng)
        if text not in seen:
            seen.add(text)
            yield text
            if len(seen) >= per_core:
                return


def items(lang: str, per_core: int, rng: random.Random) -> Iterator[tuple[dict[str, str], bool]]:
    """Every item of one language with whether it is held out."""
    table = en if lang == "en" else zh
    for label, cores in (("harmful", table.HARM), ("benign", table.BENIGN)):
        for category, templates in cores.items():
            held = set(rng.sample(range(len(templates)), round(len(templates) * HELD_OUT_SHARE)))
            for index, core in enumerate(templates):
                for text in variants(core, lang, per_core, rng):
                    style = "plain"
                    if rng.random() < EVASION_SHARE[label]:
                        text, style = disguise(text, lang, rng), "evasion"
                    row = {"text": text, "lang": lang, "label": label, "category": category}
                    yield row | {"style": style, "kind": "prompt"}, index in held


def write(rows: Sequence[dict[str, str]], path: Path) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--per-core", type=int, default=6)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    train: list[dict[str, str]] = []
    held: list[dict[str, str]] = []
    seen: set[str] = set()
    for lang in ("en", "zh"):
        for row, held_out in items(lang, args.per_core, rng):
            if row["text"] not in seen:
                seen.add(row["text"])
                (held if held_out else train).append(row)
    write(train, args.out / "safety_train_v2.jsonl")
    write(held, args.out / "safety_heldout_v2.jsonl")
    print(f"{len(train)} training items, {len(held)} held out")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
