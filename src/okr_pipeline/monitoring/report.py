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
from matplotlib.figure import Figure

from okr_pipeline.core.html_report import (
    DPI,
    facts_card,
    figure_card,
    new_axes,
    png_uri,
    write_page,
)

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
        "Per day of the window, the share of rows read that were quarantined (files and REST) "
        "and the share of stream events dead-lettered, with their limits dashed; a day without "
        "rows read or events has no point. A rise means the data sent changed, not the model."
    ),
    "performance": (
        "AUC and miss rate estimated at each monitoring run (from the calibrated risks, before "
        "outcomes are known) with their intervals, and, once the outcomes of the key results an "
        "estimate was about are known, the realized values beside it. Close points mean the "
        "estimates can be trusted."
    ),
    "alerts": (
        "Each bar is an alert, by condition (rows), from when it was first raised to when it "
        "cleared, or was last raised if it still holds; coloured by severity: grey info, orange "
        "warning, red critical."
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


def _quality_figure(
    series: Sequence[Mapping[str, Any]], limits: Mapping[str, float | None]
) -> str | None:
    """The daily quarantine and dead-letter shares over the whole series window (a day with
    nothing read is a gap, not a reason to shrink the axis to the other days)."""
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
            ax.plot(
                [date2num(d) for d, _ in points],
                [share for _, share in points],
                marker="o",
                markersize=3,
                label=label,
                color=colour,
            )
            if (limit := limits.get(key)) is not None:
                ax.axhline(limit, color=colour, linestyle="--", linewidth=1)
            plotted = True
    if not plotted:  # days without any row read or event consumed
        fig.clear()
        return None
    _dated(ax, [datetime.fromisoformat(series[0]["start"]), days[-1]])
    ax.set_ylim(bottom=0)
    ax.set_ylabel("share")
    ax.legend(frameon=False)
    fig.autofmt_xdate()
    return png_uri(fig)


def _with_interval(metric: Any) -> bool:
    return isinstance(metric, Mapping) and all(
        metric.get(k) is not None for k in ("value", "low", "high")
    )


def _performance_figure(history: Sequence[Mapping[str, Any]]) -> str | None:
    """Per metric (AUC, miss rate) a panel: each estimate with its interval, and the realized
    value beside it once the estimate is settled."""
    panels = [("auc", "AUC"), ("miss_rate", "miss rate")]
    estimated = {
        name: [
            (datetime.fromisoformat(h["as_of"]), h["estimated"][name])
            for h in history
            if _with_interval((h.get("estimated") or {}).get(name))
        ]
        for name, _ in panels
    }
    if not any(estimated.values()):
        return None
    fig = Figure(figsize=(9.5, 5.2), dpi=DPI, layout="constrained")
    axes = fig.subplots(len(panels), 1, sharex=True)
    times: list[datetime] = []
    for ax, (name, label) in zip(axes, panels, strict=True):
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(alpha=0.3)
        points = estimated[name]
        if points:
            ax.errorbar(
                [date2num(when) for when, _ in points],
                [m["value"] for _, m in points],
                yerr=[
                    [m["value"] - m["low"] for _, m in points],
                    [m["high"] - m["value"] for _, m in points],
                ],
                fmt="o",
                color="#1f5fbf",
                label=f"estimated {label}",
            )
        realized = [
            (datetime.fromisoformat(h["as_of"]), h["realized"][name])
            for h in history
            if (h.get("realized") or {}).get(name) is not None
        ]
        if realized:
            ax.plot(
                [date2num(when) for when, _ in realized],
                [value for _, value in realized],
                "s",
                color="#2e9d5b",
                label=f"realized {label}",
            )
        times += [when for when, _ in points] + [when for when, _ in realized]
        ax.set_ylabel(label)
        ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    _dated(axes[-1], times)
    fig.autofmt_xdate()
    return png_uri(fig)


def _alerts_figure(alerts: Sequence[Mapping[str, Any]]) -> str | None:
    """Each alert a bar on its condition's row, from its first raise to its clearing (or its
    last raise while it holds)."""
    if not alerts:
        return None
    conditions = sorted({a["condition"] for a in alerts})
    fig, ax = new_axes(9.5, 0.35 * len(conditions) + 1.5)
    times = []
    for alert in alerts:
        start = datetime.fromisoformat(alert["first_raised_at"])
        end = datetime.fromisoformat(alert.get("cleared_at") or alert["last_raised_at"])
        row = conditions.index(alert["condition"])
        colour = SEVERITY_COLOURS.get(alert["severity"], "#6f6f6f")
        ax.hlines(row, date2num(start), date2num(end), color=colour, linewidth=5, alpha=0.6)
        ax.scatter(date2num(start), row, color=colour, s=30)
        times += [start, end]
    ax.set_yticks(range(len(conditions)), conditions)
    ax.set_ylim(-0.7, len(conditions) - 0.3)
    _dated(ax, times)
    fig.autofmt_xdate()
    return png_uri(fig)


def _share(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole else "n/a"


def _facts(document: Mapping[str, Any]) -> dict[str, str]:
    """The run's key figures, each "n/a" (with why, where known) when it has none."""
    facts: dict[str, str] = {}
    performance = document.get("performance") or {}
    estimated = performance.get("estimated") or {}
    metrics = (("auc", "AUC"), ("miss_rate", "miss rate"), ("brier", "Brier"))
    if not any(_with_interval(estimated.get(name)) for name, _ in metrics):
        why = estimated.get("reason")
        facts["estimated performance"] = f"n/a: {why}" if why else "n/a"
    for name, label in metrics:
        metric = estimated.get(name) or {}
        if _with_interval(metric):
            value, low, high = metric["value"], metric["low"], metric["high"]
            facts[f"estimated {label}"] = f"{value:.3f} ({low:.3f} to {high:.3f})"
    overall = (performance.get("realized") or {}).get("overall") or {}
    for name, label in (("auc", "AUC"), ("brier", "Brier")):
        value = overall.get(name)
        facts[f"realized {label}"] = (
            f"{value:.3f} ({overall.get('n')} predictions)" if value is not None else "n/a"
        )
    drift = document.get("drift") or {}
    features = drift.get("features") or {}
    if "skipped" in drift:
        facts["drifted features"] = f"n/a: {drift['skipped']}"
    elif features:
        drifted = sum(bool(f.get("drifted")) for f in features.values())
        facts["drifted features"] = f"{drifted} of {len(features)}"
    quality = document.get("quality") or {}
    age = ((quality.get("freshness") or {}).get("overall") or {}).get("age_days")
    facts["latest check-in"] = f"{age:.1f} days before" if age is not None else "none"
    ratio = (quality.get("volume") or {}).get("ratio")
    facts["check-ins in the window"] = f"{ratio:.0%} of the usual" if ratio is not None else "n/a"
    validity = quality.get("validity") or {}
    window = ((validity.get("quarantine") or {}).get("window")) or {}
    read = sum(t.get("read", 0) for t in window.values())
    held = sum(t.get("quarantined", 0) for t in window.values())
    facts["quarantined in the window"] = _share(held, read)
    letters = (validity.get("dead_letters") or {}).get("window") or {}
    facts["dead-lettered in the window"] = _share(
        letters.get("dead_lettered", 0), letters.get("events", 0)
    )
    facts["alerts raised"] = str(len(document.get("alerts") or []))
    return facts


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
    validity = quality.get("validity") or {}
    performance = document.get("performance") or {}
    limits = {
        "quarantine_share": validity.get("max_quarantine_share"),
        "dead_letter_share": validity.get("max_dead_letter_share"),
    }
    figures = [
        ("Drift per feature", _drift_figure(document.get("drift") or {}, *levels), "drift"),
        (
            "Data quality over time",
            _quality_figure(validity.get("series") or [], limits),
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
    looked_back = document.get("looked_back")
    looked_back = f'<p class="note">{html.escape(looked_back)}</p>' if looked_back else ""
    empty = f'<p class="note">Nothing to plot yet: {html.escape(note)}.</p>' if missing else ""
    body = f"""<p class="subtitle">Monitoring as of {html.escape(str(document.get("as_of")))}:
data quality, drift, and how well the model is doing before and after outcomes arrive.</p>
{facts_card("This run", _facts(document))}
<section class="card"><h2>Alerts of this run</h2>
<ul>{open_alerts or "<li>none</li>"}</ul>{looked_back}</section>
<div class="grid">{"".join(cards)}</div>
{empty}"""
    return write_page(path, "OKR monitoring report", body)
