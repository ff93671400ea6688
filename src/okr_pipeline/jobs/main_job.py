"""The main job on one machine (`okr up`): demo data into an empty warehouse, ingest, a first
model if there is no champion yet, and today's predictions with a summary."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from okr_pipeline.config import Settings
from okr_pipeline.core import now_utc
from okr_pipeline.features import key_result_states
from okr_pipeline.ingest import warehouse_status
from okr_pipeline.jobs.data import generate_demo, ingest_path
from okr_pipeline.jobs.progress import Notify, ProgressBar, no_progress, quiet
from okr_pipeline.model import CHAMPION, open_registry, predict, train
from okr_pipeline.warehouse import ENTITY_TABLES, open_warehouse

__all__ = ["run_main_job"]

STATUSES = ("on_track", "at_risk", "off_track")
HIGHEST = 5  # the riskiest key results in the summary


def run_main_job(
    settings: Settings, *, progress_bar: ProgressBar = no_progress, notify: Notify = quiet
) -> dict[str, Any]:
    """Run the main job and return its summary: what was ingested and trained (if anything),
    the warehouse's status, key results by state and risk status, the riskiest ones and why."""
    engine = open_warehouse(settings)
    with engine.connect() as conn:
        key_results = select(func.count()).select_from(ENTITY_TABLES["key_results"])
        empty = conn.execute(key_results).scalar_one() == 0
    result: dict[str, Any] = {"data_dir": str(settings.data_dir)}
    if empty:
        demo = settings.path("raw") / "demo"
        notify(f"empty warehouse: generating demo data in {demo}")
        generate_demo(demo, seed=settings.model.random_seed, messy=True, progress_bar=progress_bar)
        result["ingest"] = ingest_path(settings, demo, progress_bar=progress_bar).as_dict()
    now = now_utc()
    if open_registry(settings).version(CHAMPION) is None:
        notify("no champion model: training one")
        result["training"] = train(settings, engine, now).as_dict()
    risks = predict(settings, engine, now)
    with engine.connect() as conn:
        result["status"] = warehouse_status(conn)
        states = key_result_states(conn, now, settings.model.achievement_threshold)
    outcomes = [s.outcome for s in states]
    result["key_results"] = {
        "open": sum(s.state == "open" for s in states),
        "closed": sum(s.state == "closed" for s in states),
        "achieved": outcomes.count("achieved"),
        "missed": outcomes.count("missed"),
        "by_status": {status: sum(p["status"] == status for p in risks) for status in STATUSES},
    }
    result["highest_risk"] = sorted(risks, key=lambda p: -p["risk"])[:HIGHEST]
    return result
