"""Text-to-image and image-to-image with diffusers, on the worker thread that owns the device.

Each row gets its own CPU ``torch.Generator``, so a seed gives the same latents on any device
and the same PNG on the same device. Progress comes from ``callback_on_step_end`` (or the older
``callback`` of pipelines such as PixArt), which also stops the run once the job is cancelled.
Rows that carry a picture (``DrawRow.init_png``: a member's, or a parent for /draw's buttons,
see ``generators.edits``) run image-to-image or inpainting, built once with ``from_pipe`` from
the loaded pipeline, so they share its weights; ``generators.families`` says which the family
has. Large pictures (upscales) decode with the savers of ``generators.memory``. Every PNG
carries the AI-generated marks of ``generators.provenance``, and its parent when it has one.
"""

from __future__ import annotations

import inspect
import io
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

import torch
from diffusers import (
    AutoPipelineForImage2Image,
    AutoPipelineForInpainting,
    AutoPipelineForText2Image,
    DiffusionPipeline,
)
from PIL import Image

from generators.backend import (
    GenerationCancelled,
    ModelLoadError,
    StepCallback,
    load_hint,
    pretrained_source,
)
from generators.families import Family, detect
from generators.memory import ALL_SAVERS, MemoryPlan, savers
from generators.options import ImageSize
from generators.png import encode_png, muse_version
from generators.provenance import Provenance, marker_chunks
from generators.samples import DrawRow, ImageSample
from generators.text import default_dtype, resolve_device
from generators.upscaler import Upscaler

log = logging.getLogger(__name__)

DEFAULT_GUIDANCE = 7.0


class DiffusersImageBackend:
    """Owns one text-to-image pipeline; use it from a single worker thread."""

    def __init__(
        self,
        pipe: Any,
        model_id: str,
        device: torch.device,
        guidance: float,
        *,
        native_px: int = 0,
        memory: MemoryPlan | None = None,
        upscaler: Upscaler | None = None,
    ) -> None:
        self.pipe = pipe
        self.upscaler = upscaler
        self._model_id = model_id
        self.device = device
        self.guidance = guidance
        self.family: Family = detect(pipe, native_px)
        self.native, self.multiple = self.family.native, self.family.multiple
        self.memory = memory or MemoryPlan()
        self._derived: dict[str, Any] = {}

    def image_to_image(self) -> Any:
        """The image-to-image pipeline over the same components (built once, no new weights)."""
        return self._from_pipe("img2img")

    def _from_pipe(self, mode: str) -> Any:
        if mode not in self._derived:
            auto = AutoPipelineForInpainting if mode == "inpaint" else AutoPipelineForImage2Image
            built = auto.from_pipe(self.pipe)
            built.set_progress_bar_config(disable=True)
            self._derived[mode] = built
        return self._derived[mode]

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
        native_px: int = 0,
        memory: MemoryPlan | None = None,
        upscaler: str = "",
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
        helper = Upscaler.load(upscaler, target, default_dtype(target)) if upscaler else None
        return cls(pipe, model_id, target, guidance, native_px=native_px, memory=memory,
                   upscaler=helper)  # fmt: skip

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
        common: dict[str, Any] = {
            "prompt": [r.prompt for r in rows],
            "num_inference_steps": first.steps,
            "generator": [torch.Generator("cpu").manual_seed(r.seed) for r in rows],
            **self._progress(cancel, on_step, first.steps),
        }
        if self.family.negative:
            common["negative_prompt"] = [r.negative for r in rows]
        if self.family.guidance:
            common["guidance_scale"] = self.guidance
        if self.family.caption_cleaning:
            common["clean_caption"] = False
        if first.mode == "upscale" and self.upscaler is not None:
            parents = [_picture(r.init_png) for r in rows if r.init_png]
            size = (first.width, first.height)
            images = self.upscaler.upscale(parents, size, common, (on_step, cancel), self.memory)
        else:
            images = self._call_saving(rows, common).images
        if cancel.is_set():
            raise GenerationCancelled("cancelled during generation")
        return [self._sample(image, row) for image, row in zip(images, rows, strict=True)]

    def _call_saving(self, rows: Sequence[DrawRow], common: dict[str, Any]) -> Any:
        """The call with the memory plan's savers; out of memory, once more with every saver
        (tiled VAE at any size, attention slicing) before giving up."""
        width, height = rows[0].width, rows[0].height
        try:
            with savers(self.pipe, width, height, self.memory):
                return self._call(rows, common)
        except torch.OutOfMemoryError:
            if self.memory == ALL_SAVERS:
                raise
            log.warning("out of memory at %dx%d; retrying with every memory saver", width, height)
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            common["generator"] = [torch.Generator("cpu").manual_seed(r.seed) for r in rows]
            with savers(self.pipe, width, height, ALL_SAVERS):
                return self._call(rows, common)

    def _call(self, rows: Sequence[DrawRow], common: dict[str, Any]) -> Any:
        first = rows[0]
        size = {"width": first.width, "height": first.height}
        if first.init_png is None:
            return self.pipe(**size, **common)
        images = [_picture(r.init_png, size) for r in rows if r.init_png]
        if first.mode == "inpaint":
            masks = [_picture(r.mask_png, size, "L") for r in rows if r.mask_png]
            pipe = self._from_pipe("inpaint")
            return pipe(image=images, mask_image=masks, strength=first.strength, **size, **common)
        pipe = self.image_to_image()
        if "height" in inspect.signature(pipe.__call__).parameters:
            common = common | size  # SD3, FLUX.1: else their default size, not the picture's
        return pipe(image=images, strength=first.strength, **common)

    def _progress(
        self, cancel: threading.Event, on_step: StepCallback, steps: int
    ) -> dict[str, Any]:
        """The pipeline's step callback: reports steps, and stops once ``cancel`` is set."""
        if not self.family.step_callback:  # the older per-step callback cannot interrupt

            def old_style(step: int, timestep: Any, latents: Any) -> None:
                on_step(step + 1, steps)
                if cancel.is_set():
                    raise GenerationCancelled("cancelled during generation")

            return {"callback": old_style, "callback_steps": 1}

        def step_end(pipe: Any, step: int, timestep: Any, kwargs: dict[str, Any]) -> Any:
            on_step(step + 1, int(pipe.num_timesteps))
            if cancel.is_set():
                pipe._interrupt = True  # diffusers stops after this step
            return kwargs

        return {"callback_on_step_end": step_end}

    def _sample(self, image: Image.Image, row: DrawRow) -> ImageSample:
        metadata = self._metadata(row)
        info = Provenance(self.model_id, muse_version(), row.created_s, row.init_sha256 or None,
                          row.operation, row.parent)  # fmt: skip
        metadata.update(marker_chunks(info))
        return ImageSample(encode_png(image, metadata), row.seed, row.width, row.height)

    def _metadata(self, row: DrawRow) -> dict[str, str]:
        """The PNG's text chunks: the settings (A1111's ``parameters`` too) and the lineage."""
        size = f"{row.width}x{row.height}"
        guidance = f"{self.guidance:g}" if self.family.guidance else "not used"
        negative = row.negative if self.family.negative else ""
        restyle = f", Denoising strength: {row.strength:g}" if row.init_png else ""
        metadata = {
            "prompt": row.prompt,
            "negative_prompt": negative,
            "seed": str(row.seed),
            "steps": str(row.steps),
            "size": size,
            "guidance": guidance,
            "model": self.model_id,
            "muse_version": muse_version(),
            "parameters": (
                f"{row.prompt}\nNegative prompt: {negative}\nSteps: {row.steps}, "
                f"CFG scale: {guidance}, Seed: {row.seed}, Size: {size}, "
                f"Model: {self.model_id}, Muse: {muse_version()}{restyle}"
            ),
        }
        if row.init_png:
            metadata.update(strength=f"{row.strength:g}", init_image_sha256=row.init_sha256)
        if row.operation:
            metadata.update(operation=row.operation, parent=row.parent)
        if row.mode == "upscale" and self.upscaler is not None:
            metadata["upscaler"] = self.upscaler.model_id
        return metadata


def _picture(png: bytes, size: dict[str, int] | None = None, mode: str = "RGB") -> Image.Image:
    """A row's picture (or mask) at the row's size: an upscale's parent is resized here."""
    with Image.open(io.BytesIO(png)) as image:
        picture = image.convert(mode)
    if size is None:
        return picture
    wanted = (size["width"], size["height"])
    return picture if picture.size == wanted else picture.resize(wanted, Image.Resampling.LANCZOS)
