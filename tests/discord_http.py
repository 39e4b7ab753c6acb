"""A fake Discord REST API that poses as discord.py's aiohttp session, with no network.

REST calls go through ``HTTPClient.request`` but interaction callbacks and webhooks through
``AsyncWebhookAdapter.request``; both use the aiohttp session on ``bot.http``, so
:class:`RecordingHTTP` replaces that session: it records each request as a :class:`Call` and
answers like Discord, letting discord.py raise its real ``NotFound``/``HTTPException``.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import itertools
import json
import re
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import discord
from multidict import CIMultiDict

from tests.discord_payloads import APP_ID, JSON, USER_ID, user_payload

_API_PREFIX = urlsplit(discord.http.Route.BASE).path  # "/api/v10"
_CALLBACK = r"^/interactions/(\d+)/([^/]+)/callback$"
_MESSAGE_ROUTE = r"^/(webhooks/\d+/[^/]+(/messages/[^/]+)?|channels/\d+/messages(/\d+)?)$"
_MESSAGE_KEYS = ("content", "embeds", "components", "tts", "poll")
# Static parts of stored messages and app info, kept as (immutable) JSON text parsed per use.
_MESSAGE = (
    '{"type": 0, "content": "", "embeds": [], "components": [], "attachments": [], '
    '"mentions": [], "mention_roles": [], "mention_everyone": false, "pinned": false, '
    '"tts": false, "flags": 0, "edited_timestamp": null}'
)
_APP_INFO = (
    '{"name": "Muse", "description": "", "icon": null, "bot_public": true, "flags": 0, '
    '"bot_require_code_grant": false, "verify_key": "00", "team": null}'
)


@dataclass
class Call:
    """One request; ``json`` is the decoded body (``payload_json`` when sent as multipart)."""

    method: str
    path: str  # route path with parameters filled in, no query string
    json: Any = None  # dict | list | None
    files: list[str] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)
    status: int = 200


@dataclass
class _Failure:
    method: str
    pattern: re.Pattern[str]
    status: int
    body: JSON
    times: int


class _FakeResponse:
    """The part of ``aiohttp.ClientResponse`` discord.py reads (``HTTPException`` keeps it)."""

    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.reason = HTTPStatus(status).phrase
        self._text = "" if body is None else json.dumps(body)  # a fresh copy for every reader
        self.headers: CIMultiDict[str] = CIMultiDict()
        if body is not None:
            self.headers["Content-Type"] = "application/json"
        if status == 429:
            self.headers["Via"] = "1.1 google"  # discord.py only retries 429s coming via Discord

    async def text(self, encoding: str = "utf-8") -> str:
        """Return the body like aiohttp does."""
        return self._text

    async def __aenter__(self) -> _FakeResponse:
        await asyncio.sleep(0)  # behave like I/O: let other tasks run
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


class RecordingHTTP:
    """A fake Discord REST API posing as the aiohttp session of one or more bots.

    It outlives bots: share one across a simulated restart so messages survive.
    ``enforce_deadlines`` makes callbacks older than 3 s fail with 10062 and interaction
    webhooks older than 15 min fail with 50027, like Discord does.
    """

    closed = False  # aiohttp.ClientSession API

    def __init__(self, *, app_id: int = APP_ID, enforce_deadlines: bool = False) -> None:
        self.app_id = app_id
        self.bot_user = user_payload(app_id, "Muse", bot=True)
        self.enforce_deadlines = enforce_deadlines
        self.calls: list[Call] = []
        self.messages: dict[int, JSON] = {}
        self.interactions: dict[str, JSON] = {}  # token -> dispatched payload
        self._originals: dict[str, int] = {}  # token -> id of its @original message
        self._acked: set[str] = set()
        self._failures: list[_Failure] = []
        self._ids = itertools.count(discord.utils.time_snowflake(discord.utils.utcnow()))

    def request(self, method: str, url: str, **kwargs: Any) -> _FakeResponse:
        """``aiohttp.ClientSession.request``: record the call and answer it."""
        parts = urlsplit(url)
        params = {k: str(v) for k, v in (kwargs.get("params") or {}).items()}
        params.update(parse_qsl(parts.query))
        call = Call(method, parts.path.removeprefix(_API_PREFIX), None, [], params)
        call.json, call.files = _decode_body(kwargs.get("data"))
        self.calls.append(call)
        failure = next(
            (f for f in self._failures if f.method == method and f.pattern.search(call.path)), None
        )
        if failure is not None:
            failure.times -= 1
            if failure.times <= 0:
                self._failures.remove(failure)
            call.status, answer = failure.status, failure.body
        else:
            call.status, answer = self._route(call)
        return _FakeResponse(call.status, answer)

    async def close(self) -> None:
        """Bots close their session on ``close()``; the fake Discord stays up."""

    def fail_next(
        self, method: str, path_regex: str, status: int, code: int, message: str, *, times: int = 1
    ) -> None:
        """Answer the next ``times`` matching requests (``re.search``) with a Discord error.

        discord.py raises ``Forbidden``/``NotFound`` for 403/404 and ``HTTPException``
        otherwise; it retries 429 and 500/502/504 (sleeping 1 s+ for the 5xx ones).
        """
        body: JSON = {"code": code, "message": message, "retry_after": 0.01, "global": False}
        self._failures.append(_Failure(method.upper(), re.compile(path_regex), status, body, times))

    def clear(self) -> None:
        """Forget recorded calls (messages and interactions are kept)."""
        self.calls.clear()

    def calls_to(self, method: str, path_regex: str = "") -> list[Call]:
        """Recorded calls with ``method`` whose path matches ``path_regex`` (``re.search``)."""
        method = method.upper()
        return [c for c in self.calls if c.method == method and re.search(path_regex, c.path)]

    def interaction_responses(self) -> list[JSON]:
        """Bodies of successful interaction callbacks, e.g. ``{"type": 5}``, in order."""
        return [c.json for c in self.calls_to("POST", _CALLBACK) if c.status < 300]

    def last_message_json(self) -> JSON | None:
        """What was sent by the latest successful message create/edit (callback 4/7 ``data``)."""
        for c in reversed(self.calls):
            if c.status >= 300 or not isinstance(c.json, dict):
                continue
            if re.search(_CALLBACK, c.path) and c.json.get("type") in (4, 7):
                return dict(c.json.get("data") or {})
            if c.method in ("POST", "PATCH") and re.search(_MESSAGE_ROUTE, c.path):
                return c.json
        return None

    def original_message(self, token: str) -> JSON | None:
        """The stored ``@original`` message of an interaction token."""
        return self.messages.get(self._originals.get(token, 0))

    def _route(self, call: Call) -> tuple[int, Any]:
        method, path, body = call.method, call.path, call.json
        if m := re.fullmatch(_CALLBACK[1:-1], path):
            return self._callback(int(m[1]), m[2], body or {}, call.files)
        if m := re.fullmatch(r"/webhooks/\d+/([^/]+)(?:/messages/(@original|\d+))?", path):
            return self._webhook(call, m[1], m[2])
        if m := re.fullmatch(r"/channels/(\d+)/messages(?:/(\d+))?", path):
            if m[2]:
                return self._stored(method, int(m[2]), body, call.files)
            if method == "POST":
                return 200, self._new_message(int(m[1]), body or {}, call.files, None)
            return 200, [v for v in reversed(self.messages.values()) if v["channel_id"] == m[1]]
        if method == "PUT" and re.fullmatch(r"/applications/\d+(/guilds/\d+)?/commands", path):
            app = {"application_id": str(self.app_id), "version": "1", "description": ""}
            return 200, [{**app, **cmd, "id": str(next(self._ids))} for cmd in body or []]
        if path == "/users/@me":
            return 200, self.bot_user
        if path == "/oauth2/applications/@me":
            owner = user_payload(USER_ID)
            return 200, {**json.loads(_APP_INFO), "id": str(self.app_id), "owner": owner}
        return (204, None) if method == "DELETE" else (200, {})

    def _callback(self, iid: int, token: str, body: JSON, files: list[str]) -> tuple[int, Any]:
        """POST /interactions/{id}/{token}/callback?with_response=1 -> InteractionCallback."""
        inter = self.interactions.get(token, {})
        if self.enforce_deadlines and _age(iid) > dt.timedelta(seconds=3):
            return 404, {"code": 10062, "message": "Unknown interaction"}
        if token in self._acked:
            return 400, {"code": 40060, "message": "Interaction has already been acknowledged."}
        self._acked.add(token)
        kind, data = body.get("type"), body.get("data") or {}
        info: JSON = {"id": str(iid), "type": inter.get("type", 2)}
        resource: JSON = {"type": kind}
        message: JSON | None = None
        if kind in (4, 5):  # new message; 5 is the "thinking..." placeholder (flag 128)
            flags = int(data.get("flags", 0)) | (128 if kind == 5 else 0)
            channel_id = int(inter.get("channel_id", 0))
            message = self._new_message(channel_id, {**data, "flags": flags}, files, inter)
            info.update(
                response_message_loading=kind == 5, response_message_ephemeral=bool(flags & 64)
            )
        elif kind in (6, 7) and "message" in inter:  # the clicked message becomes @original
            clicked = inter["message"]
            message = self.messages.setdefault(int(clicked["id"]), copy.deepcopy(clicked))
            if kind == 7:
                self._apply(message, data, files)
        if message is not None:
            self._originals[token] = int(message["id"])
            info["response_message_id"] = message["id"]
            resource["message"] = message
        return 200, {"interaction": info, "resource": resource}

    def _webhook(self, call: Call, token: str, target: str | None) -> tuple[int, Any]:
        """Interaction webhooks: followups and ``@original``/``{id}`` messages."""
        inter = self.interactions.get(token)
        if self.enforce_deadlines and inter and _age(int(inter["id"])) > dt.timedelta(minutes=15):
            return 401, {"code": 50027, "message": "Invalid Webhook Token"}
        if inter is not None and token not in self._acked:
            return 404, {"code": 10015, "message": "Unknown Webhook"}
        if target is None and call.method != "POST":  # the webhook object itself
            return (204, None) if call.method == "DELETE" else (200, {})
        if target is None:  # followup message
            channel_id = int((inter or {}).get("channel_id", 0))
            msg = self._new_message(channel_id, call.json or {}, call.files, inter)
            return (200, msg) if call.params.get("wait") in ("1", "True", "true") else (204, None)
        mid = self._originals.get(token, 0) if target == "@original" else int(target)
        return self._stored(call.method, mid, call.json, call.files)

    def _stored(self, method: str, mid: int, body: Any, files: list[str]) -> tuple[int, Any]:
        """GET/PATCH/DELETE of a stored message."""
        if mid not in self.messages:
            return 404, {"code": 10008, "message": "Unknown Message"}
        if method == "DELETE":
            del self.messages[mid]
            return 204, None
        if method == "PATCH":
            self._apply(self.messages[mid], body or {}, files)
        return 200, self.messages[mid]

    def _new_message(self, channel: int, sent: JSON, files: list[str], inter: JSON | None) -> JSON:
        mid = next(self._ids)
        msg: JSON = {**json.loads(_MESSAGE), "id": str(mid), "channel_id": str(channel)}
        msg.update(author=self.bot_user, flags=sent.get("flags", 0))
        msg["timestamp"] = discord.utils.utcnow().isoformat()
        if inter is not None:  # sent through the interaction webhook
            user = inter.get("member", {}).get("user") or inter.get("user")
            meta = {k: inter.get(k) for k in ("id", "type", "authorizing_integration_owners")}
            msg.update(webhook_id=str(self.app_id), application_id=str(self.app_id))
            msg.update(interaction_metadata={**meta, "user": user}, guild_id=inter.get("guild_id"))
            msg["type"] = 20 if inter["type"] == 2 else 0  # CHAT_INPUT_COMMAND reply
        self._apply(msg, sent, files, edit=False)
        self.messages[mid] = msg
        return msg

    def _apply(self, msg: JSON, sent: JSON, files: list[str], *, edit: bool = True) -> None:
        """Merge what the bot sent into a stored message payload, as Discord would."""
        for key in _MESSAGE_KEYS:
            if key in sent:
                msg[key] = sent[key] if sent[key] is not None else ("" if key == "content" else [])
        msg["flags"] = int(msg["flags"]) & ~128  # any edit ends the "thinking..." state
        if "attachments" in sent:  # on edits: the ids of the attachments to keep
            kept = {str(a["id"]) for a in sent["attachments"] or []}
            msg["attachments"] = [a for a in msg["attachments"] if a["id"] in kept]
        for name in files:
            att_id = str(next(self._ids))
            url = f"https://cdn.discordapp.com/attachments/{msg['channel_id']}/{att_id}/{name}"
            att = {"id": att_id, "filename": name, "size": 0, "url": url, "proxy_url": url}
            msg["attachments"].append(att)
        if edit:
            msg["edited_timestamp"] = discord.utils.utcnow().isoformat()


def _age(snowflake: int) -> dt.timedelta:
    return discord.utils.utcnow() - discord.utils.snowflake_time(snowflake)


def _decode_body(data: Any) -> tuple[Any, list[str]]:
    """Decode a JSON string or an ``aiohttp.FormData`` (``payload_json`` + file names)."""
    if data is None or isinstance(data, str | bytes):
        return (None if data is None else json.loads(data)), []
    body: Any = None
    files: list[str] = []
    for options, _headers, value in getattr(data, "_fields", []):  # aiohttp.FormData internals
        if options.get("name") == "payload_json":
            body = json.loads(value)
        elif "filename" in options:
            files.append(options["filename"])
    return body, files


class TimedHTTP(RecordingHTTP):
    """Also notes when each call arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        self.times.append(time.monotonic())
        return super().request(method, url, **kwargs)

    def clear(self) -> None:
        super().clear()
        self.times.clear()
