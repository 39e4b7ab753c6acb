"""The web view's routes, its lock and its server.

    GET  /login                  the sign-in form (sets the double-submit nonce cookie)
    POST /login                  token → session cookie (403 wrong token, 429 too many tries)
    POST /logout                 forget the session cookie
    GET  /                       pending reviews, charts, the audit log
    POST /reviews/<id>           action=approve|reject (+ note): ReviewDesk.decide, via="web"
    GET  /reviews/<id>/image     a held picture
    GET  /api/status             pending ids and queue depth, polled by the page
    GET  /static/muse.css|js     the page's own style and script

Everything but /login and /static needs a valid session (401 otherwise), and every POST but
/login needs the session's CSRF token (403 otherwise).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from importlib import resources
from pathlib import Path

from aiohttp import web

from bot.errors import ConfigError, UserError
from bot.review.items import WEB_ACTOR_ID
from bot.review.reviews import ReviewDesk
from bot.service.arena import pair_standings
from bot.store.storage import Storage
from bot.web.auth import LOGIN_COOKIE, SESSION_COOKIE, SESSION_MAX_AGE_S, Guard
from bot.web.charts import bar_chart
from bot.web.pages import Dashboard, Flash, dashboard_page, login_page
from bot.web.queries import decisions_by_day, queue_depth, verdicts_by_day, votes_by_day

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

PENDING_SHOWN = 50
AUDIT_SHOWN = 30
CHART_DAYS = 14
NOTE_MAX_CHARS = 500
STATIC_TYPES = {"muse.css": "text/css", "muse.js": "text/javascript"}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
PUBLIC_PATHS = ("/login",)
RESULTS = {
    "approved": ("Review #{} approved.", True),
    "rejected": ("Review #{} rejected.", True),
    "already": ("Review #{} was already decided elsewhere.", False),
    "missing": ("Review #{} does not exist.", False),
}
VOTE_COLOURS = {"up": "#2f9e44", "down": "#e03131"}
VERDICT_COLOURS = {"allow": "#2f9e44", "review": "#f08c00", "block": "#e03131"}
DECISION_COLOURS = {"approved": "#1971c2", "rejected": "#868e96"}


def _static_files() -> dict[str, bytes]:
    folder = resources.files("bot.web") / "static"
    return {name: (folder / name).read_bytes() for name in STATIC_TYPES}


def _is_https(request: web.Request) -> bool:
    """Served over TLS, directly or (as a reverse proxy says) in front of us."""
    return request.secure or request.headers.get("X-Forwarded-Proto", "") == "https"


def _redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


class WebView:
    """The site over one review desk; ``app()`` builds the aiohttp application."""

    def __init__(
        self, desk: ReviewDesk, guard: Guard, clock: Callable[[], float] = time.time
    ) -> None:
        self.desk = desk
        self.guard = guard
        self.clock = clock
        self.static = _static_files()

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._headers, self._lock])
        app.router.add_get("/login", self.login_form)
        app.router.add_post("/login", self.login)
        app.router.add_post("/logout", self.logout)
        app.router.add_get("/", self.dashboard)
        app.router.add_post(r"/reviews/{review_id:\d+}", self.decide)
        app.router.add_get(r"/reviews/{review_id:\d+}/image", self.image)
        app.router.add_get("/api/status", self.status)
        app.router.add_get("/static/{name}", self.static_file)
        return app

    @web.middleware
    async def _headers(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as err:
            response = err
        response.headers.update(SECURITY_HEADERS)
        if isinstance(response, web.HTTPException):
            raise response
        return response

    @web.middleware
    async def _lock(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """No session: 401. A POST without the session's CSRF token: 403."""
        if request.path in PUBLIC_PATHS or request.path.startswith("/static/"):
            return await handler(request)
        session = self.guard.session(request.cookies.get(SESSION_COOKIE))
        if session is None:
            if request.method == "GET" and request.path == "/":
                return self._login_response(None, status=401)
            raise web.HTTPUnauthorized(text="Sign in at /login first.\n")
        if request.method == "POST":
            form = await request.post()
            if not self.guard.csrf_matches(session, str(form.get("csrf", ""))):
                raise web.HTTPForbidden(text="Missing or wrong CSRF token; reload the page.\n")
        return await handler(request)

    def _csrf(self, request: web.Request) -> str:
        """The CSRF token of the session the lock has already checked."""
        session = self.guard.session(request.cookies.get(SESSION_COOKIE))
        if session is None:  # expired since the lock looked
            raise web.HTTPUnauthorized(text="Sign in at /login first.\n")
        return session.csrf

    def _login_response(self, error: str | None, status: int) -> web.Response:
        nonce = self.guard.login_nonce()
        response = web.Response(
            text=login_page(nonce, error), status=status, content_type="text/html"
        )
        response.set_cookie(LOGIN_COOKIE, nonce, httponly=True, samesite="Strict", path="/login")
        return response

    async def login_form(self, request: web.Request) -> web.Response:
        if self.guard.session(request.cookies.get(SESSION_COOKIE)) is not None:
            return _redirect("/")
        return self._login_response(None, status=200)

    async def login(self, request: web.Request) -> web.Response:
        form = await request.post()
        nonce = request.cookies.get(LOGIN_COOKIE)
        if not self.guard.login_nonce_matches(nonce, str(form.get("csrf", ""))):
            return self._login_response("The sign-in form expired; try again.", status=403)
        if self.guard.too_many_failures():
            return self._login_response("Too many wrong tokens; wait a minute.", status=429)
        if not self.guard.token_matches(str(form.get("token", ""))):
            self.guard.record_failure()
            log.warning("web view: wrong token from %s", request.remote)
            return self._login_response("That token is not right.", status=403)
        cookie, _ = self.guard.new_session()
        response = _redirect("/")
        response.set_cookie(
            SESSION_COOKIE, cookie, httponly=True, samesite="Strict", path="/",
            max_age=SESSION_MAX_AGE_S, secure=_is_https(request),
        )  # fmt: skip
        response.del_cookie(LOGIN_COOKIE, path="/login")
        log.info("web view: a moderator signed in from %s", request.remote)
        return response

    async def logout(self, request: web.Request) -> web.Response:
        response = _redirect("/login")
        response.del_cookie(SESSION_COOKIE, path="/")
        return response

    async def dashboard(self, request: web.Request) -> web.Response:
        board = await self._board(self._flash(request.query))
        page = dashboard_page(board, self._csrf(request))
        return web.Response(text=page, content_type="text/html")

    async def _board(self, flash: Flash | None) -> Dashboard:
        storage, now = self.desk.storage, self.clock()
        items, total = await self.desk.pending_everywhere(PENDING_SHOWN)
        charts = [
            bar_chart("Votes", await votes_by_day(storage, now, CHART_DAYS), VOTE_COLOURS),
            bar_chart(
                "Filter verdicts", await verdicts_by_day(storage, now, CHART_DAYS),
                VERDICT_COLOURS,
            ),
            bar_chart(
                "Moderator decisions", await decisions_by_day(storage, now, CHART_DAYS),
                DECISION_COLOURS,
            ),
        ]  # fmt: skip
        audit = await self.desk.audit_everywhere(AUDIT_SHOWN)
        roles = await storage.model_roles()  # the challenger as last promoted, when saved
        arena = pair_standings(await storage.match_choices(), roles[1:] if roles else ())
        queue = await queue_depth(storage)
        return Dashboard(items, total, queue, audit, charts, flash, arena=arena)

    @staticmethod
    def _flash(query: Mapping[str, str]) -> Flash | None:
        """Only known result codes and a number become a notice (nothing is reflected)."""
        result, review = RESULTS.get(query.get("result", "")), query.get("review", "")
        if result is None or not review.isdigit():
            return None
        return Flash(result[0].format(int(review)), ok=result[1])

    async def decide(self, request: web.Request) -> web.Response:
        review_id = int(request.match_info["review_id"])
        form = await request.post()  # parsed (and cached) by the lock
        action = str(form.get("action", ""))
        if action not in ("approve", "reject"):
            raise web.HTTPBadRequest(text="action must be approve or reject\n")
        note = str(form.get("note", "")).strip()[:NOTE_MAX_CHARS]
        item = await self.desk.item(review_id)
        if item is None:
            return _redirect(f"/?result=missing&review={review_id}")
        try:
            decided = await self.desk.decide(
                review_id, WEB_ACTOR_ID, item.guild_id, action == "approve", note, via="web"
            )
        except UserError:
            return _redirect(f"/?result=already&review={review_id}")
        log.info("web view: review %s %s", review_id, decided.status)
        return _redirect(f"/?result={decided.status}&review={review_id}")

    async def image(self, request: web.Request) -> web.StreamResponse:
        item = await self.desk.item(int(request.match_info["review_id"]))
        path = Path(item.image_path) if item is not None and item.image_path else None
        if path is None or not await asyncio.to_thread(path.is_file):
            raise web.HTTPNotFound(text="No picture for that review.\n")
        return web.FileResponse(path, headers={"Content-Type": "image/png"})

    async def status(self, request: web.Request) -> web.Response:
        items, total = await self.desk.pending_everywhere(PENDING_SHOWN)
        depth = await queue_depth(self.desk.storage)
        return web.json_response(
            {
                "pending": [item.review_id for item in items],
                "pending_total": total,
                "queue": {"queued": depth.queued, "running": depth.running},
            }
        )

    async def static_file(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self.static:
            raise web.HTTPNotFound()
        return web.Response(body=self.static[name], content_type=STATIC_TYPES[name])


async def start_web_server(
    desk: ReviewDesk, token: str, host: str, port: int, clock: Callable[[], float] = time.time
) -> web.AppRunner:
    """Serve the web view; the caller cleans the runner up. A bad token, or an address that
    cannot be listened on (a port in use), is a ConfigError."""
    view = WebView(desk, Guard(token, clock), clock)
    runner = web.AppRunner(view.app(), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as err:
        await runner.cleanup()
        raise ConfigError(
            f"the web view cannot listen on {host}:{port}: {err.strerror or err}; "
            "pick another MUSE_WEB_PORT (or --port) or MUSE_WEB_HOST"
        ) from err
    log.info("moderators' web view on http://%s:%d/", host, port)
    if host not in ("127.0.0.1", "::1", "localhost"):
        log.warning(
            "the web view listens on %s, reachable from other machines: serve it through a "
            "reverse proxy with TLS",
            host,
        )
    return runner


async def serve_web(db_path: Path, token: str, host: str, port: int, stop: asyncio.Event) -> None:
    """``muse web``: the web view on its own, over the database file, until ``stop`` is set.

    Decisions are stored at once; a running ``muse run`` picks them up and publishes them.
    """
    Guard(token)  # a missing or short token stops us before anything opens
    async with await Storage.open(db_path) as storage:
        desk = ReviewDesk(storage, time.time)
        await desk.load()
        runner = await start_web_server(desk, token, host, port)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()
