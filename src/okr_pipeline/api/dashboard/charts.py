"""Charts drawn on the server as SVG in the page: no script, no library, nothing fetched. A
chart is a line chart over time (one or two value axes) or the calibration plot; each has a
title and a description for screen readers, and the page shows its numbers in a table too.
Colours and line styles come from the style sheet, by class."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup, escape

__all__ = ["Axis", "Series", "calibration_plot", "time_chart"]

WIDTH, HEIGHT = 720, 320
LEFT, RIGHT, TOP, BOTTOM = 56, 56, 16, 60  # margins: the axes' labels sit in them
TICKS = 5
Scale = Callable[[float], float]  # a value to its pixel on an axis


@dataclass(frozen=True)
class Axis:
    """A value axis: its range and how its ticks read (e.g. "{:.0%}")."""

    label: str
    low: float
    high: float
    tick_format: str = "{:.0%}"


@dataclass(frozen=True)
class Series:
    """A line of points (time, value) drawn against the left axis or the right one."""

    name: str
    points: Sequence[tuple[datetime, float]]
    css_class: str  # the style sheet's: colour, dash
    right: bool = False
    markers: bool = True


def _number(value: float) -> str:
    return f"{value:.1f}"


def _svg(
    chart_id: str, title: str, description: str, body: list[str], width: int, height: int
) -> Markup:
    return Markup(
        f'<svg class="chart" id="{escape(chart_id)}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc" '
        f'xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>'
        f'<desc id="{escape(chart_id)}-desc">{escape(description)}</desc>{"".join(body)}</svg>'
    )


def _ticks(axis: Axis, y_of: Scale, x: float, anchor: str) -> list[str]:
    parts = []
    for i in range(TICKS + 1):
        value = axis.low + (axis.high - axis.low) * i / TICKS
        y = y_of(value)
        parts.append(
            f'<text class="tick" x="{_number(x)}" y="{_number(y + 4)}" text-anchor="{anchor}">'
            f"{escape(axis.tick_format.format(value))}</text>"
        )
    return parts


def time_chart(
    chart_id: str,
    title: str,
    description: str,
    series: Sequence[Series],
    *,
    start: datetime,
    end: datetime,
    left: Axis,
    right: Axis | None = None,
    marker: tuple[datetime, str] | None = None,
) -> Markup:
    """Lines over time from `start` to `end`, against `left` (and `right`, for series marked
    so); `marker` draws a vertical line at an instant with its label (e.g. the as-of date)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    span = max((end - start).total_seconds(), 1.0)

    def x_of(moment: datetime) -> float:
        share = (moment - start).total_seconds() / span
        return LEFT + plot_w * min(max(share, 0.0), 1.0)

    def y_for(axis: Axis) -> Scale:
        def y_of(value: float) -> float:
            share = (value - axis.low) / ((axis.high - axis.low) or 1.0)
            return TOP + plot_h * (1 - min(max(share, 0.0), 1.0))

        return y_of

    body = [
        f'<rect class="plot" x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}"/>',
    ]
    y_left = y_for(left)
    for i in range(TICKS + 1):
        y = TOP + plot_h * i / TICKS
        body.append(
            f'<line class="grid" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{_number(y)}" '
            f'y2="{_number(y)}"/>'
        )
    body += _ticks(left, y_left, LEFT - 6, "end")
    body.append(
        f'<text class="axis-label" x="12" y="{TOP + plot_h / 2:.1f}" '
        f'transform="rotate(-90 12 {TOP + plot_h / 2:.1f})" text-anchor="middle">'
        f"{escape(left.label)}</text>"
    )
    y_right = y_for(right) if right is not None else None
    if right is not None and y_right is not None:
        body += _ticks(right, y_right, LEFT + plot_w + 6, "start")
        xr = WIDTH - 10
        body.append(
            f'<text class="axis-label" x="{xr}" y="{TOP + plot_h / 2:.1f}" '
            f'transform="rotate(90 {xr} {TOP + plot_h / 2:.1f})" text-anchor="middle">'
            f"{escape(right.label)}</text>"
        )
    for i in range(TICKS + 1):  # dates along the bottom
        moment = start + (end - start) * i / TICKS
        body.append(
            f'<text class="tick" x="{_number(x_of(moment))}" y="{HEIGHT - BOTTOM + 18}" '
            f'text-anchor="middle">{moment:%b %d}</text>'
        )
    if marker is not None:
        where = _number(x_of(marker[0]))
        body.append(
            f'<line class="marker" x1="{where}" x2="{where}" y1="{TOP}" y2="{TOP + plot_h}"/>'
            f'<text class="tick" x="{where}" y="{HEIGHT - BOTTOM + 32}" text-anchor="middle">'
            f"{escape(marker[1])}</text>"
        )
    for line in series:
        y_of = y_right if line.right and y_right is not None else y_left
        points = [(x_of(at), y_of(value)) for at, value in line.points]
        if not points:
            continue
        coordinates = " ".join(f"{_number(x)},{_number(y)}" for x, y in points)
        body.append(
            f'<g class="series {escape(line.css_class)}" data-series="{escape(line.name)}">'
            f'<polyline points="{coordinates}"/>'
        )
        if line.markers:
            axis = right if line.right and right is not None else left
            for (x, y), (at, value) in zip(points, line.points):
                label = f"{line.name} {at:%Y-%m-%d}: {axis.tick_format.format(value)}"
                body.append(
                    f'<circle cx="{_number(x)}" cy="{_number(y)}" r="3.5">'
                    f"<title>{escape(label)}</title></circle>"
                )
        body.append("</g>")
    body.append(_legend(series, LEFT, HEIGHT - 6))
    return _svg(chart_id, title, description, body, WIDTH, HEIGHT)


def _legend(series: Sequence[Series], x: float, y: float) -> str:
    parts = ['<g class="legend">']
    for line in series:
        parts.append(
            f'<g class="series {escape(line.css_class)}">'
            f'<line x1="{_number(x)}" x2="{_number(x + 18)}" y1="{_number(y - 4)}" '
            f'y2="{_number(y - 4)}"/></g>'
            f'<text class="tick" x="{_number(x + 22)}" y="{_number(y)}">'
            f"{escape(line.name)}</text>"
        )
        x += 30 + 7 * len(line.name)
    parts.append("</g>")
    return "".join(parts)


def calibration_plot(chart_id: str, bins: Sequence[dict[str, float]]) -> Markup:
    """The reliability diagram: per bin of predicted risk, the mean predicted risk (x) against
    the observed miss rate (y), beside the diagonal of perfect calibration; a dot's size grows
    with its key results."""
    size, margin = 320, 44
    plot = size - 2 * margin

    def at(share: float) -> float:
        return margin + plot * min(max(share, 0.0), 1.0)

    body = [f'<rect class="plot" x="{margin}" y="{margin}" width="{plot}" height="{plot}"/>']
    for i in range(TICKS + 1):
        share = i / TICKS
        body.append(
            f'<text class="tick" x="{_number(at(share))}" y="{size - margin + 16}" '
            f'text-anchor="middle">{share:.0%}</text>'
            f'<text class="tick" x="{margin - 6}" y="{_number(size - at(share) + 4)}" '
            f'text-anchor="end">{share:.0%}</text>'
        )
    body.append(
        f'<line class="diagonal" x1="{margin}" y1="{size - margin}" x2="{size - margin}" '
        f'y2="{margin}"/>'
    )
    shown = [
        b for b in bins if b["mean_predicted"] is not None and b["observed_miss_rate"] is not None
    ]
    largest = max((b["count"] for b in shown), default=1)
    coordinates = " ".join(
        f"{_number(at(b['mean_predicted']))},{_number(size - at(b['observed_miss_rate']))}"
        for b in shown
    )
    body.append(f'<g class="series calibration"><polyline points="{coordinates}"/>')
    for b in shown:
        radius = 3 + 5 * (b["count"] / largest) ** 0.5
        label = (
            f"predicted {b['mean_predicted']:.0%}, missed {b['observed_miss_rate']:.0%} "
            f"of {int(b['count'])}"
        )
        body.append(
            f'<circle cx="{_number(at(b["mean_predicted"]))}" '
            f'cy="{_number(size - at(b["observed_miss_rate"]))}" r="{radius:.1f}">'
            f"<title>{escape(label)}</title></circle>"
        )
    body.append("</g>")
    body.append(
        f'<text class="axis-label" x="{size / 2}" y="{size - 6}" text-anchor="middle">'
        "predicted risk</text>"
        f'<text class="axis-label" x="12" y="{size / 2}" transform="rotate(-90 12 {size / 2})" '
        'text-anchor="middle">observed miss rate</text>'
    )
    return _svg(
        chart_id,
        "Calibration",
        "Mean predicted risk against the observed miss rate per bin of predicted risk; "
        "the diagonal is perfect calibration.",
        body,
        size,
        size,
    )
