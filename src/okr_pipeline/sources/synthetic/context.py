"""What every part of one run shares: random streams, the snapshot instant, ids, export style."""

from __future__ import annotations

import datetime as dt
import random

from .draws import int_between

# How clients write instants: suffix and offset in minutes. All mean the correct instant;
# no suffix means UTC (contract section 1).
ZONES: tuple[tuple[str, int], ...] = (
    ("Z", 0), ("+03:00", 180), ("-05:00", -300), ("", 0), ("+05:30", 330), ("+01:00", 60),
)  # fmt: skip
ZONE_WEIGHTS = (0.6, 0.1, 0.1, 0.12, 0.04, 0.04)


def midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day)


def num(x: float, decimals: int) -> int | float:
    """Round for output; integral values become ints so they print without '.0'."""
    r = round(x, decimals)
    if decimals <= 0 or r == int(r):
        return int(r)
    return r


class Context:
    """One generation run: its settings, random streams, snapshot time and id counters."""

    def __init__(self, *, seed: int, scale: float, messy: bool, as_of: dt.date) -> None:
        self.seed, self.scale, self.messy, self.as_of = seed, scale, messy, as_of
        self.rng = random.Random(seed)
        # Formatting choices get their own stream so they never shift the simulated data.
        self.fmt_rng = random.Random(f"fmt-{seed}")
        self.cutoff = midnight(as_of)  # snapshot time: every instant is before this
        self._ids: dict[str, int] = {}

    def next_id(self, prefix: str, width: int) -> str:
        n = self._ids.get(prefix, 0) + 1
        self._ids[prefix] = n
        return f"{prefix}{n:0{width}d}"

    def before_cutoff(self, instant: dt.datetime) -> dt.datetime:
        """The instant, or shortly before the snapshot if it would be at or after it."""
        if instant < self.cutoff:
            return instant
        return self.cutoff - dt.timedelta(minutes=self.rng.randint(20, 2880))

    def ts(self, instant: dt.datetime, zone: int) -> str:
        """A UTC instant as a client writes it; mostly the owner's client style, sometimes not."""
        if self.fmt_rng.random() < 0.1:
            zone = int_between(self.fmt_rng, 0, len(ZONES) - 1)
        suffix, minutes = ZONES[zone]
        local = instant + dt.timedelta(minutes=minutes) if minutes else instant
        return local.isoformat(timespec="seconds") + suffix

    def enum(self, value: str | None) -> str | None:
        # Enumerations match case-insensitively, so exports are sloppy about case.
        r = self.fmt_rng.random()
        if value is None or r >= 0.08:
            return value
        return value.upper() if r < 0.04 else value.title()
