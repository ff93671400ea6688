"""The main job on embedded defaults."""

from __future__ import annotations

from typing import Any

from okr_pipeline import jobs
from okr_pipeline.cli import app
from okr_pipeline.cli.data import report_text


@app.main.command()
@app.JSON_OPTION
@app.guarded
def up(as_json: bool) -> None:
    """The main job on this machine: demo data into an empty warehouse, ingest, a first model
    if there is no champion yet, and today's predictions."""
    settings = app.get_settings()
    result = jobs.run_main_job(settings, progress_bar=app.progress_bar, notify=app.notify)

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

    app.emit(result, as_json, human)
