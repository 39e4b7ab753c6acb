"""Continuous batching: a decoding loop whose rows join and leave between steps.

``DecodeBatch`` keeps one left-padded KV cache for every row in flight. Each ``step`` first drops
the rows asked to leave, then either prefills the rows asked to join (their own forward pass, whose
cache is then padded on the left and stacked onto the batch's) or decodes one token for every row.
A row that ends (end of text or its token limit) leaves at once and frees its slot.

Each row samples with its own seeded generator through ``sample_rows``, as ``generate`` does, so a
row decoded alone gives exactly the text ``TransformersTextBackend.generate`` gives for it alone.
In a batch its logits come from differently shaped matrix products, which may differ in the last
float bits, so a token can (rarely) differ when a draw falls on a boundary: same seed means same
text as far as floating point allows, exactly as with static batches.

Only models whose cache layers are all plain ``DynamicLayer`` (full attention, as Llama, Qwen2 and
SmolLM) can be stacked this way; ``supports_stepping`` says so, and others use ``generate``.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from generators.backend import RowUpdate
from generators.constrain import RowConstraint
from generators.prefixes import Prefix, PrefixStore
from generators.samples import TextPrompt, TextSample
from generators.sampling import RowParams, sample_rows


@dataclass
class _Row:
    key: str
    prompt: TextPrompt
    history: list[int]  # prompt then generated ids: what the repetition penalty looks at
    prompt_tokens: int
    generator: torch.Generator
    new_ids: list[int] = field(default_factory=list)
    constraint: RowConstraint | None = None


def supports_stepping(model: Any) -> bool:
    """True when every layer of the model's dynamic cache is a plain full-attention layer."""
    try:
        cache = DynamicCache(config=model.config)
    except Exception:
        return False
    return bool(cache.layers) and all(type(layer) is DynamicLayer for layer in cache.layers)


class DecodeBatch:
    """The rows in flight on one text backend; use it from the worker thread that owns it."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.model = backend.model
        self.tokenizer = backend.tokenizer
        self.device: torch.device = backend.device
        self.eos_ids = set(backend.eos_ids)
        self.penalty: float = backend.repetition_penalty
        names = inspect.signature(self.model.forward).parameters
        self._cache_arg = "cache" if "cache" in names else "past_key_values"  # renamed in 5.x
        self._last_only = {"logits_to_keep": 1} if "logits_to_keep" in names else {}
        self.rows: list[_Row] = []
        self.cache: DynamicCache | None = None
        self.mask: torch.Tensor | None = None  # rows x cached positions, 0 on padding
        self.prefixes = PrefixStore()
        self.siblings: dict[str, dict[int, tuple[str, bool]]] = {}  # request -> its rows' texts

    def __repr__(self) -> str:
        return f"<DecodeBatch rows={len(self.rows)}>"

    @property
    def keys(self) -> list[str]:
        return [row.key for row in self.rows]

    @torch.inference_mode()
    def step(
        self,
        joining: Sequence[tuple[str, TextPrompt]],
        leaving: Sequence[str],
        cancel: threading.Event,
    ) -> list[RowUpdate]:
        """Drop ``leaving``; then prefill ``joining`` (one token each) or, with nobody joining,
        decode one token for every row. Nothing runs once ``cancel`` is set."""
        gone = set(leaving)
        self._keep([i for i, row in enumerate(self.rows) if row.key not in gone])
        if cancel.is_set():
            return []
        if joining:
            return self._join(joining)
        if not self.rows:
            return []
        return self._decode()

    def _join(self, joining: Sequence[tuple[str, TextPrompt]]) -> list[RowUpdate]:
        """Prefill the joining rows, grouped by the stored prefix they reuse (if any), stack
        them onto the batch and sample their first tokens."""
        texts = [self.backend.render(prompt) for _, prompt in joining]
        specials = not self.backend.uses_chat_template
        encoded = self.tokenizer(texts, add_special_tokens=specials)["input_ids"]
        groups: dict[tuple[int, int], tuple[Prefix | None, list[_Row]]] = {}
        for (key, prompt), ids in zip(joining, encoded, strict=True):
            row = _Row(key, prompt, list(ids), len(ids), self._generator(prompt))
            row.constraint = self._constraint(key, prompt)
            prefix = self.prefixes.best(ids)
            group = (id(prefix.layers), prefix.length) if prefix is not None else (0, 0)
            groups.setdefault(group, (prefix, []))[1].append(row)
        first = len(self.rows)
        logits = [self._prefill(rows, prefix) for prefix, rows in groups.values()]
        return self._advance(torch.cat(logits), list(range(first, len(self.rows))))

    def _prefill(self, rows: list[_Row], prefix: Prefix | None) -> torch.Tensor:
        """Run the rows' prompts (after ``prefix``, whose states are copied), left-padded among
        themselves; stack them onto the batch, remember their states; the last logits."""
        start = prefix.length if prefix is not None else 0
        rest = [row.history[start:] for row in rows]
        width = max(len(ids) for ids in rest)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in rest])
        own = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in rest])
        mask = F.pad(own, (start, 0), value=1).to(self.device)
        positions = (mask.cumsum(-1) - 1)[:, start:].masked_fill(own.to(self.device) == 0, 1)
        cache = DynamicCache(ddp_cache_data=prefix.expand(len(rows))) if prefix else DynamicCache()
        out = self.model(
            input_ids=input_ids.to(self.device),
            attention_mask=mask,
            position_ids=positions,
            use_cache=True,
            **self._last_only,
            **{self._cache_arg: cache},
        )
        for i, row in enumerate(rows):
            real = mask[i].nonzero().squeeze(1)
            self.prefixes.add(
                row.history, [(k[i : i + 1, :, real], v[i : i + 1, :, real]) for k, v, _ in cache]
            )
        self._stack(rows, cache, mask)
        logits: torch.Tensor = out.logits[:, -1, :].float()
        return logits

    def _decode(self) -> list[RowUpdate]:
        assert self.mask is not None and self.cache is not None
        constrained = [row.constraint for row in self.rows if row.constraint is not None]
        if constrained:  # their grammar masks are computed while the forward pass runs
            constrained[0].tokens.start_masks(constrained)
        last = torch.tensor([[row.new_ids[-1]] for row in self.rows], device=self.device)
        self.mask = F.pad(self.mask, (0, 1), value=1)
        positions = (self.mask.sum(-1, keepdim=True) - 1).long()
        out = self.model(
            input_ids=last,
            attention_mask=self.mask,
            position_ids=positions,
            use_cache=True,
            **{self._cache_arg: self.cache},
        )
        logits = out.logits[:, -1, :].float()
        return self._advance(logits, list(range(len(self.rows))))

    def _constraint(self, key: str, prompt: TextPrompt) -> RowConstraint | None:
        """The row's form mask; rows of one request (``job:index`` keys) share their
        finished texts, so their candidates differ."""
        if prompt.form is None:
            return None
        request, _, index = key.rpartition(":")
        siblings = self.siblings.setdefault(request, {})
        rank = int(index) if index.isdigit() else len(siblings)
        tokens = self.backend.form_tokens()
        return RowConstraint(prompt.form, tokens, prompt.sampling.max_new_tokens, siblings, rank)

    def _generator(self, prompt: TextPrompt) -> torch.Generator:
        return torch.Generator(device=self.device).manual_seed(prompt.sampling.seed)

    def _advance(self, logits: torch.Tensor, indices: list[int]) -> list[RowUpdate]:
        """Sample the next token of rows ``indices`` (logits in the same order); rows that
        end leave the batch."""
        rows = [self.rows[i] for i in indices]
        updates, ended = [], set()
        for row, token in zip(rows, self._choose(logits, rows), strict=True):
            if token in self.eos_ids:
                reason = "stop"
            else:
                row.new_ids.append(token)
                row.history.append(token)
                reason = "length" if len(row.new_ids) >= row.prompt.sampling.max_new_tokens else ""
            if row.constraint is not None:
                row.constraint.advance(token)
            text = complete_text(self.tokenizer, row.new_ids)
            done = None
            if reason:
                done = TextSample(
                    text, row.prompt.sampling.seed, row.prompt_tokens, len(row.new_ids), reason
                )
                ended.add(row.key)
            updates.append(RowUpdate(row.key, text, len(row.new_ids), done))
        if ended:
            self._keep([i for i, row in enumerate(self.rows) if row.key not in ended])
        return updates

    def _choose(self, logits: torch.Tensor, rows: Sequence[_Row]) -> list[int]:
        """The next token of each row: repetition penalty, then the row's seeded draw."""
        scores = self._penalised(logits, rows)
        for i, row in enumerate(rows):
            if row.constraint is not None:
                row.constraint.restrict(scores[i])
        params = RowParams(
            [r.prompt.sampling for r in rows], self.device, [r.generator for r in rows]
        )
        return sample_rows(scores, params)

    def _penalised(self, logits: torch.Tensor, rows: Sequence[_Row]) -> torch.Tensor:
        """The repetition penalty of ``generate``, over each row's own prompt and output."""
        if self.penalty == 1.0:
            return logits
        for i, row in enumerate(rows):
            ids = torch.tensor(row.history, device=self.device)
            seen = logits[i].gather(0, ids)
            seen = torch.where(seen < 0, seen * self.penalty, seen / self.penalty)
            logits[i].scatter_(0, ids, seen)
        return logits

    def _stack(self, new: list[_Row], cache: DynamicCache, mask: torch.Tensor) -> None:
        """Append prefilled rows, left-padding whichever side is shorter to a common length."""
        if self.cache is None or self.mask is None:
            self.rows, self.cache, self.mask = new, cache, mask
            return
        width = max(self.mask.shape[1], mask.shape[1])
        layers = []
        for (old_k, old_v, _), (new_k, new_v, _) in zip(self.cache, cache, strict=True):
            keys = torch.cat([_left_pad(old_k, width), _left_pad(new_k, width)])
            values = torch.cat([_left_pad(old_v, width), _left_pad(new_v, width)])
            layers.append((keys, values))
        self.cache = DynamicCache(ddp_cache_data=layers)
        self.mask = torch.cat([_left_pad_mask(self.mask, width), _left_pad_mask(mask, width)])
        self.rows = self.rows + new

    def _keep(self, indices: list[int]) -> None:
        """Keep only rows ``indices``, then cut cache columns that are padding in every row."""
        if len(indices) == len(self.rows):
            return
        self.rows = [self.rows[i] for i in indices]
        live = {row.key.rpartition(":")[0] for row in self.rows}
        self.siblings = {k: v for k, v in self.siblings.items() if k in live}
        if not self.rows or self.cache is None or self.mask is None:
            self.rows, self.cache, self.mask = [], None, None
            return
        index = torch.tensor(indices, dtype=torch.long, device=self.device)
        mask = self.mask[index]
        start = int((mask.sum(0) > 0).nonzero()[0])
        layers = [(k[index, :, start:], v[index, :, start:]) for k, v, _ in self.cache]
        self.cache = DynamicCache(ddp_cache_data=layers)
        self.mask = mask[:, start:]


def complete_text(tokenizer: Any, ids: Sequence[int]) -> str:
    """The text of ``ids`` up to its last complete character: a token that ends inside a
    multi-byte UTF-8 character decodes to U+FFFD, which is never shown, streamed or stored."""
    return str(tokenizer.decode(ids, skip_special_tokens=True)).rstrip("\ufffd")


def _left_pad(states: torch.Tensor, width: int) -> torch.Tensor:
    """Pad keys or values (batch, heads, positions, dim) with zeros on the left to ``width``."""
    return F.pad(states, (0, 0, width - states.shape[2], 0))


def _left_pad_mask(mask: torch.Tensor, width: int) -> torch.Tensor:
    return F.pad(mask, (width - mask.shape[1], 0), value=0)
