"""The engine side of Muse's remote pictures, without Ray: an OpenAI-compatible images API over
one ``DiffusersImageBackend`` (``generators.image``), which ``generators.serve_images`` wraps in
a Ray Serve deployment (one of these per replica).

Requests are OpenAI's ``/v1/images/generations`` and ``/v1/images/edits`` as JSON (``image`` and
``mask`` as base64 PNG) with Muse's extensions: ``seed`` (row *i* draws with ``seed + i``),
``steps``, ``guidance``, ``negative_prompt``, ``strength``, ``width``/``height`` (or OpenAI's
``size`` "WxH"), ``mode`` for edits ("img2img", "inpaint" or "upscale") and ``stream``: with it
the answer is server-sent events, ``progress`` ({"step", "steps"}) after every denoising step,
then one ``result`` (the usual answer) or ``error``. Answers are ``b64_json`` PNGs with the model
id this server reports. The pipeline runs on one thread per replica; a request whose client
went away is interrupted at its next step.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from generators.backend import GenerationCancelled
from generators.samples import DrawRow, ImageSample

MAX_N = 8
MAX_STEPS = 1000  # the bot has its own, lower limit (MUSE_IMAGE_MAX_STEPS)
MAX_SIDE_PX = 2048
MODES = ("img2img", "inpaint", "upscale")


class BadImageRequest(ValueError):
    """The request itself is wrong (HTTP 400); the message says what to fix."""


@dataclass(frozen=True)
class EngineOptions:
    """How one replica loads its pipeline."""

    model: str  # a folder written by save_pretrained, or a hub id
    model_id: str = ""  # the name this server reports; "" = ``model``
    device: str = "auto"
    guidance: float = 7.0
    threads: int = 1  # torch threads per replica (CPU)


def _int(body: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadImageRequest(f"{key} must be a whole number from {low} to {high}")
    return value


def _size(body: dict[str, Any], native: int) -> tuple[int, int]:
    if "size" in body and "width" not in body:
        try:
            width, height = (int(part) for part in str(body["size"]).lower().split("x"))
        except ValueError as err:
            raise BadImageRequest("size must look like 512x512") from err
        body = body | {"width": width, "height": height}
    return (
        _int(body, "width", native, 8, MAX_SIDE_PX),
        _int(body, "height", native, 8, MAX_SIDE_PX),
    )


def _png(body: dict[str, Any], key: str) -> bytes | None:
    value = body.get(key)
    if value is None:
        return None
    try:
        data = base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError) as err:
        raise BadImageRequest(f"{key} must be a base64 PNG") from err
    if not data.startswith(b"\x89PNG"):
        raise BadImageRequest(f"{key} must be a base64 PNG")
    return data


def parse_rows(body: dict[str, Any], native: int, *, edit: bool) -> list[DrawRow]:
    """The pipeline rows of one request (``n`` rows, seeds ``seed``, ``seed + 1``, ...)."""
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise BadImageRequest("prompt must be a non-empty string")
    count, seed = _int(body, "n", 1, 1, MAX_N), _int(body, "seed", 0, 0, 2**32 - 1)
    steps = _int(body, "steps", 20, 1, MAX_STEPS)
    width, height = _size(body, native)
    negative = str(body.get("negative_prompt") or "")
    extra: dict[str, Any] = {}
    if edit:
        image, mask = _png(body, "image"), _png(body, "mask")
        if image is None:
            raise BadImageRequest("an edit needs image")
        mode = str(body.get("mode") or ("inpaint" if mask else "img2img"))
        if mode not in MODES or (mode == "inpaint") != (mask is not None):
            raise BadImageRequest(f"mode must be one of {MODES}; inpaint (only) needs a mask")
        strength = body.get("strength", 0.7)
        if not isinstance(strength, int | float) or not 0 < strength <= 1:
            raise BadImageRequest("strength must be above 0 and at most 1")
        mode = "" if mode == "img2img" else mode
        extra = {"init_png": image, "mask_png": mask, "mode": mode, "strength": float(strength)}
    return [
        DrawRow(prompt, negative, (seed + i) % 2**32, width, height, steps, **extra)
        for i in range(count)
    ]


class ImageEngine:
    """One replica's pipeline, its single thread, and the answers in the API's shape."""

    def __init__(self, options: EngineOptions) -> None:
        import torch

        from generators.image import DiffusersImageBackend

        torch.set_num_threads(max(1, options.threads))
        self.backend = DiffusersImageBackend.load(
            options.model, device=options.device, guidance=options.guidance
        )
        self.model_id = options.model_id or options.model
        self.default_guidance = options.guidance
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pipeline")

    def models(self) -> dict[str, Any]:
        """``/v1/models``: the one model, with what it can do (Muse's ``capabilities``)."""
        family = self.backend.family
        abilities = {
            "family": family.name, "native_px": family.native, "multiple_px": family.multiple,
            "negative_prompt": family.negative, "guidance": family.guidance,
            "img2img": family.img2img, "inpaint": family.inpaint, "upscale": family.img2img,
            "progress": True,
        }  # fmt: skip
        entry = {"id": self.model_id, "object": "model", "owned_by": "muse"}
        return {"object": "list", "data": [entry | {"capabilities": abilities}]}

    def answer(self, samples: list[ImageSample]) -> dict[str, Any]:
        data = [{"b64_json": base64.b64encode(s.png).decode(), "seed": s.seed} for s in samples]
        return {"created": int(time.time()), "model": self.model_id, "data": data}

    def _run(
        self, rows: list[DrawRow], guidance: float, cancel: threading.Event,
        on_step: Callable[[int, int], None],
    ) -> list[ImageSample]:  # fmt: skip
        self.backend.guidance = guidance  # one thread: no other call sees it
        return self.backend.generate(rows, cancel, on_step)

    def rows_of(self, body: dict[str, Any], *, edit: bool) -> tuple[list[DrawRow], float]:
        rows = parse_rows(body, self.backend.native, edit=edit)
        if edit and rows[0].mode == "inpaint" and not self.backend.family.inpaint:
            raise BadImageRequest(f"{self.model_id} cannot inpaint")
        if edit and not self.backend.family.img2img:
            raise BadImageRequest(f"{self.model_id} cannot edit pictures")
        guidance = body.get("guidance", self.default_guidance)
        if not isinstance(guidance, int | float) or not 0 <= guidance <= 50:
            raise BadImageRequest("guidance must be from 0 to 50")
        return rows, float(guidance)

    async def draw(
        self, rows: list[DrawRow], guidance: float, on_step: Callable[[int, int], None]
    ) -> dict[str, Any]:
        """The answer; a request cancelled here (its client left) stops at the next step."""
        cancel = threading.Event()
        loop = asyncio.get_running_loop()
        try:
            samples = await loop.run_in_executor(
                self._thread, self._run, rows, guidance, cancel, on_step
            )
        except asyncio.CancelledError:
            cancel.set()
            raise
        return self.answer(samples)

    async def stream(self, rows: list[DrawRow], guidance: float) -> AsyncIterator[str]:
        """Server-sent events: ``progress`` per step, then ``result`` or ``error``."""
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[tuple[int, int]] = asyncio.Queue()

        def on_step(step: int, steps: int) -> None:  # pipeline thread
            loop.call_soon_threadsafe(events.put_nowait, (step, steps))

        task = asyncio.ensure_future(self.draw(rows, guidance, on_step))
        try:
            while not task.done() or not events.empty():
                getter = asyncio.ensure_future(events.get())
                await asyncio.wait({task, getter}, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    step, steps = getter.result()
                    yield sse("progress", {"step": step, "steps": steps})
                else:
                    getter.cancel()
            yield sse("result", task.result())
        except (GenerationCancelled, RuntimeError, ValueError) as err:
            yield sse("error", {"error": {"message": str(err), "type": type(err).__name__}})
        finally:
            task.cancel()  # the client left: the pipeline stops at its next step


def sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"
