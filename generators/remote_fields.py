"""The request fields beyond OpenAI's that a text server may take, and what a refusal drops.

vLLM, TGI and llama.cpp take ``top_k``; llama.cpp takes a form's grammar as ``grammar`` and vLLM
as ``structured_outputs``; llama.cpp takes the repetition samplers of ``ANTI_LOOP``. A server
that refuses one of them gets the request again without it, from then on.

llama.cpp's ``grammar`` goes in llguidance's Lark dialect first (``%llguidance``: the xllamacpp
wheel, Muse's default engine, is built with llguidance, which masks the vocabulary from token
tries and lexer automata). A build without it answers "llguidance is not enabled", and from then
on the same grammar goes as GBNF, which llama.cpp checks against the whole vocabulary each time a
sampled token breaks it: one haiku slot decoded 55.5 tok/s that way against 64.4 on llguidance
and 76.1 with no grammar (SmolLM2 Q4_1, one thread, six seeds).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from generators.forms.grammar import row_gbnf, row_lark
from generators.forms.spec import FormSpec
from generators.samples import TextPrompt

log = logging.getLogger(__name__)

# Repeated lines and n-grams, which a grammar cannot forbid, on the server's own samplers:
# llama.cpp's DRY ("don't repeat yourself") penalty on any repeated sequence longer than two
# tokens and its repeat penalty; vLLM's repetition_penalty. Servers ignore fields they lack.
ANTI_LOOP: dict[str, float | int] = {
    "dry_multiplier": 0.8,
    "dry_base": 1.75,
    "dry_allowed_length": 2,
    "repeat_penalty": 1.1,
    "repetition_penalty": 1.1,
}


@dataclass(frozen=True)
class RowGrammar:
    """A row's form as a grammar: GBNF, and the same in llguidance's Lark (None: not wanted)."""

    gbnf: str
    lark: str | None = None


@dataclass
class ServerFields:
    """Which extra fields this server still gets; each is dropped for good once refused."""

    top_k: bool = True
    grammar: bool = True  # the form's grammar
    llguidance: bool = True  # that grammar as llguidance's Lark for llama.cpp; else GBNF
    anti_loop: bool = True  # ANTI_LOOP's fields
    _building: threading.Lock = field(default_factory=threading.Lock, repr=False)

    async def grammar_of(self, prompt: TextPrompt) -> RowGrammar | None:
        """The row's grammar, built off the event loop (a haiku's word tries take half a
        second the first time, its Lark a third more; both are cached)."""
        if not self.grammar or prompt.form is None:
            return None
        return await asyncio.to_thread(self._build, prompt.form, prompt.sampling.seed)

    def _build(self, form: FormSpec, seed: int) -> RowGrammar:
        with self._building:  # one at a time: two first builds raced in CMUdict's loading
            gbnf = row_gbnf(form, seed)
            return RowGrammar(gbnf, row_lark(gbnf) if self.llguidance else None)

    def extra(self, prompt: TextPrompt, grammar: RowGrammar | None) -> dict[str, Any] | None:
        """The fields beyond OpenAI's for ``prompt``, given its ``grammar_of``."""
        extra: dict[str, Any] = {"top_k": prompt.sampling.top_k} if self.top_k else {}
        if self.grammar and grammar is not None:
            lark = grammar.lark if self.llguidance else None
            extra["grammar"] = lark or grammar.gbnf  # llama.cpp
            extra["structured_outputs"] = {"grammar": grammar.gbnf}  # vLLM
        if self.anti_loop and prompt.form is not None:
            extra |= ANTI_LOOP  # loops are no grammar's to block: the server's own samplers
        return extra or None

    def drop_refused(self, message: str) -> bool:
        """Drop what the server's refusal names; False when it names nothing of ours. Rows
        sent together are refused together: each is asked again, the warning is logged once."""
        if "top_k" in message:
            name, warning = "top_k", "text server refuses top_k; sampling without it from now on"
        elif "llguidance" in message:
            name, warning = "llguidance", "text server has no llguidance; forms go as GBNF"
        elif "grammar" in message or "structured" in message:
            name, warning = "grammar", "text server refuses grammars; forms rest on prompts"
        elif any(field in message for field in ANTI_LOOP):
            name, warning = "anti_loop", "text server refuses repetition penalties"
        else:
            return False
        if getattr(self, name):
            setattr(self, name, False)
            log.warning(warning)
        return True
