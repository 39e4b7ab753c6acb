"""DPO: chosen/rejected pairs of the same prompt, from picks, A/B results, vote differences
within the prompt group, and edits (the edit over the original text)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bot.datasets.formats.base import ExportRun, Format
from bot.datasets.items import Item


@dataclass(frozen=True)
class _Pair:
    source: str
    chosen: Item
    rejected: Item
    rater: int | None = None
    chosen_text: str | None = None  # the edited text, for "edit" pairs


def dpo_rows(run: ExportRun, items: list[Item]) -> Iterator[dict[str, Any]]:
    """One row per pair whose chosen side meets the minimums and differs from the rejected."""
    for pair in _pairs(run, items):
        if not run.passes(pair.chosen):
            continue
        row = _pair_row(run, pair)
        if row is not None:
            yield row


def _pairs(run: ExportRun, items: list[Item]) -> Iterator[_Pair]:
    """Picks, A/B results, vote differences within the group, then edits."""
    by_job: dict[str, list[Item]] = {}
    for item in items:
        by_job.setdefault(item.job_id, []).append(item)
    for job_items in by_job.values():
        yield from _pick_pairs(run, job_items)
    yield from _vote_pairs(items, max(1, run.filters.min_votes))
    if run.images is None:
        for item in items:
            edited = item.edited_text
            if edited is not None and edited.strip() != item.text.strip():
                yield _Pair("edit", item, item, item.edits[-1].user_id, edited)


def _pick_pairs(run: ExportRun, job_items: list[Item]) -> Iterator[_Pair]:
    """A pick: the chosen candidate over each other one; an A/B choice: over the other."""
    by_id = {item.output_id: item for item in job_items}
    for pick in job_items[0].picks:
        if pick.source == "compare" and not job_items[0].compare:
            continue
        if pick.output_id is None:
            run.skipped["tie"] += 1
            continue
        chosen = by_id.get(pick.output_id)
        if chosen is None:
            run.skipped["pick_excluded"] += 1
            continue
        others = [i for i in job_items if i is not chosen]
        if pick.source == "compare":
            others = [i for i in others if i.candidate in (0, 1)]
        for other in others:
            yield _Pair(pick.source, chosen, other, pick.user_id)


def _vote_pairs(items: list[Item], min_votes: int) -> Iterator[_Pair]:
    """Each rated sample over each lower-rated sample of the same prompt."""
    rated = [item for item in items if item.votes >= min_votes]
    for chosen in rated:
        for rejected in rated:
            if chosen.net > rejected.net:
                yield _Pair("votes", chosen, rejected)


def _pair_row(run: ExportRun, pair: _Pair) -> dict[str, Any] | None:
    chosen, rejected = pair.chosen, pair.rejected
    prov = run.provenance(chosen)
    run.model_ids.add(rejected.model_id)
    row: dict[str, Any] = {
        "source": pair.source, "kind": chosen.kind, "job_id": chosen.job_id,
        "chosen_output_id": chosen.output_id, "rejected_output_id": rejected.output_id,
        "chosen_model_id": chosen.model_id, "rejected_model_id": rejected.model_id,
        "chosen_score": chosen.score, "rejected_score": rejected.score,
        "rater": run.names.of("user", pair.rater), "requester": prov["requester"],
        "guild": prov["guild"],
    }  # fmt: skip
    if run.images is None:
        chosen_text = pair.chosen_text or chosen.text
        if chosen_text.strip() == rejected.text.strip():
            run.skipped["same_text"] += 1
            return None
        return {"prompt": run.conversation(chosen), "chosen": run.reply(chosen_text),
                "rejected": run.reply(rejected.text), **row}  # fmt: skip
    chosen_name, rejected_name = run.image(chosen), run.image(rejected)
    if chosen_name is None or rejected_name is None:
        return None
    return {"prompt": run.names.scrub(chosen.prompt), "chosen_file_name": chosen_name,
            "rejected_file_name": rejected_name, **row}  # fmt: skip


DPO = Format(
    name="dpo",
    file_kinds=frozenset({"poem", "slogan"}),
    columns=(
        ("prompt", "chat"), ("chosen", "chat"), ("rejected", "chat"), ("source", "str"),
        ("kind", "str"), ("job_id", "str"), ("chosen_output_id", "int"),
        ("rejected_output_id", "int"), ("chosen_model_id", "str"), ("rejected_model_id", "str"),
        ("chosen_score", "float"), ("rejected_score", "float"), ("rater", "str"),
        ("requester", "str"), ("guild", "str"),
    ),
    rows=dpo_rows,
)  # fmt: skip
