"""Commands about pipelines: run one now, run them all on their schedules, list the runs."""

from __future__ import annotations

from typing import Any

import click

from okr_pipeline import jobs
from okr_pipeline.cli import app

PIPELINE_NAMES = jobs.PIPELINES
SKIPPED_EXIT = 3  # not a failure, not a run: automation may want to try again later


def _run_text(run: dict[str, Any]) -> str:
    lines = [
        f"{run['pipeline']} {run['run_id']} ({run['trigger']}): {run['status']}"
        + (f": {run['error']}" if run["error"] else "")
    ]
    for task in run["tasks"]:
        seconds = task["duration_seconds"]
        lines.append(
            f"  {task['task']:<18} attempt {task['attempt']} {task['status']:<10}"
            + (f" {seconds:.1f} s" if seconds is not None else "")
            + (f"  {task['error']}" if task["error"] else "")
        )
    return "\n".join(lines)


@app.main.command("run")
@click.argument("pipeline", type=click.Choice(PIPELINE_NAMES))
@app.AS_OF_OPTION
# the id to record the run under: the API makes it ahead, to say where to watch the run
@click.option("--run-id", hidden=True)
@app.JSON_OPTION
@app.guarded
def run_command(pipeline: str, as_of: str | None, run_id: str | None, as_json: bool) -> None:
    """Run PIPELINE now. Exit status 1 if it fails or is stopped (SIGTERM or Ctrl-C: the task
    in hand finishes first), 3 if a run of it is in progress elsewhere (this one is skipped)."""
    moment = app.parse_as_of(as_of) if as_of else None
    with app.stop_on_signals() as stop:
        run = jobs.run_pipeline(
            app.get_settings(),
            pipeline,
            as_of=moment,
            stop=stop,
            notify=app.notify,
            run_id=run_id,
        )
    app.emit(run.as_dict(), as_json, _run_text)
    if run.status != "succeeded":
        raise SystemExit(SKIPPED_EXIT if run.status == "skipped" else 1)


@app.main.command("scheduler")
@click.option(
    "--pipeline",
    "names",
    multiple=True,
    type=click.Choice(PIPELINE_NAMES),
    help="Only this pipeline (repeatable); default all.",
)
@app.JSON_OPTION
@app.guarded
def scheduler_command(names: tuple[str, ...], as_json: bool) -> None:
    """Run the pipelines on their schedules (pipelines.*.schedule, UTC) until SIGTERM or
    Ctrl-C, which lets the task in hand finish."""
    with app.stop_on_signals() as stop:
        ended = jobs.run_scheduler(
            app.get_settings(), stop=stop, names=names or PIPELINE_NAMES, notify=app.notify
        )
    app.emit(
        {"runs": ended},
        as_json,
        lambda d: "\n".join(
            f"{name}: " + (", ".join(f"{n} {s}" for s, n in counts.items()) or "no runs")
            for name, counts in d["runs"].items()
        ),
    )


@app.main.command("runs")
@click.option("--pipeline", type=click.Choice(PIPELINE_NAMES), help="Only this pipeline.")
@click.option(
    "--status",
    type=click.Choice(["running", "succeeded", "failed", "skipped", "stopped"]),
    help="Only runs that ended so.",
)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1, max=10_000))
@app.JSON_OPTION
@app.guarded
def runs_command(pipeline: str | None, status: str | None, limit: int, as_json: bool) -> None:
    """The latest pipeline runs, newest first, with their task runs."""
    runs = jobs.list_runs(app.get_settings(), pipeline=pipeline, status=status, limit=limit)
    app.emit(
        [run.as_dict() for run in runs],
        as_json,
        lambda items: "\n".join(map(_run_text, items)) or "no pipeline runs yet",
    )
