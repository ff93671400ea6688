"""The embedded scheduler (`okr scheduler`): every pipeline on its cron schedule (UTC), one run
at a time, until stopped. A fire time missed while another run took long is not made up for:
the next run as of its own time brings everything up to date (like Airflow's catchup=False)."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from croniter import croniter

from okr_pipeline.config import Settings
from okr_pipeline.core import now_utc
from okr_pipeline.jobs.pipelines import PIPELINES, pipeline
from okr_pipeline.jobs.progress import Notify, quiet
from okr_pipeline.jobs.runner import run_pipeline

__all__ = ["run_scheduler"]

log = logging.getLogger(__name__)


def run_scheduler(
    settings: Settings,
    *,
    stop: threading.Event,
    names: Sequence[str] = PIPELINES,
    notify: Notify = quiet,
) -> dict[str, dict[str, int]]:
    """Run the pipelines `names` on their schedules until `stop` is set (the run in hand
    finishes its task first); return how many runs of each ended how."""
    schedules = {name: pipeline(settings, name).schedule.schedule for name in names}
    due = {name: _next(schedule, now_utc()) for name, schedule in schedules.items()}
    ended: dict[str, Counter[str]] = {name: Counter() for name in names}
    for name, at in due.items():
        notify(f"{name}: next run at {at.isoformat()} UTC ({schedules[name]})")
    while not stop.is_set():
        name = min(due, key=due.__getitem__)
        if stop.wait(max((due[name] - now_utc()).total_seconds(), 0.0)):
            break
        try:
            status = run_pipeline(
                settings, name, trigger="schedule", stop=stop, notify=notify
            ).status
        except Exception as exc:  # the warehouse went away: this run is lost, not the scheduler
            log.error("%s: the run broke off", name, exc_info=exc)
            notify(f"{name}: the run broke off: {exc}")
            status = "broke off"
        ended[name][status] += 1
        due[name] = _next(schedules[name], max(now_utc(), due[name]))
    return {name: dict(counts) for name, counts in ended.items()}


def _next(schedule: str, after: datetime) -> datetime:
    moment: datetime = croniter(schedule, after).get_next(datetime)
    return moment
