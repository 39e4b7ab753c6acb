"""Muse's errors, handled in one place (``bot.discord.replies.report_error``).

BotError                 anything Muse raises on purpose
├── UserError            the message is safe to show to the member, ephemerally
│   ├── Busy             the queue refused the job (full, per-member cap, restarting)
│   ├── Refused          the safety filter refused a prompt
│   ├── NotAllowed       a button or command that is not this member's to use
│   ├── GenerationFailed generation failed or timed out; the job is recorded as failed
│   ├── Cancelled        the job was cancelled (❌, or its member was forgotten meanwhile)
│   ├── Interrupted      Muse stopped before the job finished; it stays recorded to resume
│   └── Withheld         the output was held back by the safety filter
└── ConfigError          bad settings at startup; printed without a traceback
"""

from __future__ import annotations


class BotError(Exception):
    """Base of all deliberate Muse errors."""


class UserError(BotError):
    """An error whose message is meant for the member who caused it."""


class Busy(UserError):
    pass


class Refused(UserError):
    pass


class NotAllowed(UserError):
    pass


class GenerationFailed(UserError):
    pass


class Cancelled(UserError):
    pass


class Interrupted(UserError):
    pass


class Withheld(UserError):
    pass


class ConfigError(BotError):
    """Startup configuration is unusable; the message lists every problem."""
