"""Best of several candidates, for the rules a server cannot be told (syllables, English
rhyme): which forms are scored, the candidates' seeds, and which candidate wins."""

from __future__ import annotations

import threading

from generators.forms import best
from generators.forms.spec import QIYAN, SLOGAN_EN, form_spec
from generators.options import Language, PoemForm, TextKind
from generators.remote import OpenAITextBackend, RemoteConfig
from generators.samples import ChatMessage, SamplingParams, TextPrompt, TextSample
from tests.openai_faults import ScriptedOpenAI, Step

LIMERICK = form_spec(TextKind.POEM, PoemForm.LIMERICK, Language.ENGLISH)
HAIKU = form_spec(TextKind.POEM, PoemForm.HAIKU, Language.ENGLISH)
FREE = form_spec(TextKind.POEM, PoemForm.FREE_VERSE, Language.ENGLISH)


def row(seed: int, form: object = LIMERICK) -> TextPrompt:
    messages = (ChatMessage("user", "a limerick"),)
    return TextPrompt(messages, "a limerick", SamplingParams(seed, 64), form)  # type: ignore[arg-type]


def test_only_rules_a_grammar_cannot_carry_are_scored() -> None:
    assert best.scored(LIMERICK) and best.scored(HAIKU)
    # with the sound grammar, syllables and rhyme are forced; a flawed row is sampled again
    assert not best.scored(LIMERICK, grammar=True) and not best.scored(HAIKU, grammar=True)
    assert not best.scored(FREE) and not best.scored(QIYAN) and not best.scored(SLOGAN_EN)
    assert not best.scored(None)


def test_candidates_start_with_the_row_and_follow_from_its_seed() -> None:
    rows = best.candidates(row(7))
    seeds = [r.sampling.seed for r in rows]
    assert seeds[0] == 7 and len(set(seeds)) == best.CANDIDATES
    assert seeds == [r.sampling.seed for r in best.candidates(row(7))]  # reproducible
    assert all(0 <= s < 2**32 for s in [r.sampling.seed for r in best.candidates(row(2**32 - 1))])


def test_the_candidate_that_keeps_the_rhyme_wins_under_the_rows_seed() -> None:
    loose = "\n".join((
        "There once was a cat on a mat", "Who sat there all day by the door", "He ran to the sea",
        "He swam with a bee", "And then he went home to the floor",
    ))  # fmt: skip
    kept = "\n".join((
        "There once was a cat on a mat", "Who wore an enormous red hat", "He ran to the sea",
        "To swim with a bee", "And came home as round as a bat",
    ))  # fmt: skip
    samples = [TextSample(loose, 7, 5, 30, "stop"), TextSample(kept, 99, 5, 31, "stop")]
    chosen = best.best_of(LIMERICK, samples, seed=7)
    assert chosen.text == kept and chosen.seed == 7
    tie = best.best_of(LIMERICK, [samples[1], TextSample(kept, 5, 5, 31, "stop")], seed=7)
    assert tie.new_tokens == 31 and tie.text == kept  # the earliest of equals


POND = ("An old silent pond\n", "A frog jumps into the pond\n", "Splash! Silence again")
ECHO = ("An old silent pond\n", "A frog jumps into the pond\n", "An old silent pond")


def test_a_repeated_line_or_a_slogan_preamble_asks_for_a_second_try() -> None:
    assert not best.flawed(HAIKU, "".join(POND))
    assert best.flawed(HAIKU, "".join(ECHO))  # line 3 repeats line 1
    assert not best.flawed(HAIKU, "An old silent pond\nA frog jumps in")  # the grammar's job
    assert best.flawed(SLOGAN_EN, "Here's a creative option to replace your bike!")
    assert best.flawed(SLOGAN_EN, "Sure, ride further with us")
    assert not best.flawed(SLOGAN_EN, "Awful Ride A-Bike!")


async def test_a_slogan_that_opens_with_a_preamble_is_sampled_again() -> None:
    lead = ("Here's ", "a ", "slogan: ", "Ride on")
    async with ScriptedOpenAI(
        [Step(words=lead), Step(words=("Ride ", "further ", "with us!"))]
    ) as server:
        remote = OpenAITextBackend.connect(RemoteConfig(server.url, "m", "k", backoff_s=0.01))
        [slogan] = await remote.generate([row(7, SLOGAN_EN)], threading.Event())
        await remote.close()
    assert len(server.requests) == best.CANDIDATES
    assert slogan.text == "Ride further with us!" and slogan.seed == 7
    assert remote.health.resamples == 1


async def test_without_a_grammar_a_scored_row_asks_for_several_candidates_at_once() -> None:
    async with ScriptedOpenAI([Step(refuse="grammar", words=POND, hang_s=0.05)]) as server:
        remote = OpenAITextBackend.connect(RemoteConfig(server.url, "m", "k", backoff_s=0.01))
        await remote.generate([row(3, FREE)], threading.Event())  # learns: no grammars here
        server.requests.clear()
        server.most_in_flight = 0
        resampled = remote.health.resamples
        [haiku] = await remote.generate([row(7, HAIKU)], threading.Event())
        await remote.close()
    sent = [body for body in server.requests if "grammar" not in body]
    assert (
        len(sent) == len(server.requests) == best.CANDIDATES
        and server.most_in_flight == best.CANDIDATES
    )
    assert haiku.seed == 7 and remote.health.resamples == resampled  # at once, not again


async def test_with_a_grammar_a_flawless_row_is_sampled_once() -> None:
    async with ScriptedOpenAI([Step(words=POND)]) as server:
        remote = OpenAITextBackend.connect(RemoteConfig(server.url, "m", "k", backoff_s=0.01))
        [haiku] = await remote.generate([row(7, HAIKU)], threading.Event())
        await remote.close()
    assert len(server.requests) == 1 and "grammar" in server.requests[0]
    assert haiku.text == "".join(POND) and remote.health.resamples == 0


async def test_with_a_grammar_a_flawed_row_is_sampled_again_and_the_best_kept() -> None:
    async with ScriptedOpenAI([Step(words=ECHO), Step(words=POND)]) as server:
        remote = OpenAITextBackend.connect(RemoteConfig(server.url, "m", "k", backoff_s=0.01))
        [haiku] = await remote.generate([row(7, HAIKU)], threading.Event())
        await remote.close()
    seeds = [body["seed"] for body in server.requests]
    assert len(seeds) == best.CANDIDATES and seeds[0] == 7 and len(set(seeds)) == len(seeds)
    assert haiku.text == "".join(POND) and haiku.seed == 7  # the row's seed names the text
    assert remote.health.resamples == 1
