"""Per-row token masks that keep a poem or slogan in its form while it is sampled.

``FormTokens`` is built once per tokenizer: the llguidance tokenizer, every token's text, and the
ids that end a line. ``RowConstraint`` follows one row: before each draw, ``restrict`` sets to
-inf the logits of every token that would break the form, and ``advance`` records the drawn token.

What is forced, and by what:

- llguidance (a maintained grammar engine) runs the form's grammar (``generators.forms.grammar``):
  line count, characters, line lengths, line endings, Chinese rhyme; the row ends only where the
  grammar accepts.
- Own rules, only where no grammar can say it (``generators.forms.rules``), checked on the
  ``CANDIDATES`` likeliest tokens allowed by the grammar (``WIDE_CANDIDATES`` if none passes):
  haiku syllables, English rhyme (once a rhyming line is about as long as its partner line,
  its next word is drawn from the partner's rhyme words; from its seventh word, a line that sets
  a rhyme ends on a word with six rhymes or more), no repeated line, no role talk, no slogan
  preamble (judged on decoded text, so a character split over byte tokens counts), distinct
  slogans of one request; plus a repeated n-gram block.
- Near its token cap a row may only close (line end or end of text) where the grammar lets it.

If the own rules leave no token, the grammar's mask alone applies: the form's structure always
holds, the softer rule gives way. A row's mask depends on its own tokens only, so rows keep
their per-seed reproducibility.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

from generators.forms.english import rhyme_choices, rhyme_words
from generators.forms.grammar import lark
from generators.forms.rules import (
    MIN_RHYME_CHOICES,
    WEAK_ENDINGS,
    LineState,
    may_continue,
    may_end_line,
    must_force_rhyme,
    must_set_rhyme,
)
from generators.forms.spec import FormSpec

CANDIDATES = 32  # likeliest grammar-allowed tokens the word-level rules look at
WIDE_CANDIDATES = 256  # looked at when none of those passes
CLOSE_PER_LINE = 12  # tokens kept per line still to write; below that a row closes fast
NGRAM = {False: 4, True: 6}  # repeated token n-gram blocked, English / Chinese
SETTER = "*"  # the forcing target of a line that sets a rhyme: any word others can rhyme with
_FINAL_MARKS = (".", "!", "?", "。", "！", "？")  # a slogan ends after one of these


class FormTokens:
    """What the masks need to know about one tokenizer; build once per back-end (about 2 s)."""

    def __init__(self, tokenizer: Any, eos_ids: Sequence[int]) -> None:
        import llguidance.hf

        self.tokenizer = tokenizer
        self.eos_ids = list(eos_ids)
        self.vocab = len(tokenizer)
        self.ll = llguidance.hf.from_tokenizer(
            tokenizer, n_vocab=self.vocab, eos_token=self.eos_ids
        )
        pieces = tokenizer.batch_decode([[i] for i in range(self.vocab)])
        self.texts: list[str] = [str(p) for p in pieces]
        self.line_end = torch.tensor(["\n" in t for t in self.texts])
        self.word_end = torch.tensor([t[:1] in (" ", "\n") for t in self.texts])
        closers = {"", ",", ".", "!", "?", ";", "，", "。", "！", "？"}
        self.closers = [i for i, t in enumerate(self.texts) if "\n" in t and t.strip() in closers]
        self.single = {
            t[1:]: i for i, t in enumerate(self.texts) if t[:1] == " " and t[1:].isalpha()
        }
        self._words: dict[str, list[list[int]]] = {}
        self._matchers: dict[FormSpec, Any] = {}  # a fresh matcher per form, copied per row
        self._worker: ThreadPoolExecutor | None = None  # computes the next grammar masks
        self._executor: Any = None  # llguidance's batch mask executor

    def __repr__(self) -> str:
        return f"<FormTokens vocab={self.vocab}>"

    def matcher(self, spec: FormSpec) -> Any:
        """A fresh llguidance matcher for ``spec``: compiled once (up to seconds for the rhyme
        alternations of 绝句), then copied for each row (microseconds)."""
        if spec not in self._matchers:
            import llguidance

            fresh = llguidance.LLMatcher(self.ll, lark(spec), log_level=0)
            if fresh.is_error():
                raise ValueError(f"grammar of {spec.name}: {fresh.get_error()}")
            self._matchers[spec] = fresh
        return self._matchers[spec].deep_copy()

    def start_masks(self, rows: Sequence[RowConstraint]) -> None:
        """Start computing the next grammar mask of every row in ``rows`` in one llguidance
        batch call on a worker thread, so it runs while the model's forward pass does (both
        release the GIL); each row's ``restrict`` then waits for its mask instead of computing
        it. The masks are exactly those ``restrict`` would compute."""
        live = [r for r in rows if not (r.matcher.is_error() or r.matcher.is_stopped())]
        if not live:
            return
        import llguidance
        import llguidance.numpy  # not llguidance.torch: it compiles a kernel at import

        if self._worker is None:
            self._worker = ThreadPoolExecutor(1, thread_name_prefix="muse-masks")
            self._executor = llguidance.LLExecutor()
        words = llguidance.numpy.allocate_token_bitmask(len(live), self.vocab)
        pairs = [(row.matcher, i) for i, row in enumerate(live)]
        fill = llguidance.numpy.fill_next_token_bitmask_par
        done = self._worker.submit(fill, self._executor, pairs, words)
        for i, row in enumerate(live):
            row.pending = (done, words, i)

    def spellings(self, target: str) -> list[list[int]]:
        """Token ids of " word" for the common rhyme words of ``target``: those the tokenizer
        spells as one token (a word frequent enough to be in its vocabulary), else all. For
        ``SETTER``: the one-token words with ``MIN_RHYME_CHOICES`` rhymes or more (about 12,000
        on SmolLM2; found once, in about 0.3 s)."""
        if target == SETTER and target not in self._words:
            self._words[target] = [
                [i]
                for w, i in self.single.items()
                if w.islower() and len(w) >= 3 and w not in WEAK_ENDINGS
                if rhyme_choices(w) >= MIN_RHYME_CHOICES
            ]
        if target not in self._words:
            words = rhyme_words(target)
            common = [[self.single[w]] for w in words if w in self.single]
            self._words[target] = (
                common
                if len(common) >= 3
                else [list(self.tokenizer.encode(" " + w, add_special_tokens=False)) for w in words]
            )
        return self._words[target]


class RowConstraint:
    """The form of one row. ``siblings`` is shared by the rows of one request: each row's text
    so far and whether it ended, by row ``rank``; a row may not end on the text of a sibling
    that ended, or of an earlier-ranked sibling that might end now, so candidates differ."""

    def __init__(
        self,
        spec: FormSpec,
        tokens: FormTokens,
        max_new_tokens: int,
        siblings: dict[int, tuple[str, bool]],
        rank: int = 0,
    ) -> None:
        self.spec = spec
        self.tokens = tokens
        self.max_new = max_new_tokens
        self.siblings = siblings
        self.rank = rank
        siblings[rank] = ("", False)
        self.matcher = tokens.matcher(spec)
        self.ids: list[int] = []
        self.text = ""
        self.forced: list[int] = []  # tokens of a forced rhyme word so far
        self.forcing = ""  # the rhyme target being forced ('' when not)
        self.pending: tuple[Future[None], Any, int] | None = None  # from start_masks
        self.watch_words = not spec.chinese or spec.slogan  # rules on tokens inside a line

    def __repr__(self) -> str:
        return f"<RowConstraint {self.spec.name} tokens={len(self.ids)}>"

    def advance(self, token: int) -> None:
        """Record the drawn token (end-of-text tokens included)."""
        if self.pending is not None:  # never move the matcher while its mask is computed
            self.pending[0].result()
            self.pending = None
        if token in self.tokens.eos_ids:
            self.siblings[self.rank] = (self.text.strip(), True)
            return
        self.matcher.consume_token(token)
        self.ids.append(token)
        piece = self.tokens.texts[token]
        if "\ufffd" in piece or "\ufffd" in self.text:  # a character split across tokens
            self.text = str(self.tokens.tokenizer.decode(self.ids))
        else:
            self.text += piece
        self.siblings[self.rank] = (self.text.strip(), False)
        if self.forcing:
            self.forced.append(token)
            if "\n" in self.tokens.texts[token]:
                self.forcing, self.forced = "", []

    def restrict(self, scores: torch.Tensor) -> None:
        """Set the logits (one row, vocab wide) of forbidden tokens to -inf, in place."""
        allowed = self._grammar_mask(scores.shape[-1])
        narrowed = self._closing(allowed)
        finer = self._word_rules(scores, narrowed)
        if finer is not None and bool(finer.any()):
            narrowed = finer
        scores.masked_fill_(~narrowed, float("-inf"))

    def _grammar_mask(self, width: int) -> torch.Tensor:
        early = None
        if self.pending is not None:  # wait first: the matcher is busy until then
            done, masks, index = self.pending
            self.pending = None
            done.result()
            early = masks[index].view(np.uint8)
        if self.matcher.is_error() or self.matcher.is_stopped():
            allowed = torch.zeros(width, dtype=torch.bool)
            allowed[self.tokens.eos_ids] = True
            return allowed
        if early is not None:
            words = early
        else:
            words = np.frombuffer(self.matcher.compute_bitmask(), dtype=np.uint8)
        bits = np.unpackbits(words, bitorder="little")[:width]
        allowed = torch.zeros(width, dtype=torch.bool)
        allowed[: len(bits)] = torch.from_numpy(bits.astype(bool))
        return allowed

    def _closing(self, allowed: torch.Tensor) -> torch.Tensor:
        """Near the cap (``CLOSE_PER_LINE`` tokens per line still owed): end the text where the
        grammar lets it, else end the line, else end the word."""
        owed = max(1, self.spec.min_lines - self.text.count("\n"))
        if self.max_new - len(self.ids) > owed * CLOSE_PER_LINE + 4:
            return allowed
        eos = torch.zeros_like(allowed)
        eos[self.tokens.eos_ids] = True
        width = len(allowed)
        ends = (eos, self.tokens.line_end[:width], self.tokens.word_end[:width])
        for option in (allowed & end for end in ends):
            if bool(option.any()):
                return option
        return allowed

    def _word_rules(self, scores: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor | None:
        state = LineState.of(self.text)
        target = self.forcing or must_force_rhyme(self.spec, state)
        if not target and must_set_rhyme(self.spec, state):
            target = SETTER
        if target:
            forced = self._force_rhyme(target, allowed)
            if forced is not None:
                return forced
        masked = scores.masked_fill(~allowed, float("-inf"))
        extra = self.tokens.eos_ids + self.tokens.closers
        banned = self._repeats()
        finer = torch.zeros_like(allowed)
        checked: set[int] = set()
        for wanted in (CANDIDATES, WIDE_CANDIDATES):  # wider only when the likeliest all fail
            count = min(wanted, int(allowed.sum()))
            candidates = masked.topk(count).indices.tolist() if count else []
            candidates += [t for t in extra if bool(allowed[t])]
            for token in set(candidates) - banned - checked:
                finer[token] = self._token_ok(token)
            checked.update(candidates)
            if bool(finer.any()):
                break
        return finer

    def _token_ok(self, token: int) -> bool:
        if token in self.tokens.eos_ids:
            state = LineState.of(self.text)
            return self._may_close("") and may_end_line(self.spec, state)
        piece = self.tokens.texts[token]
        if "\n" in piece:
            head = piece.split("\n")[0]
            return may_end_line(self.spec, LineState.of(self.text + head))
        if self.spec.slogan and piece.rstrip().endswith(_FINAL_MARKS):  # only the end follows
            return self._may_close(piece) and self._continues(token, piece)
        return self._continues(token, piece)

    def _may_close(self, piece: str) -> bool:
        """Whether ``piece`` may close the row (the end itself: ``""``): not onto a sibling's
        ended text, nor while an earlier-ranked sibling has the same text so far (it may close
        the same way now), so the candidates of one request end on different texts."""
        now, after = self.text.strip(), (self.text + piece).strip()
        return not any(
            (ended and text == after) or (not ended and rank < self.rank and text == now)
            for rank, (text, ended) in self.siblings.items()
            if rank != self.rank
        )

    def _continues(self, token: int, piece: str) -> bool:
        if not self.watch_words:
            return True
        return may_continue(self.spec, *self._decoded(token, piece))

    def _decoded(self, token: int, piece: str) -> tuple[LineState, str]:
        """The row's text before ``token`` and what ``token`` adds to it, judged on decoded
        text: a character split over byte tokens (each alone decodes to U+FFFD) is seen once
        its last byte is drawn, so a rule on it (a Chinese preamble) holds at that byte."""
        if "\ufffd" not in piece and not self.text.endswith("\ufffd"):
            return LineState.of(self.text), piece
        base = self.text.rstrip("\ufffd")
        after = str(self.tokens.tokenizer.decode([*self.ids, token]))
        return LineState.of(base), after[len(base) :] if after.startswith(base) else piece

    def _force_rhyme(self, target: str, allowed: torch.Tensor) -> torch.Tensor | None:
        """Only the tokens that continue some rhyme word of ``target`` (after a finished
        word: only line ends)."""
        spellings = self.tokens.spellings(target)
        done = len(self.forced)
        nexts = {s[done] for s in spellings if len(s) > done and s[:done] == self.forced}
        finished = any(s == self.forced for s in spellings)
        mask = torch.zeros_like(allowed)
        mask[list(nexts)] = True
        if finished:
            mask |= self.tokens.line_end[: len(allowed)]
            mask[self.tokens.eos_ids] = True
        mask &= allowed
        if not bool(mask.any()):
            self.forcing, self.forced = "", []
            return None
        self.forcing = target
        return mask

    def _repeats(self) -> set[int]:
        """Tokens that would repeat an n-gram this row already wrote."""
        n = NGRAM[self.spec.chinese]
        ids = self.ids
        if len(ids) < n:
            return set()
        tail = ids[len(ids) - n + 1 :]
        return {ids[i + n - 1] for i in range(len(ids) - n + 1) if ids[i : i + n - 1] == tail}
