"""Wait estimates: moving averages of seconds per unit of work, per kind of job."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


class Job(Protocol):
    """What an estimate needs of a queued job (``generators.queue.Ticket`` has it)."""

    kind: str
    units: float


PARALLEL_KINDS = frozenset({"text"})


@dataclass
class Throughput:
    """Moving averages of seconds per unit, per kind of job, for wait estimates."""

    seconds_per_unit: dict[str, float] = field(default_factory=dict)
    default_s: float = 0.05
    weight: float = 0.3

    @staticmethod
    def batch_units(batch: Sequence[Job]) -> float:
        units = [t.units for t in batch] or [0.0]
        return max(units) if batch and batch[0].kind in PARALLEL_KINDS else sum(units)

    def observe(self, batch: Sequence[Job], seconds: float) -> None:
        units = self.batch_units(batch)
        if not batch or units <= 0:
            return
        kind, rate = batch[0].kind, seconds / units
        old = self.seconds_per_unit.get(kind)
        self.seconds_per_unit[kind] = rate if old is None else old + self.weight * (rate - old)

    def estimate_s(self, batch: Sequence[Job]) -> float:
        if not batch:
            return 0.0
        rate = self.seconds_per_unit.get(batch[0].kind, self.default_s)
        return rate * self.batch_units(batch)
