"""A local stand-in for Discord's REST API and gateway: a real aiohttp server on 127.0.0.1.

Unlike :mod:`tests.discord_harness` (which replaces discord.py's aiohttp session), this is a
real HTTP + websocket server on an ephemeral loopback port.  A real ``discord.Client`` talks to
it over real sockets once ``discord.http.Route.BASE`` and ``DiscordWebSocket.DEFAULT_GATEWAY``
point at it (see :meth:`FakeDiscord.point_discord_py_here`).

The REST half (recorded calls, stored messages, injected faults) is
:class:`tests.discord_server_rest.FakeRest`; the gateway half (HELLO, IDENTIFY, RESUME, op 7 and
op 9, buffered events) is :class:`tests.discord_server_gateway.FakeGateway`.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import discord
import yarl
from aiohttp import web

from tests.discord_payloads import APP_ID, JSON, user_payload
from tests.discord_server_gateway import GATEWAY_PATH, RESUME_PATH, FakeGateway
from tests.discord_server_rest import API_PREFIX, FakeRest


class FakeDiscord(FakeRest, FakeGateway):
    """Discord's REST API and gateway on ``http://127.0.0.1:<ephemeral port>``; see
    :class:`~tests.discord_server_rest.FakeRest` for the deadlines."""

    def __init__(
        self,
        *,
        app_id: int = APP_ID,
        heartbeat_interval_ms: int = 41_250,
        callback_deadline_s: float | None = 3.0,
        token_lifetime_s: float = 15 * 60,
    ) -> None:
        self.app_id = app_id
        self.bot_user = user_payload(app_id, "Muse", bot=True)
        self.port = 0
        self._runner: web.AppRunner | None = None
        FakeRest.__init__(
            self, callback_deadline_s=callback_deadline_s, token_lifetime_s=token_lifetime_s
        )
        FakeGateway.__init__(self, heartbeat_interval_ms=heartbeat_interval_ms)

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> FakeDiscord:
        app = web.Application(client_max_size=64 << 20)
        app.router.add_get(GATEWAY_PATH, self._gateway)
        app.router.add_get(RESUME_PATH, self._gateway)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.base_events.Server)
        self.port = server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Close open websockets (1001 going away) and the server."""
        for conn in self.connections:
            if not conn.ws.closed:
                await conn.ws.close(code=aiohttp.WSCloseCode.GOING_AWAY)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}{API_PREFIX}"

    def point_discord_py_here(self, setattr_: Callable[[Any, str, Any], None]) -> None:
        """Aim discord.py at this server; pass ``monkeypatch.setattr`` so it is undone.

        discord.py's ``Client`` never asks ``GET /gateway/bot`` (only ``AutoShardedClient``
        does): it connects to ``DiscordWebSocket.DEFAULT_GATEWAY`` and later to READY's
        ``resume_gateway_url``, so both the REST base and that default are patched.
        """
        setattr_(discord.http.Route, "BASE", self.api_base)
        setattr_(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(self.gateway_url))

    async def wait_for(
        self, predicate: Callable[[], Any], timeout: float = 5.0, what: str = "condition"
    ) -> None:
        """Poll ``predicate`` every 10 ms until it is truthy."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
            await asyncio.sleep(0.01)

    async def send_interaction(self, payload: JSON) -> int:
        """Register an interaction (so its token works) and dispatch INTERACTION_CREATE."""
        self.interactions[payload["token"]] = copy.deepcopy(payload)
        return await self.dispatch("INTERACTION_CREATE", payload)
