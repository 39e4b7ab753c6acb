"""The interface the service needs from a text model, free of torch so it imports instantly."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

from generators.types import TextPrompt, TextSample


class ModelLoadError(RuntimeError):
    """A model could not be loaded or warmed up; the message says why and what to do."""


class TextBackend(Protocol):
    """Generates one sample per prompt row. Called only from the worker thread that owns it."""

    @property
    def model_id(self) -> str: ...

    def generate(
        self, prompts: Sequence[TextPrompt], cancel: threading.Event
    ) -> list[TextSample]: ...
