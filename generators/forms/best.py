"""Best of several: where a server cannot be told a rule (syllables and English rhyme when it
takes no grammar), each row is sampled a few times at once and the candidate that keeps the most
rules wins. Where the grammar carries the rules, a row is sampled once, and more candidates are
sampled only when it came out flawed (``flawless``: a repeated line, a haiku's line 3 equal to
its line 1, a broken line count), which is rare: most pieces cost one row.

The extra candidates' seeds follow from the row's own seed, so the row's seed still names the
text it returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from generators.forms.checks import looping_lines, rhyme_ok, structure_ok, syllables_ok
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
    rarely, so that is left to a second try (``flawless``)."""
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


def score(spec: FormSpec, text: str) -> tuple[int, int, int, int]:
    """Higher is better: structure, syllables, rhyme, then fewer repeated lines."""
    syllables = syllables_ok(spec, text) if spec.syllables else True
    rhyme = rhyme_ok(spec, text) if spec.rhyme.strip(".") else True
    repeats, _ = looping_lines(text)
    return int(structure_ok(spec, text)), int(syllables), int(rhyme), -repeats


def flawless(spec: FormSpec, text: str) -> bool:
    """Whether a text keeps every rule ``score`` checks, so more candidates cannot beat it."""
    return score(spec, text) == (1, 1, 1, 0)


def best_of(spec: FormSpec, samples: Sequence[TextSample], seed: int) -> TextSample:
    """The best-scoring sample (the earliest on a tie), reported under the row's own seed."""
    live = [s for s in samples if s.finish_reason != "cancelled"] or list(samples)
    winner = max(live, key=lambda s: score(spec, s.text))  # max keeps the first of equals
    return replace(winner, seed=seed)
