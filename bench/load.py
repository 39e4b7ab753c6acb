"""Load: 50 simulated members send 1,000 mixed commands and votes through the real Discord layer.

A real ``MuseBot`` over the production service (``open_service``) with the tiny random model,
driven through the in-process fake of Discord's API. Events arrive in bursts: /poem and /slogan
from random members, and 👍/👎 clicks on results already delivered (fixed seed).

Targets:
  * every interaction acknowledged (dispatch -> first callback) in under 3 s;
  * every command answered exactly once (its placeholder edited to a final result, or one
    ephemeral error), every vote click answered by exactly one callback;
  * every vote stored: the ``votes`` table equals what the members' clicks imply (clicking the
    same button again removes the vote);
  * RSS flat after warm-up (growth reported);
  * event-loop lag under 50 ms.

Run: ``python -m bench.load`` (``LOAD_POEM_TOKENS``/``LOAD_SLOGAN_TOKENS`` shorten generations)
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import re
import sqlite3
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import Ticker, load_backend, real_service
from bot.discord.client import MuseBot
from moderation.text import describe_filter
from tests.discord_harness import Harness
from tests.discord_http import RecordingHTTP
from tests.discord_payloads import USER_ID, custom_ids

MEMBERS = 50
EVENTS = 1000
BURST = 50  # events per burst, dispatched back to back
WARMUP_EVENTS = 200  # RSS baseline is taken after this many events (settled)
CHECKPOINTS = (WARMUP_EVENTS, 600, EVENTS)
VOTE_SHARE = 0.6  # of events once results exist
SEED = 1234
ACK_LIMIT_S = 3.0
LAG_LIMIT_MS = 50.0
RSS_GROWTH_LIMIT_MIB = 20.0
EPHEMERAL = 64
_CALLBACK = re.compile(r"^/interactions/\d+/([^/]+)/callback$")
_ORIGINAL = re.compile(r"^/webhooks/\d+/([^/]+)/messages/@original$")
_FOLLOWUP = re.compile(r"^/webhooks/\d+/([^/]+)$")
_VOTE = re.compile(r"^muse:vote:(\d+):(up|down)$")
TOPICS = "moon river light shadow morning coffee rocket garden ocean dream 春日 夜雨".split()


@dataclass
class Answers:
    """What Discord saw per interaction token: a compact summary, not every call."""

    first_callback: dict[str, float] = field(default_factory=dict)
    callbacks: Counter[str] = field(default_factory=Counter)
    callback_kinds: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # (type, flags)
    finals: Counter[str] = field(default_factory=Counter)  # @original edits carrying embeds
    notices: Counter[str] = field(default_factory=Counter)  # ephemeral followups
    delivered: list[str] = field(default_factory=list)  # tokens whose result landed
    channel_posts: int = 0
    failed_calls: int = 0


class LoadHTTP(RecordingHTTP):
    """The fake Discord API, summarising each call as it arrives and keeping none of them
    (so its memory does not grow with the number of calls)."""

    def __init__(self) -> None:
        super().__init__()
        self.answers = Answers()

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        now = time.perf_counter()
        response = super().request(method, url, **kwargs)
        call = self.calls.pop()
        self._note(call.method, call.path, call.json, call.status, now)
        return response

    def _note(self, method: str, path: str, body: Any, status: int, now: float) -> None:
        a = self.answers
        body = body if isinstance(body, dict) else {}
        if status >= 300:
            a.failed_calls += 1
            return
        if m := _CALLBACK.match(path):
            token = m[1]
            a.first_callback.setdefault(token, now)
            a.callbacks[token] += 1
            flags = int((body.get("data") or {}).get("flags", 0))
            a.callback_kinds.setdefault(token, []).append((int(body.get("type", 0)), flags))
        elif method == "PATCH" and (m := _ORIGINAL.match(path)):
            if body.get("embeds"):
                a.finals[m[1]] += 1
                a.delivered.append(m[1])
        elif method == "POST" and (m := _FOLLOWUP.match(path)):
            if int(body.get("flags", 0)) & EPHEMERAL:
                a.notices[m[1]] += 1
        elif method == "POST" and path.startswith("/channels/"):
            a.channel_posts += 1


class PausableTicker(Ticker):
    """A :class:`Ticker` whose ticks spanning the bench's own pauses can be left out."""

    def __init__(self) -> None:
        super().__init__()
        self.excluded: set[int] = set()

    def counted(self) -> list[float]:
        return [lag for i, lag in enumerate(self.lags_s) if i not in self.excluded]


def measure_rss(ticker: PausableTicker) -> float:
    """RSS after a full collection; the collection's own pause is not counted as loop lag."""
    before = len(ticker.lags_s)
    gc.collect()
    mib = rss_mib()
    ticker.excluded.add(before)  # the tick that spans the collection
    return mib


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Click:
    token: str
    output_id: int
    user_id: int
    value: int


@dataclass
class Plan:
    """Everything the members did, to check against what Discord and the database saw."""

    sent_at: dict[str, float] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)
    clicks: list[Click] = field(default_factory=list)
    last_click: dict[tuple[int, int], str] = field(default_factory=dict)  # (output, user) -> token


def _command(h: Harness[MuseBot], rng: random.Random, member: int) -> dict[str, Any]:
    topic = f"{rng.choice(TOPICS)} {rng.randrange(1000)}"
    if rng.random() < 0.5:
        return h.slash("poem", {"topic": topic}, user_id=member)
    return h.slash("slogan", {"product": topic, "count": rng.randint(1, 3)}, user_id=member)


def _vote(h: Harness[MuseBot], rng: random.Random, plan: Plan, member: int) -> Click | None:
    """A click on a random vote button of a delivered result; ``None`` when the pick would race
    an unanswered click of the same member on the same output (order would be ambiguous)."""
    answers = h.http.answers  # type: ignore[attr-defined]
    token = rng.choice(answers.delivered)
    message = h.http.original_message(token)
    buttons = [b for b in custom_ids(message or {}) if _VOTE.match(b)]
    if message is None or not buttons:
        return None
    button = rng.choice(buttons)
    m = _VOTE.match(button)
    assert m is not None
    output_id, value = int(m[1]), 1 if m[2] == "up" else -1
    previous = plan.last_click.get((output_id, member))
    if previous is not None and previous not in answers.first_callback:
        return None
    payload = h.click(button, message, user_id=member)
    _send(h, plan, payload)
    return Click(payload["token"], output_id, member, value)


def _send(h: Harness[MuseBot], plan: Plan, payload: dict[str, Any]) -> None:
    plan.sent_at[payload["token"]] = time.perf_counter()
    h.dispatch(payload)


def _caches(h: Harness[MuseBot]) -> str:
    """Sizes of what grows with traffic: discord.py's caches and the fake Discord's store."""
    state: Any = h.bot._connection
    store = state._view_store
    views = sum(len(items) for items in store._views.values())
    return (
        f"discord.py: {views} stored view items on {len(store._synced_message_views)} messages, "
        f"{len(state._messages or ())} cached messages; fake Discord: "
        f"{len(h.http.interactions)} interactions, {len(h.http.messages)} messages"
    )


async def _drive(
    h: Harness[MuseBot], plan: Plan, rss: dict[int, float], ticker: PausableTicker
) -> None:
    rng = random.Random(SEED)
    members = [USER_ID + 1 + i for i in range(MEMBERS)]
    answers: Answers = h.http.answers  # type: ignore[attr-defined]
    sent = 0
    while sent < EVENTS:
        for _ in range(min(BURST, EVENTS - sent)):
            member = rng.choice(members)
            click = None
            if answers.delivered and rng.random() < VOTE_SHARE:
                click = _vote(h, rng, plan, member)
            if click is not None:
                plan.clicks.append(click)
                plan.last_click[(click.output_id, click.user_id)] = click.token
            else:
                payload = _command(h, rng, member)
                _send(h, plan, payload)
                plan.commands.append(payload["token"])
            sent += 1
            await asyncio.sleep(0)  # like the gateway: one event per read, back to back
        if sent in CHECKPOINTS:
            await h.settle(timeout=600)
            rss[sent] = measure_rss(ticker)
            print(f"  {sent:4d} events settled: RSS {rss[sent]:.1f} MiB; {_caches(h)}", flush=True)
        else:
            await asyncio.sleep(rng.uniform(0.2, 1.0))  # the gap between bursts


def _expected_votes(plan: Plan, answers: Answers) -> tuple[dict[tuple[int, int], int], int]:
    """Replay the clicks Discord saw answered with a message update (type 7), in order."""
    held: dict[tuple[int, int], int] = {}
    refused = 0
    for click in plan.clicks:
        kinds = answers.callback_kinds.get(click.token, [])
        if not kinds or kinds[0][0] != 7:
            refused += 1
            continue
        key = (click.output_id, click.user_id)
        held[key] = 0 if held.get(key, 0) == click.value else click.value
    return {k: v for k, v in held.items() if v}, refused


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


Check = tuple[str, bool, str]  # (target, met, figure)


def _command_checks(
    plan: Plan, answers: Answers, errors: list[BaseException], wall_s: float
) -> list[Check]:
    """Print what was sent, how fast it was acknowledged and how it was answered."""
    acks = sorted(
        answers.first_callback[t] - plan.sent_at[t]
        for t in plan.sent_at
        if t in answers.first_callback
    )
    unacked = len(plan.sent_at) - len(acks)
    p50, p99 = acks[len(acks) // 2], acks[int(0.99 * (len(acks) - 1))]
    results = sum(1 for t in plan.commands if answers.finals[t])
    refused = {t for t in plan.commands
               if answers.callback_kinds.get(t, [(0, 0)])[0] == (4, EPHEMERAL)}  # fmt: skip
    notices = sum(1 for t in plan.commands if answers.notices[t])
    wrong_commands = [
        t for t in plan.commands
        if answers.finals[t] + answers.notices[t] + (t in refused) != 1 or answers.callbacks[t] != 1
    ]  # fmt: skip
    wrong_clicks = [c for c in plan.clicks if answers.callbacks[c.token] != 1]
    print(
        f"{len(plan.sent_at)} events from {MEMBERS} members in {wall_s:.1f} s: "
        f"{len(plan.commands)} commands ({results} results, {notices} error notices, "
        f"{len(refused)} refused at once), {len(plan.clicks)} vote clicks"
    )
    print(
        f"ack latency: p50={p50 * 1000:.1f} ms p99={p99 * 1000:.1f} ms max={acks[-1] * 1000:.1f} ms"
        f" ({unacked} never acknowledged)"
    )
    print(
        f"answers: {len(wrong_commands)} commands not answered exactly once, "
        f"{len(wrong_clicks)} clicks without exactly one callback, "
        f"{answers.channel_posts} channel fallbacks, {answers.failed_calls} failed API calls, "
        f"{len(errors)} errors in handlers"
    )
    return [
        ("every interaction acknowledged in < 3 s",
         unacked == 0 and acks[-1] < ACK_LIMIT_S, f"max {acks[-1] * 1000:.0f} ms"),
        ("every command answered exactly once, every click one callback",
         not wrong_commands and not wrong_clicks and not errors,
         f"{len(wrong_commands)} + {len(wrong_clicks)} wrong"),
    ]  # fmt: skip


def _vote_checks(plan: Plan, answers: Answers, stored: dict[tuple[int, int], int]) -> list[Check]:
    """Print the votes the clicks imply against the rows in the database."""
    expected, refused_clicks = _expected_votes(plan, answers)
    missing = {k: v for k, v in expected.items() if stored.get(k) != v}
    extra = {k: v for k, v in stored.items() if k not in expected}
    print(
        f"votes: {len(expected)} held per the clicks, {len(stored)} rows in the database, "
        f"{len(missing)} missing or wrong, {len(extra)} unexpected, {refused_clicks} clicks refused"
    )
    return [
        ("every vote stored",
         not missing and not extra and refused_clicks == 0,
         f"{len(stored)}/{len(expected)} rows match"),
    ]  # fmt: skip


def _resource_checks(rss: dict[int, float], ticker: PausableTicker) -> list[Check]:
    """Print RSS at each checkpoint and the event-loop lag."""
    growth = rss[EVENTS] - rss[WARMUP_EVENTS]
    lags = sorted(ticker.counted())
    worst_lag, lag_p99 = lags[-1] * 1000, lags[int(0.99 * (len(lags) - 1))] * 1000
    print(
        f"RSS: {rss[WARMUP_EVENTS]:.1f} MiB after warm-up ({WARMUP_EVENTS} events), "
        + ", ".join(f"{rss[n]:.1f} MiB at {n}" for n in CHECKPOINTS[1:])
        + f"; growth {growth:+.1f} MiB"
    )
    print(
        f"event-loop lag: ticks={len(lags)} worst={worst_lag:.1f} ms p99={lag_p99:.1f} ms "
        f"median={lags[len(lags) // 2] * 1000:.2f} ms ({len(ticker.excluded)} ticks spanning "
        "the bench's own gc.collect() left out)"
    )
    return [
        (f"RSS flat after warm-up (growth < {RSS_GROWTH_LIMIT_MIB:g} MiB)",
         growth < RSS_GROWTH_LIMIT_MIB, f"{growth:+.1f} MiB"),
        (f"event-loop lag < {LAG_LIMIT_MS:g} ms",
         worst_lag < LAG_LIMIT_MS, f"worst {worst_lag:.1f} ms"),
    ]  # fmt: skip


def _report(
    plan: Plan, answers: Answers, stored: dict[tuple[int, int], int], rss: dict[int, float],
    ticker: PausableTicker, errors: list[BaseException], wall_s: float,
) -> bool:  # fmt: skip
    """Print the figures, then each target with its verdict; True when every target is met."""
    checks = [
        *_command_checks(plan, answers, errors, wall_s),
        *_vote_checks(plan, answers, stored),
        *_resource_checks(rss, ticker),
    ]
    for name, ok, figure in checks:
        print(f"{name}: {figure} {_verdict(ok)}")
    return all(ok for _, ok, _ in checks)


async def main() -> bool:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    import transformers

    from tests.tiny_models import make_tiny_lm

    transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    transformers.utils.logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as folder:
        backend = load_backend(make_tiny_lm(Path(folder) / "tiny"))
    limits: dict[str, Any] = {
        "queue_max_depth": 2000, "queue_per_user": 50, "votes_per_minute": 100_000,
    }  # fmt: skip
    for key, variable in (("poem", "LOAD_POEM_TOKENS"), ("slogan", "LOAD_SLOGAN_TOKENS")):
        if os.environ.get(variable):  # default: the production budgets (200 and 40 tokens)
            limits[f"{key}_max_new_tokens"] = int(os.environ[variable])
    plan, rss = Plan(), dict[int, float]()
    async with real_service(backend, **limits) as service:
        print(f"safety layers: {describe_filter(service.text_filter)}", flush=True)
        http = LoadHTTP()
        async with Harness(MuseBot(service, service.settings, sync=False), http) as h:
            ticker = PausableTicker()
            ticker.start()
            started = time.perf_counter()
            await _drive(h, plan, rss, ticker)
            wall_s = time.perf_counter() - started
            await ticker.stop()
            errors = list(h.errors)
        with sqlite3.connect(service.storage.path) as raw:
            rows = raw.execute("SELECT output_id, user_id, value FROM votes").fetchall()
    stored = {(int(o), int(u)): int(v) for o, u, v in rows}
    return _report(plan, http.answers, stored, rss, ticker, errors, wall_s)


if __name__ == "__main__":
    raise SystemExit(0 if asyncio.run(main()) else 1)
