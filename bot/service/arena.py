"""Champion and challenger: ``MUSE_TEXT_CHALLENGER`` serves a second text model beside
``MUSE_TEXT_MODEL``. A share (``MUSE_CHALLENGER_SHARE``) of compare requests becomes a match:
A and B come from the two models, in a random order, and the public message does not name them.
Members' A/B choices and votes on matches are tallied per model; ``muse stats`` shows the
challenger's win rate with a 95% Wilson interval. ``muse promote`` swaps the roles in the
database (table ``model_roles``), which wins over the two settings at the next start as long as
they still name the same two models.
"""

from __future__ import annotations

import dataclasses
import math
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from bot.config import Settings
from bot.errors import ConfigError
from bot.store.arena import MatchChoice
from bot.store.records import JobRecord
from bot.store.storage import Storage
from generators.backend import TextBackend
from generators.queue import Ticket
from generators.samples import TextPrompt, TextSample
from generators.worker import ModelWorker

ARENA_KIND = "arena"  # a match's queue kind: a batch of its own, run outside the step loop
Z_95 = 1.959963984540054


def wilson_interval(wins: int, games: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a win rate (0..1); (0, 1) when no game was played."""
    if games == 0:
        return 0.0, 1.0
    rate = wins / games
    centre = rate + z * z / (2 * games)
    spread = z * math.sqrt(rate * (1 - rate) / games + z * z / (4 * games * games))
    scale = 1 + z * z / games
    return max(0.0, (centre - spread) / scale), min(1.0, (centre + spread) / scale)


@dataclass(frozen=True)
class Standing:
    """How ``model`` fared against ``rival`` in matches: wins, losses and ties."""

    model: str
    rival: str
    wins: int
    losses: int
    ties: int

    @property
    def decided(self) -> int:
        return self.wins + self.losses

    def win_rate(self) -> float | None:
        """Wins over decided comparisons (ties left out), None before any."""
        return self.wins / self.decided if self.decided else None

    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.wins, self.decided)


def standing(choices: Sequence[MatchChoice], model: str, rival: str) -> Standing:
    """``model``'s record against ``rival`` over the choices made on their matches."""
    wins = losses = ties = 0
    for choice in choices:
        if set(choice.models) != {model, rival}:
            continue
        if choice.winner is None:
            ties += 1
        elif choice.winner == model:
            wins += 1
        else:
            losses += 1
    return Standing(model, rival, wins, losses, ties)


def pair_standings(
    choices: Sequence[MatchChoice], challengers: Sequence[str] = ()
) -> list[Standing]:
    """One standing per pair of models that met: from the side of the one in ``challengers``
    when there is one, else of the first in sorted order."""
    pairs = sorted({(min(c.models), max(c.models)) for c in choices})
    return [
        standing(choices, second, first)
        if second in challengers
        else standing(choices, first, second)
        for first, second in pairs
    ]


async def effective_roles(storage: Storage, settings: Settings) -> Settings:
    """``settings`` with champion and challenger as ``muse promote`` last saved them, when the
    saved pair is the pair the settings name (a new challenger in the settings starts fresh)."""
    if settings.text_challenger is None:
        return settings
    saved = await storage.model_roles()
    if saved is None or set(saved) != {settings.text_model, settings.text_challenger}:
        return settings
    return dataclasses.replace(settings, text_model=saved[0], text_challenger=saved[1])


async def promote(storage: Storage, settings: Settings, now: float) -> tuple[str, str]:
    """Swap champion and challenger and save the swap; returns the new (champion, challenger)."""
    current = await effective_roles(storage, settings)
    if current.text_challenger is None:
        raise ConfigError("no challenger to promote: set MUSE_TEXT_CHALLENGER to a second model")
    champion, challenger = current.text_challenger, current.text_model
    await storage.save_model_roles(champion, challenger, now)
    return champion, challenger


async def arena_report(storage: Storage, settings: Settings) -> str:
    """The challenger's standing against the champion, for ``muse stats`` (empty: no challenger)."""
    roles = await effective_roles(storage, settings)
    if roles.text_challenger is None:
        return ""
    choices = await storage.match_choices()
    seen = {model for choice in choices for model in choice.models}
    challenger = _stored_id(seen, roles.text_challenger)
    champion = _stored_id(seen, roles.text_model)
    record = standing(choices, challenger, champion)
    votes = await storage.match_votes()
    lines = [f"challenger {roles.text_challenger} vs champion {roles.text_model}:"]
    rate = record.win_rate()
    if rate is None:
        lines.append(f"  no decided comparison yet ({record.ties} tie(s))")
    else:
        low, high = record.interval()
        lines.append(
            f"  challenger win rate {rate:.1%} (95% CI {low:.1%} to {high:.1%}) over "
            f"{record.decided} comparison(s): {record.wins} won, {record.losses} lost, "
            f"{record.ties} tie(s) left out"
        )
    for role, model in (("challenger", challenger), ("champion", champion)):
        up, down = votes.get(model, (0, 0))
        lines.append(f"  votes on {role}'s match outputs: +{up} / -{down}")
    return "\n".join(lines)


def _stored_id(seen: set[str], model: str) -> str:
    """The id outputs store for ``model``: itself, or with a quantization label ("m [8bit]")."""
    return next((s for s in sorted(seen) if s == model or s.startswith(f"{model} [")), model)


def match_ticket(record: JobRecord, rows: Sequence[TextPrompt]) -> Ticket[tuple[TextPrompt, ...]]:
    """A match's place in the queue: a batch of its own (its rows go to two models)."""
    units = float(sum(row.sampling.max_new_tokens for row in rows))
    payload = tuple(rows)
    return Ticket(record.id, record.user_id, f"arena:{record.id}", len(rows), payload, True,
                  ARENA_KIND, units)  # fmt: skip


async def play_match(
    worker: ModelWorker,
    champion: TextBackend,
    challenger: TextBackend,
    rows: Sequence[TextPrompt],
    cancel: threading.Event,
    rng: random.Random,
) -> tuple[list[TextSample], tuple[str, ...]]:
    """A and B from the two models, which one writes A drawn at random; returns the samples and
    each one's model id."""
    order = [champion, challenger]
    rng.shuffle(order)
    samples: list[TextSample] = []
    for backend, row in zip(order, rows, strict=True):
        samples.extend(await worker.call(backend.generate, [row], cancel))
    return samples, tuple(backend.model_id for backend in order)
