"""The training pipeline run here: a first model when there is no champion, then, later, an
update trained on what closed since through the update's gate, and every open key result
scored."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select

from okr_pipeline import jobs
from okr_pipeline.cli import main
from okr_pipeline.config import Settings
from okr_pipeline.warehouse import open_warehouse, predictions


def _run(*args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(main, ["run", *args, "--json"])
    return result.exit_code, json.loads(result.stdout)


def _outputs(run: dict) -> dict[str, dict]:
    return {task["task"]: task["output"] for task in run["tasks"] if task["status"] == "succeeded"}


def test_training_trains_first_then_updates_and_scores(settings: Settings, tmp_path: Path):
    jobs.generate_demo(tmp_path / "bundle", seed=4, scale=0.6, as_of=date(2026, 7, 1))
    jobs.ingest_path(settings, tmp_path / "bundle")

    code, first = _run("training", "--as-of", "2026-05-15")
    assert code == 0 and first["status"] == "succeeded", first["error"]
    out = _outputs(first)
    assert out["ensure_champion"]["trained"]["alias"] == "champion"
    assert out["collect_closed"]["just_trained"] is True
    assert out["update_champion"]["action"] == "none"
    assert out["score_open"]["scored"] > 0
    assert out["score_open"]["model_version"] == out["ensure_champion"]["champion"]

    code, later = _run("training", "--as-of", "2026-07-01")
    assert code == 0 and later["status"] == "succeeded", later["error"]
    out = _outputs(later)
    assert out["ensure_champion"]["trained"] is None
    assert out["collect_closed"]["closed_since"] >= settings.model.min_update_key_results
    action = out["update_champion"]["action"]
    assert action in {"updated", "kept"}
    assert out["update_champion"]["update"]["kind"] == "update"
    with open_warehouse(settings).connect() as conn:
        as_of = datetime.fromisoformat(later["as_of"])
        stored = conn.execute(
            select(func.count()).select_from(predictions).where(predictions.c.as_of == as_of)
        ).scalar_one()
    assert stored == out["score_open"]["scored"] > 0
