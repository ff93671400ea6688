"""The monitoring report: one self-contained HTML page (see `core.html_report`) with drift per
feature, data quality over time, realized and estimated performance over time with intervals,
and the alert timeline, beside the facts of the monitoring run."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from matplotlib.dates import date2num

from okr_pipeline.core.html_report import figure_card, new_axes, png_uri, write_page

__all__ = ["write_monitoring_report"]

SEVERITY_COLOURS = {"info": "#6f6f6f", "warning": "#e08a1e", "critical": "#c0392b"}
DRIFTED, STEADY = "#c0392b", "#1f5fbf"
TOP_FEATURES = 30

_HOW_TO_READ = {
    "drift": (
        "Each bar is a feature's population stability index (PSI) between the champion's training "
        "snapshots and the key results open now; red bars are features whose test or distance "
        "says they drifted. Dashed lines: the warning and alert levels of PSI."
    ),
    "quality": (
        "Per day, the share of rows read that were quarantined (files and REST) and the share of "
        "stream events dead-lettered. A rise means the data sent changed, not the model."
    ),
    "performance": (
        "Estimated AUC of each monitoring run (from the calibrated risks, before outcomes are "
        "known) with its interval, and, once the outcomes of the key results it was about are "
        "known, the realized AUC beside it. Close points mean the estimates can be trusted."
    ),
    "alerts": (
        "Each mark is an alert raised, by condition (rows) and time (x), coloured by severity: "
        "grey info, orange warning, red critical."
    ),
}


def _drift_figure(drift: Mapping[str, Any], warn: float, alert: float) -> str | None:
    features = drift.get("features") or {}
    rows = sorted(
        ((name, f.get("psi"), bool(f.get("drifted"))) for name, f in features.items()),
        key=lambda row: -(row[1] or 0.0),
    )[:TOP_FEATURES]
    if not rows:
        return None
    fig, ax = new_axes(9.5, 0.28 * len(rows) + 1.2)
    names = [name for name, _, _ in rows][::-1]
    values = [psi or 0.0 for _, psi, _ in rows][::-1]
    colours = [DRIFTED if drifted else STEADY for _, _, drifted in rows][::-1]
    ax.barh(names, values, color=colours)
    for level in (warn, alert):
        ax.axvline(level, color="#6f6f6f", linestyle="--", linewidth=1)
    ax.set_xlabel("PSI")
    return png_uri(fig)


def _quality_figure(series: Sequence[Mapping[str, Any]]) -> str | None:
    if not series:
        return None
    days = [datetime.fromisoformat(day["end"]) for day in series]
    fig, ax = new_axes(9.5, 3.2)
    plotted = False
    for key, label, colour in (
        ("quarantine_share", "quarantined / read", "#1f5fbf"),
        ("dead_letter_share", "dead-lettered / events", "#e08a1e"),
    ):
        points = [(d, day[key]) for d, day in zip(days, series) if day.get(key) is not None]
        if points:
            ax.plot(*zip(*points), marker="o", markersize=3, label=label, color=colour)
            plotted = True
    if not plotted:  # days without any row read or event consumed
        fig.clear()
        return None
    ax.set_ylabel("share")
    ax.legend(frameon=False)
    fig.autofmt_xdate()
    return png_uri(fig)


def _performance_figure(history: Sequence[Mapping[str, Any]]) -> str | None:
    estimated = [
        (datetime.fromisoformat(h["as_of"]), h["estimated"]["auc"])
        for h in history
        if (h.get("estimated") or {}).get("auc")
    ]
    if not estimated:
        return None
    fig, ax = new_axes(9.5, 3.2)
    times = [when for when, _ in estimated]
    values = [auc["value"] for _, auc in estimated]
    low = [auc["value"] - auc["low"] for _, auc in estimated]
    high = [auc["high"] - auc["value"] for _, auc in estimated]
    ax.errorbar(
        date2num(times), values, yerr=[low, high], fmt="o", color="#1f5fbf", label="estimated AUC"
    )
    ax.xaxis_date()
    realized = [
        (datetime.fromisoformat(h["as_of"]), h["realized"]["auc"])
        for h in history
        if (h.get("realized") or {}).get("auc") is not None
    ]
    if realized:
        ax.plot(*zip(*realized), "s", color="#2e9d5b", label="realized AUC")
    ax.set_ylabel("AUC")
    ax.legend(frameon=False)
    fig.autofmt_xdate()
    return png_uri(fig)


def _alerts_figure(alerts: Sequence[Mapping[str, Any]]) -> str | None:
    if not alerts:
        return None
    conditions = sorted({a["condition"] for a in alerts})
    fig, ax = new_axes(9.5, 0.35 * len(conditions) + 1.5)
    for alert in alerts:
        ax.scatter(
            date2num(datetime.fromisoformat(alert["first_raised_at"])),
            conditions.index(alert["condition"]),
            color=SEVERITY_COLOURS.get(alert["severity"], "#6f6f6f"),
            s=30,
        )
    ax.set_yticks(range(len(conditions)), conditions)
    ax.xaxis_date()
    fig.autofmt_xdate()
    return png_uri(fig)


def write_monitoring_report(
    path: Path,
    document: Mapping[str, Any],
    *,
    alerts: Sequence[Mapping[str, Any]],
    psi_levels: tuple[float, float],
) -> Path:
    """Write the report of the monitoring `document` (what `okr monitor` prints) to `path`, with
    the alerts raised so far (`alerts`, each as `Alert.as_dict()` gives it)."""
    quality = document.get("quality") or {}
    performance = document.get("performance") or {}
    figures = [
        ("Drift per feature", _drift_figure(document.get("drift") or {}, *psi_levels), "drift"),
        (
            "Data quality over time",
            _quality_figure((quality.get("validity") or {}).get("series") or []),
            "quality",
        ),
        (
            "Estimated and realized performance over time",
            _performance_figure(performance.get("history") or []),
            "performance",
        ),
        ("Alert timeline", _alerts_figure(alerts), "alerts"),
    ]
    cards = [
        figure_card(title, uri, _HOW_TO_READ[key], wide=True)
        for title, uri, key in figures
        if uri is not None
    ]
    missing = [title for title, uri, _ in figures if uri is None]
    open_alerts = "".join(
        f"<li><strong>{html.escape(a['severity'])}</strong> {html.escape(a['condition'])} "
        f"{html.escape(a['subject'])}: {html.escape(a['message'])}</li>"
        for a in document.get("alerts") or []
    )
    note = ", ".join(missing)
    empty = f'<p class="note">Nothing to plot yet: {html.escape(note)}.</p>' if missing else ""
    body = f"""<p class="subtitle">Monitoring as of {html.escape(str(document.get("as_of")))}:
data quality, drift, and how well the model is doing before and after outcomes arrive.</p>
<section class="card"><h2>Alerts of this run</h2>
<ul>{open_alerts or "<li>none</li>"}</ul></section>
<div class="grid">{"".join(cards)}</div>
{empty}"""
    return write_page(path, "OKR monitoring report", body)
