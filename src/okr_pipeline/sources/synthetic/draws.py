"""Fast random draws for hot loops (``Random.choices`` and ``randint`` are slow per row).

Each helper consumes exactly one ``random()`` call, so swapping one for a ``Random`` method (or
back) changes every later draw: the generator's output depends on which one a call site uses.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

Table = tuple[tuple[Any, float], ...]  # (value, cumulative probability)


def cumulative(values: Sequence[Any], weights: Sequence[float]) -> Table:
    """A weighted choice as a cumulative table for ``weighted``."""
    total, acc, out = sum(weights), 0.0, []
    for value, weight in zip(values, weights, strict=True):
        acc += weight / total
        out.append((value, acc))
    return tuple(out)


def weighted(rng: random.Random, table: Table) -> Any:
    r = rng.random()
    for value, cum in table:
        if r < cum:
            return value
    return table[-1][0]


def one_of(rng: random.Random, seq: Sequence[Any]) -> Any:
    return seq[int(rng.random() * len(seq))]


def int_between(rng: random.Random, lo: int, hi: int) -> int:
    """Uniform integer in [lo, hi]."""
    return lo + int(rng.random() * (hi - lo + 1))


def clamp(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else hi if x > hi else x
