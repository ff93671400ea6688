"""The monitoring pipeline's tasks. For now one: a snapshot of the warehouse (rows, the open
quarantine, the last ingest runs) and the latest pipeline runs that failed."""

from __future__ import annotations

from collections.abc import Mapping

from okr_pipeline.config import Settings
from okr_pipeline.jobs.data import status
from okr_pipeline.jobs.pipelines import Output, RunContext

__all__ = ["snapshot"]


def snapshot(settings: Settings, run: RunContext, inputs: Mapping[str, Output]) -> Output:
    from okr_pipeline.jobs.runner import list_runs  # the runner runs this task

    failed = [r.as_dict() for r in list_runs(settings, status="failed", limit=20)]
    return {"warehouse": status(settings), "failed_runs": failed}
