"""Prompt prefix reuse for the continuous batch.

Muse's prompts start alike: the chat template, the system prompt and the task line come before the
member's topic, and a poem with ``count`` 3 sends one prompt three times. ``PrefixStore`` keeps
the key/value states of the last few prompts prefilled; a joining prompt that starts with the same
tokens as one of them (at least ``MIN_PREFIX_TOKENS``) copies those states and prefills only the
rest. A key or value at position t depends only on tokens 0..t, so the copied states are the ones
a full prefill would compute, up to the last float bits of differently shaped matrix products.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

MIN_PREFIX_TOKENS = 16
PREFIXES_KEPT = 4

Layers = list[tuple[torch.Tensor, torch.Tensor]]  # per layer: keys, values (1, heads, n, dim)


@dataclass(frozen=True)
class Prefix:
    """The first ``length`` tokens of a stored prompt, whose states a new prompt can reuse."""

    layers: Layers
    length: int

    def expand(self, rows: int) -> Layers:
        """The prefix states repeated for ``rows`` rows, ready to extend."""
        n = self.length
        return [
            (
                k[:, :, :n].expand(rows, -1, -1, -1).contiguous(),
                v[:, :, :n].expand(rows, -1, -1, -1).contiguous(),
            )
            for k, v in self.layers
        ]


def common_start(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens ``a`` and ``b`` share."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class PrefixStore:
    """The key/value states of the ``kept`` prompts prefilled last (most recent first)."""

    def __init__(self, kept: int = PREFIXES_KEPT, min_tokens: int = MIN_PREFIX_TOKENS) -> None:
        self.kept = kept
        self.min_tokens = min_tokens
        self.entries: list[tuple[tuple[int, ...], Layers]] = []
        self.reused_tokens = 0  # prompt tokens not computed again, for tests and benchmarks

    def __repr__(self) -> str:
        return f"<PrefixStore entries={len(self.entries)}>"

    def best(self, ids: Sequence[int]) -> Prefix | None:
        """The longest stored start of ``ids`` (leaving at least its last token to compute)."""
        length, layers = 0, None
        for stored, stored_layers in self.entries:
            shared = min(common_start(stored, ids), len(ids) - 1)
            if shared > length:
                length, layers = shared, stored_layers
        if layers is None or length < self.min_tokens:
            return None
        self.reused_tokens += length
        return Prefix(layers, length)

    def add(self, ids: Sequence[int], layers: Layers) -> None:
        """Remember a prompt's states (one row, real tokens only); the oldest entry goes."""
        if len(ids) < self.min_tokens or self.kept < 1:
            return
        key = tuple(ids)
        self.entries = [(stored, kept) for stored, kept in self.entries if stored != key]
        self.entries.insert(0, (key, layers))
        del self.entries[self.kept :]
