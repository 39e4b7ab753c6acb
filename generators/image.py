"""Text-to-image and image-to-image with diffusers, on the worker thread that owns the device.

Each row gets its own CPU ``torch.Generator``, so a seed gives the same latents on any device
and the same PNG on the same device. Progress comes from ``callback_on_step_end``, which also
stops the run at the next step once the job is cancelled. Rows that carry a member's picture
(``DrawRow.init_png``) run the image-to-image pipeline, built once with
``AutoPipelineForImage2Image.from_pipe`` from the loaded pipeline, so it shares its weights.
Every PNG carries the AI-generated marks of ``generators.provenance``.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import torch
from diffusers import AutoPipelineForImage2Image, AutoPipelineForText2Image, DiffusionPipeline
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from generators.backend import (
    GenerationCancelled,
    ModelLoadError,
    StepCallback,
    load_hint,
    pretrained_source,
)
from generators.options import ImageSize
from generators.provenance import AI_FLAG_KEY, Provenance, marker_chunks
from generators.samples import DrawRow, ImageSample
from generators.text import default_dtype, resolve_device

log = logging.getLogger(__name__)

DEFAULT_GUIDANCE = 7.0


def muse_version() -> str:
    try:
        return version("muse-bot")
    except PackageNotFoundError:
        return "dev"


def encode_png(image: Image.Image, metadata: dict[str, str]) -> bytes:
    """PNG bytes with ``metadata`` as text chunks (deterministic for the same pixels)."""
    info = PngInfo()
    for key, value in metadata.items():
        if key == AI_FLAG_KEY:
            info.add_text(key, value)  # tEXt (iTXt if the model id is not Latin-1)
        else:
            info.add_itxt(key, value)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


class DiffusersImageBackend:
    """Owns one text-to-image pipeline; use it from a single worker thread."""

    def __init__(self, pipe: Any, model_id: str, device: torch.device, guidance: float) -> None:
        self.pipe = pipe
        self._model_id = model_id
        self.device = device
        self.guidance = guidance
        denoiser = getattr(pipe, "unet", None) or getattr(pipe, "transformer", None)
        scale = int(getattr(pipe, "vae_scale_factor", 8))
        config = denoiser.config if denoiser is not None else None
        self.native = int(getattr(config, "sample_size", 64)) * scale
        levels = len(getattr(config, "block_out_channels", (0,) * 4))
        self.multiple = scale * 2 ** max(0, levels - 1)
        self._img2img: Any = None

    def image_to_image(self) -> Any:
        """The image-to-image pipeline over the same components (built once, no new weights)."""
        if self._img2img is None:
            self._img2img = AutoPipelineForImage2Image.from_pipe(self.pipe)
            self._img2img.set_progress_bar_config(disable=True)
        return self._img2img

    @property
    def model_id(self) -> str:
        return self._model_id

    @classmethod
    def load(
        cls,
        model_id: str,
        *,
        device: str = "auto",
        offload: bool = False,
        guidance: float = DEFAULT_GUIDANCE,
        local_files_only: bool = False,
    ) -> DiffusersImageBackend:
        """Load through ``AutoPipelineForText2Image.from_pretrained`` (hub id or folder);
        ``local_files_only`` loads a hub id from the cache without asking the hub."""
        target = resolve_device(device)
        try:
            where = pretrained_source(model_id, local_files_only)["pretrained_model_name_or_path"]
            extra: dict[str, Any] = {"local_files_only": local_files_only}
            if "safety_checker" in DiffusionPipeline.load_config(where, **extra):
                extra |= {"safety_checker": None, "requires_safety_checker": False}  # ours runs
            pipe = AutoPipelineForText2Image.from_pretrained(  # type: ignore[no-untyped-call]
                where, dtype=default_dtype(target), **extra
            )
        except (OSError, ValueError) as err:
            raise ModelLoadError(
                load_hint("image model", model_id, "MUSE_IMAGE_MODEL", err)
            ) from err
        pipe.set_progress_bar_config(disable=True)
        if offload and target.type == "cuda":
            pipe.enable_model_cpu_offload(device=target)  # idle parts wait in CPU memory
        else:
            pipe.to(target)
        log.info("loaded image model %s on %s (offload=%s)", model_id, target, offload)
        return cls(pipe, model_id, target, guidance)

    def dimensions(self, size: ImageSize) -> tuple[int, int]:
        return size.pixels(self.native, self.multiple)

    def warmup(self) -> float:
        """One small one-step image, so failures happen at boot; returns an estimate of
        seconds per step at the native size (scaled by pixel count)."""
        side = max(self.multiple, self.native // 4 // self.multiple * self.multiple)
        row = DrawRow("warm-up", "", 0, side, side, 1)
        started = time.perf_counter()
        try:
            self.generate([row], threading.Event(), lambda step, total: None)
        except torch.OutOfMemoryError as err:
            raise ModelLoadError(
                f"out of memory warming up {self.model_id!r} on {self.device}: set "
                "MUSE_IMAGE_OFFLOAD=1, choose a smaller model, or MUSE_DEVICE=cpu"
            ) from err
        return float((time.perf_counter() - started) * (self.native / side) ** 2)

    @torch.inference_mode()
    def generate(
        self, rows: Sequence[DrawRow], cancel: threading.Event, on_step: StepCallback
    ) -> list[ImageSample]:
        """One pipeline call for all rows; raises ``GenerationCancelled`` if cancelled."""
        first = rows[0]

        def step_end(pipe: Any, step: int, timestep: Any, kwargs: dict[str, Any]) -> Any:
            on_step(step + 1, int(pipe.num_timesteps))
            if cancel.is_set():
                pipe._interrupt = True  # diffusers stops after this step
            return kwargs

        common: dict[str, Any] = {
            "prompt": [r.prompt for r in rows],
            "negative_prompt": [r.negative for r in rows],
            "num_inference_steps": first.steps,
            "guidance_scale": self.guidance,
            "generator": [torch.Generator("cpu").manual_seed(r.seed) for r in rows],
            "callback_on_step_end": step_end,
        }
        if first.init_png is None:
            output = self.pipe(width=first.width, height=first.height, **common)
        else:
            images = [_picture(r) for r in rows]
            output = self.image_to_image()(image=images, strength=first.strength, **common)
        if cancel.is_set():
            raise GenerationCancelled("cancelled during generation")
        return [self._sample(image, row) for image, row in zip(output.images, rows, strict=True)]

    def _sample(self, image: Image.Image, row: DrawRow) -> ImageSample:
        size = f"{row.width}x{row.height}"
        restyle = f", Denoising strength: {row.strength:g}" if row.init_png else ""
        metadata = {
            "prompt": row.prompt,
            "negative_prompt": row.negative,
            "seed": str(row.seed),
            "steps": str(row.steps),
            "size": size,
            "guidance": f"{self.guidance:g}",
            "model": self.model_id,
            "muse_version": muse_version(),
            "parameters": (
                f"{row.prompt}\nNegative prompt: {row.negative}\nSteps: {row.steps}, "
                f"CFG scale: {self.guidance:g}, Seed: {row.seed}, Size: {size}, "
                f"Model: {self.model_id}, Muse: {muse_version()}{restyle}"
            ),
        }
        if row.init_png:
            metadata.update(strength=f"{row.strength:g}", init_image_sha256=row.init_sha256)
        info = Provenance(self.model_id, muse_version(), row.created_s, row.init_sha256 or None)
        metadata.update(marker_chunks(info))
        return ImageSample(encode_png(image, metadata), row.seed, row.width, row.height)


def _picture(row: DrawRow) -> Image.Image:
    """A row's checked picture (``generators.init_image`` sized it already) for the pipeline."""
    assert row.init_png is not None
    with Image.open(io.BytesIO(row.init_png)) as image:
        return image.convert("RGB")
