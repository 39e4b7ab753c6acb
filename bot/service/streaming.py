"""Streamed text: what a running poem or slogan has written so far, cleaned like its final output
and shown only while it passes the same output filter, at the guild's strictness.

A partial that fails (held or blocked) hides the job's text for the rest of the run: the member
sees progress only, never the flagged words, and the finished job goes the usual held or blocked
way. Hiding is sticky because a later, longer partial could dilute a score below a threshold
while still containing the words.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from generators.options import TextKind
from generators.prompts import clean_poem, clean_slogan
from moderation.policy import Strictness
from moderation.verdict import Decision, Verdict

Judge = Callable[[str, Strictness], Verdict]


class StreamFilter:
    """Decides which partial texts may be shown; remembers the jobs whose text is hidden."""

    def __init__(self, judge: Judge) -> None:
        self.judge = judge
        self.hidden: set[str] = set()

    def __repr__(self) -> str:
        return f"<StreamFilter hidden={len(self.hidden)}>"

    def shown(
        self, job_id: str, kind: str, texts: Sequence[str], strictness: Strictness
    ) -> tuple[str, ...]:
        """The cleaned texts to show, or () when there is nothing yet or the job is hidden."""
        if job_id in self.hidden:
            return ()
        clean = clean_poem if kind == TextKind.POEM else clean_slogan
        cleaned = tuple(clean(text) for text in texts)
        for text in cleaned:
            if text and self.judge(text, strictness).decision is not Decision.ALLOW:
                self.hidden.add(job_id)
                return ()
        return cleaned if any(cleaned) else ()

    def forget(self, job_id: str) -> None:
        """The job is over: drop what was remembered about it."""
        self.hidden.discard(job_id)
