"""SFT: accepted outputs (edited, picked, A/B winners, net-positive votes) as chat conversations,
the edit's text in place of the output's when a member edited it; for draws, the accepted images."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bot.datasets.formats.base import PROVENANCE, ExportRun, Format
from bot.datasets.items import Item


def accepted_by(item: Item) -> list[str]:
    """Why an output counts as accepted: edited, picked, an A/B winner, net-positive votes."""
    reasons = []
    if item.edited_text is not None:
        reasons.append("edit")
    if any(p.source == "pick" and p.output_id == item.output_id for p in item.picks):
        reasons.append("pick")
    if item.compare and any(
        p.source == "compare" and p.output_id == item.output_id for p in item.picks
    ):
        reasons.append("compare")
    if item.net > 0:
        reasons.append("votes")
    return reasons


def sft_rows(run: ExportRun, items: list[Item]) -> Iterator[dict[str, Any]]:
    """One row per accepted output that meets the minimums."""
    for item in items:
        reasons = accepted_by(item)
        if not reasons:
            run.skipped["not_accepted"] += 1
            continue
        if not run.passes(item):
            continue
        extra = {"edited": item.edited_text is not None, "accepted_by": reasons}
        if run.images is None:
            text = item.edited_text or item.text
            messages = [*run.conversation(item), *run.reply(text)]
            yield {"messages": messages, **run.provenance(item), **extra}
        elif name := run.image(item):
            yield {"file_name": name, "prompt": run.names.scrub(item.prompt),
                   **run.provenance(item), **extra}  # fmt: skip


SFT = Format(
    name="sft",
    file_kinds=frozenset({"poem", "slogan"}),
    columns=(("messages", "chat"), *PROVENANCE, ("edited", "bool"), ("accepted_by", "strs")),
    rows=sft_rows,
)
