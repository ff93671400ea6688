"""Commands about monitoring: a monitoring run, and the alerts it raised."""

from __future__ import annotations

from typing import Any

import click

from okr_pipeline import jobs
from okr_pipeline.cli import app


def _alert_line(alert: dict[str, Any]) -> str:
    return (
        f"#{alert['id']} {alert['severity']:<8} {alert['status']:<12} {alert['condition']} "
        f"{alert['subject']}: {alert['message']} (last {alert['last_raised_at']})"
    )


@app.main.command("monitor")
@app.AS_OF_OPTION
@app.JSON_OPTION
@app.guarded
def monitor_command(as_of: str | None, as_json: bool) -> None:
    """Data quality, drift, realized and estimated model performance as of the date; raises
    and clears alerts; stores the result and writes the HTML report."""
    document = jobs.monitor(app.get_settings(), app.parse_as_of(as_of) if as_of else None)

    def human(d: dict[str, Any]) -> str:
        estimated = d["performance"]["estimated"]
        auc = (estimated.get("auc") or {}).get("value")
        lines = [
            f"monitoring as of {d['as_of']}: {len(d['quality']['problems'])} quality problems, "
            f"estimated AUC {auc if auc is None else round(auc, 3)}, "
            f"{len(d['alerts'])} alerts raised",
            *map(_alert_line, d["alerts"]),
            *([d["looked_back"]] if "looked_back" in d else []),
            f"report: {d['report']}",
        ]
        return "\n".join(lines)

    app.emit(document, as_json, human)


@app.main.group("alerts", invoke_without_command=True)
@click.option("--open", "open_only", is_flag=True, help="Only open or acknowledged alerts.")
@app.JSON_OPTION
@click.pass_context
@app.guarded
def alerts_group(ctx: click.Context, open_only: bool, as_json: bool) -> None:
    """The alerts, latest raised first (`okr alerts ack ID` acknowledges one)."""
    if ctx.invoked_subcommand is not None:
        return
    items = [alert.as_dict() for alert in jobs.alerts(app.get_settings(), open_only)]
    app.emit(items, as_json, lambda a: "\n".join(map(_alert_line, a)) or "no alerts")


@alerts_group.command("ack")
@click.argument("alert_id", type=click.IntRange(min=1))
@app.JSON_OPTION
@app.guarded
def alerts_ack(alert_id: int, as_json: bool) -> None:
    """Acknowledge alert ALERT_ID: quiet until its condition clears and comes back."""
    alert = jobs.acknowledge_alert(app.get_settings(), alert_id).as_dict()
    app.emit(alert, as_json, _alert_line)
