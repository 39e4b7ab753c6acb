"""How the OpenAI-compatible text server has been answering, for ``/healthz`` and ``/metrics``.

``OpenAITextBackend`` records the outcome of every request it sends (each retry is its own
request). The server counts as failing once its last ``unhealthy_after`` requests have all
failed and the latest failure is at most ``window_s`` old; one answered request clears it.
Nothing is sent to the server for the check itself: a quiet bot reports what it last saw, and
after ``window_s`` without traffic it stops claiming a failure it can no longer vouch for.

A request the server refuses because of the request itself (400, 413, 422) says nothing about
the server's health and neither counts as a failure nor clears one; a 401, 403 or 404 does
count, since every later request will meet it too (a revoked key, a model that is gone).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

OK = "ok"
BAD_REQUEST = "bad_request"  # the request's own fault: neutral for health
OUTCOMES = (OK, "timeout", "connection", "server_error", "rate_limited", "refused", BAD_REQUEST)
_REQUEST_FAULTS = frozenset({400, 413, 422})
REASON_MAX_CHARS = 200


def outcome_of(err: Exception) -> str:
    """The metrics label for a failed request: one of ``OUTCOMES``, or "error" (anything
    else, such as an answer that could not be parsed)."""
    import openai

    if isinstance(err, openai.APITimeoutError):  # a subclass of APIConnectionError
        return "timeout"
    if isinstance(err, openai.APIConnectionError):
        return "connection"
    if not isinstance(err, openai.APIStatusError):
        return "error"
    if err.status_code == 429:
        return "rate_limited"
    if err.status_code >= 500:
        return "server_error"
    return BAD_REQUEST if err.status_code in _REQUEST_FAULTS else "refused"


@dataclass
class ServerHealth:
    """Counts of request outcomes and retries, and the current run of failed requests."""

    unhealthy_after: int = 3
    window_s: float = 300.0
    clock: Callable[[], float] = time.monotonic
    requests: Counter[str] = field(default_factory=Counter)  # by outcome, since start
    retries: int = 0
    resamples: int = 0  # form rows sampled again as candidates because they came out flawed
    failures_in_a_row: int = 0
    last_failure: str = ""  # the operator's account of the latest failure, key already masked
    last_failure_at: float | None = None
    # restarts of an engine Muse runs itself (generators.llamacpp); None for other servers
    restarts: Callable[[], int] | None = None

    def record(self, outcome: str, detail: str = "") -> None:
        """One request's outcome (``detail`` describes a failure)."""
        self.requests[outcome] += 1
        if outcome == OK:
            self.failures_in_a_row = 0
        elif outcome != BAD_REQUEST:
            self.failures_in_a_row += 1
            self.last_failure = " ".join(detail.split())[:REASON_MAX_CHARS]
            self.last_failure_at = self.clock()

    def record_retry(self) -> None:
        self.retries += 1

    def record_resample(self) -> None:
        self.resamples += 1

    def problem(self) -> str | None:
        """Why the server counts as failing (one line), or None while it does not."""
        if self.failures_in_a_row < self.unhealthy_after or self.last_failure_at is None:
            return None
        age_s = self.clock() - self.last_failure_at
        if age_s > self.window_s:
            return None
        return (
            f"its last {self.failures_in_a_row} requests failed "
            f"(latest {age_s:.0f} s ago: {self.last_failure})"
        )
