"""The manifest saved with every export: format, layout, filters, counts and model ids."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.datasets.filters import ExportFilters, as_utc
from bot.datasets.pseudonyms import Pseudonyms

EXPORT_VERSION = 1


@dataclass(frozen=True)
class Manifest:
    """What one export wrote, also saved as JSON beside (or, for images, inside) the data."""

    data: Path
    path: Path
    format: str
    layout: str  # "jsonl", "parquet" or "imagefolder"
    created_at: str
    schema_version: int
    filters: dict[str, Any]
    rows: int
    outputs: int
    skipped: dict[str, int]
    model_ids: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "muse_export_version": EXPORT_VERSION,
            "format": self.format,
            "layout": self.layout,
            "created_at": self.created_at,
            "schema_version": self.schema_version,
            "filters": self.filters,
            "counts": {"rows": self.rows, "outputs": self.outputs, "skipped": self.skipped},
            "model_ids": list(self.model_ids),
            "pseudonyms": "hmac-sha256(secret, 'user:<id>' | 'guild:<id>' | 'channel:<id>')[:16]",
        }


def filters_json(filters: ExportFilters, names: Pseudonyms) -> dict[str, Any]:
    """The filters as the manifest records them (the guild as its pseudonym)."""
    return {
        "kind": filters.kind,
        "since": None if filters.since is None else as_utc(filters.since).isoformat(),
        "guild": names.of("guild", filters.guild_id),
        "min_votes": filters.min_votes,
        "min_score": filters.min_score,
    }


def write_json(path: Path, data: dict[str, Any]) -> None:
    """``data`` as indented UTF-8 JSON, the way every manifest is saved."""
    pending = path.with_name(f".{path.name}.partial")  # never a half-written manifest
    try:
        pending.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        os.replace(pending, path)
    finally:
        pending.unlink(missing_ok=True)
