"""Streamed text: what a running poem or slogan has written so far, cleaned like its final output
and shown only while it passes the same output filter, at the guild's strictness.

A partial that fails (held or blocked) hides the job's text for the rest of the run: the member
sees progress only, never the flagged words, and the finished job goes the usual held or blocked
way. Hiding is sticky because a later, longer partial could dilute a score below a threshold
while still containing the words.

``shown`` runs on the event loop at every progress tick, so it runs only the filter's quick part
itself. When the filter has a deep part (``deep``: the embedding head, a guard model), a partial
that passed the quick part is handed to the service's filter thread without waiting, at most
one check in flight per job; what is shown is the newest partial that passed both parts, so the
text lags a tick and never shows words the deep part has not read.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.store.records import JobRecord, clean_text
from generators.options import TextKind
from generators.prompts import clean_poem, clean_slogan
from moderation.policy import Strictness
from moderation.verdict import Decision, Verdict

Judge = Callable[[str, Strictness], Verdict]
# Starts the whole check of a partial's texts off the loop; the future: whether all passed.
DeepCheck = Callable[[Sequence[str], Strictness], "concurrent.futures.Future[bool]"]
HIDDEN_KEPT = 1024  # far more than can run at once; the oldest hidden job is forgotten first


@dataclass
class _Checking:
    """A job's streamed text: the newest that passed both parts, and the one being checked."""

    passed: tuple[str, ...] = ()
    checking: tuple[str, ...] = ()
    future: concurrent.futures.Future[bool] | None = None


class StreamFilter:
    """Decides which partial texts may be shown; remembers the jobs whose text is hidden.
    ``judge`` is the quick part (the whole check when there is no ``deep``)."""

    def __init__(
        self,
        judge: Judge,
        strictness_of: Callable[[int | None], Strictness],
        deep: DeepCheck | None = None,
    ) -> None:
        self.judge = judge
        self.strictness_of = strictness_of
        self.deep = deep
        self.hidden: dict[str, None] = {}  # insertion-ordered set
        self.checking: dict[str, _Checking] = {}  # running jobs with a deep part, oldest first

    def __repr__(self) -> str:
        return f"<StreamFilter hidden={len(self.hidden)} checking={len(self.checking)}>"

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
        if self.deep is not None:
            cleaned = self._deeply_checked(job.id, cleaned, strictness)
        return cleaned if any(cleaned) else ()

    def _deeply_checked(
        self, job_id: str, cleaned: tuple[str, ...], strictness: Strictness
    ) -> tuple[str, ...]:
        """The newest texts that passed the deep part; starts checking ``cleaned`` when no
        check of this job is in flight. Hides the job when a check failed."""
        assert self.deep is not None
        state = self.checking.setdefault(job_id, _Checking())
        if state.future is not None and state.future.done():
            passed = not state.future.cancelled() and state.future.exception() is None
            if not (passed and state.future.result()):
                self.hide(job_id)
                return ()
            state.passed, state.future = state.checking, None
        if state.future is None and cleaned != state.passed and any(cleaned):
            try:
                state.future = self.deep(cleaned, strictness)
            except RuntimeError:  # the filter thread is closed: the service is stopping
                self.hide(job_id)
                return ()
            state.checking = cleaned
        while len(self.checking) > HIDDEN_KEPT:
            del self.checking[next(iter(self.checking))]
        return state.passed

    def forget(self, job_id: str) -> None:
        """The job ended: drop its streamed text (its hidden mark stays, bounded)."""
        self.checking.pop(job_id, None)

    def hide(self, job_id: str) -> None:
        self.hidden[job_id] = None
        self.checking.pop(job_id, None)
        while len(self.hidden) > HIDDEN_KEPT:
            del self.hidden[next(iter(self.hidden))]
