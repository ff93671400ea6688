"""The monitoring pipeline's task: a monitoring run as of the pipeline run's as-of (see
`jobs.monitor`); its output is the run's summary, the whole document being stored apart."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from okr_pipeline.config import Settings
from okr_pipeline.jobs.pipelines import Output, RunContext

__all__ = ["monitor"]


def monitor(settings: Settings, run: RunContext, inputs: Mapping[str, Output]) -> Output:
    from okr_pipeline.jobs.monitor_alerts import monitor as monitoring_run  # loads the model stack

    document = monitoring_run(settings, run.as_of)
    raised = Counter(alert["severity"] for alert in document["alerts"])
    return {"as_of": document["as_of"], "alerts": dict(raised), "report": document["report"]}
