"""The monitoring report: one self-contained HTML page (see `core.html_report`) with drift per
feature, data quality over time, realized and estimated performance over time with intervals,
and the alert timeline, beside the facts of the monitoring run."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num

from okr_pipeline.core.html_report import figure_card, new_axes, png_uri, write_page

__all__ = ["write_monitoring_report"]

SEVERITY_COLOURS = {"info": "#6f6f6f", "warning": "#e08a1e", "critical": "#c0392b"}
DRIFTED, STEADY = "#c0392b", "#1f5fbf"
TOP_FEATURES = 30

_HOW_TO_READ = {
    "drift": (
        "Each bar is how far a feature moved between the key results open at the same point of "
        "the earlier quarters the champion learnt from and those open now, over how far one "
        "earlier quarter lies from the others at most (PSI, with its warning and alert levels, "
        "when there was only one earlier quarter). Red bars drifted: their test says so and they "
        "moved past the dashed line. The figures of every feature are in the JSON document."
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


def _dated(ax: Axes, times: Sequence[datetime]) -> None:
    """A date x-axis spanning the times with a day's margin at least: matplotlib widens a single
    date to years on each side."""
    ax.xaxis_date()
    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.set_xlim(date2num(min(times)) - 1, date2num(max(times)) + 1)


def _drift_figure(drift: Mapping[str, Any], warn: float, alert: float, margin: float) -> str | None:
    """Per feature, how far it moved against how far one earlier quarter lies from the others
    (what decides drift), or its PSI where there was a single earlier quarter."""
    features = drift.get("features") or {}
    ratios = {
        name: (f["distance"] or 0.0) / f["natural"]["distance"]
        for name, f in features.items()
        if f.get("natural") and f["natural"]["distance"]
    }
    by_ratio = len(ratios) == len(features)
    measure = ratios if by_ratio else {name: f.get("psi") or 0.0 for name, f in features.items()}
    rows = sorted(measure.items(), key=lambda row: -row[1])[:TOP_FEATURES]
    if not rows:
        return None
    fig, ax = new_axes(9.5, 0.28 * len(rows) + 1.2)
    names = [name for name, _ in rows][::-1]
    colours = [DRIFTED if features[name]["drifted"] else STEADY for name in names]
    ax.barh(names, [value for _, value in rows][::-1], color=colours)
    for level in (margin,) if by_ratio else (warn, alert):
        ax.axvline(level, color="#6f6f6f", linestyle="--", linewidth=1)
    ax.set_xlabel("distance / the largest between earlier quarters" if by_ratio else "PSI")
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
    realized = [
        (datetime.fromisoformat(h["as_of"]), h["realized"]["auc"])
        for h in history
        if (h.get("realized") or {}).get("auc") is not None
    ]
    if realized:
        ax.plot(*zip(*realized), "s", color="#2e9d5b", label="realized AUC")
    _dated(ax, times + [when for when, _ in realized])
    ax.set_ylabel("AUC")
    ax.legend(frameon=False)
    fig.autofmt_xdate()
    return png_uri(fig)


def _alerts_figure(alerts: Sequence[Mapping[str, Any]]) -> str | None:
    if not alerts:
        return None
    conditions = sorted({a["condition"] for a in alerts})
    fig, ax = new_axes(9.5, 0.35 * len(conditions) + 1.5)
    times = [datetime.fromisoformat(alert["first_raised_at"]) for alert in alerts]
    for alert, when in zip(alerts, times, strict=True):
        ax.scatter(
            date2num(when),
            conditions.index(alert["condition"]),
            color=SEVERITY_COLOURS.get(alert["severity"], "#6f6f6f"),
            s=30,
        )
    ax.set_yticks(range(len(conditions)), conditions)
    _dated(ax, times)
    fig.autofmt_xdate()
    return png_uri(fig)


def write_monitoring_report(
    path: Path,
    document: Mapping[str, Any],
    *,
    alerts: Sequence[Mapping[str, Any]],
    levels: tuple[float, float, float],
) -> Path:
    """Write the report of the monitoring `document` (what `okr monitor` prints) to `path`, with
    the alerts raised so far (`alerts`, each as `Alert.as_dict()` gives it) and the drift
    settings' `levels`: (psi_warn, psi_alert, period_margin)."""
    quality = document.get("quality") or {}
    performance = document.get("performance") or {}
    figures = [
        ("Drift per feature", _drift_figure(document.get("drift") or {}, *levels), "drift"),
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
