"""Best of several: where a server cannot be told a rule (syllables and English rhyme when it
takes no grammar), each row is sampled a few times at once and the candidate that keeps the most
rules wins. Where the grammar carries the rules, a row is sampled once, and more candidates are
sampled only when it has a flaw no grammar forbids (``flawed``: a line that repeats an earlier
one, a haiku's line 3 equal to its line 1, a slogan that opens with "Here's"), which is rare:
most pieces cost one row.

The extra candidates' seeds follow from the row's own seed, so the row's seed still names the
text it returned.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from generators.forms.checks import (
    looping_lines,
    rhyme_ok,
    slogan_leaks,
    structure_ok,
    syllables_ok,
)
from generators.forms.sound_grammar import forced_by_grammar
from generators.forms.spec import FormSpec
from generators.samples import SamplingParams, TextPrompt, TextSample

CANDIDATES = 4  # rows sampled for one scored row: the server batches them together
_SEED_STEP = 0x9E3779B1  # odd, so the candidates' seeds differ from each other and the row's
_SEED_SPAN = 2**32


def scored(spec: FormSpec | None, grammar: bool = False) -> bool:
    """Whether the form has rules the request's grammar does not carry, so its rows are sampled
    as candidates at once. Without a grammar: syllables, or rhyme in English. With the sound
    grammar (``sound_grammar``) none: a haiku's lines 1 and 3 may still come out the same, but
    rarely, so that is left to a second try (``flawed``)."""
    if spec is None:
        return False
    if grammar and forced_by_grammar(spec):
        return False
    return bool(spec.syllables) or (not spec.chinese and spec.rhyme.strip(".") != "")


def candidates(prompt: TextPrompt, count: int = CANDIDATES) -> list[TextPrompt]:
    """The row itself first, then ``count - 1`` copies with seeds derived from its seed."""
    seed = prompt.sampling.seed
    seeds = [(seed + k * _SEED_STEP) % _SEED_SPAN for k in range(1, count)]
    return [prompt] + [replace(prompt, sampling=_with_seed(prompt.sampling, s)) for s in seeds]


def _with_seed(sampling: SamplingParams, seed: int) -> SamplingParams:
    return replace(sampling, seed=seed)


def score(spec: FormSpec, text: str) -> tuple[int, int, int, int, int]:
    """Higher is better: structure, no slogan preamble, syllables, rhyme, then fewer repeated
    lines."""
    leaks = len(slogan_leaks(spec, text.strip())) if spec.slogan else 0
    syllables = syllables_ok(spec, text) if spec.syllables else True
    rhyme = rhyme_ok(spec, text) if spec.rhyme.strip(".") else True
    repeats, _ = looping_lines(text)
    return int(structure_ok(spec, text)), -leaks, int(syllables), int(rhyme), -repeats


def flawed(spec: FormSpec, text: str) -> bool:
    """Whether a piece has a flaw its grammar does not forbid, so a row whose grammar carries
    its other rules is sampled again for it (``OpenAITextBackend``): a line that repeats an
    earlier one; a slogan opening with a preamble word ("Here's", "Sure", "Slogan"), which the
    in-process constraint refuses token by token and a grammar lets through."""
    if spec.slogan:
        return bool(slogan_leaks(spec, text.strip()))
    return looping_lines(text)[0] > 0


def best_of(spec: FormSpec, samples: Sequence[TextSample], seed: int) -> TextSample:
    """The best-scoring sample (the earliest on a tie), reported under the row's own seed."""
    live = [s for s in samples if s.finish_reason != "cancelled"] or list(samples)
    winner = max(live, key=lambda s: score(spec, s.text))  # max keeps the first of equals
    return replace(winner, seed=seed)


@dataclass(frozen=True)
class Found:
    """The row's sample, and whether it took a second try."""

    sample: TextSample
    resampled: bool = False


async def best_row(
    prompt: TextPrompt,
    spec: FormSpec,
    grammar: bool,
    sample: Callable[[TextPrompt, bool], Awaitable[TextSample]],
    cancel: threading.Event,
) -> Found:
    """A row whose form has rules its request's grammar does not carry (``scored``) is
    sampled as ``CANDIDATES`` at once and the best kept; any other row once, and again as more
    candidates only when it came out ``flawed``. ``sample(row, streamed)`` writes
    one candidate; the row itself (the first) streams."""
    first, *others = candidates(prompt)
    seed = prompt.sampling.seed
    if scored(spec, grammar):
        found = await asyncio.gather(sample(first, True), *(sample(o, False) for o in others))
        return Found(best_of(spec, found, seed))
    alone = await sample(first, True)
    if cancel.is_set() or not flawed(spec, alone.text):
        return Found(alone)
    more = await asyncio.gather(*(sample(other, False) for other in others))
    return Found(best_of(spec, [alone, *more], seed), resampled=True)
