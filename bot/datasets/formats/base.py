"""What every format is made of: the ``Format`` record the registry holds, and the ``ExportRun``
its row writer works in (counts, pseudonyms, image copies, provenance and chat turns)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.datasets.consent import exclusion
from bot.datasets.filters import ExportFilters, below_minimum
from bot.datasets.imagefolder import Images
from bot.datasets.items import Item
from bot.datasets.pseudonyms import Pseudonyms
from bot.datasets.sinks import Columns
from generators.options import Language, detect_language
from generators.prompts import _SYSTEM_EN, _SYSTEM_ZH
from generators.requests import DrawRequest, request_from_fields

PROVENANCE: Columns = (
    ("output_id", "int"), ("job_id", "str"), ("kind", "str"), ("model_id", "str"),
    ("seed", "int"), ("score", "float"), ("votes", "int"), ("requester", "str"), ("guild", "str"),
)  # fmt: skip


class RowWriter(Protocol):
    def __call__(self, run: ExportRun, items: list[Item]) -> Iterator[dict[str, Any]]:
        """The rows made from one prompt group's exportable outputs (oldest job first)."""
        ...


@dataclass(frozen=True)
class Format:
    """One dataset format, as ``muse export --format NAME`` names it."""

    name: str
    file_kinds: frozenset[str]  # kinds its JSONL/Parquet rows take; draws go to an image folder
    columns: Columns  # the keys of its JSONL/Parquet rows, with their Parquet types
    rows: RowWriter


@dataclass
class ExportRun:
    """One export in progress: the format, filters, hashes, images and counts."""

    fmt: Format
    filters: ExportFilters
    names: Pseudonyms
    images: Images | None
    rows: int = 0
    outputs: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    model_ids: set[str] = field(default_factory=set)
    _last_turns: tuple[tuple[str, str, str], list[dict[str, str]]] | None = None
    progress: Callable[[int], None] | None = None  # told the rows written so far, per group

    def usable(self, group: list[Item]) -> list[Item]:
        """The group's exportable outputs; the others are counted by reason."""
        kept = []
        for item in group:
            self.outputs += 1
            reason = exclusion(item)
            if reason is None and self.images is None and item.kind not in self.fmt.file_kinds:
                reason = "image_kind"
            if reason is None:
                kept.append(item)
            else:
                self.skipped[reason] += 1
        return kept

    def passes(self, item: Item) -> bool:
        reason = below_minimum(item, self.filters)
        if reason is not None:
            self.skipped[reason] += 1
        return reason is None

    def image(self, item: Item) -> str | None:
        assert self.images is not None
        name = self.images.file_name(item)
        if name is None:
            self.skipped["image_missing"] += 1
        return name

    def provenance(self, item: Item) -> dict[str, Any]:
        """Who made an output with what; a drawing's lineage too (the same keys in every row,
        as ``datasets``' image folders want)."""
        self.model_ids.add(item.model_id)
        lineage = (
            {"parent_output_id": item.source_output_id, "operation": item.operation}
            if item.kind == "draw"
            else {}
        )
        return lineage | {
            "output_id": item.output_id,
            "job_id": item.job_id,
            "kind": item.kind,
            "model_id": item.model_id,
            "seed": item.seed,
            "score": item.score,
            "votes": item.votes,
            "requester": self.names.user(item.requester),
            "guild": self.names.of("guild", item.guild_id),
        }

    def conversation(self, item: Item) -> list[dict[str, str]]:
        """System and user turns; the last request's are kept, as its samples repeat them."""
        key = (item.kind, item.options, item.prompt)
        if self._last_turns is None or self._last_turns[0] != key:
            turns = [
                {"role": "system", "content": system_prompt(item)},
                {"role": "user", "content": self.names.scrub(item.prompt)},
            ]
            self._last_turns = (key, turns)
        return list(self._last_turns[1])

    def reply(self, text: str) -> list[dict[str, str]]:
        return [{"role": "assistant", "content": self.names.scrub(text)}]


def system_prompt(item: Item) -> str:
    """The system prompt Muse used for a text job, in the request's resolved language."""
    try:
        request = request_from_fields(item.kind, json.loads(item.options))
        language = (
            detect_language(item.prompt)
            if isinstance(request, DrawRequest)
            else request.resolved_language()
        )
    except (ValueError, KeyError, TypeError):
        language = detect_language(item.prompt)
    return _SYSTEM_ZH if language is Language.CHINESE else _SYSTEM_EN
