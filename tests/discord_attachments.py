"""Attachments for the Discord harness: a member's uploaded file in a slash command.

Discord sends an attachment option as ``{"type": 11, "value": "<id>"}`` with the file itself in
``data.resolved.attachments``; ``discord.Attachment.read()`` then downloads its URL through
``HTTPClient.get_from_cdn``, which calls ``session.get(url)``. :class:`CdnHTTP` is a
:class:`RecordingHTTP` that also answers those downloads from files registered with
:meth:`CdnHTTP.host`, and records each one as a ``GET`` :class:`Call` whose path is the URL.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus
from typing import Any

from multidict import CIMultiDict

from tests.discord_http import Call, RecordingHTTP
from tests.discord_payloads import JSON, snowflake_at

CDN = "https://cdn.discordapp.com/ephemeral-attachments"


class _CdnResponse:
    """The part of ``aiohttp.ClientResponse`` that ``get_from_cdn`` reads."""

    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self.reason = HTTPStatus(status).phrase
        self.headers: CIMultiDict[str] = CIMultiDict()
        self._body = body

    async def read(self) -> bytes:
        return self._body

    async def text(self, encoding: str = "utf-8") -> str:
        return self._body.decode(encoding, "replace")

    async def __aenter__(self) -> _CdnResponse:
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


class CdnHTTP(RecordingHTTP):
    """A fake Discord that also serves uploaded files from its CDN."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.files: dict[str, tuple[int, bytes]] = {}

    def host(
        self,
        data: bytes,
        filename: str = "picture.png",
        content_type: str | None = "image/png",
        *,
        status: int = 200,
        size: int | None = None,
    ) -> JSON:
        """Serve ``data`` at a new URL and return the attachment object Discord would send
        (``size`` overrides the declared size, as a lying client could)."""
        att_id = str(snowflake_at())
        url = f"{CDN}/{att_id}/{filename}"
        self.files[url] = (status, data)
        attachment: JSON = {"id": att_id, "filename": filename, "url": url, "proxy_url": url}
        attachment.update(size=len(data) if size is None else size, ephemeral=True)
        if content_type is not None:
            attachment["content_type"] = content_type
        return attachment

    def get(self, url: str, **kwargs: Any) -> _CdnResponse:
        """``aiohttp.ClientSession.get`` for CDN downloads: recorded, answered from ``files``."""
        status, body = self.files.get(url, (404, b""))
        self.calls.append(Call("GET", url, None, [], {}, status))
        return _CdnResponse(status, body)

    def downloads(self) -> list[Call]:
        """The recorded CDN downloads, in order."""
        return [c for c in self.calls if c.method == "GET" and c.path.startswith(CDN)]


def with_attachment(payload: JSON, option: str, attachment: JSON) -> JSON:
    """A slash payload with ``attachment`` as the value of option ``option`` (type 11) and in
    ``data.resolved.attachments``, as Discord sends an uploaded file."""
    data = payload["data"]
    options = [o for o in data.get("options", []) if o["name"] != option]
    options.append({"name": option, "type": 11, "value": attachment["id"]})
    data["options"] = options
    data.setdefault("resolved", {}).setdefault("attachments", {})[attachment["id"]] = attachment
    return payload
