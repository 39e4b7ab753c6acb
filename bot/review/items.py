"""What the review desk hands out: review items, report results and audit entries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

WEB_ACTOR_ID = 0  # the actor of decisions made in the web view (it has no Discord identity)
CLI_USER_ID = 0  # the requester of jobs from `muse try` (no guild, no channel)


def actor_name(actor_id: int | None, mention: bool) -> str:
    """Who decided: "the web view", or the Discord member (as a mention when ``mention``)."""
    if actor_id == WEB_ACTOR_ID:
        return "the web view"
    return f"<@{actor_id}>" if mention else f"user {actor_id}"


@dataclass(frozen=True)
class ReviewItem:
    """One output waiting for (or given) a moderator's decision, with what they need to see."""

    review_id: int
    output_id: int
    job_id: str
    kind: str
    source: str
    status: str
    requester_id: int
    guild_id: int | None
    channel_id: int | None
    prompt: str
    options: dict[str, str]
    text: str
    image_path: str | None
    verdict: dict[str, Any]
    created_at: float
    reports: tuple[tuple[int, str], ...] = ()
    card: tuple[int, int] | None = None
    decided_by: int | None = None
    guild_name: str = ""  # '' where unknown (CLI, direct messages, jobs before names were kept)
    channel_name: str = ""


@dataclass(frozen=True)
class ReportResult:
    reporters: int
    hidden: bool  # this report crossed the guild's threshold: the post must be hidden now
    items: tuple[ReviewItem, ...] = ()
    post: tuple[int, int] | None = None  # (channel id, message id) of the reported post


@dataclass(frozen=True)
class AuditEntry:
    actor_id: int
    action: str
    target: str
    reason: str
    created_at: float
    guild_id: int | None = None
