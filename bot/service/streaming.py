"""Streamed text: what a running poem or slogan has written so far, cleaned like its final output
and shown only while it passes the same output filter, at the guild's strictness.

A partial that fails (held or blocked) hides the job's text for the rest of the run: the member
sees progress only, never the flagged words, and the finished job goes the usual held or blocked
way. Hiding is sticky because a later, longer partial could dilute a score below a threshold
while still containing the words.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bot.store.records import JobRecord, clean_text
from generators.options import TextKind
from generators.prompts import clean_poem, clean_slogan
from moderation.policy import Strictness
from moderation.verdict import Decision, Verdict

Judge = Callable[[str, Strictness], Verdict]
HIDDEN_KEPT = 1024  # far more than can run at once; the oldest hidden job is forgotten first


class StreamFilter:
    """Decides which partial texts may be shown; remembers the jobs whose text is hidden."""

    def __init__(self, judge: Judge, strictness_of: Callable[[int | None], Strictness]) -> None:
        self.judge = judge
        self.strictness_of = strictness_of
        self.hidden: dict[str, None] = {}  # insertion-ordered set

    def __repr__(self) -> str:
        return f"<StreamFilter hidden={len(self.hidden)}>"

    def shown(self, job: JobRecord, texts: Sequence[str]) -> tuple[str, ...]:
        """The cleaned texts to show (without U+FFFD, as they will be stored), or () when there
        is nothing yet or the job is hidden."""
        if job.id in self.hidden:
            return ()
        clean = clean_poem if job.kind == TextKind.POEM else clean_slogan
        cleaned = tuple(clean_text(clean(text)) for text in texts)  # no half characters
        strictness = self.strictness_of(job.guild_id)
        for text in cleaned:
            if text and self.judge(text, strictness).decision is not Decision.ALLOW:
                self.hide(job.id)
                return ()
        return cleaned if any(cleaned) else ()

    def hide(self, job_id: str) -> None:
        self.hidden[job_id] = None
        while len(self.hidden) > HIDDEN_KEPT:
            del self.hidden[next(iter(self.hidden))]
