"""The fake Discord's REST API: every request is recorded as a :class:`Call` (with the time
it arrived); messages are stored like Discord does (interaction ``@original`` messages,
followups, channel messages), and :meth:`FakeRest.fail` injects errors (429 with
``retry_after`` and Discord's rate-limit headers, 5xx, any JSON error) on any route.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import json
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import discord
from aiohttp import web

from tests.discord_payloads import CHANNEL_ID, JSON, USER_ID, user_payload
from tests.discord_server_gateway import GATEWAY_PATH, ws_url

API_PREFIX = "/api/v10"
CALLBACK = r"^/interactions/(\d+)/([^/]+)/callback$"
ORIGINAL = r"^/webhooks/\d+/[^/]+/messages/@original$"
CHANNEL_MESSAGES = r"^/channels/\d+/messages$"
RATE_LIMITED: JSON = {"message": "You are being rate limited.", "global": False}
_MESSAGE_KEYS = ("content", "embeds", "components", "tts", "poll")
_MESSAGE: JSON = {
    "type": 0, "content": "", "embeds": [], "components": [], "attachments": [], "mentions": [],
    "mention_roles": [], "mention_everyone": False, "pinned": False, "tts": False, "flags": 0,
    "edited_timestamp": None,
}  # fmt: skip


@dataclass
class Call:
    """One REST request as the server saw it; ``json`` is ``payload_json`` for multipart."""

    method: str
    path: str  # without the /api/v10 prefix and the query string
    params: dict[str, str]
    json: Any
    files: list[str]
    at: float  # time.monotonic() on arrival
    status: int = 0
    fault: bool = False  # answered by an injected fault


@dataclass
class Fault:
    """An injected answer for the next ``times`` matching requests."""

    method: str
    pattern: re.Pattern[str]
    status: int
    body: Any  # JSON-able, a str (sent as text/plain), or None (empty)
    headers: dict[str, str]
    times: int
    when: Callable[[Call], bool] | None = None
    used: int = 0


def rate_limit(retry_after: float, *, is_global: bool = False) -> tuple[JSON, dict[str, str]]:
    """A 429 body and headers as Discord sends them (``Via`` marks it as Discord's own)."""
    body = {**RATE_LIMITED, "retry_after": retry_after, "global": is_global}
    headers = {
        "Retry-After": str(math.ceil(retry_after)),
        "Via": "1.1 google",
        "X-RateLimit-Scope": "global" if is_global else "user",
    }
    if not is_global:
        headers.update(
            {
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
                "X-RateLimit-Reset-After": f"{retry_after:.3f}",
                "X-RateLimit-Bucket": "fakebucket0000",
            }
        )
    else:
        headers["X-RateLimit-Global"] = "true"
    return body, headers


def _age(snowflake: int) -> dt.timedelta:
    return discord.utils.utcnow() - discord.utils.snowflake_time(snowflake)


class FakeRest:
    """The REST half of :class:`tests.discord_server.FakeDiscord`.

    ``callback_deadline_s``: callbacks for interactions older than this get 10062 Unknown
    interaction (Discord: 3 s; ``None`` turns the check off, to stand in for a slow job on an
    interaction created long ago).  Interaction webhooks older than ``token_lifetime_s`` (15 min)
    or expired with :meth:`expire_token` answer 401 50027 Invalid Webhook Token.
    """

    app_id: int
    bot_user: JSON
    port: int

    def __init__(self, *, callback_deadline_s: float | None, token_lifetime_s: float) -> None:
        self.callback_deadline_s = callback_deadline_s
        self.token_lifetime_s = token_lifetime_s
        self.calls: list[Call] = []
        self.messages: dict[int, JSON] = {}
        self.interactions: dict[str, JSON] = {}  # token -> INTERACTION_CREATE payload
        self.faults: list[Fault] = []
        self._originals: dict[str, int] = {}  # token -> message id of @original
        self._acked: set[str] = set()
        self._expired: set[str] = set()
        self._ids = itertools.count(discord.utils.time_snowflake(discord.utils.utcnow()))

    # -- fault injection ---------------------------------------------------------------------
    def fail(
        self,
        method: str,
        path_regex: str,
        status: int,
        body: Any = None,
        *,
        times: int = 1,
        headers: Mapping[str, str] | None = None,
        when: Callable[[Call], bool] | None = None,
    ) -> Fault:
        """Answer the next ``times`` requests matching ``method``, ``path_regex`` (re.search on
        the path after /api/v10) and ``when`` with ``status``.

        For 429 the body defaults to Discord's rate-limit body with ``retry_after`` 0.05 s and
        Discord's headers (``Retry-After``, ``X-RateLimit-*``, ``Via``); pass ``body`` with a
        different ``retry_after`` to change it.  For other statuses it defaults to
        ``{"message": <reason>, "code": 0}``.
        """
        hdrs: dict[str, str] = {}
        if status == 429:
            retry_after = float((body or {}).get("retry_after", 0.05))
            default, hdrs = rate_limit(retry_after, is_global=bool((body or {}).get("global")))
            body = {**default, **(body or {})}
        elif body is None:
            body = {"message": f"{status}: injected fault", "code": 0}
        hdrs.update(headers or {})
        fault = Fault(method.upper(), re.compile(path_regex), status, body, hdrs, times, when)
        self.faults.append(fault)
        return fault

    def expire_token(self, token: str) -> None:
        """From now on the interaction's webhook answers 401 50027 (as after 15 minutes)."""
        self._expired.add(token)

    def delete_original(self, token: str) -> None:
        """A member (or moderator) deletes the interaction's ``@original`` message."""
        self.messages.pop(self._originals.get(token, 0), None)

    # -- queries -----------------------------------------------------------------------------
    def calls_to(self, method: str, path_regex: str = "") -> list[Call]:
        method = method.upper()
        return [c for c in self.calls if c.method == method and re.search(path_regex, c.path)]

    def original_message(self, token: str) -> JSON | None:
        return self.messages.get(self._originals.get(token, 0))

    def channel_messages(self, channel_id: int = CHANNEL_ID) -> list[JSON]:
        return [m for m in self.messages.values() if m["channel_id"] == str(channel_id)]

    # -- REST ----------------------------------------------------------------------------------
    async def _rest(self, request: web.Request) -> web.StreamResponse:
        body, files = await _read_body(request)
        path = request.path.removeprefix(API_PREFIX)
        call = Call(request.method, path, dict(request.query), body, files, time.monotonic())
        self.calls.append(call)
        fault = next(
            (
                f
                for f in self.faults
                if f.method == call.method
                and f.pattern.search(path)
                and (f.when is None or f.when(call))
            ),
            None,
        )
        if fault is not None:
            fault.used += 1
            if fault.used >= fault.times:
                self.faults.remove(fault)
            call.status, call.fault = fault.status, True
            return _answer(fault.status, fault.body, fault.headers)
        call.status, answer = self._route(call)
        return _answer(call.status, answer, {})

    def _route(self, call: Call) -> tuple[int, Any]:
        method, path = call.method, call.path
        if m := re.fullmatch(CALLBACK[1:-1], path):
            return self._callback(int(m[1]), m[2], call.json or {}, call.files, call.params)
        if m := re.fullmatch(r"/webhooks/\d+/([^/]+)(?:/messages/(@original|\d+))?", path):
            return self._webhook(call, m[1], m[2])
        if m := re.fullmatch(r"/channels/(\d+)/messages(?:/(\d+))?", path):
            if m[2]:
                return self._stored(method, int(m[2]), call.json, call.files)
            if method == "POST":
                return 200, self._new_message(int(m[1]), call.json or {}, call.files, None)
            return 200, [v for v in reversed(self.messages.values()) if v["channel_id"] == m[1]]
        if method == "PUT" and re.fullmatch(r"/applications/\d+(/guilds/\d+)?/commands", path):
            app = {"application_id": str(self.app_id), "version": "1", "description": ""}
            return 200, [{**app, **cmd, "id": str(next(self._ids))} for cmd in call.json or []]
        if method == "GET" and path == "/users/@me":
            return 200, self.bot_user
        if method == "GET" and path == "/oauth2/applications/@me":
            return 200, {
                "id": str(self.app_id), "name": "Muse", "description": "", "icon": None,
                "bot_public": True, "bot_require_code_grant": False, "verify_key": "00",
                "team": None, "flags": 0, "owner": user_payload(USER_ID),
            }  # fmt: skip
        if method == "GET" and path in ("/gateway", "/gateway/bot"):
            limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
            return 200, {
                "url": ws_url(self.port, GATEWAY_PATH),
                "shards": 1,
                "session_start_limit": limit,
            }
        return 404, {"message": "404: Not Found", "code": 0}

    def _callback(
        self, iid: int, token: str, body: JSON, files: list[str], params: dict[str, str]
    ) -> tuple[int, Any]:
        """POST /interactions/{id}/{token}/callback (``?with_response=true``)."""
        inter = self.interactions.get(token)
        if inter is None:
            return 404, {"message": "Unknown interaction", "code": 10062}
        deadline = self.callback_deadline_s
        if deadline is not None and _age(iid) > dt.timedelta(seconds=deadline):
            return 404, {"message": "Unknown interaction", "code": 10062}
        if token in self._acked:
            return 400, {"message": "Interaction has already been acknowledged.", "code": 40060}
        self._acked.add(token)
        kind, data = body.get("type"), body.get("data") or {}
        info: JSON = {"id": str(iid), "type": inter.get("type", 2)}
        resource: JSON = {"type": kind}
        if kind in (4, 5):  # a new message; 5 is the "thinking..." placeholder (flag 128)
            flags = int(data.get("flags", 0)) | (128 if kind == 5 else 0)
            channel = int(inter.get("channel_id", 0))
            message = self._new_message(channel, {**data, "flags": flags}, files, inter)
            self._originals[token] = int(message["id"])
            info.update(
                response_message_id=message["id"],
                response_message_loading=kind == 5,
                response_message_ephemeral=bool(flags & 64),
            )
            resource["message"] = message
        if params.get("with_response", "").lower() not in ("1", "true"):
            return 204, None
        return 200, {"interaction": info, "resource": resource}

    def _webhook(self, call: Call, token: str, target: str | None) -> tuple[int, Any]:
        inter = self.interactions.get(token)
        if inter is None:
            return 404, {"message": "Unknown Webhook", "code": 10015}
        too_old = _age(int(inter["id"])) > dt.timedelta(seconds=self.token_lifetime_s)
        if token in self._expired or too_old:
            return 401, {"message": "Invalid Webhook Token", "code": 50027}
        if token not in self._acked:
            return 404, {"message": "Unknown Webhook", "code": 10015}
        if target is None:
            if call.method != "POST":
                return 405, {"message": "405: Method Not Allowed", "code": 0}
            channel = int(inter.get("channel_id", 0))
            msg = self._new_message(channel, call.json or {}, call.files, inter)
            wait = call.params.get("wait", "").lower() in ("1", "true")
            return (200, msg) if wait else (204, None)
        mid = self._originals.get(token, 0) if target == "@original" else int(target)
        return self._stored(call.method, mid, call.json, call.files)

    def _stored(self, method: str, mid: int, body: Any, files: list[str]) -> tuple[int, Any]:
        if mid not in self.messages:
            return 404, {"message": "Unknown Message", "code": 10008}
        if method == "DELETE":
            del self.messages[mid]
            return 204, None
        if method == "PATCH":
            self._apply(self.messages[mid], body or {}, files)
        return 200, self.messages[mid]

    def _new_message(self, channel: int, sent: JSON, files: list[str], inter: JSON | None) -> JSON:
        mid = next(self._ids)
        msg: JSON = {**copy.deepcopy(_MESSAGE), "id": str(mid), "channel_id": str(channel)}
        msg.update(author=self.bot_user, flags=int(sent.get("flags", 0)))
        msg["timestamp"] = discord.utils.utcnow().isoformat()
        if inter is not None:  # sent through the interaction's webhook
            user = inter.get("member", {}).get("user") or inter.get("user")
            meta = {k: inter.get(k) for k in ("id", "type", "authorizing_integration_owners")}
            msg.update(webhook_id=str(self.app_id), application_id=str(self.app_id))
            msg.update(interaction_metadata={**meta, "user": user}, guild_id=inter.get("guild_id"))
            msg["type"] = 20 if inter["type"] == 2 else 0
        self._apply(msg, sent, files, edit=False)
        self.messages[mid] = msg
        return msg

    def _apply(self, msg: JSON, sent: JSON, files: list[str], *, edit: bool = True) -> None:
        for key in _MESSAGE_KEYS:
            if key in sent:
                msg[key] = sent[key] if sent[key] is not None else ("" if key == "content" else [])
        msg["flags"] = int(msg["flags"]) & ~128  # any edit ends "thinking..."
        if "attachments" in sent and edit:
            kept = {str(a["id"]) for a in sent["attachments"] or []}
            msg["attachments"] = [a for a in msg["attachments"] if a["id"] in kept]
        for name in files:
            att_id = str(next(self._ids))
            url = f"https://cdn.discordapp.com/attachments/{msg['channel_id']}/{att_id}/{name}"
            msg["attachments"].append(
                {"id": att_id, "filename": name, "size": 0, "url": url, "proxy_url": url}
            )
        if edit:
            msg["edited_timestamp"] = discord.utils.utcnow().isoformat()


def _answer(status: int, body: Any, headers: Mapping[str, str]) -> web.Response:
    if body is None:
        return web.Response(status=status, headers=headers)
    if isinstance(body, str):
        return web.Response(status=status, text=body, headers=headers)
    data = json.dumps(body).encode()  # discord.py wants exactly "application/json", no charset
    return web.Response(
        status=status, body=data, headers={"Content-Type": "application/json", **headers}
    )


async def _read_body(request: web.Request) -> tuple[Any, list[str]]:
    """JSON body, or ``payload_json`` and the file names of a multipart body."""
    if request.content_type.startswith("multipart/"):
        body: Any = None
        files: list[str] = []
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, aiohttp.BodyPartReader):
                continue
            if part.name == "payload_json":
                body = json.loads(await part.text())
            elif part.filename:
                files.append(part.filename)
                await part.read()
        return body, files
    raw = await request.read()
    return (json.loads(raw) if raw else None), []
