"""Raw: every exportable output with all its provenance and consenting feedback, hashed ids;
draws too (with their ``image_path``) when written to a JSONL or Parquet file."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from bot.datasets.filters import KINDS
from bot.datasets.formats.base import ExportRun, Format
from bot.datasets.items import Item


def raw_rows(run: ExportRun, items: list[Item]) -> Iterator[dict[str, Any]]:
    """One row per output that meets the minimums."""
    for item in items:
        if not run.passes(item):
            continue
        row = _raw_row(run, item)
        if run.images is None:
            yield row
        elif name := run.image(item):
            yield {"file_name": name, **row}


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


def _raw_row(run: ExportRun, item: Item) -> dict[str, Any]:
    names = run.names
    edited = item.edited_text
    prov = run.provenance(item)
    return {
        "output_id": item.output_id, "job_id": item.job_id, "group_id": item.group_id,
        "parent_id": item.parent_id, "candidate": item.candidate, "kind": item.kind,
        "prompt": names.scrub(item.prompt), "options": names.scrub(item.options),
        "text": names.scrub(item.text),
        "edited_text": None if edited is None else names.scrub(edited),
        "image_path": item.image_path, "model_id": item.model_id, "seed": item.seed,
        "decision": item.decision, "verdict": names.scrub(item.verdict), "timings": item.timings,
        "created_at": _iso(item.created_at), "compare": item.compare, "votes_up": item.up,
        "votes_down": item.down, "own_up": item.own_up, "own_down": item.own_down,
        "score": item.score,
        "edits": [{"user": names.user(e.user_id), "text": names.scrub(e.text),
                   "created_at": _iso(e.created_at)} for e in item.edits],
        "picks": [{"user": names.user(p.user_id), "source": p.source, "output_id": p.output_id}
                  for p in item.picks],
        "requester": prov["requester"], "guild": prov["guild"],
        "channel": names.of("channel", item.channel_id),
        "parent_output_id": item.source_output_id, "operation": item.operation,
    }  # fmt: skip


RAW = Format(
    name="raw",
    file_kinds=frozenset(KINDS),
    columns=(
        ("output_id", "int"), ("job_id", "str"), ("group_id", "str"), ("parent_id", "str"),
        ("candidate", "int"), ("kind", "str"), ("prompt", "str"), ("options", "str"),
        ("text", "str"), ("edited_text", "str"), ("image_path", "str"), ("model_id", "str"),
        ("seed", "int"), ("decision", "str"), ("verdict", "str"), ("timings", "str"),
        ("created_at", "str"), ("compare", "bool"), ("votes_up", "int"), ("votes_down", "int"),
        ("own_up", "int"), ("own_down", "int"), ("score", "float"), ("edits", "edits"),
        ("picks", "picks"), ("requester", "str"), ("guild", "str"), ("channel", "str"),
        ("parent_output_id", "int"), ("operation", "str"),
    ),
    rows=raw_rows,
)  # fmt: skip
