"""Commands about the risk model: train, evaluate, predict, and the registered versions."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from okr_pipeline import jobs
from okr_pipeline.cli import app


def _metrics_line(name: str, metrics: dict[str, float]) -> str:
    buckets = " ".join(
        f"{k.removeprefix('auc_')} {v:.3f}"
        for k, v in metrics.items()
        if k.startswith("auc_") and isinstance(v, float)
    )
    return (
        f"  {name:<20} AUC {metrics['auc']:.3f}  Brier {metrics['brier']:.3f}  "
        f"log-loss {metrics['log_loss']:.3f}  by elapsed: {buckets}"
    )


@app.main.command("train")
@app.AS_OF_OPTION
@app.JSON_OPTION
@app.guarded
def train_command(as_of: str | None, as_json: bool) -> None:
    """Train on key results closed before the as-of date; register; apply the gate."""
    result = jobs.train_model(app.get_settings(), app.parse_as_of(as_of)).as_dict()

    def human(r: dict[str, Any]) -> str:
        lines = [
            f"model version {r['model_version']} ({r['alias']}): {r['reason']}",
            _metrics_line("model", r["metrics"]),
        ]
        lines += [_metrics_line(n, m) for n, m in r["baseline_metrics"].items()]
        lines.append(f"report: {r['report']}  ({r['seconds']} s)")
        return "\n".join(lines)

    app.emit(result, as_json, human)


@app.main.command("evaluate")
@app.AS_OF_OPTION
@app.JSON_OPTION
@app.guarded
def evaluate_command(as_of: str | None, as_json: bool) -> None:
    """Evaluate the champion next to the baselines on the latest closed periods; HTML report."""
    app.emit(
        jobs.evaluate_model(app.get_settings(), app.parse_as_of(as_of)),
        as_json,
        lambda r: "\n".join(
            [
                f"champion v{r['model_version']} as of {r['as_of']}",
                _metrics_line("model", r["metrics"]),
            ]
            + [_metrics_line(n, m) for n, m in r["baseline_metrics"].items()]
            + [f"report: {r['report']}"]
        ),
    )


@app.main.command("predict")
@app.AS_OF_OPTION
@click.option("--output", type=click.Path(path_type=Path), help="Also write the JSON list here.")
@app.JSON_OPTION
@app.guarded
def predict_command(as_of: str | None, output: Path | None, as_json: bool) -> None:
    """Risk of missing for every key result open at the as-of date, with reasons."""
    app.emit(
        jobs.predict_risks(app.get_settings(), app.parse_as_of(as_of), output),
        as_json,
        lambda items: (
            "\n".join(
                f"{p['key_result_id']:<16} {p['risk']:.2f} {p['status']:<10} "
                + "; ".join(reason["text"] for reason in p["reasons"])
                for p in sorted(items, key=lambda p: -p["risk"])
            )
            or "no open key results"
        ),
    )


@app.main.group("model")
def model_group() -> None:
    """The registered risk model versions and their aliases."""


@model_group.command("list")
@app.JSON_OPTION
@app.guarded
def model_list(as_json: bool) -> None:
    """Versions, newest first, with aliases and validation metrics."""
    app.emit(
        [asdict(v) for v in jobs.model_versions(app.get_settings())],
        as_json,
        lambda items: (
            "\n".join(
                f"v{v['version']:<4} {','.join(v['aliases']) or '-':<22} AUC "
                f"{v['metrics'].get('auc', float('nan')):.3f}  {v['created_at']}  "
                f"{v['tags'].get('okr.gate_reason', '')}"
                for v in items
            )
            or "no model versions yet"
        ),
    )


@model_group.command("promote")
@click.argument("version")
@app.JSON_OPTION
@app.guarded
def model_promote(version: str, as_json: bool) -> None:
    """Make VERSION the champion (by hand, past the gate)."""
    promoted = asdict(jobs.promote_model(app.get_settings(), version))
    app.emit(promoted, as_json, lambda v: f"v{v['version']} is now the champion")


@model_group.command("rollback")
@app.JSON_OPTION
@app.guarded
def model_rollback(as_json: bool) -> None:
    """Give the champion alias back to the version that held it before."""
    restored = asdict(jobs.rollback_model(app.get_settings()))
    app.emit(restored, as_json, lambda v: f"v{v['version']} is the champion again")


@model_group.command("update")
@app.AS_OF_OPTION
@app.JSON_OPTION
@app.guarded
def model_update(as_of: str | None, as_json: bool) -> None:
    """Train again on everything closed once key results closed since the champion's training;
    the result goes through the update's gate and is announced on the model-updates topic."""
    app.emit(
        jobs.update_model(app.get_settings(), app.parse_as_of(as_of)).as_dict(),
        as_json,
        lambda d: (
            d["reason"]
            if not d["updated"]
            else f"model version {d['model_version']} ({d['alias']}, update): {d['reason']}"
        ),
    )
