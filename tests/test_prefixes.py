"""The prompt prefix store: which stored prompt start a new prompt reuses."""

from __future__ import annotations

import torch

from generators.prefixes import PrefixStore, common_start


def layers(n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    states = torch.arange(n, dtype=torch.float32).reshape(1, 1, n, 1)
    return [(states, states + 100)]


def test_common_start_counts_shared_leading_tokens() -> None:
    assert common_start([1, 2, 3], [1, 2, 4, 5]) == 2
    assert common_start([1, 2], [1, 2, 3]) == 2
    assert common_start([], [1]) == 0


def test_the_longest_shared_start_wins_and_short_ones_are_ignored() -> None:
    store = PrefixStore(kept=4, min_tokens=3)
    store.add([1, 2, 3, 4, 9], layers(5))
    store.add([1, 2, 3, 4, 5, 6, 8], layers(7))
    store.add([7, 7], layers(2))  # under min_tokens: not kept
    prefix = store.best([1, 2, 3, 4, 5, 6, 0])
    assert prefix is not None and prefix.length == 6
    assert store.best([1, 2, 0, 0]) is None  # only 2 shared tokens
    assert len(store.entries) == 2


def test_the_same_prompt_again_still_computes_its_last_token() -> None:
    store = PrefixStore(kept=2, min_tokens=2)
    store.add([5, 6, 7, 8], layers(4))
    prefix = store.best([5, 6, 7, 8])
    assert prefix is not None and prefix.length == 3
    [(keys, values)] = prefix.expand(3)
    assert keys.shape == (3, 1, 3, 1)
    assert values[2, 0, :, 0].tolist() == [100.0, 101.0, 102.0]


def test_only_the_most_recent_prompts_are_kept() -> None:
    store = PrefixStore(kept=2, min_tokens=1)
    for first in (1, 2, 3):
        store.add([first, 0, 0], layers(3))
    store.add([2, 0, 0], layers(3))  # seen again: moves to the front, not duplicated
    assert [ids[0] for ids, _ in store.entries] == [2, 3]
    assert store.best([1, 0, 0]) is None
