"""Queries on members' votes: toggling a vote and counting them per output."""

from __future__ import annotations

from collections.abc import Sequence

from bot.store.connection import StoreBase
from bot.store.records import Tally


class VoteQueries(StoreBase):
    """Up and down votes on outputs, one per member and output."""

    async def toggle_vote(
        self, output_id: int, user_id: int, value: int, now: float, *, own: bool = False
    ) -> int:
        """Set, change or (clicking the same again) remove a vote; returns the vote now held.
        ``own`` marks a vote on one's own output (kept, but flagged for exports and stats)."""
        async with self._write_lock:
            cursor = await self._db.execute(
                "DELETE FROM votes WHERE output_id = ? AND user_id = ? AND value = ?",
                (output_id, user_id, value),
            )
            if cursor.rowcount == 0:
                await self._db.execute(
                    "INSERT INTO votes (output_id, user_id, value, created_at, own)"
                    " VALUES (?,?,?,?,?) ON CONFLICT (output_id, user_id)"
                    " DO UPDATE SET value = excluded.value, created_at = excluded.created_at",
                    (output_id, user_id, value, now, int(own)),
                )
            await self._db.commit()
        return 0 if cursor.rowcount else value

    async def tallies(self, output_ids: Sequence[int]) -> dict[int, Tally]:
        """Vote counts for each output id (zero counts included)."""
        result = {output_id: Tally() for output_id in output_ids}
        if not output_ids:
            return result
        marks = ",".join("?" * len(output_ids))
        sql = (
            "SELECT output_id, SUM(value = 1) AS up, SUM(value = -1) AS down FROM votes"
            f" WHERE output_id IN ({marks}) GROUP BY output_id"
        )
        async with self._db.execute(sql, tuple(output_ids)) as cur:
            for row in await cur.fetchall():
                result[row["output_id"]] = Tally(int(row["up"]), int(row["down"]))
        return result
