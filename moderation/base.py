"""What every filter shares: the start-up error types and the filter interfaces.

Filters implement the protocols here; ``text``, ``classifier`` and ``image`` all import this module
and none of them imports another for its errors or interfaces. A filter returns a ``Verdict`` and
never raises; the errors are for loading a configured filter at start-up.

A text filter may come in two parts (``LayeredFilter``): a quick part (word lists, rules: under
a few milliseconds, fine on an event loop) and a deep part (models such as the embedding head or
a guard model: tens of milliseconds or more, for a thread of their own). ``first_reading`` and
``second_reading`` run the two parts of any text filter; one without a deep part gives its whole
verdict first and has nothing left for the second.
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


@runtime_checkable
class LayeredFilter(Protocol):
    """A text filter whose ``check(text)`` is ``deep(text, quick(text))``."""

    def check(self, text: str) -> Verdict: ...

    def quick(self, text: str) -> Verdict: ...

    def deep(self, text: str, quick: Verdict) -> Verdict: ...

    @property
    def has_deep(self) -> bool: ...


@runtime_checkable
class LayeredPromptFilter(Protocol):
    """A prompt filter in two parts: ``check_request(text)`` is ``deep(text,
    quick_request(text))``."""

    def check_request(self, text: str) -> Verdict: ...

    def quick_request(self, text: str) -> Verdict: ...

    def deep(self, text: str, quick: Verdict) -> Verdict: ...


def first_reading(text_filter: TextFilter, text: str, *, request: bool = False) -> Verdict:
    """The quick part's verdict of ``text`` (a prompt when ``request``), or the whole verdict
    of a filter without a deep part."""
    if request and isinstance(text_filter, LayeredPromptFilter):
        return text_filter.quick_request(text)
    if request and isinstance(text_filter, PromptFilter):
        return text_filter.check_request(text)
    if isinstance(text_filter, LayeredFilter):
        return text_filter.quick(text)
    return text_filter.check(text)


def second_reading(text_filter: TextFilter, text: str, first: Verdict) -> Verdict:
    """The whole verdict, given ``first_reading``'s: the deep part run on top of it."""
    if isinstance(text_filter, LayeredFilter) and text_filter.has_deep:
        return text_filter.deep(text, first)
    return first


@runtime_checkable
class Threaded(Protocol):
    """A filter whose deep part may run on several CPU threads a check (``use_threads``)."""

    def use_threads(self, threads: int) -> None: ...


def use_threads(text_filter: object, threads: int) -> None:
    """Let ``text_filter``'s deep part use up to ``threads`` CPU threads for the checks that
    follow in this thread; nothing for a filter that has no such part. Verdicts do not change."""
    if isinstance(text_filter, Threaded):
        text_filter.use_threads(threads)


def has_deep(text_filter: object) -> bool:
    """Whether ``text_filter`` has a deep part to run after its quick one."""
    return isinstance(text_filter, LayeredFilter) and text_filter.has_deep


class TextComponent(Protocol):
    """A text filter with a ``name@version`` for ``Verdict.components``."""

    @property
    def name(self) -> str: ...

    def check(self, text: str) -> Verdict: ...


class ImageFilter(Protocol):
    """Returns a verdict for PNG bytes and never raises."""

    def check(self, png: bytes) -> Verdict: ...
