"""Quantized loading of the text model (``MUSE_TEXT_QUANT``), for GPUs with little memory and
for faster CPU decoding.

- CUDA: bitsandbytes through ``BitsAndBytesConfig``: ``8bit`` is LLM.int8(), ``4bit`` is NF4
  with bf16 (or fp16) compute. bitsandbytes is imported only when asked for.
- CPU: ``8bit`` swaps every ``nn.Linear`` for ``generators.int8.Int8Linear`` after loading
  (int8 weights per output channel, int8 activations per token). ``4bit`` has no CPU path here
  and is a clear startup error, as is any quantization on another device.

Torch is imported inside the functions, so settings can import ``QUANT_CHOICES`` for free.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Any

from generators.backend import ModelLoadError

QUANT_CHOICES = ("none", "8bit", "4bit")
BNB_INSTALL = "pip install bitsandbytes==0.50.2 (or: pip install 'muse-bot[cuda]')"


@dataclass(frozen=True)
class QuantPlan:
    """How to load and then treat the model for one ``MUSE_TEXT_QUANT`` value on one device."""

    mode: str
    label: str = ""  # recorded in the model id; empty when the weights are not quantized
    load_kwargs: dict[str, Any] = field(default_factory=dict)
    int8_linears: bool = False  # swap nn.Linear for Int8Linear after loading (CPU)

    @property
    def places_model(self) -> bool:
        """bitsandbytes puts the weights on the GPU itself; ``.to()`` would be refused."""
        return "device_map" in self.load_kwargs

    def model_id(self, model_id: str) -> str:
        """The id stored with every output, so datasets say which weights wrote it."""
        return f"{model_id} [{self.label}]" if self.label else model_id


def plan_quantization(mode: str, device: Any) -> QuantPlan:
    """The plan for ``mode`` on ``device`` (a ``torch.device``); raises ``ModelLoadError`` for a
    combination that cannot work, before any weights are read."""
    if mode not in QUANT_CHOICES:
        raise ModelLoadError(
            f"MUSE_TEXT_QUANT must be one of {', '.join(QUANT_CHOICES)}, got {mode!r}"
        )
    if mode == "none":
        return QuantPlan(mode)
    if device.type == "cuda":
        return QuantPlan(
            mode,
            label="bnb-int8" if mode == "8bit" else "bnb-nf4",
            load_kwargs={
                "quantization_config": bnb_config(mode),
                "device_map": {"": device.index or 0},
            },
        )
    if device.type == "cpu" and mode == "8bit":
        _require_int_mm()
        return QuantPlan(mode, label="cpu-int8", int8_linears=True)
    if device.type == "cpu":
        raise ModelLoadError(
            "MUSE_TEXT_QUANT=4bit needs a CUDA GPU (bitsandbytes NF4); on CPU use 8bit "
            "(int8) or none"
        )
    raise ModelLoadError(f"MUSE_TEXT_QUANT={mode} works on cuda and cpu, not on {device.type}")


def bnb_config(mode: str) -> Any:
    """A ``BitsAndBytesConfig`` for ``8bit`` or ``4bit`` (NF4, double quantization, bf16
    compute where the GPU has it, else fp16)."""
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ModelLoadError(
            f"MUSE_TEXT_QUANT={mode} on CUDA needs bitsandbytes, which is not installed: "
            f"{BNB_INSTALL}; or set MUSE_TEXT_QUANT=none"
        )
    import torch
    from transformers import BitsAndBytesConfig

    if mode == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)  # type: ignore[no-untyped-call]
    return BitsAndBytesConfig(  # type: ignore[no-untyped-call]
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_compute_dtype=(
            torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        ),
        bnb_4bit_use_double_quant=True,
    )


def bnb_hint(mode: str, err: Exception) -> str:
    """Why bitsandbytes could not load the model (installed, but too old for transformers, or
    built without support for this GPU), in words an operator can act on."""
    return (
        f"cannot load the text model with MUSE_TEXT_QUANT={mode} through bitsandbytes: {err}. "
        f"Check that bitsandbytes supports this GPU ({BNB_INSTALL}), or set MUSE_TEXT_QUANT=none"
    )


def _require_int_mm() -> None:
    import torch

    if not hasattr(torch, "_int_mm"):
        raise ModelLoadError(
            f"MUSE_TEXT_QUANT=8bit on CPU needs torch._int_mm, which torch {torch.__version__} "
            "lacks; upgrade torch or set MUSE_TEXT_QUANT=none"
        )


def quantize_on_cpu(model: Any) -> Any:
    """Swap every ``nn.Linear`` (the LM head too) for an ``Int8Linear``, in place."""
    from generators.int8 import quantize_linears

    quantize_linears(model)
    return model
