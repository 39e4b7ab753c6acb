"""Int8 linear layers for CPU inference (``MUSE_TEXT_QUANT=8bit`` on CPU).

Weights are int8 with one scale per output channel; activations are quantized on the fly with one
scale per token (per row of the flattened input), and ``torch._int_mm`` multiplies int8 by int8
into int32. Per-token scales keep two properties that PyTorch's ``quantize_dynamic`` (one scale
for the whole input tensor) loses: a row's result does not depend on the other rows of the batch
(or their padding), and outlier tokens do not flatten everyone else's precision, which visibly
broke a real 135M model's output (README, "Quantization").
"""

from __future__ import annotations

import torch

_INT8_MAX = 127.0
_TINY = 1e-12


class Int8Linear(torch.nn.Module):
    """``y = x @ W.T + b`` with int8 ``W`` (per output channel) and int8 ``x`` (per token)."""

    weight_t: torch.Tensor
    weight_scale: torch.Tensor
    bias: torch.Tensor | None

    def __init__(self, linear: torch.nn.Linear) -> None:
        super().__init__()
        weight = linear.weight.detach().float()
        scale = weight.abs().amax(dim=1).clamp(min=_TINY) / _INT8_MAX
        quantized = torch.round(weight / scale[:, None]).to(torch.int8)
        self.in_features = linear.in_features
        self.out_features = linear.out_features
        self.register_buffer("weight_t", quantized.t().contiguous())  # (in, out) for _int_mm
        self.register_buffer("weight_scale", scale)
        bias = None if linear.bias is None else linear.bias.detach().float().clone()
        self.register_buffer("bias", bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, self.in_features).float()
        scale = rows.abs().amax(dim=1, keepdim=True).clamp(min=_TINY) / _INT8_MAX
        quantized = torch.round(rows / scale).to(torch.int8)
        out = torch._int_mm(quantized, self.weight_t).float()
        out.mul_(scale).mul_(self.weight_scale)
        if self.bias is not None:
            out.add_(self.bias)
        return out.reshape(*x.shape[:-1], self.out_features).to(x.dtype)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8"


def quantize_linears(model: torch.nn.Module) -> int:
    """Replace every ``nn.Linear`` under ``model`` (the LM head too) in place; returns how many.

    The remaining float tensors (embeddings, norms) are then copied out of the checkpoint file:
    ``from_pretrained`` maps safetensors files into memory, and one tensor still viewing that
    mapping (a tied embedding) would keep every float weight of the file resident."""
    swapped = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, torch.nn.Linear):
                setattr(parent, name, Int8Linear(child))
                swapped += 1
    with torch.no_grad():
        for param in model.parameters():
            param.data = param.data.clone()
        for module in model.modules():
            for key, buffer in list(module._buffers.items()):
                if buffer is not None and buffer.is_floating_point():
                    module._buffers[key] = buffer.clone()
    return swapped
