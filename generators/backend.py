"""The interfaces the service needs from its models, free of torch so they import instantly."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from generators.options import ImageSize
from generators.samples import DrawRow, ImageSample, TextPrompt, TextSample


class ModelLoadError(RuntimeError):
    """A model could not be loaded or warmed up; the message says why and what to do."""


def load_hint(what: str, model_id: str, setting: str, err: Exception) -> str:
    """Why ``model_id`` did not load, in words an operator can act on: a broken local folder,
    or a hub id that is neither cached nor reachable."""
    if Path(model_id).expanduser().exists() or model_id.startswith((".", "/", "~")):
        return (
            f"cannot load {what} {model_id!r}: the folder is missing or incomplete "
            f"(it needs the files save_pretrained writes): {err}"
        )
    return (
        f"cannot load {what} {model_id!r}: it is not in the local Hugging Face cache and the hub "
        f"is unreachable (or the id does not exist). Download it once while online, or point "
        f"{setting} at a local folder. Details: {err}"
    )


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
