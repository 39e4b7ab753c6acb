"""The dataset formats, in one registry: ``REGISTRY`` maps each name to its ``Format`` (the kinds
its files take, its columns and its row writer), and ``FORMATS`` lists the names in order.

A new format is a module here defining one ``Format``, added to ``REGISTRY`` below.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from bot.datasets.formats.base import Format
from bot.datasets.formats.dpo import DPO
from bot.datasets.formats.kto import KTO
from bot.datasets.formats.raw import RAW
from bot.datasets.formats.sft import SFT

REGISTRY: Mapping[str, Format] = MappingProxyType({f.name: f for f in (SFT, DPO, KTO, RAW)})
FORMATS = tuple(REGISTRY)


def format_named(name: str) -> Format:
    """The registered format called ``name``, or ValueError listing the names there are."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {name!r}") from None
