"""The web view's lock: one shared token, signed session cookies and CSRF tokens.

The operator sets ``MUSE_WEB_TOKEN``. A moderator types it once on the login page; it is
compared in constant time and never stored or logged. The browser then holds a session cookie
(HttpOnly, SameSite=Strict) signed with the token::

    <issued unix seconds>.<random nonce>.<HMAC-SHA256(token, "session:<issued>:<nonce>")>

Every state-changing request carries a CSRF token, HMAC(token, "csrf:<nonce>"), in its form.
The login form itself is protected by a double-submit nonce (cookie and form field must match).
Changing the token signs everyone out.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from bot.errors import ConfigError

SESSION_COOKIE = "muse_session"
LOGIN_COOKIE = "muse_login"
SESSION_MAX_AGE_S = 12 * 3600
MIN_TOKEN_CHARS = 16
FAILED_LOGINS_PER_MINUTE = 10


def check_token(token: str) -> str:
    """The token as given, or a ConfigError saying why the web view cannot start with it."""
    if not token:
        raise ConfigError(
            "MUSE_WEB_TOKEN is not set: the web view needs a secret token for moderators "
            "(for example `openssl rand -hex 32`)"
        )
    if len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(
            f"MUSE_WEB_TOKEN must be at least {MIN_TOKEN_CHARS} characters, got {len(token)}"
        )
    return token


@dataclass(frozen=True)
class Session:
    """A signed-in browser: its nonce, when it signed in, and its CSRF token."""

    nonce: str
    issued_at: float
    csrf: str


class Guard:
    """Checks tokens, issues and verifies session cookies and CSRF tokens."""

    def __init__(self, token: str, clock: Callable[[], float] = time.time) -> None:
        self._key = check_token(token).encode()
        self._digest = hashlib.sha256(self._key).digest()
        self.clock = clock
        self._failures: deque[float] = deque()

    def __repr__(self) -> str:
        return "Guard(token=<hidden>)"

    def token_matches(self, candidate: str) -> bool:
        """Constant-time comparison (of digests, so the length leaks nothing either)."""
        given = hashlib.sha256(candidate.encode()).digest()
        return hmac.compare_digest(given, self._digest)

    def too_many_failures(self) -> bool:
        """True after FAILED_LOGINS_PER_MINUTE wrong tokens within the last minute."""
        now = self.clock()
        while self._failures and now - self._failures[0] >= 60:
            self._failures.popleft()
        return len(self._failures) >= FAILED_LOGINS_PER_MINUTE

    def record_failure(self) -> None:
        self._failures.append(self.clock())

    def new_session(self) -> tuple[str, Session]:
        """A fresh cookie value and the session it stands for."""
        issued, nonce = int(self.clock()), secrets.token_urlsafe(18)
        cookie = f"{issued}.{nonce}.{self._sign(f'session:{issued}:{nonce}')}"
        return cookie, Session(nonce, issued, self._sign(f"csrf:{nonce}"))

    def session(self, cookie: str | None) -> Session | None:
        """The session a cookie stands for, or None if it is missing, forged or expired."""
        issued_text, _, rest = (cookie or "").partition(".")
        nonce, _, signature = rest.partition(".")
        if not issued_text.isdigit() or not nonce or not signature:
            return None
        expected = self._sign(f"session:{issued_text}:{nonce}")
        if not hmac.compare_digest(signature.encode(), expected.encode()):
            return None
        issued = int(issued_text)
        if not 0 <= self.clock() - issued <= SESSION_MAX_AGE_S:
            return None
        return Session(nonce, issued, self._sign(f"csrf:{nonce}"))

    @staticmethod
    def csrf_matches(session: Session, given: str) -> bool:
        return hmac.compare_digest(given.encode(), session.csrf.encode())

    @staticmethod
    def login_nonce() -> str:
        return secrets.token_urlsafe(18)

    @staticmethod
    def login_nonce_matches(cookie: str | None, given: str) -> bool:
        """Double-submit check of the login form: the cookie and the field must agree."""
        return bool(cookie) and hmac.compare_digest((cookie or "").encode(), given.encode())

    def _sign(self, message: str) -> str:
        return hmac.new(self._key, message.encode(), hashlib.sha256).hexdigest()
