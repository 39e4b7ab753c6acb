"""Pictures drawn by a picture engine elsewhere (``MUSE_IMAGE_BACKEND=remote``): Muse's own Ray
Serve application (``generators.serve_images``) or any server of OpenAI's images API (SGLang,
vLLM-Omni, LocalAI), in place of the local ``DiffusersImageBackend``, behind the same interface.

Each row is one request (``/v1/images/generations``, or ``/v1/images/edits`` for a row with a
picture: variations, upscale, regions, zoom), so the engine can spread one /draw grid over its
replicas. Requests run concurrently from the worker thread's call; with an engine that reports
progress (``capabilities.progress`` in ``/v1/models``) they stream step events, which feed the
same progress as local steps. Cancel shuts the requests' sockets: the engine stops the pipeline
at its next step. Timeouts (per read), lost connections, 429 and 5xx are retried with
exponential backoff (Retry-After honoured); every outcome lands in ``health``
(``generators.remote_health``) for ``/healthz`` and ``/metrics``. The pictures are re-encoded
here with Muse's PNG metadata and provenance, naming the model the server reported.
"""

from __future__ import annotations

import base64
import concurrent.futures as futures
import io
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from generators.backend import GenerationCancelled, ModelLoadError, StepCallback
from generators.families import Family
from generators.options import ImageSize
from generators.png import encode_png, muse_version
from generators.provenance import Provenance, marker_chunks
from generators.remote import RemoteGenerationError
from generators.remote_health import OK, ServerHealth
from generators.remote_image_http import RETRYABLE, Connections, ImageServerError, get, post
from generators.samples import DrawRow, ImageSample

log = logging.getLogger(__name__)


class RemoteImageError(RemoteGenerationError):
    """A row failed on the picture engine; ``str(err)`` is for members (the service shows it
    as it shows the text server's), ``detail`` for logs."""


@dataclass(frozen=True)
class ImageServerConfig:
    """Where the engine is and how patiently to talk to it."""

    base_url: str  # ".../v1"
    api_key: str = field(default="", repr=False)
    timeout_s: float = 120.0  # per read: connecting, and the wait for each next step or answer
    retries: int = 3  # extra attempts after a retryable failure
    backoff_s: float = 0.5  # first pause; doubles each retry
    max_backoff_s: float = 8.0
    guidance: float = 7.0  # sent with every request
    native_px: int = 0  # 0: the engine's; needed for engines that do not report it


def family_of(entry: dict[str, Any], native_px: int) -> Family:
    """What the served model can do: Muse's engine says it in ``capabilities``; another
    OpenAI-compatible server is assumed to draw from text only (OpenAI's edits endpoint takes
    multipart forms, which this client does not send), with negative prompt and guidance."""
    can = entry.get("capabilities") or {}
    multiple = int(can.get("multiple_px", 8))
    native = native_px or int(can.get("native_px", 1024))
    return Family(
        name=str(can.get("family", entry.get("id", "remote"))),
        native=max(multiple, native // multiple * multiple),
        multiple=multiple,
        negative=bool(can.get("negative_prompt", True)),
        guidance=bool(can.get("guidance", True)),
        step_callback=bool(can.get("progress", False)),
        img2img=bool(can.get("img2img", False)),
        inpaint=bool(can.get("inpaint", False)),
    )


class RemoteImageBackend:
    """The ``ImageBackend`` interface over HTTP; ``generate`` runs on the worker thread."""

    remote = True

    def __init__(self, config: ImageServerConfig, model_id: str, family: Family) -> None:
        self.config = config
        self._model_id = model_id
        self.family = family
        self.native, self.multiple = family.native, family.multiple
        self.health = ServerHealth()
        self._headers = _auth(config)

    @classmethod
    def connect(cls, config: ImageServerConfig) -> RemoteImageBackend:
        """Ask the engine which model it serves (``/v1/models``), retrying while it starts."""
        url = config.base_url.rstrip("/") + "/models"
        for attempt in range(config.retries + 1):
            try:
                entries = get(url, _auth(config), config.timeout_s).get("data") or [{}]
                return cls(config, str(entries[0].get("id", "remote")),
                           family_of(entries[0], config.native_px))  # fmt: skip
            except ImageServerError as err:
                if err.outcome not in RETRYABLE or attempt == config.retries:
                    raise ModelLoadError(
                        f"the picture engine at {config.base_url} did not answer /models "
                        f"({err.detail}); check MUSE_IMAGE_BASE_URL and that it runs"
                    ) from err
                time.sleep(min(config.max_backoff_s, config.backoff_s * 2**attempt))
        raise AssertionError("unreachable")

    @property
    def model_id(self) -> str:
        return self._model_id

    def problem(self) -> str | None:
        """``/healthz``'s line for the engine, or None while it answers."""
        found = self.health.problem()
        return None if found is None else f"the picture engine is failing: {found}"

    def dimensions(self, size: ImageSize) -> tuple[int, int]:
        return size.pixels(self.native, self.multiple)

    def warmup(self) -> float:
        """One small one-step picture; returns an estimate of seconds per step at native size."""
        side = max(self.multiple, self.native // 4 // self.multiple * self.multiple)
        started = time.perf_counter()
        self.generate([DrawRow("warm-up", "", 0, side, side, 1)], threading.Event(),
                      lambda step, total: None)  # fmt: skip
        return float((time.perf_counter() - started) * (self.native / side) ** 2)

    def generate(
        self, rows: Sequence[DrawRow], cancel: threading.Event, on_step: StepCallback
    ) -> list[ImageSample]:
        """All rows at once, one request each; raises ``GenerationCancelled`` once cancelled."""
        connections = Connections()
        steps = [0] * len(rows)

        def progress(index: int, step: int, total: int) -> None:
            steps[index] = step
            on_step(min(steps), total)

        with futures.ThreadPoolExecutor(len(rows), thread_name_prefix="image-row") as pool:
            running = [pool.submit(self._row, row, i, progress, cancel, connections)
                       for i, row in enumerate(rows)]  # fmt: skip
            while futures.wait(running, timeout=0.05).not_done:
                if cancel.is_set():
                    connections.shut()
            if cancel.is_set():
                raise GenerationCancelled("cancelled during generation")
            return [future.result() for future in running]

    def _row(
        self, row: DrawRow, index: int, progress: Any, cancel: threading.Event,
        connections: Connections,
    ) -> ImageSample:  # fmt: skip
        path, body = self.request(row)
        answer = self._send(path, body, lambda s, t: progress(index, s, t), cancel, connections)
        model = str(answer.get("model") or self._model_id)
        try:
            data = answer["data"][0]
            png = base64.b64decode(data["b64_json"])
            with Image.open(io.BytesIO(png)) as opened:
                picture = opened.convert("RGB")
        except (KeyError, IndexError, TypeError, ValueError, OSError) as err:
            self.health.record("error", f"an answer without a picture: {err}")
            raise RemoteImageError("The picture server sent no picture.", str(err)) from err
        self._model_id = model  # the model the server says it ran
        return ImageSample(encode_png(picture, self.metadata(row, model)), row.seed,
                           picture.width, picture.height)  # fmt: skip

    def request(self, row: DrawRow) -> tuple[str, dict[str, Any]]:
        """The endpoint and JSON body of one row."""
        body: dict[str, Any] = {
            "model": self._model_id, "prompt": row.prompt, "n": 1, "seed": row.seed,
            "steps": row.steps, "width": row.width, "height": row.height,
            "size": f"{row.width}x{row.height}", "response_format": "b64_json",
            "stream": self.family.step_callback,
        }  # fmt: skip
        if self.family.negative and row.negative:
            body["negative_prompt"] = row.negative
        if self.family.guidance:
            body["guidance"] = self.config.guidance
        if row.init_png is None:
            return "/images/generations", body
        body |= {"image": base64.b64encode(row.init_png).decode(), "strength": row.strength,
                 "mode": row.mode or "img2img"}  # fmt: skip
        if row.mask_png is not None:
            body["mask"] = base64.b64encode(row.mask_png).decode()
        return "/images/edits", body

    def _send(
        self, path: str, body: dict[str, Any], progress: Any, cancel: threading.Event,
        connections: Connections,
    ) -> dict[str, Any]:  # fmt: skip
        """One row's request with retries; a member-safe ``RemoteImageError`` when it fails."""
        url, config = self.config.base_url.rstrip("/") + path, self.config
        for attempt in range(config.retries + 1):
            try:
                answer = post(url, body, self._headers, config.timeout_s, connections, progress)
                self.health.record(OK)
                return answer
            except ImageServerError as err:
                if cancel.is_set():
                    raise GenerationCancelled("cancelled during generation") from err
                self.health.record(err.outcome, err.detail)
                pause = self._pause(err, attempt)
                if pause is None:
                    log.error("picture engine: %s; giving up", err.detail)
                    raise _member_error(err) from err
                log.warning("picture engine: %s; retrying in %.1f s", err.detail, pause)
                self.health.record_retry()
                if cancel.wait(pause):
                    raise GenerationCancelled("cancelled during generation") from err
        raise AssertionError("unreachable")

    def _pause(self, err: ImageServerError, attempt: int) -> float | None:
        """How long to wait before the next attempt, or None: give up."""
        config = self.config
        if err.outcome not in RETRYABLE or attempt >= config.retries:
            return None
        pause = float(min(config.max_backoff_s, config.backoff_s * 2**attempt))
        if err.retry_after_s is not None:
            if err.retry_after_s > config.timeout_s:
                return None  # the server asks for longer than we would wait at all
            pause = max(pause, err.retry_after_s)
        return pause

    def metadata(self, row: DrawRow, model: str) -> dict[str, str]:
        """The PNG's text chunks, as the local pipeline writes them, and the provenance."""
        size, version = f"{row.width}x{row.height}", muse_version()
        guidance = f"{self.config.guidance:g}" if self.family.guidance else "not used"
        negative = row.negative if self.family.negative else ""
        restyle = f", Denoising strength: {row.strength:g}" if row.init_png else ""
        metadata = {
            "prompt": row.prompt, "negative_prompt": negative, "seed": str(row.seed),
            "steps": str(row.steps), "size": size, "guidance": guidance, "model": model,
            "muse_version": version,
            "parameters": (
                f"{row.prompt}\nNegative prompt: {negative}\nSteps: {row.steps}, "
                f"CFG scale: {guidance}, Seed: {row.seed}, Size: {size}, "
                f"Model: {model}, Muse: {version}{restyle}"
            ),
        }  # fmt: skip
        if row.init_png:
            metadata.update(strength=f"{row.strength:g}", init_image_sha256=row.init_sha256)
        if row.operation:
            metadata.update(operation=row.operation, parent=row.parent)
        info = Provenance(model, version, row.created_s, row.init_sha256 or None,
                          row.operation, row.parent)  # fmt: skip
        return metadata | marker_chunks(info)


def _auth(config: ImageServerConfig) -> dict[str, str]:
    return {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}


def _member_error(err: ImageServerError) -> RemoteImageError:
    """What a member is told (never the server's address or key)."""
    words = {
        "timeout": "The picture server took too long to answer; try again later.",
        "connection": "The picture server cannot be reached right now; try again later.",
        "rate_limited": "The picture server is busy; try again in a minute.",
        "server_error": "The picture server failed to draw this; try again later.",
        "bad_request": "The picture server refused this request.",
    }
    message = words.get(err.outcome, "The picture server is not available.")
    if err.outcome == "bad_request":  # the engine's own reason, which the member can act on
        message = message.removesuffix(".") + ": " + err.detail.split(": ", 1)[-1][:200]
    return RemoteImageError(message, err.detail)
