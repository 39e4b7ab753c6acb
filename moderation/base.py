"""What every filter shares: the start-up error types and the filter interfaces.

Filters implement the protocols here; ``text``, ``classifier`` and ``image`` all import this module
and none of them imports another for its errors or interfaces. A filter returns a ``Verdict`` and
never raises; the errors are for loading a configured filter at start-up.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from moderation.verdict import Verdict


class TextFilterError(RuntimeError):
    """A configured text filter component cannot be loaded; a start-up error."""


class ImageFilterError(RuntimeError):
    """The image classifier is configured but cannot be loaded; a startup error."""


class CopyrightGuardError(TextFilterError):
    """The copyright guard's data cannot be loaded; a start-up error."""


class TextFilter(Protocol):
    """Returns a verdict for a text and never raises."""

    def check(self, text: str) -> Verdict: ...


@runtime_checkable
class PromptFilter(Protocol):
    """A text filter that judges prompts by their own rules too (``check_request``)."""

    def check(self, text: str) -> Verdict: ...

    def check_request(self, text: str) -> Verdict: ...


class TextComponent(Protocol):
    """A text filter with a ``name@version`` for ``Verdict.components``."""

    @property
    def name(self) -> str: ...

    def check(self, text: str) -> Verdict: ...


class ImageFilter(Protocol):
    """Returns a verdict for PNG bytes and never raises."""

    def check(self, png: bytes) -> Verdict: ...
