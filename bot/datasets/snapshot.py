"""Reading the database for an export: one read-only snapshot, streamed a prompt group at a time.

The rows come through a second connection of their own (``PRAGMA query_only``, one read
transaction, rolled back at the end), so the bot keeps writing while an export runs and the
export sees one consistent state. Votes, edits and picks arrive already filtered by
``consent_sql``; the rest of the rules are applied to each ``Item`` (``consent.exclusion``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from bot.datasets.consent import consent_sql
from bot.datasets.filters import ExportFilters, as_utc
from bot.datasets.items import Edit, Item, Pick

READ_CHUNK = 512
_OWN = "(v.own OR v.user_id = j.user_id)"
_ITEMS_SQL = f"""
SELECT o.id, o.job_id, o.candidate, o.text, o.model_id, o.seed, o.decision, o.verdict,
       o.timings, o.created_at, o.image_path, o.hidden,
       j.group_id, j.parent_id, j.kind, j.user_id, j.guild_id, j.channel_id, j.options,
       j.prompt, j.compare, j.created_at AS job_created_at, j.source_output_id, j.operation,
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


@asynccontextmanager
async def read_snapshot(path: Path) -> AsyncIterator[aiosqlite.Connection]:
    """A read-only connection to ``path`` inside one read transaction, closed on exit."""
    async with aiosqlite.connect(path, iter_chunk_size=READ_CHUNK) as db:
        db.row_factory = aiosqlite.Row
        await db.execute("PRAGMA query_only = ON")
        await db.execute("BEGIN")
        try:
            yield db
        finally:
            await db.rollback()


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


def _where(filters: ExportFilters) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if filters.kind is not None:
        clauses.append("j.kind = ?")
        params.append(filters.kind)
    if filters.since is not None:
        clauses.append("o.created_at >= ?")
        params.append(as_utc(filters.since).timestamp())
    if filters.guild_id is not None:
        clauses.append("j.guild_id = ?")
        params.append(filters.guild_id)
    return (f"WHERE {' AND '.join(clauses)}" if clauses else ""), params


def _ordered(group: list[Item]) -> list[Item]:
    return sorted(group, key=lambda i: (i.job_created_at, i.job_id, i.candidate))


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
        picks=_picks(row["pick_list"]), source_output_id=row["source_output_id"],
        operation=row["operation"],
    )  # fmt: skip
