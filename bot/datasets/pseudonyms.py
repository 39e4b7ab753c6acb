"""Members, guilds and channels as keyed hashes (HMAC-SHA256), in ids and in mentions."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache, partial
from types import MappingProxyType

PSEUDONYM_CACHE = 16_384
MENTION_BYTES = re.compile(rb"<(?:@!?|@&|#)\d{15,21}>")
_MENTION = re.compile(r"<(@!?|@&|#)(\d{15,21})>")
_MENTION_KIND = MappingProxyType({"@": "user", "@!": "user", "@&": "role", "#": "channel"})


def pseudonym(secret: str, prefix: str, value: int) -> str:
    """The keyed hash standing for a Discord id: same id and secret, same pseudonym.

    ``hmac.new(secret, f"{prefix}:{id}", sha256).hexdigest()[:16]``.
    """
    return hmac.digest(secret.encode(), f"{prefix}:{value}".encode(), hashlib.sha256).hex()[:16]


@dataclass(frozen=True)
class Pseudonyms:
    """Hashes ids with one installation secret, and replaces Discord mentions in text."""

    secret: str = field(repr=False)
    _hash: Callable[[str, int], str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.secret:
            raise ValueError("an export needs a non-empty secret to pseudonymize member ids")
        cached = lru_cache(maxsize=PSEUDONYM_CACHE)(partial(pseudonym, self.secret))
        object.__setattr__(self, "_hash", cached)  # bounded: memory stays flat

    def of(self, prefix: str, value: int | None) -> str | None:
        return None if value is None else self._hash(prefix, value)

    def user(self, value: int) -> str:
        return self._hash("user", value)

    def scrub(self, text: str) -> str:
        """``<@123…>``, ``<@&123…>`` and ``<#123…>`` become ``@user-<hash>`` and the like."""
        if "<" not in text:
            return text
        return _MENTION.sub(self._mention, text)

    def _mention(self, match: re.Match[str]) -> str:
        kind = _MENTION_KIND[match.group(1)]
        sign = "#" if kind == "channel" else "@"
        return f"{sign}{kind}-{self._hash(kind, int(match.group(2)))}"
