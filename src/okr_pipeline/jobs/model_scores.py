"""The model as the dashboard compares it: the champion, the challenger and the pace baselines
on the validation metrics their training recorded, and the calibration of the stored risks
against the outcomes known by a date (the reliability table monitoring computes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from okr_pipeline.config import Settings
from okr_pipeline.jobs.model_registry import registered_versions
from okr_pipeline.model.baseline import BASELINES, metric_prefix
from okr_pipeline.monitoring.performance import performance
from okr_pipeline.warehouse import open_warehouse

__all__ = ["COMPARED_METRICS", "model_calibration", "model_comparison"]

# validation metrics shown side by side; lower is better for brier and log_loss
COMPARED_METRICS = ("auc", "auc_early", "auc_middle", "auc_late", "brier", "log_loss")


def model_comparison(settings: Settings) -> dict[str, Any]:
    """The registered versions (newest first), which ones are champion and challenger, and the
    comparison: a column per scorer (champion, challenger if another version, and each pace
    baseline on the champion's validation snapshots), a value per metric of COMPARED_METRICS
    (None: not recorded)."""
    registry = registered_versions(settings)
    by_version = {item["version"]: item for item in registry["items"]}
    columns: list[dict[str, Any]] = []
    champion = by_version.get(registry["champion"] or "")
    challenger = by_version.get(registry["challenger"] or "")
    if champion is not None:
        columns.append(_column(f"champion v{champion['version']}", champion["metrics"], ""))
    if challenger is not None and challenger is not champion:
        columns.append(_column(f"challenger v{challenger['version']}", challenger["metrics"], ""))
    if champion is not None:
        for baseline in BASELINES:
            columns.append(_column(baseline, champion["metrics"], metric_prefix(baseline)))
    return {**registry, "metrics": list(COMPARED_METRICS), "columns": columns}


def _column(name: str, metrics: dict[str, float | None], prefix: str) -> dict[str, Any]:
    return {"name": name, "values": {m: metrics.get(prefix + m) for m in COMPARED_METRICS}}


def model_calibration(settings: Settings, as_of: datetime) -> dict[str, Any]:
    """The stored risks of the key results closed by `as_of` against their outcomes: how many,
    their AUC and Brier, and the reliability table (per bin of predicted risk, the mean
    predicted next to the observed miss rate); `reason` says why a metric is missing."""
    realized = performance(settings, open_warehouse(settings), as_of)["realized"]
    overall: dict[str, Any] = realized["overall"]
    return overall
