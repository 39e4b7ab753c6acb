"""Queries on one member's data as a whole: what to delete when they ask to be forgotten."""

from __future__ import annotations

from bot.store.connection import StoreBase
from bot.store.records import Forgotten


class MemberQueries(StoreBase):
    """A member's rows across tables (privacy: find and delete)."""

    async def user_image_paths(self, user_id: int) -> list[str]:
        """Image files of a member's outputs (to delete with their data)."""
        sql = (
            "SELECT o.image_path FROM outputs o JOIN jobs j ON j.id = o.job_id"
            " WHERE j.user_id = ? AND o.image_path IS NOT NULL"
        )
        async with self._db.execute(sql, (user_id,)) as cur:
            return [row[0] for row in await cur.fetchall()]

    async def user_only_pictures(self, user_id: int) -> list[str]:
        """Keys of the pictures a member gave /draw that no other member's job uses."""
        sql = (
            "SELECT DISTINCT json_extract(j.options, '$.picture') AS p FROM jobs j"
            " WHERE j.user_id = ? AND p IS NOT NULL AND p != '' AND NOT EXISTS ("
            " SELECT 1 FROM jobs o WHERE o.user_id != j.user_id"
            " AND json_extract(o.options, '$.picture') = p)"
        )
        async with self._db.execute(sql, (user_id,)) as cur:
            return [row[0] for row in await cur.fetchall()]

    async def live_job_ids(self, user_id: int) -> list[str]:
        """A member's jobs that are still waiting or running."""
        sql = "SELECT id FROM jobs WHERE user_id = ? AND status IN ('queued', 'running')"
        async with self._db.execute(sql, (user_id,)) as cur:
            return [row[0] for row in await cur.fetchall()]

    async def delete_user_data(self, user_id: int) -> Forgotten:
        """Remove a member's jobs, outputs, votes, edits, picks and reports (what others did
        on their outputs goes with the outputs); returns what was deleted, with the files found
        in the same transaction, so an output stored meanwhile cannot leave its image behind."""
        async with self._write_lock:
            paths, pictures = (
                await self.user_image_paths(user_id),
                await self.user_only_pictures(user_id),
            )
            counts = {}
            for name, sql in (
                ("votes", "DELETE FROM votes WHERE user_id = ?"),
                ("reports", "DELETE FROM reports WHERE user_id = ?"),
                ("edits", "DELETE FROM edits WHERE user_id = ?"),
                ("picks", "DELETE FROM picks WHERE user_id = ?"),
                (
                    "outputs",
                    "DELETE FROM outputs WHERE job_id IN (SELECT id FROM jobs WHERE user_id = ?)",
                ),
                ("jobs", "DELETE FROM jobs WHERE user_id = ?"),
            ):
                cursor = await self._db.execute(sql, (user_id,))
                counts[name] = cursor.rowcount
            await self._db.commit()
        return Forgotten(counts, paths, pictures)
