"""`okr up`: the whole system on this machine in the foreground (the API and dashboard in
gunicorn, the stream consumer, the embedded scheduler, and with --simulate live activity), each
a child process kept running by the supervisor; `okr up --once` runs the main job once."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from okr_pipeline import jobs
from okr_pipeline.cli import app
from okr_pipeline.cli.data import report_text

STOP_TIMEOUT = 60.0  # seconds for the parts to finish what they hold (a pipeline task, say)


def _summary_text(d: dict[str, Any], warehouse_url: str) -> str:
    parts = [report_text(d["ingest"])] if "ingest" in d else []
    if "training" in d:
        t = d["training"]
        parts.append(f"model v{t['model_version']} ({t['alias']}): {t['reason']}")
    k = d["key_results"]
    parts.append(
        f"warehouse: {warehouse_url.split('://')[0]} under {d['data_dir']}; "
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


def _okr(*args: str) -> list[str]:
    """The command line of an `okr` subcommand in a child process, on this interpreter."""
    return [sys.executable, "-m", "okr_pipeline", *args]


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


@app.main.command()
@click.option(
    "--once",
    is_flag=True,
    help="Run the main job once (demo data, first model, predictions), print its summary, exit.",
)
@click.option("--simulate", is_flag=True, help="Also stream simulated live activity (5 events/s).")
@click.option("--host", help="Address the API listens on; default api.host (127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Its port; default api.port (5001).")
@app.JSON_OPTION
@app.guarded
def up(once: bool, simulate: bool, host: str | None, port: int | None, as_json: bool) -> None:
    """The whole system on this machine until Ctrl-C or SIGTERM: on an empty warehouse, demo
    data, a first model and predictions first; then the API and dashboard, the stream
    consumer and the scheduler (and the simulator with --simulate), each restarted if it
    dies. Prints the dashboard's URL and, on the first start, an admin token (--json: one line
    {"url", "token"}, token null after the first start)."""
    settings = app.get_settings()
    if once:
        if simulate or host or port:
            raise click.UsageError("--once runs the main job only: no --simulate, --host, --port")
        result = jobs.run_main_job(settings, progress_bar=app.progress_bar, notify=app.notify)
        app.emit(result, as_json, lambda d: _summary_text(d, settings.warehouse_url))
        return

    output = sys.stderr.fileno()  # standard output holds the URL line only
    with app.stop_on_signals() as stop:
        if jobs.main_job_needed(settings):
            # in a process of its own: the supervisor stays small (no model stack loaded)
            app.notify("okr up: the main job first (demo data, a first model, predictions)")
            main_job = jobs.Child("main job", _okr("up", "--once"))
            status = jobs.run_to_end(main_job, stop, output=output, notify=app.notify)
            if status is None:
                app.notify("okr up: stopped")
                return
            if status != 0:
                raise click.ClickException(f"the main job failed (exit status {status})")
        token = jobs.first_admin_token(settings)
        host = host or settings.api.host
        port = port or settings.api.port
        url = _url(host, port)
        if as_json:
            click.echo(json.dumps({"url": url, "token": token and token.token}))
        else:
            click.echo(f"okr-pipeline at {url} (API docs: {url}api/v1/docs); Ctrl-C stops it")
            if token is not None:
                click.echo(
                    f"admin token (named {token.name!r}, shown this once: keep it): {token.token}"
                )
        children = [
            jobs.Child("api", _okr("serve", "--host", host, "--port", str(port))),
            jobs.Child("consumer", _okr("consume")),
            jobs.Child("scheduler", _okr("scheduler")),
        ]
        if simulate:
            children.append(jobs.Child("simulator", _okr("simulate")))
        jobs.supervise(children, stop, stop_timeout=STOP_TIMEOUT, output=output, notify=app.notify)
    app.notify("okr up: stopped")
