"""Queries for champion and challenger: the roles `muse promote` saved, and the A/B matches
(compare jobs whose two outputs came from different models) with the choices made on them."""

from __future__ import annotations

from dataclasses import dataclass

from bot.store.connection import StoreBase

MATCHES_SQL = """
SELECT a.model_id AS model_a, b.model_id AS model_b, p.output_id AS chosen, a.id AS a_id
FROM picks p
JOIN jobs j ON j.id = p.job_id AND j.compare = 1
JOIN outputs a ON a.job_id = j.id AND a.candidate = 0
JOIN outputs b ON b.job_id = j.id AND b.candidate = 1
WHERE p.source = 'compare' AND a.model_id != b.model_id
"""
VOTES_SQL = """
SELECT o.model_id AS model, SUM(v.value = 1) AS up, SUM(v.value = -1) AS down
FROM votes v JOIN outputs o ON o.id = v.output_id
JOIN jobs j ON j.id = o.job_id AND j.compare = 1
WHERE EXISTS (SELECT 1 FROM outputs x WHERE x.job_id = j.id AND x.model_id != o.model_id)
GROUP BY o.model_id
"""


@dataclass(frozen=True)
class MatchChoice:
    """One member's choice on one match: the winner's and loser's model, or a tie."""

    winner: str | None  # None: a tie
    loser: str | None
    models: tuple[str, str]  # (A's model, B's model)


class ArenaQueries(StoreBase):
    """Model roles and match results."""

    async def model_roles(self) -> tuple[str, str] | None:
        """(champion, challenger) as last promoted, or None when never saved."""
        async with self._db.execute("SELECT role, model FROM model_roles") as cur:
            roles = {row["role"]: row["model"] for row in await cur.fetchall()}
        if {"champion", "challenger"} <= roles.keys():
            return roles["champion"], roles["challenger"]
        return None

    async def save_model_roles(self, champion: str, challenger: str, now: float) -> None:
        """Both roles in one transaction, so a crash never leaves one model in both."""
        async with self._write_lock:
            await self._db.executemany(
                "INSERT INTO model_roles (role, model, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (role) DO UPDATE SET model = excluded.model,"
                " updated_at = excluded.updated_at",
                [("champion", champion, now), ("challenger", challenger, now)],
            )
            await self._db.commit()

    async def match_choices(self) -> list[MatchChoice]:
        """Every A/B choice made on a match between two different models."""
        async with self._db.execute(MATCHES_SQL) as cur:
            rows = await cur.fetchall()
        choices = []
        for row in rows:
            models = (row["model_a"], row["model_b"])
            if row["chosen"] is None:
                choices.append(MatchChoice(None, None, models))
            else:
                a_won = row["chosen"] == row["a_id"]
                choices.append(MatchChoice(models[not a_won], models[a_won], models))
        return choices

    async def match_votes(self) -> dict[str, tuple[int, int]]:
        """(up, down) votes per model on the outputs of matches."""
        async with self._db.execute(VOTES_SQL) as cur:
            return {
                row["model"]: (int(row["up"]), int(row["down"])) for row in await cur.fetchall()
            }
