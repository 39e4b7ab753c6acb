"""KTO: every output rated by others, labelled desirable when its net votes are positive."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bot.datasets.formats.base import PROVENANCE, ExportRun, Format
from bot.datasets.items import Item


def kto_rows(run: ExportRun, items: list[Item]) -> Iterator[dict[str, Any]]:
    """One row per output with a non-zero net vote that meets the minimums."""
    for item in items:
        if item.votes == 0 or item.net == 0:
            run.skipped["unrated" if item.votes == 0 else "net_zero"] += 1
            continue
        if not run.passes(item):
            continue
        label = item.net > 0
        if run.images is None:
            yield {"prompt": run.conversation(item), "completion": run.reply(item.text),
                   "label": label, **run.provenance(item)}  # fmt: skip
        elif name := run.image(item):
            yield {"file_name": name, "prompt": run.names.scrub(item.prompt), "label": label,
                   **run.provenance(item)}  # fmt: skip


KTO = Format(
    name="kto",
    file_kinds=frozenset({"poem", "slogan"}),
    columns=(("prompt", "chat"), ("completion", "chat"), ("label", "bool"), *PROVENANCE),
    rows=kto_rows,
)
