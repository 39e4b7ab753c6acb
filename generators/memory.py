"""Memory savers for large pictures (an upscale of a 1024 px picture is 2048 px).

The VAE's decoder is the peak at large sizes: its activations grow with the pixel count, while
the denoiser works on latents 8× smaller per side. ``savers`` turns on, for one pipeline call:

- tiled VAE decoding (and encoding) above ``tile_above_px`` per side, where the VAE has it
  (``AutoencoderKL``, ``AutoencoderDC``...): tiles of the VAE's own sample size, blended;
- attention slicing, where the pipeline's attention layers allow it (U-Net families), when
  ``slice_attention`` is set (with PyTorch's SDPA it rarely saves much, so it is off by default);

and turns them off again afterwards, so small pictures keep the fast path. CPU offload of idle
components (``MUSE_IMAGE_OFFLOAD``) is chosen at load time, in ``generators.image``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MemoryPlan:
    """When to save memory: tile the VAE above ``tile_above_px`` per side (0: always)."""

    tile_above_px: int = 1024
    slice_attention: bool = False

    def tiles(self, width: int, height: int) -> bool:
        return max(width, height) > self.tile_above_px


ALL_SAVERS = MemoryPlan(tile_above_px=0, slice_attention=True)


def _set_tiling(vae: Any, on: bool) -> bool:
    method = getattr(vae, "enable_tiling" if on else "disable_tiling", None)
    if method is None:
        return False
    method()
    return True


def _set_slicing(pipe: Any, on: bool) -> bool:
    try:
        if on:
            pipe.enable_attention_slicing()
        else:
            pipe.disable_attention_slicing()
    except (AttributeError, ValueError, NotImplementedError):
        return False
    return True


@contextlib.contextmanager
def savers(pipe: Any, width: int, height: int, plan: MemoryPlan) -> Iterator[list[str]]:
    """The savers in effect for one call of ``pipe`` at ``width`` x ``height`` (their names)."""
    active: list[str] = []
    vae = getattr(pipe, "vae", None)
    if plan.tiles(width, height) and _set_tiling(vae, True):
        active.append("tiled VAE")
    if plan.slice_attention and plan.tiles(width, height) and _set_slicing(pipe, True):
        active.append("attention slicing")
    if active:
        log.info("saving memory at %dx%d: %s", width, height, ", ".join(active))
    try:
        yield active
    finally:
        if "tiled VAE" in active:
            _set_tiling(vae, False)
        if "attention slicing" in active:
            _set_slicing(pipe, False)
