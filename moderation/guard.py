"""The guard-model layer: a generative safety classifier (Qwen3Guard-Gen) read for its verdict.

A guard model answers a moderation chat prompt with lines such as::

    Safety: Unsafe
    Categories: Violent

``parse_guard_output`` reads that answer; ``GuardModel`` runs the model on its own thread and
waits at most ``timeout_s`` for it, so a slow host never holds a prompt: when the budget runs
out the guard's verdict is ``allow`` with ``guard_timeout`` in its scores and the other layers
(lists, intent rules, embedding head) decide alone. ``load_guard`` loads the model from a local
folder or the hub (``HF_HUB_OFFLINE`` is honoured) like the main model; ``DEFAULT_GUARD`` is the
reference, Qwen3Guard-Gen-0.6B. ``transformers`` and ``torch`` are imported only when loading.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from moderation.base import TextFilterError
from moderation.verdict import Category, Decision, Verdict

log = logging.getLogger(__name__)

DEFAULT_GUARD = "Qwen/Qwen3Guard-Gen-0.6B"
DEFAULT_TIMEOUT_S = 2.0
MAX_INPUT_CHARS = 4000
LAYER = "guard"

# Qwen3Guard's category names, lower-cased, mapped onto Muse's. Politically sensitive topics
# are not a harm for a creative assistant and map to nothing.
GUARD_CATEGORIES: Mapping[str, Category | None] = {
    "violent": Category.VIOLENCE,
    "non-violent illegal acts": Category.ILLICIT,
    "sexual content or sexual acts": Category.SEXUAL,
    "pii": Category.OTHER,
    "suicide & self-harm": Category.SELF_HARM,
    "unethical acts": Category.HARASSMENT,
    "politically sensitive topics": None,
    "copyright violation": Category.COPYRIGHT,
    "jailbreak": Category.OTHER,
}
_SAFETY = re.compile(r"safety:\s*(safe|unsafe|controversial)", re.IGNORECASE)
_CATEGORIES = re.compile(r"categories:\s*(.+)", re.IGNORECASE)


class GuardUnavailable(TextFilterError):
    """The guard model cannot be loaded (not cached offline, no such folder, bad weights)."""


@dataclass(frozen=True)
class GuardAnswer:
    """What the guard said: ``safety`` is safe, unsafe, controversial or unparsed."""

    safety: str
    labels: tuple[str, ...] = ()

    def categories(self) -> tuple[Category, ...]:
        """Muse's categories for the guard's labels; an unknown label counts as ``other``."""
        out = [GUARD_CATEGORIES.get(label, Category.OTHER) for label in self.labels]
        found = tuple(dict.fromkeys(c for c in out if c is not None))
        return found or ((Category.OTHER,) if not self.labels else ())


def parse_guard_output(text: str) -> GuardAnswer:
    """The ``Safety:`` and ``Categories:`` lines of a guard's answer; ``unparsed`` without a
    ``Safety:`` line (a broken or random model)."""
    safety = _SAFETY.search(text)
    if safety is None:
        return GuardAnswer("unparsed")
    found = _CATEGORIES.search(text)
    labels: tuple[str, ...] = ()
    if found is not None:
        raw = [p.strip().lower() for p in re.split(r"[,，]", found.group(1).splitlines()[0])]
        labels = tuple(p for p in raw if p and p != "none")
    return GuardAnswer(safety.group(1).lower(), labels)


def verdict_for(answer: GuardAnswer, component: str) -> Verdict:
    """``block`` for unsafe, ``review`` for controversial (the policy re-decides both by
    category), ``allow`` for safe or unparsed."""
    scores = {"guard_unsafe": 1.0 if answer.safety == "unsafe" else 0.0}
    if answer.safety == "unparsed":
        scores = {"guard_unparsed": 1.0}
    categories = answer.categories()
    if answer.safety not in ("unsafe", "controversial") or not categories:
        return Verdict(Decision.ALLOW, scores=scores, components=(component,))
    decision = Decision.BLOCK if answer.safety == "unsafe" else Decision.REVIEW
    matched = tuple(f"{LAYER}: {label}" for label in answer.labels) or (f"{LAYER}: unsafe",)
    return Verdict(decision, categories, scores, matched, (component,))


Generate = Callable[[str], str]


class GuardModel:
    """Runs ``generate`` (prompt text -> the guard's answer) on its own thread, at most
    ``timeout_s`` per check; ``close`` stops the thread."""

    def __init__(self, generate: Generate, *, model_id: str, timeout_s: float) -> None:
        self._generate = generate
        self.model_id = model_id
        self.timeout_s = timeout_s
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="muse-guard")

    @property
    def name(self) -> str:
        return f"guard {self.model_id}"

    def check(self, text: str) -> Verdict:
        if not text.strip():
            return Verdict(Decision.ALLOW, components=(self.name,))
        future = self._pool.submit(self._generate, text[:MAX_INPUT_CHARS])
        try:
            answer = future.result(timeout=self.timeout_s)
        except FutureTimeout:
            future.cancel()
            log.warning("guard model %s took over %.2f s; the other layers decide", self.model_id,
                        self.timeout_s)  # fmt: skip
            return Verdict(Decision.ALLOW, scores={"guard_timeout": 1.0}, components=(self.name,))
        return verdict_for(parse_guard_output(answer), self.name)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def load_generate(source: str, *, max_new_tokens: int = 24, cached_only: bool = False) -> Generate:
    """A greedy ``generate`` for a causal-LM guard in a local folder or on the hub (only from
    the local cache when ``cached_only``); raises ``GuardUnavailable`` when it cannot be loaded."""
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        local = cached_only or os.path.isdir(source) or _offline()
        tokenizer: Any = AutoTokenizer.from_pretrained(source, local_files_only=local)
        model: Any = AutoModelForCausalLM.from_pretrained(source, local_files_only=local)
        model.eval()
        if tokenizer.chat_template is None:
            raise ValueError("the tokenizer has no chat template")
    except Exception as err:  # missing cache, no network, bad folder, bad weights
        raise GuardUnavailable(f"guard model {source} cannot be loaded: {err}") from err

    @torch.inference_mode()
    def generate(text: str) -> str:
        messages = [{"role": "user", "content": text}]
        prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        inputs = tokenizer(prompt, return_tensors="pt")
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
        new = out[0][inputs["input_ids"].shape[1] :]
        answer: str = tokenizer.decode(new, skip_special_tokens=True)
        return answer

    return generate


def load_guard(
    source: str, *, timeout_s: float = DEFAULT_TIMEOUT_S, cached_only: bool = False
) -> GuardModel:
    """The guard model at ``source`` (a folder or a hub id) on its own thread."""
    generate = load_generate(source, cached_only=cached_only)
    return GuardModel(generate, model_id=source, timeout_s=timeout_s)


def guard_or_none(source: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> GuardModel | None:
    """The guard when ``source`` is "auto" (the default model) and it is in the local cache,
    else None; any other source must load (``GuardUnavailable`` otherwise). "auto" never asks
    the hub, so a host without it starts at once instead of waiting on retries."""
    if source.strip().lower() in ("", "0", "off", "none"):
        return None
    if source.strip().lower() != "auto":
        return load_guard(source, timeout_s=timeout_s)
    try:
        return load_guard(DEFAULT_GUARD, timeout_s=timeout_s, cached_only=True)
    except GuardUnavailable as err:
        log.debug("no guard model (%s); the shipped fallback layers decide", err)
        return None
