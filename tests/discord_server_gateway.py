"""The fake Discord's gateway (v10, JSON, ``zlib-stream`` as discord.py asks for).

HELLO, heartbeat/ACK, IDENTIFY → READY (+ GUILD_CREATE), RESUME → replay of missed events +
RESUMED, and the controls :meth:`~FakeGateway.drop_gateway`, :meth:`~FakeGateway.send_reconnect`
(op 7) and :meth:`~FakeGateway.invalidate_session` (op 9).  Dispatched events get sequence numbers
per session and are buffered, so an event sent while the bot is disconnected is replayed on RESUME.
"""

from __future__ import annotations

import json
import time
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import discord
from aiohttp import web

from tests.discord_payloads import CHANNEL_ID, GUILD_ID, JSON, USER_ID

GATEWAY_PATH = "/gateway"
RESUME_PATH = "/resume-gateway"  # READY's resume_gateway_url points here
# Gateway opcodes
DISPATCH, HEARTBEAT, IDENTIFY, RESUME, RECONNECT, INVALID_SESSION, HELLO, HEARTBEAT_ACK = (
    0, 1, 2, 6, 7, 9, 10, 11,
)  # fmt: skip
_PERMS = str((discord.Permissions.text() | discord.Permissions(view_channel=True)).value)


def ws_url(port: int, path: str) -> str:
    """The websocket URL of ``path`` on the fake Discord at ``port``."""
    return f"ws://127.0.0.1:{port}{path}"


@dataclass
class Frame:
    """One gateway payload the bot sent."""

    op: int
    d: Any
    path: str  # GATEWAY_PATH or RESUME_PATH
    connection: int  # 1 for the first websocket, 2 for the next...
    at: float


@dataclass
class Session:
    """A gateway session: its id, last sequence number and every event sent in it."""

    id: str
    seq: int = 0
    events: list[JSON] = field(default_factory=list)
    valid: bool = True


@dataclass
class Connection:
    """One websocket, with its zlib-stream compressor (one stream per connection)."""

    number: int
    ws: web.WebSocketResponse
    path: str
    query: dict[str, str]
    session: Session | None = None
    compressor: Any = None  # zlib.compressobj() when compress=zlib-stream

    async def send(self, payload: JSON) -> None:
        text = json.dumps(payload)
        if self.compressor is None:
            await self.ws.send_str(text)
            return
        data = self.compressor.compress(text.encode()) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
        await self.ws.send_bytes(data)


class FakeGateway:
    """The gateway half of :class:`tests.discord_server.FakeDiscord`."""

    app_id: int
    bot_user: JSON
    port: int

    def __init__(self, *, heartbeat_interval_ms: int) -> None:
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.frames: list[Frame] = []
        self.sessions: list[Session] = []
        self.connections: list[Connection] = []

    @property
    def gateway_url(self) -> str:
        return ws_url(self.port, GATEWAY_PATH)

    @property
    def resume_gateway_url(self) -> str:
        return ws_url(self.port, RESUME_PATH)

    def frames_with(self, op: int) -> list[Frame]:
        return [f for f in self.frames if f.op == op]

    @property
    def session(self) -> Session | None:
        return self.sessions[-1] if self.sessions else None

    @property
    def connection(self) -> Connection | None:
        """The latest websocket if it is still open."""
        conn = self.connections[-1] if self.connections else None
        return conn if conn is not None and not conn.ws.closed else None

    async def dispatch(self, event: str, data: JSON) -> int:
        """Send an op 0 event in the current session (buffered when no socket is open, to be
        replayed on RESUME); returns its sequence number."""
        session = self.session
        assert session is not None, "no gateway session: the bot never identified"
        session.seq += 1
        payload = {"op": DISPATCH, "t": event, "s": session.seq, "d": data}
        session.events.append(payload)
        conn = self.connection
        if conn is not None and conn.session is session:
            try:
                await conn.send(payload)
            except (ConnectionError, RuntimeError):
                pass  # closing under us: the event stays buffered for RESUME
        return session.seq

    async def drop_gateway(self, code: int, *, invalidate: bool = False) -> None:
        """Close the websocket with ``code``; ``invalidate`` also ends the session (4009)."""
        conn = self.connection
        assert conn is not None, "no open gateway connection"
        if invalidate and conn.session is not None:
            conn.session.valid = False
        await conn.ws.close(code=code, message=b"fake discord closed the connection")

    async def send_reconnect(self) -> None:
        """op 7 RECONNECT: the bot must close, reconnect and RESUME."""
        conn = self.connection
        assert conn is not None, "no open gateway connection"
        await conn.send({"op": RECONNECT, "d": None})

    async def invalidate_session(self, resumable: bool) -> None:
        """op 9 INVALID_SESSION; ``resumable=False`` also forgets the session."""
        conn = self.connection
        assert conn is not None, "no open gateway connection"
        if not resumable and conn.session is not None:
            conn.session.valid = False
        await conn.send({"op": INVALID_SESSION, "d": resumable})

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await ws.prepare(request)
        query = dict(request.query)
        conn = Connection(len(self.connections) + 1, ws, request.path, query)
        if query.get("compress") == "zlib-stream":
            conn.compressor = zlib.compressobj()
        elif query.get("compress"):
            await ws.close(code=4000, message=b"unsupported compression")  # e.g. zstd-stream
            return ws
        self.connections.append(conn)
        await conn.send({"op": HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}})
        async for msg in ws:
            if msg.type is aiohttp.WSMsgType.TEXT:
                await self._on_frame(conn, json.loads(msg.data))
        return ws

    async def _on_frame(self, conn: Connection, frame: JSON) -> None:
        op, d = frame.get("op"), frame.get("d")
        self.frames.append(Frame(int(op or 0), d, conn.path, conn.number, time.monotonic()))
        if op == HEARTBEAT:
            await conn.send({"op": HEARTBEAT_ACK, "d": None})
        elif op == IDENTIFY:
            await self._identify(conn)
        elif op == RESUME:
            await self._resume(conn, d or {})

    async def _identify(self, conn: Connection) -> None:
        session = Session(uuid.uuid4().hex)
        self.sessions.append(session)
        conn.session = session
        ready = {
            "v": 10,
            "user": self.bot_user,
            "guilds": [{"id": str(GUILD_ID), "unavailable": True}],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.resume_gateway_url,
            "application": {"id": str(self.app_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "user_settings": {},
            "presences": [],
            "geo_ordered_rtc_regions": [],
            "shard": [0, 1],
        }
        await self.dispatch("READY", ready)
        await self.dispatch("GUILD_CREATE", self._guild())

    async def _resume(self, conn: Connection, d: JSON) -> None:
        session = next((s for s in self.sessions if s.id == d.get("session_id")), None)
        if session is None or not session.valid:
            await conn.send({"op": INVALID_SESSION, "d": False})
            return
        conn.session = session
        last = int(d.get("seq") or 0)
        for event in session.events:
            if event["s"] > last:
                await conn.send(event)
        await self.dispatch("RESUMED", {})

    def _guild(self) -> JSON:
        everyone = {
            "id": str(GUILD_ID), "name": "@everyone", "permissions": _PERMS, "position": 0,
            "color": 0, "hoist": False, "managed": False, "mentionable": False, "flags": 0,
        }  # fmt: skip
        channel = {
            "id": str(CHANNEL_ID), "type": 0, "name": "general", "position": 0,
            "permission_overwrites": [], "nsfw": False, "parent_id": None, "topic": None,
            "flags": 0, "last_message_id": None, "rate_limit_per_user": 0,
        }  # fmt: skip
        return {
            "id": str(GUILD_ID), "name": "Muse test guild", "unavailable": False,
            "owner_id": str(USER_ID), "member_count": 2, "large": False, "features": [],
            "roles": [everyone], "channels": [channel], "threads": [], "members": [],
            "emojis": [], "stickers": [], "voice_states": [], "presences": [],
            "stage_instances": [], "guild_scheduled_events": [], "soundboard_sounds": [],
            "preferred_locale": "en-US", "joined_at": discord.utils.utcnow().isoformat(),
            "verification_level": 0, "default_message_notifications": 0,
            "explicit_content_filter": 0, "mfa_level": 0, "nsfw_level": 0, "premium_tier": 0,
            "afk_timeout": 300, "system_channel_flags": 0,
        }  # fmt: skip
