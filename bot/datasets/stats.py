"""Rater statistics over the votes of consenting members, pseudonymized like the exports.

Everything is aggregated inside SQLite; only the top raters come back as rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.datasets.consent import consent_sql
from bot.datasets.pseudonyms import Pseudonyms
from bot.store.storage import Storage

_VOTES = f"""
FROM votes v
JOIN outputs o ON o.id = v.output_id
JOIN jobs j ON j.id = o.job_id
LEFT JOIN guild_settings g ON g.guild_id = j.guild_id
LEFT JOIN consent vc ON vc.user_id = v.user_id
WHERE {consent_sql("vc")}
"""
_OWN = "(v.own OR v.user_id = j.user_id)"


@dataclass(frozen=True)
class RaterCount:
    rater: str  # pseudonym
    votes: int
    up: int
    down: int


@dataclass(frozen=True)
class RaterStats:
    """Votes by consenting members; own votes (on one's own result) are counted apart."""

    raters: int
    votes_up: int
    votes_down: int
    own_votes: int
    shared_items: int  # outputs rated by two or more members
    shared_votes: int
    agreeing_votes: int  # votes on shared items that side with the item's majority
    top_raters: tuple[RaterCount, ...]

    @property
    def votes(self) -> int:
        return self.votes_up + self.votes_down

    @property
    def agreement(self) -> float | None:
        """Share of votes on shared items that agree with the majority (a tie counts half)."""
        return self.agreeing_votes / self.shared_votes if self.shared_votes else None


async def _one(storage: Storage, sql: str) -> tuple[int, ...]:
    async with storage.db.execute(sql) as cur:
        row = await cur.fetchone()
    return tuple(int(value or 0) for value in row) if row else ()


async def rater_stats(storage: Storage, secret: str, *, top: int = 10) -> RaterStats:
    """Raters, vote counts, agreement on shared items and the ``top`` raters by pseudonym."""
    names = Pseudonyms(secret)
    raters, up, down, own = await _one(
        storage,
        f"SELECT COUNT(DISTINCT CASE WHEN NOT {_OWN} THEN v.user_id END),"
        f" SUM(v.value = 1 AND NOT {_OWN}), SUM(v.value = -1 AND NOT {_OWN}), SUM({_OWN})"
        f" {_VOTES}",
    )
    items, shared, agreeing = await _one(
        storage,
        "SELECT COUNT(*), SUM(n), SUM(MAX(up, down)) FROM ("
        " SELECT COUNT(*) AS n, SUM(v.value = 1) AS up, SUM(v.value = -1) AS down"
        f" {_VOTES} AND NOT {_OWN} GROUP BY v.output_id HAVING COUNT(*) >= 2)",
    )
    sql = (
        "SELECT v.user_id, COUNT(*) AS n, SUM(v.value = 1), SUM(v.value = -1)"
        f" {_VOTES} AND NOT {_OWN} GROUP BY v.user_id ORDER BY n DESC, v.user_id LIMIT ?"
    )
    async with storage.db.execute(sql, (top,)) as cur:
        leaders = [
            RaterCount(names.user(row[0]), int(row[1]), int(row[2]), int(row[3]))
            async for row in cur
        ]
    return RaterStats(raters, up, down, own, items, shared, agreeing, tuple(leaders))


def format_stats(stats: RaterStats) -> str:
    """A short printable report."""
    lines = [
        f"Raters: {stats.raters}",
        f"Votes: {stats.votes} ({stats.votes_up} up, {stats.votes_down} down);"
        f" own votes not counted: {stats.own_votes}",
    ]
    if stats.agreement is None:
        lines.append("Agreement: no output rated by two or more members yet")
    else:
        lines.append(
            f"Agreement: {stats.agreement:.1%} of {stats.shared_votes} votes"
            f" on {stats.shared_items} outputs rated by two or more members"
        )
    if stats.top_raters:
        lines.append("Top raters:")
        width = len(str(len(stats.top_raters)))
        for rank, rater in enumerate(stats.top_raters, start=1):
            lines.append(
                f"  {rank:>{width}}. {rater.rater}  {rater.votes} votes"
                f" ({rater.up} up, {rater.down} down)"
            )
    return "\n".join(lines)
