"""Queries on jobs and their outputs: queue, run, finish, and read back with provenance."""

from __future__ import annotations

import json
from collections.abc import Sequence

import aiosqlite

from bot.store.connection import JobGone, StoreBase
from bot.store.records import JobRecord, NewOutput, OutputRecord, clean_text


def _job(row: aiosqlite.Row) -> JobRecord:
    return JobRecord(
        id=row["id"],
        group_id=row["group_id"],
        parent_id=row["parent_id"],
        kind=row["kind"],
        user_id=row["user_id"],
        guild_id=row["guild_id"],
        channel_id=row["channel_id"],
        options=json.loads(row["options"]),
        prompt=row["prompt"],
        seed=row["seed"],
        status=row["status"],
        created_at=row["created_at"],
        error=row["error"],
        compare=bool(row["compare"]),
        reply_handle=row["reply_handle"],
        guild_name=row["guild_name"],
        channel_name=row["channel_name"],
        source_output_id=row["source_output_id"],
        operation=row["operation"],
    )


def _output(row: aiosqlite.Row) -> OutputRecord:
    return OutputRecord(
        id=row["id"],
        job_id=row["job_id"],
        candidate=row["candidate"],
        text=row["text"],
        model_id=row["model_id"],
        seed=row["seed"],
        decision=row["decision"],
        timings=json.loads(row["timings"]),
        image_path=row["image_path"],
        hidden=bool(row["hidden"]),
    )


class JobQueries(StoreBase):
    """Jobs and outputs: one row per request, one per candidate it produced."""

    async def insert_job(self, job: JobRecord) -> None:
        await self.write(
            "INSERT INTO jobs (id, group_id, parent_id, kind, user_id, guild_id, channel_id,"
            " options, prompt, seed, status, created_at, compare, reply_handle, guild_name,"
            " channel_name, source_output_id, operation)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                job.id, job.group_id, job.parent_id, job.kind, job.user_id, job.guild_id,
                job.channel_id, clean_text(json.dumps(job.options, ensure_ascii=False)),
                clean_text(job.prompt), job.seed,
                job.status, job.created_at, int(job.compare), job.reply_handle, job.guild_name,
                job.channel_name, job.source_output_id, job.operation,
            ),
        )  # fmt: skip

    async def mark_running(self, job_ids: Sequence[str], now: float) -> None:
        async with self._write_lock:
            await self._db.executemany(
                "UPDATE jobs SET status = 'running', started_at = ? WHERE id = ?",
                [(now, job_id) for job_id in job_ids],
            )
            await self._db.commit()

    async def finish_job(self, job_id: str, status: str, now: float, error: str | None) -> None:
        await self.write(
            "UPDATE jobs SET status = ?, finished_at = ?, error = ?, reply_handle = NULL"
            " WHERE id = ?",
            (status, now, error, job_id),
        )

    async def add_outputs(self, job_id: str, outputs: Sequence[NewOutput], now: float) -> list[int]:
        """Store a job's outputs and mark it done, in one transaction; returns output ids.
        Raises ``JobGone`` when the job was deleted meanwhile (its member was forgotten)."""
        async with self._write_lock:
            try:
                ids = await self._insert_outputs(job_id, outputs, now)
            except BaseException:
                await self._db.rollback()
                raise
            await self._db.commit()
        return ids

    async def _insert_outputs(
        self, job_id: str, outputs: Sequence[NewOutput], now: float
    ) -> list[int]:
        changed = await self._db.execute(  # the reply handle stays until it is delivered
            "UPDATE jobs SET status = 'done', finished_at = ?, delivered_at = NULL WHERE id = ?",
            (now, job_id),
        )
        if changed.rowcount == 0:
            raise JobGone(job_id)
        ids: list[int] = []
        for out in outputs:
            cursor = await self._db.execute(
                "INSERT INTO outputs (job_id, candidate, text, model_id, seed, decision,"
                " verdict, timings, created_at, image_path) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    job_id, out.candidate, clean_text(out.text), out.model_id, out.seed,
                    out.decision, clean_text(json.dumps(out.verdict, ensure_ascii=False)),
                    json.dumps(out.timings), now,
                    out.image_path,
                ),
            )  # fmt: skip
            ids.append(int(cursor.lastrowid or 0))
        return ids

    async def mark_delivered(self, job_id: str, now: float) -> None:
        """The member has the result (Discord accepted it); nothing is left to answer."""
        await self.write(
            "UPDATE jobs SET delivered_at = ?, reply_handle = NULL WHERE id = ?", (now, job_id)
        )

    async def undelivered_results(self) -> list[JobRecord]:
        """Done jobs whose result never reached Discord, oldest first (those with a place to
        answer: jobs from the command line have neither a reply handle nor a channel)."""
        async with self._db.execute(
            "SELECT * FROM jobs WHERE status = 'done' AND delivered_at IS NULL"
            " AND (reply_handle IS NOT NULL OR channel_id IS NOT NULL) ORDER BY created_at"
        ) as cur:
            return [_job(row) for row in await cur.fetchall()]

    async def unfinished_jobs(self) -> list[JobRecord]:
        """Jobs a previous process left queued or running, oldest first."""
        async with self._db.execute(
            "SELECT * FROM jobs WHERE status IN ('queued', 'running') ORDER BY created_at"
        ) as cur:
            return [_job(row) for row in await cur.fetchall()]

    async def get_job(self, job_id: str) -> JobRecord | None:
        async with self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)) as cur:
            row = await cur.fetchone()
        return _job(row) if row else None

    async def job_outputs(self, job_id: str) -> list[OutputRecord]:
        sql = "SELECT * FROM outputs WHERE job_id = ? ORDER BY candidate"
        async with self._db.execute(sql, (job_id,)) as cur:
            return [_output(row) for row in await cur.fetchall()]

    async def get_output(self, output_id: int) -> OutputRecord | None:
        async with self._db.execute("SELECT * FROM outputs WHERE id = ?", (output_id,)) as cur:
            row = await cur.fetchone()
        return _output(row) if row else None

    async def group_size(self, group_id: str) -> int:
        """How many jobs sample the same prompt (the original plus its regenerations)."""
        sql = "SELECT COUNT(*) FROM jobs WHERE group_id = ?"
        async with self._db.execute(sql, (group_id,)) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0
