"""Moderator review, Discord-free: held outputs, reports, decisions, audit, guild settings.

Nothing flagged is lost: every held or reported output gets one review row, decided once by
a moderator, and every decision is written to the audit log before it is acknowledged.
Decisions may come from any front end (Discord's buttons, the web view); each one is announced
on ``ReviewDesk.events`` (see ``bot.review.events``) once it is committed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from bot.errors import NotAllowed, UserError
from bot.review.events import Decided, DecisionEvents
from bot.review.items import AuditEntry, ReportResult, ReviewItem
from bot.store.storage import Storage
from moderation.policy import Strictness

DEFAULT_REPORT_THRESHOLD = 3


@dataclass(frozen=True)
class GuildSettings:
    """Per-guild moderation settings, with defaults for guilds that never set them."""

    guild_id: int
    mod_channel_id: int | None = None
    mod_role_id: int | None = None
    strictness: Strictness = Strictness.STANDARD
    report_threshold: int = DEFAULT_REPORT_THRESHOLD
    allowed_channels: tuple[int, ...] = ()  # empty: every channel
    consent_mode: str = "opt-out"  # "opt-in": only members who said yes go into datasets

    def allows_channel(self, channel_id: int | None) -> bool:
        return not self.allowed_channels or channel_id in self.allowed_channels


@dataclass
class GuildCache:
    """Settings of every guild that changed them, read once at startup, written through."""

    known: dict[int, GuildSettings] = field(default_factory=dict)

    def get(self, guild_id: int | None) -> GuildSettings:
        return self.known.get(guild_id or 0) or GuildSettings(guild_id or 0)


_ITEM_SQL = """
    SELECT r.id AS review_id, r.output_id, r.source, r.status, r.created_at AS review_at,
           r.card_channel_id, r.card_message_id, r.decided_by, o.text, o.image_path, o.verdict,
           j.id AS job_id, j.kind, j.user_id, j.guild_id, j.channel_id, j.prompt, j.options,
           j.guild_name, j.channel_name
    FROM reviews r JOIN outputs o ON o.id = r.output_id JOIN jobs j ON j.id = o.job_id
"""


class ReviewDesk:
    """The review queue over the shared database."""

    def __init__(self, storage: Storage, clock: Callable[[], float]) -> None:
        self.storage = storage
        self.clock = clock
        self.guilds = GuildCache()
        self.events = DecisionEvents(self._claim_announcement)

    async def load(self) -> None:
        """Read every guild's settings into memory (the service decides synchronously)."""
        async with self.storage.db.execute("SELECT * FROM guild_settings") as cur:
            for row in await cur.fetchall():
                self.guilds.known[row["guild_id"]] = GuildSettings(
                    guild_id=row["guild_id"],
                    mod_channel_id=row["mod_channel_id"],
                    mod_role_id=row["mod_role_id"],
                    strictness=Strictness(row["strictness"]),
                    report_threshold=row["report_threshold"],
                    allowed_channels=tuple(json.loads(row["allowed_channels"])),
                    consent_mode=row["consent_mode"],
                )

    async def save_settings(self, settings: GuildSettings, actor_id: int) -> GuildSettings:
        async with self.storage.write_lock:
            await self.storage.db.execute(
                "INSERT OR REPLACE INTO guild_settings (guild_id, mod_channel_id, mod_role_id,"
                " strictness, report_threshold, allowed_channels, updated_at, consent_mode)"
                " VALUES (?,?,?,?,?,?,?,?)",
                (
                    settings.guild_id, settings.mod_channel_id, settings.mod_role_id,
                    settings.strictness.value, settings.report_threshold,
                    json.dumps(list(settings.allowed_channels)), self.clock(),
                    settings.consent_mode,
                ),
            )  # fmt: skip
            await self._audit(settings.guild_id, actor_id, "settings", "guild", _describe(settings))
            await self.storage.db.commit()
        self.guilds.known[settings.guild_id] = settings
        return settings

    async def hold(self, output_ids: Sequence[int], source: str = "filter") -> list[ReviewItem]:
        """Open a pending review for each output (once per output)."""
        async with self.storage.write_lock:
            for output_id in output_ids:
                await self.storage.db.execute(
                    "INSERT OR IGNORE INTO reviews (output_id, source, created_at) VALUES (?,?,?)",
                    (output_id, source, self.clock()),
                )
            await self.storage.db.commit()
        return [item for oid in output_ids if (item := await self.item_for_output(oid))]

    async def item(self, review_id: int) -> ReviewItem | None:
        return await self._one(f"{_ITEM_SQL} WHERE r.id = ?", review_id)

    async def item_for_output(self, output_id: int) -> ReviewItem | None:
        return await self._one(f"{_ITEM_SQL} WHERE r.output_id = ?", output_id)

    async def pending(
        self, guild_id: int | None, page: int, per_page: int
    ) -> tuple[list[ReviewItem], int]:
        """One page of a guild's pending items, oldest first, and how many are pending."""
        return await self._pending("AND j.guild_id IS ?", (guild_id,), page, per_page)

    async def pending_everywhere(self, limit: int) -> tuple[list[ReviewItem], int]:
        """Every guild's pending items, oldest first, and how many are pending (the web view)."""
        return await self._pending("", (), 0, limit)

    async def _pending(
        self, condition: str, params: tuple[Any, ...], page: int, per_page: int
    ) -> tuple[list[ReviewItem], int]:
        where = f"WHERE r.status = 'pending' {condition}"
        async with self.storage.db.execute(
            f"SELECT COUNT(*) FROM reviews r JOIN outputs o ON o.id = r.output_id"
            f" JOIN jobs j ON j.id = o.job_id {where}",
            params,
        ) as cur:
            total = int((await cur.fetchone() or [0])[0])
        sql = f"{_ITEM_SQL} {where} ORDER BY r.created_at, r.id LIMIT ? OFFSET ?"
        async with self.storage.db.execute(sql, (*params, per_page, page * per_page)) as cur:
            rows = await cur.fetchall()
        return [await self._with_reports(row) for row in rows], total

    async def decide(
        self,
        review_id: int,
        actor_id: int,
        guild_id: int | None,
        approve: bool,
        note: str = "",
        *,
        via: str = "card",
    ) -> ReviewItem:
        """Approve (the output becomes visible) or reject; recorded and audited at once, then
        announced to the listeners."""
        item = await self.item(review_id)
        if item is None or item.guild_id != guild_id:
            raise UserError("That review item does not exist in this server.")
        if item.status != "pending":
            raise UserError(f"That item was already {item.status}.")
        status = "approved" if approve else "rejected"
        async with self.storage.write_lock:
            claimed = await self.storage.db.execute(
                "UPDATE reviews SET status = ?, decided_at = ?, decided_by = ?, note = ?"
                " WHERE id = ? AND status = 'pending'",
                (status, self.clock(), actor_id, note, review_id),
            )
            if claimed.rowcount != 1:  # another moderator (or process) decided it meanwhile
                await self.storage.db.rollback()
                raise UserError(await self._already_decided(review_id))
            if approve:
                await self.storage.db.execute(
                    "UPDATE outputs SET decision = 'allow', hidden = 0 WHERE id = ?",
                    (item.output_id,),
                )
            target = f"output {item.output_id}" + _held_by(item)
            await self._audit(guild_id, actor_id, status, target, note)
            await self.storage.db.commit()
        decided = replace(item, status=status, decided_by=actor_id)
        self.events.tell(Decided(decided, via))
        return decided

    async def _already_decided(self, review_id: int) -> str:
        item = await self.item(review_id)
        return f"That item was already {item.status if item else 'removed'}."

    async def announce_missed(self) -> int:
        """Announce decisions that no listener has heard of yet (stored by another process,
        such as ``muse web``, or while nothing listened); returns how many were found."""
        if not self.events.listening:
            return 0
        sql = (
            "SELECT id FROM reviews WHERE announced_at IS NULL AND status != 'pending'"
            " ORDER BY decided_at, id"
        )
        async with self.storage.db.execute(sql) as cur:
            review_ids = [int(row[0]) for row in await cur.fetchall()]
        for review_id in review_ids:
            if (item := await self.item(review_id)) is not None:
                self.events.tell(Decided(item, via="elsewhere"))
        await self.events.settled()
        return len(review_ids)

    async def _claim_announcement(self, review_id: int) -> bool:
        changed = await self.storage.write(
            "UPDATE reviews SET announced_at = ? WHERE id = ? AND announced_at IS NULL",
            (self.clock(), review_id),
        )
        return changed == 1

    async def report(
        self, job_id: str, reporter_id: int, reason: str, guild_id: int | None
    ) -> ReportResult:
        """A member reports a posted result: its outputs join the review queue; enough
        distinct reporters hide it until a moderator decides."""
        job = await self.storage.get_job(job_id)
        if job is None or job.guild_id != guild_id:
            raise UserError("That result is no longer stored.")
        if job.user_id == reporter_id:
            raise NotAllowed("You can't report your own result; ask a moderator instead.")
        shown = [o.id for o in await self.storage.job_outputs(job_id) if o.decision == "allow"]
        async with self.storage.write_lock:
            await self.storage.db.execute(
                "INSERT OR REPLACE INTO reports (job_id, user_id, reason, created_at)"
                " VALUES (?,?,?,?)",
                (job_id, reporter_id, reason[:500], self.clock()),
            )
            await self.storage.db.commit()
        reporters = await self._reporters(job_id)
        threshold = self.guilds.get(guild_id).report_threshold
        hidden = reporters >= threshold and await self._hide(job_id)
        items = await self.hold(shown, source="report")
        post = await self.post_of(job_id)
        return ReportResult(reporters, hidden, tuple(items), post)

    async def record_post(self, job_id: str, channel_id: int, message_id: int) -> None:
        await self.storage.write(
            "UPDATE jobs SET message_channel_id = ?, message_id = ? WHERE id = ?",
            (channel_id, message_id, job_id),
        )

    async def post_of(self, job_id: str) -> tuple[int, int] | None:
        sql = "SELECT message_channel_id, message_id FROM jobs WHERE id = ?"
        async with self.storage.db.execute(sql, (job_id,)) as cur:
            row = await cur.fetchone()
        return (row[0], row[1]) if row and row[1] else None

    async def job_for_message(self, message_id: int) -> str | None:
        sql = "SELECT id FROM jobs WHERE message_id = ?"
        async with self.storage.db.execute(sql, (message_id,)) as cur:
            row = await cur.fetchone()
        return str(row[0]) if row else None

    async def set_card(self, review_id: int, channel_id: int, message_id: int) -> None:
        await self.storage.write(
            "UPDATE reviews SET card_channel_id = ?, card_message_id = ? WHERE id = ?",
            (channel_id, message_id, review_id),
        )

    async def audit_log(self, guild_id: int | None, limit: int) -> list[AuditEntry]:
        """A guild's newest audit entries first."""
        return await self._audit_rows("WHERE guild_id IS ?", (guild_id, limit))

    async def audit_everywhere(self, limit: int) -> list[AuditEntry]:
        """Every guild's newest audit entries first (the web view)."""
        return await self._audit_rows("", (limit,))

    async def _audit_rows(self, where: str, params: tuple[Any, ...]) -> list[AuditEntry]:
        sql = (
            "SELECT actor_id, action, target, reason, created_at, guild_id FROM audit"
            f" {where} ORDER BY id DESC LIMIT ?"
        )
        async with self.storage.db.execute(sql, params) as cur:
            return [AuditEntry(*row) for row in await cur.fetchall()]

    async def _hide(self, job_id: str) -> bool:
        """Hide a job's visible outputs; False if there was nothing left to hide."""
        changed = await self.storage.write(
            "UPDATE outputs SET hidden = 1 WHERE job_id = ? AND hidden = 0 AND decision = 'allow'",
            (job_id,),
        )
        return changed > 0

    async def _reporters(self, job_id: str) -> int:
        async with self.storage.db.execute(
            "SELECT COUNT(*) FROM reports WHERE job_id = ?", (job_id,)
        ) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def _audit(
        self, guild_id: int | None, actor_id: int, action: str, target: str, reason: str
    ) -> None:
        await self.storage.db.execute(
            "INSERT INTO audit (guild_id, actor_id, action, target, reason, created_at)"
            " VALUES (?,?,?,?,?,?)",
            (guild_id, actor_id, action, target, reason, self.clock()),
        )

    async def _one(self, sql: str, key: Any) -> ReviewItem | None:
        async with self.storage.db.execute(sql, (key,)) as cur:
            row = await cur.fetchone()
        return await self._with_reports(row) if row else None

    async def _with_reports(self, row: Any) -> ReviewItem:
        sql = "SELECT user_id, reason FROM reports WHERE job_id = ? ORDER BY created_at"
        async with self.storage.db.execute(sql, (row["job_id"],)) as cur:
            reports = tuple((r[0], r[1]) for r in await cur.fetchall())
        card = (row["card_channel_id"], row["card_message_id"]) if row["card_message_id"] else None
        return ReviewItem(
            review_id=row["review_id"],
            output_id=row["output_id"],
            job_id=row["job_id"],
            kind=row["kind"],
            source=row["source"],
            status=row["status"],
            requester_id=row["user_id"],
            guild_id=row["guild_id"],
            channel_id=row["channel_id"],
            guild_name=row["guild_name"],
            channel_name=row["channel_name"],
            prompt=row["prompt"],
            options=json.loads(row["options"]),
            text=row["text"],
            image_path=row["image_path"],
            verdict=json.loads(row["verdict"]),
            created_at=row["review_at"],
            reports=reports,
            card=card,
            decided_by=row["decided_by"],
        )


def _describe(settings: GuildSettings) -> str:
    channels = ",".join(map(str, settings.allowed_channels)) or "all"
    return (
        f"mod_channel={settings.mod_channel_id} mod_role={settings.mod_role_id} "
        f"strictness={settings.strictness.value} report_threshold={settings.report_threshold} "
        f"channels={channels} consent={settings.consent_mode}"
    )


def _held_by(item: ReviewItem) -> str:
    """ " (held by list: profanity, intent: violence)" for an output the filter held and whose
    verdict names its layers; "" otherwise (reports, older verdicts)."""
    layers = [str(layer) for layer in item.verdict.get("layers", [])]
    return f" (held by {', '.join(layers)})" if item.source == "filter" and layers else ""
