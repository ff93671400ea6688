"""Self-contained HTML reports: inline CSS, figures embedded as base64 PNG, no external
reference, so that a report opens anywhere, offline, attached to an MLflow run or mailed.

Figures are drawn on `matplotlib.figure.Figure` with an explicit Agg canvas, never through pyplot:
pyplot keeps global state (current figure, selected backend) that is neither thread-safe nor ours
to change for the rest of the process.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["DPI", "facts_card", "figure_card", "new_axes", "png_uri", "write_page"]

DPI = 110  # fixed so that reports look alike whatever the machine's matplotlib defaults

CSS = """
body { margin: 0; background: #f5f6f8; color: #1d2330;
  font: 15px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1140px; margin: 0 auto; padding: 28px 24px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 0 0 12px; }
h3 { font-size: 16px; margin: 0 0 8px; }
.subtitle { color: #5a6272; margin: 0 0 20px; }
.card { background: #fff; border: 1px solid #e1e4ea; border-radius: 8px; padding: 18px 20px;
  margin-bottom: 20px; }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr));
  gap: 10px 24px; margin: 0; }
.facts dt { color: #5a6272; font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.facts dd { margin: 0; font-weight: 600; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 7px 12px; border-bottom: 1px solid #e9ebf0; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f0f2f6; font-weight: 600; }
th.better, td.better { color: #5a6272; text-align: center; }
td.best { background: #e3f4e8; color: #14632e; font-weight: 700; }
td.na { color: #9aa1ad; }
.note, figcaption { color: #5a6272; font-size: 13.5px; margin: 10px 0 0; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 20px; }
.grid .card { margin: 0; }
.wide { grid-column: 1 / -1; }
figure { margin: 0; }
figure img { display: block; width: 100%; height: auto; }
.wide img { max-width: 860px; margin: 0 auto; }
@media (max-width: 880px) { .grid { grid-template-columns: 1fr; } }
"""


def png_uri(fig: Figure) -> str:
    """The figure as a data URI; the figure is cleared afterwards to free its artists."""
    try:
        FigureCanvasAgg(fig)  # attaches an Agg canvas to this figure only
        buffer = io.BytesIO()
        # No "Software" chunk: keeps the bytes independent of the matplotlib version.
        fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    finally:
        fig.clear()
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def new_axes(width: float, height: float) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(alpha=0.3)
    return fig, ax


def figure_card(title: str, uri: str, how_to_read: str, *, wide: bool = False) -> str:
    """A figure with its title and a caption saying how to read it."""
    cls = "card wide" if wide else "card"
    return (
        f'<section class="{cls}"><figure><h3>{html.escape(title)}</h3>'
        f'<img alt="{html.escape(title)}" src="{uri}">'
        f"<figcaption><strong>How to read:</strong> {html.escape(how_to_read)}"
        "</figcaption></figure></section>"
    )


def facts_card(title: str, facts: Mapping[str, object]) -> str:
    """A card of key facts (label -> value), or nothing without any."""
    items = "".join(
        f"<div><dt>{html.escape(str(k))}</dt><dd>{html.escape(str(v))}</dd></div>"
        for k, v in facts.items()
    )
    if not items:
        return ""
    heading = f"<h2>{html.escape(title)}</h2>"
    return f'<section class="card">{heading}<dl class="facts">{items}</dl></section>'


def write_page(path: Path, title: str, body: str) -> Path:
    """Write the page `title` holding `body` (HTML) to `path`, its folder made; the path."""
    document = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title><style>{CSS}</style></head>
<body><main>
<h1>{html.escape(title)}</h1>
{body}
</main></body></html>
"""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(document, encoding="utf-8")
    return path
