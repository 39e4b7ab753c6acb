"""One exportable output as read from the snapshot, with its consenting feedback."""

from __future__ import annotations

from dataclasses import dataclass


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
    source_output_id: int | None = None  # lineage: the picture a button's job started from
    operation: str | None = None  # lineage: what the button did ("upscale", "vary-strong"...)

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
