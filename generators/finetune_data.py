"""The training data of ``muse finetune``: checked row by row, loaded with ``datasets`` and split
into the rows it trains on and the rows it holds out to measure the eval loss."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SFT = "sft"
DPO = "dpo"
COLUMNS: dict[str, tuple[str, ...]] = {SFT: ("messages",), DPO: ("prompt", "chosen", "rejected")}
MIN_TRAIN_ROWS = 2  # fewer and there is nothing to learn from; the trainer would be a no-op


class FinetuneError(RuntimeError):
    """Fine-tuning cannot start or finish; the message says why and what to do."""


def _row_format(row: object) -> str | None:
    """``sft`` or ``dpo`` when ``row`` has that format's fields, else None."""
    if not isinstance(row, dict):
        return None
    if isinstance(row.get("messages"), list) and row["messages"]:
        return SFT
    if all(isinstance(row.get(key), list | str) and row[key] for key in COLUMNS[DPO]):
        return DPO
    return None


def _rows(path: Path) -> Iterator[tuple[int, object]]:
    """(line number, parsed JSON) for each non-blank line; FinetuneError on a missing file or
    a line that is not JSON."""
    if not path.is_file():
        raise FinetuneError(f"training data {str(path)!r} does not exist or is not a file")
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as err:
                raise FinetuneError(f"{path}:{number} is not valid JSON: {err}") from err


def detect_format(path: Path) -> str:
    """``sft`` when the first row has ``messages``, ``dpo`` when it has ``prompt``, ``chosen``
    and ``rejected``."""
    for number, row in _rows(path):
        found = _row_format(row)
        if found is None:
            raise FinetuneError(
                f"{path}:{number} is neither an SFT row (a 'messages' list) nor a DPO row "
                "('prompt', 'chosen' and 'rejected'); export the data with `muse export`"
            )
        return found
    raise FinetuneError(f"training data {str(path)!r} is empty: export some rated outputs first")


def _row_problem(row: object, method: str) -> str | None:
    """What keeps ``row`` from training with ``method``, or None."""
    if not isinstance(row, dict) or _row_format(row) != method:
        columns = ", ".join(repr(c) for c in COLUMNS[method])
        return f"is not a {method.upper()} row like the first one (it needs {columns})"
    if method == SFT:
        last = row["messages"][-1]
        if not isinstance(last, dict) or last.get("role") != "assistant":
            return "does not end with an assistant message to learn from"
    return None


def count_rows(path: Path, method: str) -> int:
    """How many rows ``path`` has; every one must be in ``method``'s format."""
    count = 0
    for number, row in _rows(path):
        problem = _row_problem(row, method)
        if problem is not None:
            raise FinetuneError(f"{path}:{number} {problem}")
        count += 1
    return count


def load_rows(data: Path, method: str) -> Any:
    """The JSONL as a ``datasets.Dataset`` holding only the columns ``method`` trains on."""
    import datasets

    with tempfile.TemporaryDirectory(prefix="muse-ft-data-") as cache:
        try:
            table = datasets.load_dataset(
                "json", data_files=str(data), split="train", cache_dir=cache, keep_in_memory=True
            )
        except Exception as err:  # pyarrow and datasets raise many kinds for bad files
            raise FinetuneError(f"cannot read training data {str(data)!r}: {err}") from err
    table = table.select_columns(list(COLUMNS[method]))
    if method == SFT:
        table = table.map(split_completion, remove_columns=["messages"])
    return table


def split_completion(row: dict[str, Any]) -> dict[str, Any]:
    """A ``messages`` row as TRL's prompt-completion pair, so SFT learns only the final
    assistant message, not Muse's own system and user prompts."""
    messages = row["messages"]
    return {"prompt": messages[:-1], "completion": messages[-1:]}


def held_out_rows(rows: int, eval_fraction: float) -> int:
    """How many of ``rows`` to hold out for the eval loss: ``eval_fraction`` of them, at least
    one when the fraction is above 0. FinetuneError when too few would be left to train on."""
    if not 0 <= eval_fraction < 1:
        raise FinetuneError(f"eval_fraction must be from 0 to below 1, got {eval_fraction}")
    held = max(1, round(rows * eval_fraction)) if eval_fraction > 0 else 0
    if rows - held < MIN_TRAIN_ROWS:
        needed = MIN_TRAIN_ROWS + held
        raise FinetuneError(
            f"the training data has {rows} row(s), too few to train on: at least {needed} are "
            f"needed ({MIN_TRAIN_ROWS} to train, {held} held out to evaluate); "
            "collect more feedback and export again"
        )
    return held


def split_rows(table: Any, held: int, seed: int) -> tuple[Any, Any | None]:
    """(train, eval) datasets: ``held`` rows drawn at random with ``seed`` for eval."""
    if held == 0:
        return table, None
    parts = table.train_test_split(test_size=held, seed=seed, shuffle=True)
    return parts["train"], parts["test"]
