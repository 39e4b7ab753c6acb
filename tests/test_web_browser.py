"""The web view in a real headless Chromium (Playwright driving Debian's /usr/bin/chromium):
sign in, approve an item and watch it leave the list, see a decision made in Discord disappear
without a reload, have requests without the token refused, and fit a phone's 390 px and a
laptop's 1280 px without anything sticking out sideways.

Skipped, with the reason, where Chromium or Playwright is missing, except in CI (CI=true),
where that is a failure: .ci/run installs both.
"""

from __future__ import annotations

import importlib.util
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bot.review.reviews import ReviewDesk
from bot.store.storage import Storage
from bot.web.app import start_web_server
from tests.web_seed import GUILD, NOW, TOKEN, Clock, add_job, held

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ALLOW = {"decision": "allow", "categories": [], "scores": {}, "matched": [], "components": []}
BLOCK = {**ALLOW, "decision": "block", "categories": ["hate"]}


def require_browser() -> None:
    """Skip with the reason locally; fail in CI, where .ci/run must have installed both."""
    missing = []
    if not CHROMIUM.is_file():
        missing.append(f"Chromium at {CHROMIUM} (apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright package (pip install -e '.[test]')")
    if not missing:
        return
    reason = "the browser test needs " + " and ".join(missing)
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(f"CI=true, but {reason}: .ci/run should have installed it")
    pytest.skip(reason)


async def seed(desk: ReviewDesk) -> None:
    """Two held items (one with a script tag for a prompt) and two weeks of activity."""
    for day in range(14):
        at = NOW - day * 86_400
        for n in range(day % 4 + 1):
            output = await add_job(desk.storage, f"day {day}", f"poem {n}", verdict=ALLOW, at=at)
            for voter in range(n + 1):
                await desk.storage.toggle_vote(output, 500 + voter, 1 if voter % 3 else -1, at)
        if day % 5 == 0:
            await add_job(desk.storage, "slur", "blocked", verdict=BLOCK, at=at)
    await held(desk, "<script>alert('gotcha')</script> moon", "the damn moon is out")
    await held(desk, "rain", "damn rain again")


async def test_sign_in_approve_and_see_the_list_follow(storage: Storage, tmp_path: Path) -> None:
    require_browser()
    from playwright.async_api import async_playwright

    clock = Clock(NOW + 3600)
    desk = ReviewDesk(storage, clock)
    await seed(desk)
    runner = await start_web_server(desk, TOKEN, "127.0.0.1", 0, clock)
    base = "http://{}:{}".format(*runner.addresses[0][:2])
    try:
        async with async_playwright() as driver:
            browser = await driver.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
            try:
                await drive(browser, base, desk, tmp_path)
            finally:
                await browser.close()
    finally:
        await runner.cleanup()


# Elements wider than the window, outside a box that scrolls on its own (the log table's).
OVERFLOW_JS = """() => [...document.querySelectorAll('body *')]
  .filter(e => !e.parentElement.closest('.scroll'))
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
  .map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : ''))"""
WIDTHS = (390, 1280)


async def fits(page: Any, width: int, shots: Path, name: str) -> None:
    """At ``width`` px nothing overflows sideways; a full-page screenshot for a look."""
    await page.set_viewport_size({"width": width, "height": 900})
    assert await page.evaluate(OVERFLOW_JS) == []
    scroll = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"the page is {scroll} px wide in a {width} px window"
    await page.screenshot(path=str(shots_dir(shots) / f"{name}-{width}.png"), full_page=True)


async def drive(browser: Any, base: str, desk: ReviewDesk, shots: Path) -> None:
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    first = await page.goto(f"{base}/")
    assert first is not None and first.status == 401
    await page.fill("#token", TOKEN)
    await page.click("button[type=submit]")
    await page.wait_for_selector("#review-1")
    assert await page.locator("[data-review]").count() == 2
    prompt = await page.inner_text("#review-1 .prompt")
    assert prompt == "<script>alert('gotcha')</script> moon" and dialogs == []
    for width in WIDTHS:
        await fits(page, width, shots, "web-view")
    await page.set_viewport_size({"width": 1280, "height": 900})

    await page.click("#review-1 button.approve")
    await page.wait_for_selector("text=Review #1 approved.")
    assert await page.locator("#review-1").count() == 0
    assert await page.locator("#review-2").count() == 1
    with sqlite3.connect(desk.storage.path) as raw:
        assert raw.execute("SELECT status FROM reviews WHERE id = 1").fetchone() == ("approved",)

    await desk.decide(2, 555, GUILD, approve=False, via="card")  # Discord's button
    await page.wait_for_selector("#review-2", state="detached", timeout=15_000)
    await page.wait_for_selector("#nothing-pending")
    for width in WIDTHS:
        await fits(page, width, shots, "web-view-after")

    stranger = await browser.new_context()
    try:
        refused = await stranger.request.post(f"{base}/reviews/2", form={"action": "approve"})
        assert refused.status == 401
        assert (await stranger.request.get(f"{base}/api/status")).status == 401
    finally:
        await stranger.close()
    no_csrf = await page.request.post(f"{base}/reviews/2", form={"action": "approve"})
    assert no_csrf.status == 403


def shots_dir(default: Path) -> Path:
    """Screenshots go to MUSE_SCREENSHOT_DIR when set (to look at them), else tmp_path."""
    folder = Path(os.environ.get("MUSE_SCREENSHOT_DIR", default))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.parametrize(
    ("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)]
)
def test_a_missing_browser_fails_in_ci_and_skips_elsewhere(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ci: str, outcome: type[BaseException]
) -> None:
    monkeypatch.setattr(f"{__name__}.CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="apt-get install chromium"):
        require_browser()
