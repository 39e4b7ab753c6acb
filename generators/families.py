"""What a loaded diffusers pipeline can do, read from the pipeline itself: its family, native
size and size multiple, whether it takes a negative prompt and guidance, how it reports steps,
and which of image-to-image and inpainting ``from_pipe`` can build over its weights.

Families (diffusers 0.42's ``AutoPipelineForText2Image`` mapping names them all; Muse tests
SD 1.5/2.x, SDXL, SD3/3.5, FLUX.1, PixArt-Σ and Sana with tiny random pipelines):

- U-Net pipelines (SD, SDXL, ...): native side = ``unet.sample_size`` × VAE factor, multiple
  = VAE factor × 2^(levels-1);
- transformer pipelines (SD3, PixArt, Sana, ...): ``transformer.sample_size`` × VAE factor,
  multiple = VAE factor × patch size;
- FLUX.1: ``default_sample_size`` × VAE factor (1024 px), multiple 16 (latents are packed 2×2).
  FLUX.1 is guidance-distilled: it has no classifier-free guidance, so a negative prompt does
  nothing (diffusers only uses it with ``true_cfg_scale``), and ``guidance_scale`` only matters
  for models with guidance embeddings (dev, not schnell).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

NAMES = {"StableDiffusion": "Stable Diffusion", "StableDiffusionXL": "SDXL",
         "StableDiffusion3": "SD3", "PixArtSigma": "PixArt-Σ", "Flux": "FLUX.1"}  # fmt: skip
NO_NEGATIVE = ("Flux",)  # guidance-distilled: no classifier-free guidance


@dataclass(frozen=True)
class Family:
    """A loaded pipeline's abilities (``reason`` explains a missing one to members)."""

    name: str
    native: int
    multiple: int
    negative: bool
    guidance: bool
    step_callback: bool  # ``callback_on_step_end`` (else the older ``callback``)
    img2img: bool
    inpaint: bool
    caption_cleaning: bool = False  # PixArt's ``clean_caption`` (needs bs4 + ftfy): turned off

    def notes(self) -> dict[str, str]:
        """What this model ignores, said in the result, never silently dropped."""
        shown: dict[str, str] = {}
        if not self.negative:
            shown["negative prompt"] = f"not used: {self.name} has no negative prompt"
        if not self.guidance:
            shown["guidance"] = f"not used: {self.name} is guidance-distilled"
        return shown


def family_name(pipe: Any) -> str:
    name = type(pipe).__name__.removesuffix("Pipeline")
    return NAMES.get(name, name)


def _size(pipe: Any) -> tuple[int, int]:
    scale = int(getattr(pipe, "vae_scale_factor", 8))
    unet = getattr(pipe, "unet", None)
    if unet is not None:
        levels = len(getattr(unet.config, "block_out_channels", (0,) * 4))
        return int(unet.config.sample_size) * scale, scale * 2 ** max(0, levels - 1)
    transformer = getattr(pipe, "transformer", None)
    config = transformer.config if transformer is not None else None
    sample = getattr(config, "sample_size", None) or getattr(pipe, "default_sample_size", 64)
    patch = int(getattr(config, "patch_size", None) or 1)
    if type(pipe).__name__.startswith("Flux"):
        patch = max(patch, 2)  # FLUX packs 2x2 latents into one token
    return int(sample or 64) * scale, scale * patch


def _builds(auto: Any, pipe: Any) -> bool:
    """Whether ``auto.from_pipe`` maps this pipeline (its weights are shared, nothing loads)."""
    try:
        auto.from_pipe(pipe)
    except (ValueError, KeyError, TypeError):
        return False
    return True


def detect(pipe: Any, native_px: int = 0) -> Family:
    """The family of a loaded pipeline; ``native_px`` > 0 overrides the native side."""
    from diffusers import AutoPipelineForImage2Image, AutoPipelineForInpainting  # not for Family

    params = inspect.signature(pipe.__call__).parameters
    native, multiple = _size(pipe)
    if native_px > 0:
        native = max(multiple, native_px // multiple * multiple)
    distilled = type(pipe).__name__.startswith(NO_NEGATIVE)
    config = getattr(getattr(pipe, "transformer", None), "config", {})
    guided = not distilled or bool(config.get("guidance_embeds", False))  # FLUX.1-dev: yes
    return Family(
        name=family_name(pipe),
        native=native,
        multiple=multiple,
        negative="negative_prompt" in params and not distilled,
        guidance="guidance_scale" in params and guided,
        step_callback="callback_on_step_end" in params,
        img2img=_builds(AutoPipelineForImage2Image, pipe),
        inpaint=_builds(AutoPipelineForInpainting, pipe),
        caption_cleaning="clean_caption" in params,
    )
