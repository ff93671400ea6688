"""The main job on embedded defaults."""

from __future__ import annotations

from typing import Any

import click
from sqlalchemy import func, select

from okr_pipeline.asof import as_of_instant
from okr_pipeline.cli.app import (
    JSON_OPTION,
    emit,
    get_settings,
    get_warehouse,
    guarded,
    main,
    progress_bar,
)
from okr_pipeline.cli.data import ingest_path, report_text
from okr_pipeline.warehouse.queries import key_result_states, warehouse_status
from okr_pipeline.warehouse.tables import ENTITY_TABLES


@main.command()
@JSON_OPTION
@guarded
def up(as_json: bool) -> None:
    """The main job on this machine: demo data into an empty warehouse, ingest, a first model
    if there is no champion yet, and today's predictions."""
    from okr_pipeline.model.predict import predict
    from okr_pipeline.model.registry import open_registry
    from okr_pipeline.model.train import train
    from okr_pipeline.sources.synthetic import generate_bundle

    settings = get_settings()
    engine = get_warehouse()
    with engine.connect() as conn:
        key_results = select(func.count()).select_from(ENTITY_TABLES["key_results"])
        empty = conn.execute(key_results).scalar_one() == 0
    result: dict[str, Any] = {"data_dir": str(settings.data_dir)}
    if empty:
        demo = settings.path("raw") / "demo"
        click.echo(f"empty warehouse: generating demo data in {demo}", err=True)
        with progress_bar(30_000, "generating") as progress:
            generate_bundle(
                demo, seed=settings.model.random_seed, scale=1.0, messy=True, progress=progress
            )
        result["ingest"] = ingest_path(demo).as_dict()
    now = as_of_instant(None)
    if open_registry(settings).version("champion") is None:
        click.echo("no champion model: training one", err=True)
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
        "by_status": {
            status: sum(p["status"] == status for p in risks)
            for status in ("on_track", "at_risk", "off_track")
        },
    }
    result["highest_risk"] = sorted(risks, key=lambda p: -p["risk"])[:5]

    def human(d: dict[str, Any]) -> str:
        parts = [report_text(d["ingest"])] if "ingest" in d else []
        if "training" in d:
            t = d["training"]
            parts.append(f"model v{t['model_version']} ({t['alias']}): {t['reason']}")
        k = d["key_results"]
        parts.append(
            f"warehouse: {settings.warehouse_url.split('://')[0]} under {d['data_dir']}; "
            f"key results: {k['open']} open, {k['closed']} closed "
            f"({k['achieved']} achieved, {k['missed']} missed)"
        )
        parts.append(
            "open key results: "
            + ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in k["by_status"].items())
        )
        parts += [
            f"  {p['key_result_id']:<14} risk {p['risk']:.2f}: "
            + "; ".join(r["text"] for r in p["reasons"])
            for p in d["highest_risk"]
        ]
        return "\n".join(parts)

    emit(result, as_json, human)
