"""The interfaces the service needs from its models, free of torch so they import instantly."""

from __future__ import annotations

import contextlib
import inspect
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

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


def pretrained_source(model_id: str, local_files_only: bool = False) -> dict[str, Any]:
    """``from_pretrained``'s arguments for a hub id or a folder. With ``local_files_only`` a
    hub id becomes its cached snapshot folder, so that no loader (nor the optional files it
    looks for, such as a PEFT adapter's config) asks the hub. GGUF files go to llama.cpp."""
    path = Path(model_id).expanduser()
    if local_files_only and not path.exists():
        from huggingface_hub import snapshot_download

        with contextlib.suppress(OSError, ValueError):  # not cached: the loader's message follows
            model_id = snapshot_download(model_id, local_files_only=True)
    return {"pretrained_model_name_or_path": model_id, "local_files_only": local_files_only}


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
# Streaming text progress: (row index within the call, that row's text so far, its new tokens).
TokenCallback = Callable[[int, str, int], None]


class AsyncTextBackend(Protocol):
    """A text backend served elsewhere (an OpenAI-compatible server): awaited on the event
    loop, never on the worker thread; its rows run concurrently and the server batches them."""

    @property
    def model_id(self) -> str: ...

    async def generate(
        self,
        prompts: Sequence[TextPrompt],
        cancel: threading.Event,
        on_token: TokenCallback | None = None,
    ) -> list[TextSample]: ...


class ImageBackend(Protocol):
    """Draws one image per row; rows of one call share size and steps. Worker thread only."""

    @property
    def model_id(self) -> str: ...

    def dimensions(self, size: ImageSize) -> tuple[int, int]: ...

    def generate(
        self, rows: Sequence[DrawRow], cancel: threading.Event, on_step: StepCallback
    ) -> list[ImageSample]: ...


@dataclass(frozen=True)
class RowUpdate:
    """What one decoding step did for one row: its text so far and, once it ended, the sample."""

    key: str
    text: str
    new_tokens: int
    done: TextSample | None = None


class TextStepper(Protocol):
    """A continuous batch (``generators.decode.DecodeBatch``): rows join and leave between steps."""

    def step(
        self,
        joining: Sequence[tuple[str, TextPrompt]],
        leaving: Sequence[str],
        cancel: threading.Event,
    ) -> list[RowUpdate]: ...


class StepBackend(TextBackend, Protocol):
    """A text back-end that can also decode step by step (``can_step`` says whether it can)."""

    can_step: bool

    def open_batch(self) -> TextStepper: ...


def steppable(backend: object) -> bool:
    """True when ``backend`` offers a continuous batch for its model."""
    return bool(getattr(backend, "can_step", False)) and callable(
        getattr(backend, "open_batch", None)
    )


def is_remote(backend: object) -> bool:
    """True for a back-end whose ``generate`` is awaited on the loop (``AsyncTextBackend``)."""
    return inspect.iscoroutinefunction(getattr(backend, "generate", None))
