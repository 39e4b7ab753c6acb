"""An upscaler pipeline the operator chooses (``MUSE_IMAGE_UPSCALER``) for U1–U4, instead of the
hires fix: ``stabilityai/stable-diffusion-x4-upscaler`` (×4, its output resized to ×2) or
``stabilityai/sd-x2-latent-upscaler`` (×2), or any pipeline called with ``prompt`` and
``image``. It is loaded beside the drawing model, on the same device (it has its own weights),
and its VAE decodes in tiles like the drawing model's for large pictures.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Sequence
from typing import Any

import torch
from diffusers import DiffusionPipeline
from PIL import Image

from generators.backend import GenerationCancelled, ModelLoadError, StepCallback, load_hint
from generators.memory import MemoryPlan, savers

log = logging.getLogger(__name__)


class Upscaler:
    """Runs an upscaler pipeline on the parents' pictures; worker thread only."""

    def __init__(self, pipe: Any, model_id: str) -> None:
        self.pipe = pipe
        self.model_id = model_id
        self._params = inspect.signature(pipe.__call__).parameters

    @classmethod
    def load(cls, model_id: str, device: torch.device, dtype: torch.dtype) -> Upscaler:
        try:
            pipe = DiffusionPipeline.from_pretrained(model_id, dtype=dtype)  # type: ignore[no-untyped-call]
        except (OSError, ValueError) as err:
            raise ModelLoadError(
                load_hint("upscaler", model_id, "MUSE_IMAGE_UPSCALER", err)
            ) from err
        pipe.set_progress_bar_config(disable=True)
        pipe.to(device)
        log.info("loaded upscaler %s on %s", model_id, device)
        return cls(pipe, model_id)

    def upscale(
        self,
        pictures: Sequence[Image.Image],
        size: tuple[int, int],
        common: dict[str, Any],
        progress: tuple[StepCallback, threading.Event],
        memory: MemoryPlan,
    ) -> list[Image.Image]:
        """The pictures upscaled and resized to ``size`` (the prompt guides the detail)."""
        steps, (on_step, cancel) = int(common["num_inference_steps"]), progress
        kwargs = {key: value for key, value in common.items() if key in self._params}
        kwargs.pop("callback_on_step_end", None)

        def step(index: int, timestep: Any, latents: Any) -> None:
            on_step(index + 1, steps)
            if cancel.is_set():
                raise GenerationCancelled("cancelled during upscaling")

        if "callback" in self._params:
            kwargs.update(callback=step, callback_steps=1)
        with savers(self.pipe, size[0], size[1], memory):
            images = self.pipe(image=list(pictures), **kwargs).images
        return [
            image if image.size == size else image.resize(size, Image.Resampling.LANCZOS)
            for image in images
        ]
