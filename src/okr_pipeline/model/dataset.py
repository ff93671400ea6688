"""Training data: snapshots of closed key results at several points of their period, labelled
with whether they were missed, split by time.

A snapshot is the key result as it stood at a fraction of its period (as-of features), so the
model learns from the same view it will have of open key results. Key results of cancelled
objectives have no outcome and are left out. A period is the key results of objectives with the
same period (start and end: a quarter and a year starting together are two), and periods are
ordered by when they end, which is when their outcomes are known: validation takes the latest
closed periods and training the earlier ones, never a random split across time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from okr_pipeline.features import History, closed_before, features_at, snapshot_instant

__all__ = ["Snapshots", "split_by_time", "training_snapshots"]


@dataclass
class Snapshots:
    features: pd.DataFrame  # indexed by (key_result_id, as_of)
    missed: np.ndarray  # 1 if the key result was not achieved
    elapsed: np.ndarray  # share of the period elapsed at the snapshot
    groups: np.ndarray  # key result id of each row
    periods: np.ndarray  # the key result's period: "<start>..<end>" of its objective
    period_starts: np.ndarray  # when the row's period starts (days since the epoch)
    period_ends: np.ndarray  # when it ends: its last day, or a later due date among its rows

    def __len__(self) -> int:
        return len(self.missed)

    def subset(self, mask: np.ndarray) -> Snapshots:
        return Snapshots(
            self.features[mask],
            self.missed[mask],
            self.elapsed[mask],
            self.groups[mask],
            self.periods[mask],
            self.period_starts[mask],
            self.period_ends[mask],
        )

    def join(self, other: Snapshots) -> Snapshots:
        return Snapshots(
            pd.concat([self.features, other.features]),
            *(
                np.concatenate([getattr(self, name), getattr(other, name)])
                for name in (
                    "missed",
                    "elapsed",
                    "groups",
                    "periods",
                    "period_starts",
                    "period_ends",
                )
            ),
        )

    def period_order(self) -> np.ndarray:
        """The periods in the order their outcomes are known: by end, then start."""
        periods, first = np.unique(self.periods, return_index=True)
        return periods[np.lexsort((self.period_starts[first], self.period_ends[first]))]


def training_snapshots(history: History, as_of: datetime, fractions: Sequence[float]) -> Snapshots:
    """Snapshots of every key result closed (with an outcome) before `as_of` and before the
    newest data (see `closed_before`)."""
    closed = closed_before(history, as_of)
    pairs = [(kr, snapshot_instant(history, kr, f)) for kr in closed for f in fractions]
    features = features_at(history, pairs)
    ids = np.array([kr for kr, _ in pairs], dtype=object)
    key_results = [history.key_results[kr] for kr in ids]
    periods = np.array([f"{kr.begin:g}..{kr.period_end:g}" for kr in key_results], dtype=object)
    period_end: dict[str, float] = {}
    for period, kr in zip(periods, key_results, strict=True):
        period_end[period] = max(period_end.get(period, kr.period_end), kr.end)
    return Snapshots(
        features=features,
        missed=np.array([history.outcome(kr) for kr in ids], dtype=int),
        elapsed=features["elapsed"].to_numpy(dtype=float),
        groups=ids,
        periods=periods,
        period_starts=np.array([kr.begin for kr in key_results], dtype=float),
        period_ends=np.array([period_end[period] for period in periods], dtype=float),
    )


def split_by_time(snapshots: Snapshots, validation_share: float) -> tuple[Snapshots, Snapshots]:
    """(training, validation): validation holds the periods that ended last, whole, that
    together make at least `validation_share` of the snapshots; training holds the others."""
    order = snapshots.period_order()[::-1]  # the latest to end first
    counts = np.array([np.count_nonzero(snapshots.periods == period) for period in order])
    needed = int(np.searchsorted(np.cumsum(counts), validation_share * len(snapshots))) + 1
    late = np.isin(snapshots.periods, order[: min(needed, len(order) - 1)])
    return snapshots.subset(~late), snapshots.subset(late)
