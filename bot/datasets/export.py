"""Feedback datasets from the database, Discord-free and streaming: SFT, DPO, KTO and raw rows.

Rows are read from one snapshot of the database through a second, read-only connection, one
prompt group at a time, and written as they are made (JSONL, Parquet row groups, or an image
folder), so memory does not grow with the number of rows.

Never exported: outputs that are not ``allow`` (blocked, held, rejected), outputs under review
or hidden after reports, outputs whose requester does not consent; votes, picks and edits whose
author does not consent are ignored. Members, guilds and channels appear only as keyed hashes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache, partial
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

import aiosqlite

from bot.store.storage import Storage
from generators.options import Language, detect_language
from generators.prompts import _SYSTEM_EN, _SYSTEM_ZH
from generators.requests import DrawRequest, request_from_fields

EXPORT_VERSION = 1
FORMATS = ("sft", "dpo", "kto", "raw")
KINDS = ("poem", "slogan", "draw")
PARQUET_ROW_GROUP = 2048
PSEUDONYM_CACHE = 16_384
_READ_CHUNK = 512
_MENTION = re.compile(r"<(@!?|@&|#)(\d{15,21})>")
_MENTION_BYTES = re.compile(rb"<(?:@!?|@&|#)\d{15,21}>")
_MENTION_KIND = MappingProxyType({"@": "user", "@!": "user", "@&": "role", "#": "channel"})


@dataclass(frozen=True)
class ExportFilters:
    """Which outputs to export; ``score`` is (up - down) / votes, own votes excluded.

    ``since`` compares with the output's creation time (a naive datetime is taken as UTC).
    ``min_votes`` and ``min_score`` apply to every row (to the chosen side of a DPO pair).
    """

    kind: str | None = None
    since: datetime | None = None
    guild_id: int | None = None
    min_votes: int = 0
    min_score: float | None = None


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


def pseudonym(secret: str, prefix: str, value: int) -> str:
    """The keyed hash standing for a Discord id: same id and secret, same pseudonym.

    ``hmac.new(secret, f"{prefix}:{id}", sha256).hexdigest()[:16]``.
    """
    return hmac.digest(secret.encode(), f"{prefix}:{value}".encode(), hashlib.sha256).hex()[:16]


@dataclass(frozen=True)
class Pseudonyms:
    """Hashes ids with one installation secret, and replaces Discord mentions in text."""

    secret: str = field(repr=False)
    _hash: Callable[[str, int], str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.secret:
            raise ValueError("an export needs a non-empty secret to pseudonymize member ids")
        cached = lru_cache(maxsize=PSEUDONYM_CACHE)(partial(pseudonym, self.secret))
        object.__setattr__(self, "_hash", cached)  # bounded: memory stays flat

    def of(self, prefix: str, value: int | None) -> str | None:
        return None if value is None else self._hash(prefix, value)

    def user(self, value: int) -> str:
        return self._hash("user", value)

    def scrub(self, text: str) -> str:
        """``<@123…>``, ``<@&123…>`` and ``<#123…>`` become ``@user-<hash>`` and the like."""
        if "<" not in text:
            return text
        return _MENTION.sub(self._mention, text)

    def _mention(self, match: re.Match[str]) -> str:
        kind = _MENTION_KIND[match.group(1)]
        sign = "#" if kind == "channel" else "@"
        return f"{sign}{kind}-{self._hash(kind, int(match.group(2)))}"


@dataclass(frozen=True, slots=True)
class Edit:
    user_id: int
    text: str
    created_at: float


@dataclass(frozen=True, slots=True)
class Pick:
    user_id: int
    source: str  # "pick" or "compare"
    output_id: int | None  # None: an A/B tie


@dataclass(frozen=True, slots=True)
class Item:
    """One output with its job, review state, consent and consenting feedback."""

    output_id: int
    job_id: str
    group_id: str
    parent_id: str | None
    candidate: int
    kind: str
    text: str
    model_id: str
    seed: int
    decision: str
    verdict: str
    timings: str
    created_at: float
    image_path: str | None
    hidden: bool
    review: str | None
    consents: bool
    requester: int
    guild_id: int | None
    channel_id: int | None
    options: str
    prompt: str
    compare: bool
    job_created_at: float
    up: int  # votes by others (own votes excluded), from consenting members
    down: int
    own_up: int
    own_down: int
    edits: tuple[Edit, ...]  # oldest first
    picks: tuple[Pick, ...]  # of this output's job

    @property
    def votes(self) -> int:
        return self.up + self.down

    @property
    def net(self) -> int:
        return self.up - self.down

    @property
    def score(self) -> float | None:
        return self.net / self.votes if self.votes else None

    @property
    def edited_text(self) -> str | None:
        """The latest edit's text, for text outputs."""
        if self.kind == "draw" or not self.edits:
            return None
        return self.edits[-1].text


def consent_sql(alias: str) -> str:
    """SQL: member ``alias`` (a consent row or NULL) consents in the job's guild mode."""
    return (
        f"(CASE WHEN g.consent_mode = 'opt-in' THEN {alias}.choice IS 'in'"
        f" ELSE {alias}.choice IS NOT 'out' END)"
    )


_OWN = "(v.own OR v.user_id = j.user_id)"
_ITEMS_SQL = f"""
SELECT o.id, o.job_id, o.candidate, o.text, o.model_id, o.seed, o.decision, o.verdict,
       o.timings, o.created_at, o.image_path, o.hidden,
       j.group_id, j.parent_id, j.kind, j.user_id, j.guild_id, j.channel_id, j.options,
       j.prompt, j.compare, j.created_at AS job_created_at,
       (SELECT r.status FROM reviews r WHERE r.output_id = o.id) AS review,
       {consent_sql("c")} AS consents,
       (SELECT json_array(COALESCE(SUM(v.value = 1 AND NOT {_OWN}), 0),
                          COALESCE(SUM(v.value = -1 AND NOT {_OWN}), 0),
                          COALESCE(SUM(v.value = 1 AND {_OWN}), 0),
                          COALESCE(SUM(v.value = -1 AND {_OWN}), 0))
        FROM votes v LEFT JOIN consent vc ON vc.user_id = v.user_id
        WHERE v.output_id = o.id AND {consent_sql("vc")}) AS vote_counts,
       (SELECT json_group_array(json_array(e.id, e.user_id, e.text, e.created_at))
        FROM edits e LEFT JOIN consent ec ON ec.user_id = e.user_id
        WHERE e.output_id = o.id AND {consent_sql("ec")}) AS edit_list,
       (SELECT json_group_array(json_array(p.user_id, p.source, p.output_id))
        FROM picks p LEFT JOIN consent pc ON pc.user_id = p.user_id
        WHERE p.job_id = o.job_id AND {consent_sql("pc")}) AS pick_list
FROM outputs o
JOIN jobs j ON j.id = o.job_id
LEFT JOIN guild_settings g ON g.guild_id = j.guild_id
LEFT JOIN consent c ON c.user_id = j.user_id
"""


def _edits(raw: str) -> tuple[Edit, ...]:
    if raw == "[]":
        return ()
    rows = sorted(json.loads(raw), key=lambda r: (r[3], r[0]))
    return tuple(Edit(int(r[1]), str(r[2]), float(r[3])) for r in rows if str(r[2]).strip())


def _picks(raw: str) -> tuple[Pick, ...]:
    if raw == "[]":
        return ()
    return tuple(Pick(int(r[0]), str(r[1]), None if r[2] is None else int(r[2]))
                 for r in json.loads(raw))  # fmt: skip


def _item(row: aiosqlite.Row) -> Item:
    up, down, own_up, own_down = map(int, row["vote_counts"][1:-1].split(","))
    return Item(
        output_id=row["id"], job_id=row["job_id"], group_id=row["group_id"],
        parent_id=row["parent_id"], candidate=row["candidate"], kind=row["kind"],
        text=row["text"], model_id=row["model_id"], seed=row["seed"], decision=row["decision"],
        verdict=row["verdict"], timings=row["timings"], created_at=row["created_at"],
        image_path=row["image_path"], hidden=bool(row["hidden"]), review=row["review"],
        consents=bool(row["consents"]), requester=row["user_id"], guild_id=row["guild_id"],
        channel_id=row["channel_id"], options=row["options"], prompt=row["prompt"],
        compare=bool(row["compare"]), job_created_at=row["job_created_at"], up=up, down=down,
        own_up=own_up, own_down=own_down, edits=_edits(row["edit_list"]),
        picks=_picks(row["pick_list"]),
    )  # fmt: skip


def _where(filters: ExportFilters) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if filters.kind is not None:
        clauses.append("j.kind = ?")
        params.append(filters.kind)
    if filters.since is not None:
        clauses.append("o.created_at >= ?")
        params.append(_utc(filters.since).timestamp())
    if filters.guild_id is not None:
        clauses.append("j.guild_id = ?")
        params.append(filters.guild_id)
    return (f"WHERE {' AND '.join(clauses)}" if clauses else ""), params


async def iter_groups(
    db: aiosqlite.Connection, filters: ExportFilters
) -> AsyncIterator[list[Item]]:
    """Every output in the filters' scope, one prompt group at a time (oldest job first)."""
    where, params = _where(filters)
    sql = f"{_ITEMS_SQL} {where} ORDER BY j.group_id"
    group: list[Item] = []
    async with db.execute(sql, params) as cur:
        async for row in cur:
            item = _item(row)
            if group and item.group_id != group[0].group_id:
                yield _ordered(group)
                group = []
            group.append(item)
    if group:
        yield _ordered(group)


def _ordered(group: list[Item]) -> list[Item]:
    return sorted(group, key=lambda i: (i.job_created_at, i.job_id, i.candidate))


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


def exclusion(item: Item) -> str | None:
    """Why an output may never be exported, or None when it may."""
    if item.decision == "block":
        return "blocked"
    if item.decision != "allow":
        return "rejected" if item.review == "rejected" else "held"
    if item.review == "rejected":
        return "rejected"
    if item.review == "pending":
        return "pending_review"
    if item.hidden:
        return "hidden"
    if not item.consents:
        return "no_consent"
    if item.kind == "draw":
        return None if item.image_path else "no_image"
    return None if item.text.strip() else "empty"


def below_minimum(item: Item, filters: ExportFilters) -> str | None:
    """``min_votes`` or ``min_score`` when the output falls short of it."""
    if item.votes < filters.min_votes:
        return "min_votes"
    if filters.min_score is not None and (item.score is None or item.score < filters.min_score):
        return "min_score"
    return None


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


class _Sink(Protocol):
    def write(self, row: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


class _JsonlSink:
    """One JSON object a line."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("w", encoding="utf-8")

    def write(self, row: dict[str, Any]) -> None:
        self._file.write(json.dumps(row, ensure_ascii=False) + "\n")

    def close(self) -> None:
        self._file.close()


class _ParquetSink:
    """Rows buffered into row groups of ``PARQUET_ROW_GROUP`` and written as they fill."""

    def __init__(self, path: Path, fmt: str) -> None:
        import pyarrow.parquet as pq

        self._schema = parquet_schema(fmt)
        self._writer = pq.ParquetWriter(path, self._schema, compression="zstd")
        self._rows: list[dict[str, Any]] = []

    def write(self, row: dict[str, Any]) -> None:
        self._rows.append(row)
        if len(self._rows) >= PARQUET_ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if self._rows:
            self._writer.write_table(pa.Table.from_pylist(self._rows, schema=self._schema))
            self._rows = []

    def close(self) -> None:
        self._flush()
        self._writer.close()


def parquet_schema(fmt: str) -> Any:
    """The Arrow schema of ``fmt``'s text rows (the same keys as its JSONL rows)."""
    import pyarrow as pa

    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    chat = pa.list_(message)
    types = {
        "str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(),
        "chat": chat, "strs": pa.list_(pa.string()),
        "edits": pa.list_(pa.struct([("user", pa.string()), ("text", pa.string()),
                                     ("created_at", pa.string())])),
        "picks": pa.list_(pa.struct([("user", pa.string()), ("source", pa.string()),
                                     ("output_id", pa.int64())])),
    }  # fmt: skip
    return pa.schema([(name, types[kind]) for name, kind in _COLUMNS[fmt]])


_PROVENANCE = (
    ("output_id", "int"), ("job_id", "str"), ("kind", "str"), ("model_id", "str"),
    ("seed", "int"), ("score", "float"), ("votes", "int"), ("requester", "str"), ("guild", "str"),
)  # fmt: skip
_COLUMNS: Mapping[str, tuple[tuple[str, str], ...]] = MappingProxyType({
    "sft": (("messages", "chat"), *_PROVENANCE, ("edited", "bool"), ("accepted_by", "strs")),
    "dpo": (
        ("prompt", "chat"), ("chosen", "chat"), ("rejected", "chat"), ("source", "str"),
        ("kind", "str"), ("job_id", "str"), ("chosen_output_id", "int"),
        ("rejected_output_id", "int"), ("chosen_model_id", "str"), ("rejected_model_id", "str"),
        ("chosen_score", "float"), ("rejected_score", "float"), ("rater", "str"),
        ("requester", "str"), ("guild", "str"),
    ),
    "kto": (("prompt", "chat"), ("completion", "chat"), ("label", "bool"), *_PROVENANCE),
    "raw": (
        ("output_id", "int"), ("job_id", "str"), ("group_id", "str"), ("parent_id", "str"),
        ("candidate", "int"), ("kind", "str"), ("prompt", "str"), ("options", "str"),
        ("text", "str"), ("edited_text", "str"), ("image_path", "str"), ("model_id", "str"),
        ("seed", "int"), ("decision", "str"), ("verdict", "str"), ("timings", "str"),
        ("created_at", "str"), ("compare", "bool"), ("votes_up", "int"), ("votes_down", "int"),
        ("own_up", "int"), ("own_down", "int"), ("score", "float"), ("edits", "edits"),
        ("picks", "picks"), ("requester", "str"), ("guild", "str"), ("channel", "str"),
    ),
})  # fmt: skip


class _Images:
    """PNG files copied into the export folder once each, mentions scrubbed from their text."""

    def __init__(self, folder: Path, names: Pseudonyms) -> None:
        self.folder = folder
        self.names = names

    def file_name(self, item: Item) -> str | None:
        """The copy's name inside the folder, or None when the source file is gone."""
        name = f"{item.output_id}.png"
        target = self.folder / name
        if target.exists():
            return name
        source = Path(item.image_path or "")
        if not item.image_path or not source.is_file():
            return None
        data = source.read_bytes()
        if _MENTION_BYTES.search(data):
            data = _scrub_png(data, self.names)
        target.write_bytes(data)
        return name


def _scrub_png(data: bytes, names: Pseudonyms) -> bytes:
    """Re-encode a PNG whose text chunks mention a member, with the mentions hashed."""
    import io

    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    with Image.open(io.BytesIO(data)) as image:
        info = PngInfo()
        text: dict[str, Any] = getattr(image, "text", {})
        for key, value in text.items():
            info.add_itxt(key, names.scrub(str(value)))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


@dataclass
class _Run:
    """One export in progress: the format, filters, hashes, images and counts."""

    fmt: str
    filters: ExportFilters
    names: Pseudonyms
    images: _Images | None
    rows: int = 0
    outputs: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    model_ids: set[str] = field(default_factory=set)
    _last_turns: tuple[tuple[str, str, str], list[dict[str, str]]] | None = None

    def usable(self, group: list[Item]) -> list[Item]:
        """The group's exportable outputs; the others are counted by reason."""
        kept = []
        for item in group:
            self.outputs += 1
            reason = exclusion(item)
            if reason is None and self.images is None and item.kind == "draw":
                reason = None if self.fmt == "raw" else "image_kind"
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
        self.model_ids.add(item.model_id)
        return {
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


def _sft(run: _Run, items: list[Item]) -> Iterator[dict[str, Any]]:
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


def _kto(run: _Run, items: list[Item]) -> Iterator[dict[str, Any]]:
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


def _raw(run: _Run, items: list[Item]) -> Iterator[dict[str, Any]]:
    for item in items:
        if not run.passes(item):
            continue
        row = _raw_row(run, item)
        if run.images is None:
            yield row
        elif name := run.image(item):
            yield {"file_name": name, **row}


def _raw_row(run: _Run, item: Item) -> dict[str, Any]:
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
    }  # fmt: skip


@dataclass(frozen=True)
class _Pair:
    source: str
    chosen: Item
    rejected: Item
    rater: int | None = None
    chosen_text: str | None = None  # the edited text, for "edit" pairs


def _dpo(run: _Run, items: list[Item]) -> Iterator[dict[str, Any]]:
    for pair in _pairs(run, items):
        if not run.passes(pair.chosen):
            continue
        row = _pair_row(run, pair)
        if row is not None:
            yield row


def _pairs(run: _Run, items: list[Item]) -> Iterator[_Pair]:
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


def _pick_pairs(run: _Run, job_items: list[Item]) -> Iterator[_Pair]:
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


def _pair_row(run: _Run, pair: _Pair) -> dict[str, Any] | None:
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


def _rows(run: _Run, items: list[Item]) -> Iterator[dict[str, Any]]:
    if run.fmt == "sft":
        return _sft(run, items)
    if run.fmt == "dpo":
        return _dpo(run, items)
    if run.fmt == "kto":
        return _kto(run, items)
    return _raw(run, items)


def _check(out: Path, fmt: str, filters: ExportFilters) -> str:
    """The layout for these arguments, or ValueError saying what is wrong."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if filters.kind is not None and filters.kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {filters.kind!r}")
    if filters.min_votes < 0:
        raise ValueError(f"min_votes must be at least 0, got {filters.min_votes}")
    if filters.kind != "draw":
        return "parquet" if out.suffix == ".parquet" else "jsonl"
    if out.suffix in (".parquet", ".jsonl", ".json"):
        raise ValueError(f"images export to a folder (PNG files and metadata.jsonl), not {out}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"{out} exists and is not an empty folder")
    return "imagefolder"


def _filters_json(filters: ExportFilters, names: Pseudonyms) -> dict[str, Any]:
    return {
        "kind": filters.kind,
        "since": None if filters.since is None else _utc(filters.since).isoformat(),
        "guild": names.of("guild", filters.guild_id),
        "min_votes": filters.min_votes,
        "min_score": filters.min_score,
    }


async def _write_rows(storage: Storage, run: _Run, sink: _Sink) -> None:
    """Every row from one read snapshot of the database, in a connection of its own."""
    async with aiosqlite.connect(storage.path, iter_chunk_size=_READ_CHUNK) as db:
        db.row_factory = aiosqlite.Row
        await db.execute("PRAGMA query_only = ON")
        await db.execute("BEGIN")
        try:
            async for group in iter_groups(db, run.filters):
                for row in _rows(run, run.usable(group)):
                    sink.write(row)
                    run.rows += 1
        finally:
            await db.rollback()


async def export(
    storage: Storage, out: Path, *, fmt: str, filters: ExportFilters, secret: str
) -> Manifest:
    """Write the ``fmt`` dataset to ``out`` (JSONL; Parquet for ``.parquet``; a folder of PNGs
    with ``metadata.jsonl`` for ``kind="draw"``) and its manifest; returns the manifest."""
    names = Pseudonyms(secret)
    layout = _check(out, fmt, filters)
    out.parent.mkdir(parents=True, exist_ok=True)
    if layout == "imagefolder":
        manifest = await _export_folder(storage, out, fmt, filters, names)
    else:
        manifest = await _export_file(storage, out, fmt, filters, names, layout)
    return manifest


async def _export_file(
    storage: Storage, out: Path, fmt: str, filters: ExportFilters, names: Pseudonyms, layout: str
) -> Manifest:
    pending = out.with_name(f".{out.name}.partial")
    run = _Run(fmt, filters, names, None)
    sink: _Sink = _ParquetSink(pending, fmt) if layout == "parquet" else _JsonlSink(pending)
    try:
        try:
            await _write_rows(storage, run, sink)
        finally:
            sink.close()
        os.replace(pending, out)
    finally:
        pending.unlink(missing_ok=True)
    manifest = await _manifest(storage, run, out, Path(f"{out}.manifest.json"), layout)
    _write_json(manifest.path, manifest.to_json())
    return manifest


async def _export_folder(
    storage: Storage, out: Path, fmt: str, filters: ExportFilters, names: Pseudonyms
) -> Manifest:
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    run = _Run(fmt, filters, names, _Images(work, names))
    try:
        sink = _JsonlSink(work / "metadata.jsonl")
        try:
            await _write_rows(storage, run, sink)
        finally:
            sink.close()
        manifest = await _manifest(storage, run, out, out / "manifest.json", "imagefolder")
        _write_json(work / "manifest.json", manifest.to_json())
        if out.exists():
            out.rmdir()
        os.replace(work, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return manifest


async def _manifest(storage: Storage, run: _Run, out: Path, path: Path, layout: str) -> Manifest:
    return Manifest(
        data=out,
        path=path,
        format=run.fmt,
        layout=layout,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        schema_version=await storage.schema_version(),
        filters=_filters_json(run.filters, run.names),
        rows=run.rows,
        outputs=run.outputs,
        skipped=dict(sorted(run.skipped.items())),
        model_ids=tuple(sorted(run.model_ids)),
    )


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
