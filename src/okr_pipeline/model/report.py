"""A one-file HTML evaluation report: the model against the baselines on validation snapshots
(self-contained: see `core.html_report`)."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

from okr_pipeline.core.html_report import (
    DPI,
    facts_card,
    figure_card,
    new_axes,
    png_uri,
    write_page,
)
from okr_pipeline.model.metrics import BUCKETS, best_scorers, compare, direction, score_metrics

__all__ = ["DPI", "TOP_FEATURES", "write_report"]

TOP_FEATURES = 20
CALIBRATION_BINS = 10
# The first scorer (normally the model) gets the strong blue; baselines get muted colours.
PALETTE = ("#1f5fbf", "#e08a1e", "#6f6f6f", "#2e9d5b", "#b0407f", "#8c6d31")

_LABELS = {
    "auc": "AUC",
    "brier": "Brier score",
    "log_loss": "Log loss",
    "n": "Rows",
    "miss_rate": "Miss rate (share of y = 1)",
}
_HOW_TO_READ = {
    "roc": (
        "Each curve sweeps the alert threshold: the share of missed key results that get flagged "
        "(true-positive rate) against the share of achieved ones flagged by mistake. Closer to the "
        "top-left corner is better; the dashed diagonal is a coin toss. The AUC in the legend is "
        "the chance that a random missed key result gets a higher risk than a random achieved one."
    ),
    "calibration": (
        "Rows are sorted by predicted risk and cut into about ten equal-sized bins; each point is "
        "a bin's mean predicted risk (x) against the share of its key results that were actually "
        "missed (y). On the dashed diagonal a risk of 30% means 3 in 10 miss; below it the scorer "
        "over-states risk, above it under-states it."
    ),
    "buckets": (
        "AUC computed separately on snapshots taken early, in the middle and late in the period. "
        "Pace says little before much time has passed, so the useful gain of the model is on the "
        "left. The dashed line at 0.5 is chance; n/a means the bucket holds a single outcome."
    ),
    "importance": (
        "Total gain each feature brought to the model's splits (top 20, with its share of the "
        "total). It shows what the model relies on, not what causes a miss; correlated features "
        "share the credit between them."
    ),
}


def _roc_figure(
    y: np.ndarray,
    scores: Mapping[str, np.ndarray],
    metrics: Mapping[str, Mapping[str, float]],
    colors: dict[str, str],
) -> str:
    fig, ax = new_axes(5.4, 4.8)
    ax.plot([0, 1], [0, 1], ls="--", color="#999999", lw=1)
    for name, risk in scores.items():
        auc = metrics[name]["auc"]
        if math.isnan(auc):  # a ROC curve needs both outcomes; keep the name in the legend
            ax.plot([], [], color=colors[name], label=f"{name} (AUC n/a)")
            continue
        fpr, tpr, _ = roc_curve(y, risk)
        ax.plot(fpr, tpr, color=colors[name], lw=2, label=f"{name} (AUC {auc:.3f})")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), aspect="equal")
    ax.set_xlabel("False-positive rate (achieved KRs flagged)")
    ax.set_ylabel("True-positive rate (missed KRs flagged)")
    ax.legend(loc="lower right", frameon=False)
    return png_uri(fig)


def _calibration_figure(
    y: np.ndarray, scores: Mapping[str, np.ndarray], colors: dict[str, str]
) -> str:
    fig, ax = new_axes(5.4, 4.8)
    ax.plot([0, 1], [0, 1], ls="--", color="#999999", lw=1, label="perfect calibration")
    for name, risk in scores.items():
        # Equal-count bins (quantiles) rather than fixed-width ones: every point rests on as many
        # rows, and ties in a coarse rule do not leave bins empty.
        order = np.argsort(risk, kind="stable")
        bins = [b for b in np.array_split(order, min(CALIBRATION_BINS, y.size)) if b.size]
        predicted = [risk[b].mean() for b in bins]
        observed = [y[b].mean() for b in bins]
        ax.plot(predicted, observed, marker="o", ms=5, lw=1.6, color=colors[name], label=name)
    ax.set(xlim=(0, 1), ylim=(0, 1), aspect="equal")
    ax.set_xlabel("Mean predicted risk in bin")
    ax.set_ylabel("Observed miss rate in bin")
    ax.legend(loc="upper left", frameon=False)
    return png_uri(fig)


def _bucket_label(low: float, high: float, name: str) -> str:
    return f"{name} ({low:.0%}–{min(high, 1.0):.0%})"


def _bucket_figure(
    metrics: Mapping[str, Mapping[str, float]], colors: dict[str, str], counts: dict[str, int]
) -> str:
    fig, ax = new_axes(8.6, 3.8)
    x = np.arange(len(BUCKETS))
    width = 0.8 / len(metrics)
    for i, (name, m) in enumerate(metrics.items()):
        values = [m[f"auc_{b}"] for _, _, b in BUCKETS]
        offsets = x - 0.4 + width * (i + 0.5)
        bars = ax.bar(offsets, np.nan_to_num(values), width, color=colors[name], label=name)
        labels = ["n/a" if math.isnan(v) else f"{v:.2f}" for v in values]
        ax.bar_label(bars, labels=labels, padding=2, fontsize=8)
    ax.axhline(0.5, ls="--", color="#999999", lw=1)
    ax.set_xticks(x, [f"{_bucket_label(*b)}\nn = {counts[b[2]]:,}" for b in BUCKETS])
    ax.set(ylim=(0, 1.08))
    ax.set_ylabel("AUC")
    ax.set_xlabel("Elapsed share of the period at the snapshot")
    ax.grid(axis="x", visible=False)
    # Above the axes: inside them the legend would hide the bars it explains.
    fig.legend(loc="outside upper center", ncols=len(metrics), frameon=False)
    return png_uri(fig)


def _importance_figure(importance: pd.Series) -> str:
    gains = pd.to_numeric(importance, errors="coerce").dropna()
    top = gains.sort_values(ascending=False, kind="stable").head(TOP_FEATURES)
    fig, ax = new_axes(8.6, 1.2 + 0.3 * max(len(top), 3))
    if top.empty:
        ax.text(0.5, 0.5, "no feature importances given", ha="center", va="center")
        ax.set_axis_off()
        return png_uri(fig)
    top = top.iloc[::-1]  # barh draws bottom-up; the largest gain belongs on top
    bars = ax.barh([str(k) for k in top.index], top.to_numpy(), color=PALETTE[0], height=0.7)
    total = float(gains.clip(lower=0).sum())
    if total > 0:
        ax.bar_label(bars, labels=[f"{v / total:.1%}" for v in top], padding=3, fontsize=8)
    ax.set_xlabel("Gain (total over all splits)")
    ax.margins(x=0.1)
    ax.grid(axis="y", visible=False)
    return png_uri(fig)


def _cell(metric: str, value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if metric == "n" or metric.startswith("n_"):
        return f"{int(value):,}"
    return f"{value:.1%}" if metric == "miss_rate" else f"{value:.3f}"


def _label(metric: str) -> str:
    for low, high, name in BUCKETS:
        if metric in (f"auc_{name}", f"n_{name}"):
            kind = "AUC" if metric.startswith("auc_") else "Rows"
            return f"{kind}, {_bucket_label(low, high, name)}"
    return _LABELS.get(metric, metric)


def _metrics_table(rows: list[dict[str, Any]], scorers: list[str]) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(s)}</th>" for s in scorers)
    body = []
    for row in rows:
        metric = row["metric"]
        best = set(best_scorers(row))
        better = {1: "higher ↑", -1: "lower ↓"}.get(direction(metric), "")
        cells = []
        for s in scorers:
            value = row[s]
            css = "best" if s in best else "na" if math.isnan(value) else ""
            cls = f' class="{css}"' if css else ""
            cells.append(f"<td{cls}>{_cell(metric, value)}</td>")
        body.append(
            f'<tr><td>{esc(_label(metric))}</td><td class="better">{better}</td>'
            f"{''.join(cells)}</tr>"
        )
    return (
        f'<table><thead><tr><th>Metric</th><th class="better">Better</th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _figure(title: str, uri: str, key: str, *, wide: bool = False) -> str:
    return figure_card(title, uri, _HOW_TO_READ[key], wide=wide)


def write_report(
    path: Path,
    *,
    title: str,
    y: np.ndarray,
    scores: dict[str, np.ndarray],
    elapsed: np.ndarray,
    importance: pd.Series,
    context: dict[str, str],
) -> Path:
    """Write the evaluation report of `scores` (scorer name -> risk for the rows of `y`) to `path`.

    `importance` is feature -> gain (any order); `context` holds the key facts shown at the top.
    Parent directories are created; the path is returned.
    """
    y = np.asarray(y, dtype=float).ravel()
    elapsed = np.asarray(elapsed, dtype=float).ravel()
    if not scores:
        raise ValueError("scores must hold at least one scorer")
    risks = {name: np.asarray(r, dtype=float).ravel() for name, r in scores.items()}
    metrics = {name: score_metrics(y, r, elapsed) for name, r in risks.items()}
    names = list(risks)
    colors = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
    counts = {b: int(next(iter(metrics.values()))[f"n_{b}"]) for _, _, b in BUCKETS}

    context_card = facts_card("Context", context)
    # Square ROC and calibration plots side by side; the wider bar charts get a full row each.
    figures = [
        _figure("ROC curve", _roc_figure(y, risks, metrics, colors), "roc"),
        _figure("Calibration", _calibration_figure(y, risks, colors), "calibration"),
        _figure(
            "AUC by elapsed share of the period",
            _bucket_figure(metrics, colors, counts),
            "buckets",
            wide=True,
        ),
        _figure(
            "Top feature importances (model)",
            _importance_figure(importance),
            "importance",
            wide=True,
        ),
    ]
    body = f"""<p class="subtitle">Risk that a key result will <em>not</em> be achieved
(y = 1: missed), scored on validation snapshots: the model against the pace-rule baselines.</p>
{context_card}
<section class="card"><h2>Metrics</h2>{_metrics_table(compare(metrics), names)}
<p class="note">The best value of each row is highlighted. Brier score and log loss judge the
probabilities themselves, AUC only their ranking; rows and miss rate describe the data and are the
same for every scorer.</p></section>
<div class="grid">{"".join(figures)}</div>"""
    return write_page(path, title, body)
