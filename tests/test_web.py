"""The moderators' web view through aiohttp's test client, on a real SQLite file: the lock
(401/403, CSRF), decisions through the review desk, the audit log, escaping, charts."""

from __future__ import annotations

import asyncio
import logging
import socket
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.errors import ConfigError
from bot.review.events import Decided
from bot.review.reviews import ReviewDesk
from bot.store.storage import Storage
from bot.web.app import WebView, serve_web, start_web_server
from bot.web.auth import SESSION_COOKIE, SESSION_MAX_AGE_S, Guard
from tests.web_seed import NOW, TOKEN, Clock, held, sign_in

Client = TestClient[Any, Any]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def desk(storage: Storage, clock: Clock) -> ReviewDesk:
    return ReviewDesk(storage, clock)


@pytest.fixture
async def client(desk: ReviewDesk, clock: Clock) -> AsyncIterator[Client]:
    view = WebView(desk, Guard(TOKEN, clock), clock)
    async with TestClient(TestServer(view.app())) as test_client:
        yield test_client


def rows(desk: ReviewDesk, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(desk.storage.path) as raw:
        return raw.execute(sql).fetchall()


async def test_signing_in_sets_a_strict_httponly_cookie_without_the_token(
    client: Client, desk: ReviewDesk
) -> None:
    await held(desk, "the moon", "damn moon")
    form = await client.get("/login")
    assert form.status == 200 and 'type="password"' in await form.text()
    nonce = form.cookies["muse_login"].value
    answer = await client.post(
        "/login", data={"csrf": nonce, "token": TOKEN}, allow_redirects=False
    )
    assert answer.status == 303 and answer.headers["Location"] == "/"
    cookie = answer.cookies[SESSION_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/"
    assert int(cookie["max-age"]) == SESSION_MAX_AGE_S and not cookie["secure"]
    assert TOKEN not in cookie.value
    page = await client.get("/")
    text = await page.text()
    assert page.status == 200 and 'data-review="1"' in text and "damn moon" in text
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"


async def test_a_proxy_that_says_https_gets_a_secure_cookie(client: Client) -> None:
    form = await client.get("/login")
    nonce = form.cookies["muse_login"].value
    answer = await client.post(
        "/login", data={"csrf": nonce, "token": TOKEN}, allow_redirects=False,
        headers={"X-Forwarded-Proto": "https"},
    )  # fmt: skip
    assert answer.cookies[SESSION_COOKIE]["secure"]


async def test_without_a_session_everything_is_refused_with_401(
    client: Client, desk: ReviewDesk
) -> None:
    await held(desk, "the moon", "damn moon")
    page = await client.get("/")
    assert page.status == 401 and 'action="/login"' in await page.text()
    assert "damn moon" not in await page.text()
    for method, path in (("GET", "/api/status"), ("GET", "/reviews/1/image")):
        assert (await client.request(method, path)).status == 401
    post = await client.post("/reviews/1", data={"action": "approve", "csrf": "x"})
    assert post.status == 401
    assert rows(desk, "SELECT status FROM reviews") == [("pending",)]


async def test_forged_and_expired_cookies_are_refused(
    client: Client, desk: ReviewDesk, clock: Clock
) -> None:
    await sign_in(client)
    good = client.session.cookie_jar.filter_cookies(client.make_url("/"))[SESSION_COOKIE].value
    client.session.cookie_jar.clear()
    issued, nonce, signature = good.split(".")
    forged = f"{int(issued) + 3600}.{nonce}.{signature}"  # a longer life needs a new signature

    async def status_with(cookie: str) -> int:
        answer = await client.get("/api/status", headers={"Cookie": f"{SESSION_COOKIE}={cookie}"})
        return answer.status

    assert await status_with(good) == 200
    assert await status_with(forged) == 401
    assert await status_with(f"{issued}.{nonce}.{'0' * 64}") == 401
    assert await status_with(TOKEN) == 401
    clock.now = NOW + SESSION_MAX_AGE_S + 1
    assert await status_with(good) == 401


async def test_a_wrong_token_is_refused_with_403_and_no_token_is_logged(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    form = await client.get("/login")
    nonce = form.cookies["muse_login"].value
    wrong = "not-the-token-but-long-enough"
    answer = await client.post(
        "/login", data={"csrf": nonce, "token": wrong}, allow_redirects=False
    )
    assert answer.status == 403 and SESSION_COOKIE not in answer.cookies
    assert "That token is not right." in await answer.text()
    assert (await client.get("/api/status")).status == 401
    await sign_in(client)
    assert TOKEN not in caplog.text and wrong not in caplog.text
    assert "wrong token" in caplog.text and "signed in" in caplog.text


async def test_wrong_tokens_are_slowed_down(client: Client) -> None:
    statuses = []
    for _ in range(11):
        form = await client.get("/login")
        nonce = form.cookies["muse_login"].value
        answer = await client.post("/login", data={"csrf": nonce, "token": "x" * 20})
        statuses.append(answer.status)
    assert statuses == [403] * 10 + [429]


async def test_the_login_form_needs_its_own_nonce(client: Client) -> None:
    answer = await client.post("/login", data={"csrf": "guess", "token": TOKEN})
    assert answer.status == 403 and "expired" in await answer.text()
    assert SESSION_COOKIE not in answer.cookies


async def test_state_changes_need_the_sessions_csrf_token(
    client: Client, desk: ReviewDesk, clock: Clock
) -> None:
    await held(desk, "the moon", "damn moon")
    signed = await sign_in(client)
    other = Guard(TOKEN, clock).new_session()[1].csrf  # valid for another session only
    for data in ({"action": "approve"}, {"action": "approve", "csrf": "0" * 64}, {
        "action": "approve", "csrf": other}):  # fmt: skip
        answer = await client.post("/reviews/1", data=data, allow_redirects=False)
        assert answer.status == 403 and "CSRF" in await answer.text()
    logout = await client.post("/logout", allow_redirects=False)
    assert logout.status == 403
    assert rows(desk, "SELECT status FROM reviews") == [("pending",)]
    assert rows(desk, "SELECT COUNT(*) FROM audit") == [(0,)]
    ok = await client.post("/logout", data={"csrf": signed.csrf}, allow_redirects=False)
    assert ok.status == 303 and ok.cookies[SESSION_COOKIE].value == ""


async def test_approve_and_reject_change_the_decision_and_the_audit_log(
    client: Client, desk: ReviewDesk
) -> None:
    for n in range(3):
        await held(desk, f"topic {n}", f"damn {n}")
    heard: list[Decided] = []

    async def listener(event: Decided) -> None:
        heard.append(event)

    desk.events.subscribe(listener)
    signed = await sign_in(client)
    approve = {"action": "approve", "csrf": signed.csrf, "note": "fine in context"}
    answer = await client.post("/reviews/1", data=approve, allow_redirects=False)
    assert answer.headers["Location"] == "/?result=approved&review=1"
    reject = {"action": "reject", "csrf": signed.csrf}
    await client.post("/reviews/2", data=reject, allow_redirects=False)
    assert rows(desk, "SELECT id, status, decided_by, note FROM reviews ORDER BY id") == [
        (1, "approved", 0, "fine in context"), (2, "rejected", 0, ""), (3, "pending", None, None),
    ]  # fmt: skip
    assert rows(desk, "SELECT decision FROM outputs ORDER BY id") == [
        ("allow",),
        ("review",),
        ("review",),
    ]
    assert rows(desk, "SELECT actor_id, action, target, reason FROM audit ORDER BY id") == [
        (0, "approved", "output 1", "fine in context"), (0, "rejected", "output 2", ""),
    ]  # fmt: skip
    await desk.events.settled()
    assert [(e.item.review_id, e.item.status, e.via) for e in heard] == [
        (1, "approved", "web"), (2, "rejected", "web"),
    ]  # fmt: skip
    page = await (await client.get("/?result=approved&review=1")).text()
    assert "Review #1 approved." in page and 'data-review="1"' not in page
    assert 'data-review="3"' in page and "web view" in page and "fine in context" in page
    again = await client.post("/reviews/1", data=reject, allow_redirects=False)
    assert again.headers["Location"] == "/?result=already&review=1"
    assert rows(desk, "SELECT status FROM reviews WHERE id = 1") == [("approved",)]
    missing = await client.post("/reviews/99", data=reject, allow_redirects=False)
    assert missing.headers["Location"] == "/?result=missing&review=99"
    bad = await client.post("/reviews/3", data={"action": "delete", "csrf": signed.csrf})
    assert bad.status == 400


async def test_a_decision_made_elsewhere_leaves_the_web_list(
    client: Client, desk: ReviewDesk
) -> None:
    for n in range(2):
        await held(desk, f"topic {n}", f"damn {n}")
    await sign_in(client)
    before = await (await client.get("/api/status")).json()
    await desk.decide(1, 555, 4242, approve=False, via="card")  # a Discord moderator's click
    after = await (await client.get("/api/status")).json()
    assert before["pending"] == [1, 2] and after == {
        "pending": [2], "pending_total": 1, "queue": {"queued": 0, "running": 0}
    }  # fmt: skip
    page = await (await client.get("/")).text()
    assert 'data-review="1"' not in page and "user 555" in page


async def test_member_text_is_escaped(client: Client, desk: ReviewDesk) -> None:
    attack = "<script>alert('x')</script>"
    item = await held(desk, attack, '<img src=x onerror="alert(1)">')
    await desk.report(item.job_id, 2, f"{attack} & more", 4242)
    await held(desk, "moon", "damn moon")
    signed = await sign_in(client)
    await client.post("/reviews/2", data={"action": "reject", "csrf": signed.csrf, "note": attack})
    page = await (await client.get("/")).text()
    assert "<script>alert" not in page and "<img src=x" not in page
    escaped = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;"
    assert page.count(escaped) == 3  # the prompt, the report's reason, the audit note
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
    assert page.count("<script") == 1  # only the page's own /static/muse.js


async def test_charts_count_votes_verdicts_and_decisions_by_day(
    client: Client, desk: ReviewDesk
) -> None:
    from tests.web_seed import add_job

    allow = {"decision": "allow", "categories": [], "scores": {}, "matched": [], "components": []}
    shown = await add_job(desk.storage, "sun", "a poem", verdict=allow, at=NOW - 86_400)
    await desk.storage.toggle_vote(shown, 5, 1, NOW - 86_400)
    await desk.storage.toggle_vote(shown, 6, -1, NOW)
    await held(desk, "moon", "damn moon")
    await desk.decide(1, 9, 4242, approve=True)
    await sign_in(client)
    page = await (await client.get("/")).text()
    assert page.count('<figure class="chart">') == 3
    for legend in ("up (1)", "down (1)", "allow (1)", "review (1)", "block (0)", "approved (1)"):
        assert f">{legend}</text>" in page
    assert "2026-11-29 · up: 1" in page and "2026-11-30 · down: 1" in page


async def test_a_held_picture_is_served_to_moderators_only(
    client: Client, desk: ReviewDesk, tmp_path: Path
) -> None:
    png = tmp_path / "held.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\nfake")
    await held(desk, "a cat", "", kind="draw", image_path=str(png))
    await held(desk, "a dog", "damn dog")
    assert (await client.get("/reviews/1/image")).status == 401
    await sign_in(client)
    image = await client.get("/reviews/1/image")
    assert image.status == 200 and image.content_type == "image/png"
    assert await image.read() == png.read_bytes()
    assert (await client.get("/reviews/2/image")).status == 404
    assert 'src="/reviews/1/image"' in await (await client.get("/")).text()


async def test_the_page_assets_are_served_from_the_package(client: Client) -> None:
    css = await client.get("/static/muse.css")
    script = await client.get("/static/muse.js")
    assert css.status == 200 and css.content_type == "text/css"
    assert script.status == 200 and "/api/status" in await script.text()
    assert (await client.get("/static/auth.py")).status == 404


@pytest.mark.parametrize("token", ["", "short"])
async def test_the_server_refuses_to_start_without_a_proper_token(
    desk: ReviewDesk, token: str
) -> None:
    with pytest.raises(ConfigError, match="MUSE_WEB_TOKEN"):
        await start_web_server(desk, token, "127.0.0.1", 0)


async def test_the_server_binds_where_it_is_told(desk: ReviewDesk) -> None:
    runner = await start_web_server(desk, TOKEN, "127.0.0.1", 0)
    try:
        [(host, port)] = [address[:2] for address in runner.addresses]
        assert host == "127.0.0.1" and port > 0
    finally:
        await runner.cleanup()


async def test_a_port_in_use_is_a_clear_error(desk: ReviewDesk) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}"):
            await start_web_server(desk, TOKEN, "127.0.0.1", port)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_muse_web_serves_the_database_file_until_stopped(
    desk: ReviewDesk, tmp_path: Path
) -> None:
    await held(desk, "moon", "damn moon")
    port, stop = free_port(), asyncio.Event()
    server = asyncio.create_task(serve_web(desk.storage.path, TOKEN, "127.0.0.1", port, stop))
    async with aiohttp.ClientSession() as http:
        for _ in range(100):
            try:
                async with http.get(f"http://127.0.0.1:{port}/") as answer:
                    assert answer.status == 401
                    break
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
        else:
            pytest.fail("muse web did not start listening")
    stop.set()
    await asyncio.wait_for(server, 5)
    with pytest.raises(ConfigError, match="MUSE_WEB_TOKEN is not set"):
        await serve_web(tmp_path / "other.sqlite3", "", "127.0.0.1", port, stop)
    assert not (tmp_path / "other.sqlite3").exists()
