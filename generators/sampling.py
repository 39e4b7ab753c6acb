"""Per-row token sampling shared by ``generate`` (``RowSampler``) and the step loop.

One function draws one token per row with that row's own ``torch.Generator``, so a row's tokens
depend on its seed, its settings and its logits, never on which other rows share the batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from generators.samples import SamplingParams


class RowParams:
    """The sampling settings of a set of rows as tensors, with one seeded generator per row."""

    def __init__(
        self,
        params: Sequence[SamplingParams],
        device: torch.device,
        generators: Sequence[torch.Generator] | None = None,
    ) -> None:
        self.temps = torch.tensor([p.temperature for p in params], device=device)
        self.top_ps = torch.tensor([p.top_p for p in params], device=device)
        self.top_ks = torch.tensor([p.top_k for p in params], device=device)
        self.generators = list(generators) if generators is not None else seeded(params, device)

    def __repr__(self) -> str:
        return f"<RowParams rows={len(self.generators)}>"


def seeded(params: Sequence[SamplingParams], device: torch.device) -> list[torch.Generator]:
    """A fresh generator per row, seeded with the row's seed."""
    return [torch.Generator(device=device).manual_seed(p.seed) for p in params]


def sample_rows(scores: torch.Tensor, rows: RowParams) -> list[int]:
    """One token per row of ``scores`` (rows x vocab): temperature, top-k, top-p, then a draw
    with the row's generator (which advances by one draw per call)."""
    k = min(int(rows.top_ks.max()), scores.shape[-1])
    values, indices = (scores.float() / rows.temps[:, None]).topk(k, dim=-1)
    columns = torch.arange(k, device=scores.device)
    values = values.masked_fill(columns[None, :] >= rows.top_ks[:, None], float("-inf"))
    probs = values.softmax(dim=-1)
    before = probs.cumsum(dim=-1) - probs
    probs = probs.masked_fill(before > rows.top_ps[:, None], 0.0)
    tokens = []
    for row, generator in enumerate(rows.generators):
        pick = torch.multinomial(probs[row], 1, generator=generator)
        tokens.append(int(indices[row, pick]))
    return tokens
