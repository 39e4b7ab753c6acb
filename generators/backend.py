"""The interfaces the service needs from its models, free of torch so they import instantly."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Protocol

from generators.types import DrawRow, ImageSample, ImageSize, TextPrompt, TextSample


class ModelLoadError(RuntimeError):
    """A model could not be loaded or warmed up; the message says why and what to do."""


class GenerationCancelled(RuntimeError):
    """Every job of a running batch was cancelled; its partial result is dropped."""


class TextBackend(Protocol):
    """Generates one sample per prompt row. Called only from the worker thread that owns it."""

    @property
    def model_id(self) -> str: ...

    def generate(
        self, prompts: Sequence[TextPrompt], cancel: threading.Event
    ) -> list[TextSample]: ...


StepCallback = Callable[[int, int], None]


class ImageBackend(Protocol):
    """Draws one image per row; rows of one call share size and steps. Worker thread only."""

    @property
    def model_id(self) -> str: ...

    def dimensions(self, size: ImageSize) -> tuple[int, int]: ...

    def generate(
        self, rows: Sequence[DrawRow], cancel: threading.Event, on_step: StepCallback
    ) -> list[ImageSample]: ...
