"""Review items on a real database for the web view's tests, and a signed-in test client."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient

from bot.review.items import ReviewItem
from bot.review.reviews import ReviewDesk
from bot.store.records import JobRecord, NewOutput
from bot.store.storage import Storage

TOKEN = "moderators-only-0123456789abcdef"
GUILD = 4242
CHANNEL = 77
MEMBER = 1001
NOW = 1_796_000_000.0  # 2026-11-30 UTC
HELD_VERDICT = {
    "decision": "review",
    "categories": ["profanity"],
    "scores": {"wordlist": 1.0},
    "matched": ["damn"],
    "components": ["wordlist"],
}
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Clock:
    """A settable clock shared by the desk, the guard and the queries."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _options(kind: str, typed: str) -> dict[str, str]:
    """The options a member's request stores: what they typed under its own name."""
    if kind == "poem":
        return {"topic": typed, "form": "haiku"}
    return {"prompt" if kind == "draw" else "product": typed}


async def add_job(
    storage: Storage,
    prompt: str,
    text: str,
    *,
    verdict: dict[str, Any] | None = None,
    at: float = NOW,
    kind: str = "poem",
    image_path: str | None = None,
    guild_id: int | None = GUILD,
) -> int:
    """One finished job with one output; returns the output id."""
    job = JobRecord(
        id=secrets.token_hex(8), group_id=secrets.token_hex(8), parent_id=None, kind=kind,
        user_id=MEMBER, guild_id=guild_id, channel_id=CHANNEL, options=_options(kind, prompt),
        prompt=prompt, seed=7, status="queued", created_at=at,
    )  # fmt: skip
    await storage.insert_job(job)
    output = NewOutput(
        0, text, "tiny-model", 7, verdict or HELD_VERDICT, {"generate_s": 0.1},
        image_path=image_path,
    )  # fmt: skip
    [output_id] = await storage.add_outputs(job.id, [output], at)
    return output_id


async def held(desk: ReviewDesk, prompt: str, text: str, **kw: Any) -> ReviewItem:
    """A job whose output the filter held: one pending review."""
    [item] = await desk.hold([await add_job(desk.storage, prompt, text, **kw)])
    return item


def csrf_of(page: str) -> str:
    found = _CSRF.search(page)
    assert found is not None, "no CSRF field on the page"
    return found.group(1)


@dataclass
class SignedIn:
    client: TestClient[Any, Any]
    csrf: str


async def sign_in(client: TestClient[Any, Any], token: str = TOKEN) -> SignedIn:
    """Open the login form, post the token, and read the dashboard's CSRF token."""
    form = await client.get("/login")
    nonce = csrf_of(await form.text())
    answer = await client.post(
        "/login", data={"csrf": nonce, "token": token}, allow_redirects=False
    )
    assert answer.status == 303, await answer.text()
    page = await client.get("/")
    assert page.status == 200
    return SignedIn(client, csrf_of(await page.text()))
