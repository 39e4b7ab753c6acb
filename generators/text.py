"""Text generation with transformers: batched, left-padded, reproducible per row.

Sampling happens in ``RowSampler``, a logits processor that draws each row's token with that row's
own ``torch.Generator``. ``generate`` then runs greedily over the chosen tokens, so a row's output
depends on its seed and settings, not on the other rows of the batch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    StoppingCriteria,
    StoppingCriteriaList,
)

from generators.backend import ModelLoadError, load_hint, pretrained_source
from generators.constrain import FormTokens, RowConstraint
from generators.decode import DecodeBatch, complete_text, supports_stepping
from generators.quant import bnb_hint, plan_quantization, quantize_on_cpu
from generators.samples import ChatMessage, SamplingParams, TextPrompt, TextSample
from generators.sampling import RowParams, sample_rows

log = logging.getLogger(__name__)

WARMUP_PROMPT = TextPrompt(
    messages=(ChatMessage("user", "Say hello."),),
    plain="Hello",
    sampling=SamplingParams(seed=0, max_new_tokens=2),
)


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present, else CPU; an explicit device must exist."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ModelLoadError(f"MUSE_DEVICE={name!r} is not a torch device: {err}") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError(f"MUSE_DEVICE={name!r} but CUDA is not available on this host")
    return device


def default_dtype(device: torch.device) -> torch.dtype:
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


class RowSampler(LogitsProcessor):
    """Draws one token per row with that row's generator (``sample_rows``), inside the row's
    form mask when it has one; a row past its own token limit gets the end-of-text token."""

    def __init__(
        self,
        params: Sequence[SamplingParams],
        prompt_len: int,
        eos_id: int,
        device: torch.device,
        constraints: Sequence[RowConstraint | None] = (),
    ) -> None:
        self.prompt_len = prompt_len
        self.eos_id = eos_id
        self.max_new = [p.max_new_tokens for p in params]
        self.rows = RowParams(params, device)
        self.constraints = list(constraints) or [None] * len(params)
        self.ended = [False] * len(params)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        step = input_ids.shape[1] - self.prompt_len
        for row, constraint in enumerate(self.constraints):
            if constraint is None or self.ended[row]:
                continue
            if step > 0:
                constraint.advance(int(input_ids[row, -1]))
            constraint.restrict(scores[row])
        chosen = scores.new_full(scores.shape, float("-inf"))
        for row, token in enumerate(sample_rows(scores, self.rows)):
            token = self.eos_id if step >= self.max_new[row] or self.ended[row] else token
            self.ended[row] = self.ended[row] or token == self.eos_id
            chosen[row, token] = 0.0
        return chosen  # type: ignore[return-value]


class CancelOnEvent(StoppingCriteria):
    """Stops every row once ``event`` is set (job cancelled or timed out)."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(
        self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any
    ) -> torch.BoolTensor:
        flag = self.event.is_set()
        return torch.full((input_ids.shape[0],), flag, dtype=torch.bool, device=input_ids.device)  # type: ignore[return-value]


class TransformersTextBackend:
    """Owns one causal LM and its tokenizer; use it from a single worker thread."""

    def __init__(self, model: Any, tokenizer: Any, model_id: str, device: torch.device) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self._model_id = model_id
        self.device = device
        self.uses_chat_template = bool(getattr(tokenizer, "chat_template", None))
        eos = model.generation_config.eos_token_id
        if eos is None:
            eos = tokenizer.eos_token_id
        self.eos_ids: list[int] = list(eos) if isinstance(eos, list | tuple) else [int(eos)]
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "left"
        self.repetition_penalty = float(
            getattr(model.generation_config, "repetition_penalty", None) or 1.0
        )
        added = getattr(tokenizer, "added_tokens_decoder", {}) or {}
        specials = set(getattr(tokenizer, "all_special_tokens", []) or [])
        specials |= {str(t) for t in added.values() if getattr(t, "special", False)}
        self._special_tokens = sorted((t for t in specials if len(t) > 1), key=len, reverse=True)
        self.can_step = supports_stepping(model)  # continuous batching (generators.decode)
        self._form_tokens: FormTokens | None = None

    @property
    def model_id(self) -> str:
        return self._model_id

    @classmethod
    def load(
        cls,
        model_id: str,
        *,
        device: str = "auto",
        quant: str = "none",
        local_files_only: bool = False,
    ) -> TransformersTextBackend:
        """Load from a hub id, a local folder or a GGUF file through ``from_pretrained``;
        ``quant`` is ``MUSE_TEXT_QUANT`` (see generators.quant) and is recorded in the model
        id; ``local_files_only`` loads a hub id from the cache without asking the hub."""
        target = resolve_device(device)
        plan = plan_quantization(quant, target)
        source = pretrained_source(model_id, local_files_only)
        try:
            tokenizer = AutoTokenizer.from_pretrained(**source)
            model: Any = AutoModelForCausalLM.from_pretrained(
                **source, dtype=default_dtype(target), **plan.load_kwargs
            )
        except (OSError, ValueError) as err:
            raise ModelLoadError(load_hint("text model", model_id, "MUSE_TEXT_MODEL", err)) from err
        except (ImportError, RuntimeError) as err:
            if not plan.places_model:
                raise
            raise ModelLoadError(bnb_hint(quant, err)) from err
        if not plan.places_model:
            model.to(target)
        model.eval()
        if plan.int8_linears:
            model = quantize_on_cpu(model)
        log.info("loaded text model %s on %s (quantization: %s)", model_id, target, plan.mode)
        return cls(model, tokenizer, plan.model_id(model_id), target)

    def warmup(self) -> float:
        """One short generation, so bad weights or memory fail at boot; returns s per token."""
        started = time.perf_counter()
        try:
            self.generate([WARMUP_PROMPT], threading.Event())
        except torch.OutOfMemoryError as err:
            raise ModelLoadError(
                f"out of memory warming up {self.model_id!r} on {self.device}: choose a smaller "
                "model or MUSE_DEVICE=cpu"
            ) from err
        return (time.perf_counter() - started) / WARMUP_PROMPT.sampling.max_new_tokens

    def render(self, prompt: TextPrompt) -> str:
        """The prompt as the model sees it: chat template when it has one, else plain text.
        Special tokens typed into a message (e.g. ``<|im_start|>system``) are defused, so
        member text can never open a turn of its own."""
        if not self.uses_chat_template:
            return self.defuse(prompt.plain)
        messages = [{"role": m.role, "content": self.defuse(m.content)} for m in prompt.messages]
        try:
            rendered = self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
        except Exception:  # templates without a system role: fold it into the user turn
            merged = "\n\n".join(m.content for m in prompt.messages)
            rendered = self.tokenizer.apply_chat_template(
                [{"role": "user", "content": merged}], tokenize=False, add_generation_prompt=True
            )
        return str(rendered)

    def defuse(self, text: str) -> str:
        """Break every special-token string in ``text`` with a word joiner (U+2060)."""
        for token in self._special_tokens:
            if token in text:
                text = text.replace(token, token[0] + "\u2060" + token[1:])
        return text

    @torch.inference_mode()
    def generate(self, prompts: Sequence[TextPrompt], cancel: threading.Event) -> list[TextSample]:
        """One ``model.generate`` call for all rows."""
        texts = [self.render(p) for p in prompts]
        enc = self.tokenizer(
            texts, return_tensors="pt", padding=True, add_special_tokens=not self.uses_chat_template
        ).to(self.device)
        prompt_len = int(enc["input_ids"].shape[1])
        siblings: dict[int, tuple[str, bool]] = {}
        constraints = [
            RowConstraint(p.form, self.form_tokens(), p.sampling.max_new_tokens, siblings, i)
            if p.form is not None
            else None
            for i, p in enumerate(prompts)
        ]
        sampler = RowSampler(
            [p.sampling for p in prompts], prompt_len, self.eos_ids[0], self.device, constraints
        )
        config = GenerationConfig(  # type: ignore[no-untyped-call]
            do_sample=False,
            max_new_tokens=max(p.sampling.max_new_tokens for p in prompts),
            eos_token_id=self.eos_ids,
            pad_token_id=self.tokenizer.pad_token_id,
            repetition_penalty=self.repetition_penalty,
        )
        output = self.model.generate(
            **enc,
            generation_config=config,
            logits_processor=LogitsProcessorList([sampler]),
            stopping_criteria=StoppingCriteriaList([CancelOnEvent(cancel)]),
        )
        prompt_tokens = enc["attention_mask"].sum(dim=1).tolist()
        return [
            self._sample(output[row, prompt_len:], p, int(prompt_tokens[row]), cancel)
            for row, p in enumerate(prompts)
        ]

    def form_tokens(self) -> FormTokens:
        """The tokenizer's view for form masks, built on first use (about 2 s)."""
        if self._form_tokens is None:
            self._form_tokens = FormTokens(self.tokenizer, self.eos_ids)
        return self._form_tokens

    def open_batch(self) -> DecodeBatch:
        """A continuous batch on this model: rows join and leave between decoding steps."""
        return DecodeBatch(self)

    def _sample(
        self, new_ids: torch.Tensor, prompt: TextPrompt, prompt_tokens: int, cancel: threading.Event
    ) -> TextSample:
        ids = new_ids.tolist()
        end = next((i for i, tok in enumerate(ids) if tok in self.eos_ids), None)
        if end is not None:
            forced = end >= prompt.sampling.max_new_tokens  # RowSampler ends rows at their cap
            ids, reason = ids[:end], "length" if forced else "stop"
        elif cancel.is_set():
            reason = "cancelled"
        else:
            reason = "length"
        text = complete_text(self.tokenizer, ids)
        return TextSample(text, prompt.sampling.seed, prompt_tokens, len(ids), reason)
