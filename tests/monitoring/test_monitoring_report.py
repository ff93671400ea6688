"""The monitoring report: self-contained, its four figures and the run's facts, date axes that
span the data, estimates without an interval left out, alerts drawn as spans; it renders in a
real browser."""

from __future__ import annotations

import base64
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from matplotlib.dates import date2num, num2date
from matplotlib.figure import Figure

from browser import CHROMIUM, screenshot
from okr_pipeline.monitoring import report as module
from okr_pipeline.monitoring.report import write_monitoring_report

AS_OF = datetime(2026, 5, 15, 23, 59, 59)
LEVELS = (0.1, 0.2, 1.5)
DATA_URI = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')
TITLES = (
    "Drift per feature",
    "Data quality over time",
    "Estimated and realized performance over time",
    "Alert timeline",
)


def _interval(value: float | None, spread: float = 0.05) -> dict[str, float | None]:
    if value is None:
        return {"value": None, "low": None, "high": None}
    return {"value": value, "low": value - spread, "high": value + spread}


def _series(days: int = 28, busy: tuple[int, ...] = (25,)) -> list[dict[str, Any]]:
    """Daily validity counts, rows read on the `busy` days only."""
    rows = []
    for i in range(days):
        start = AS_OF - timedelta(days=days - i)
        read = 600 if i in busy else 0
        rows.append(
            {
                "start": start.isoformat(),
                "end": (start + timedelta(days=1)).isoformat(),
                "read": read,
                "quarantined": 10 if read else 0,
                "quarantine_share": 10 / read if read else None,
                "events": 0,
                "dead_lettered": 0,
                "dead_letter_share": None,
            }
        )
    return rows


def _document(**changes: Any) -> dict[str, Any]:
    features = {
        f"feature_{i}": {
            "distance": 0.1 * i,
            "natural": {"distance": 0.2, "psi": 0.1, "missing_gap": 0.0},
            "psi": 0.05 * i,
            "drifted": i == 9,
        }
        for i in range(10)
    }
    history = [
        {
            "as_of": (AS_OF - timedelta(days=60)).isoformat(),
            "estimated": {"auc": _interval(0.78), "miss_rate": _interval(0.3, 0.04)},
            "realized": {"auc": 0.75, "miss_rate": 0.28},
        },
        {
            "as_of": (AS_OF - timedelta(days=30)).isoformat(),
            "estimated": {"auc": _interval(0.8), "miss_rate": _interval(0.25, 0.04)},
            "realized": None,
        },
    ]
    document: dict[str, Any] = {
        "as_of": AS_OF.isoformat(),
        "quality": {
            "freshness": {"overall": {"age_days": 0.7}},
            "volume": {"ratio": 0.92},
            "validity": {
                "quarantine": {"window": {"check_ins": {"read": 600, "quarantined": 10}}},
                "dead_letters": {"window": {"events": 0, "dead_lettered": 0}},
                "max_quarantine_share": 0.05,
                "max_dead_letter_share": 0.05,
                "series": _series(),
            },
        },
        "drift": {"features": features, "drifted_share": 0.1},
        "performance": {
            "estimated": {
                "auc": _interval(0.8),
                "miss_rate": _interval(0.25, 0.04),
                "brier": _interval(0.17, 0.01),
            },
            "realized": {"overall": {"n": 657, "auc": 0.838, "brier": 0.143}},
            "history": history,
        },
        "alerts": [],
    }
    return document | changes


def _alert(condition: str, severity: str, first: datetime, cleared: datetime | None) -> dict:
    return {
        "condition": condition,
        "subject": "s",
        "severity": severity,
        "message": "m",
        "first_raised_at": first.isoformat(),
        "last_raised_at": (first + timedelta(hours=2)).isoformat(),
        "cleared_at": cleared and cleared.isoformat(),
    }


ALERTS = [
    _alert("drift.feature", "warning", AS_OF - timedelta(days=3), AS_OF - timedelta(days=1)),
    _alert("quality.freshness", "critical", AS_OF - timedelta(days=2), None),
]


Drawn = list[list[tuple[tuple[float, float], list[Any]]]]


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> Drawn:
    """Per figure drawn, per axes: its x limits and the segments of its line collections (read
    before `png_uri` clears the figure)."""
    figures: Drawn = []
    real = module.png_uri

    def keep(fig: Figure) -> str:
        figures.append(
            [
                (ax.get_xlim(), [getattr(c, "get_segments", list)() for c in ax.collections])
                for ax in fig.axes
            ]
        )
        return real(fig)

    monkeypatch.setattr(module, "png_uri", keep)
    return figures


def test_the_report_is_self_contained_with_its_figures_and_facts(tmp_path: Path) -> None:
    path = write_monitoring_report(
        tmp_path / "report.html", _document(), alerts=ALERTS, levels=LEVELS
    )
    text = path.read_text(encoding="utf-8")
    for title in TITLES:
        assert f'alt="{title}"' in text
    images = DATA_URI.findall(text)
    assert len(images) == 4
    assert all(base64.b64decode(image).startswith(b"\x89PNG\r\n\x1a\n") for image in images)
    lowered = text.lower()
    assert "http://" not in lowered and "https://" not in lowered
    assert "<script" not in lowered and "<link" not in lowered and "url(" not in lowered
    assert "Nothing to plot yet" not in text
    facts = text[text.index("<h2>This run</h2>") : text.index("Alerts of this run")]
    assert "<dt>estimated AUC</dt><dd>0.800 (0.750 to 0.850)</dd>" in facts
    assert "<dt>realized AUC</dt><dd>0.838 (657 predictions)</dd>" in facts
    assert "<dt>drifted features</dt><dd>1 of 10</dd>" in facts
    assert "<dt>quarantined in the window</dt><dd>1.7%</dd>" in facts
    assert "<dt>dead-lettered in the window</dt><dd>n/a</dd>" in facts


def test_the_facts_say_why_a_figure_is_missing(tmp_path: Path) -> None:
    reason = "0 of the 210 open key results have a stored prediction (at least 20 needed)"
    document = _document(drift={"skipped": "no champion model"})
    document["performance"]["estimated"] = {"auc": None, "reason": reason}
    text = write_monitoring_report(
        tmp_path / "report.html", document, alerts=[], levels=LEVELS
    ).read_text(encoding="utf-8")
    assert f"<dt>estimated performance</dt><dd>n/a: {reason}</dd>" in text
    assert "<dt>estimated AUC</dt>" not in text
    assert "<dt>drifted features</dt><dd>n/a: no champion model</dd>" in text
    assert "Nothing to plot yet: Drift per feature, Alert timeline." in text
    looked_back = _document(looked_back="as of a date before the latest monitoring run's (…)")
    text = write_monitoring_report(
        tmp_path / "back.html", looked_back, alerts=[], levels=LEVELS
    ).read_text(encoding="utf-8")
    assert '<li>none</li></ul><p class="note">as of a date before the latest' in text


def test_a_day_of_rows_read_is_drawn_over_the_whole_series_window(
    tmp_path: Path, drawn: Drawn
) -> None:
    """One day with rows read among 28: the axis spans the 28 days (matplotlib alone widens a
    single date to years)."""
    document = _document(drift={}, performance={})
    write_monitoring_report(tmp_path / "report.html", document, alerts=[], levels=LEVELS)
    [[((low, high), _)]] = drawn
    assert 28 <= high - low <= 31


def test_estimates_without_an_interval_are_left_out(tmp_path: Path, drawn: Drawn) -> None:
    """An estimate of risks all 0 has no AUC, and one whose draws were all one class has no
    interval: neither is drawn, the others are."""
    document = _document(drift={}, quality={})
    history = document["performance"]["history"]
    history.append({"as_of": AS_OF.isoformat(), "estimated": {"auc": _interval(None)}})
    history.append(
        {"as_of": AS_OF.isoformat(), "estimated": {"auc": _interval(0.9) | {"low": None}}}
    )
    write_monitoring_report(tmp_path / "report.html", document, alerts=[], levels=LEVELS)
    [[((_, high), _), _]] = drawn  # AUC above miss rate, on one time axis
    assert num2date(high).date() < AS_OF.date()  # the last two, as of D, are left out


def test_an_alert_is_drawn_from_its_first_raise_to_its_clearing(
    tmp_path: Path, drawn: Drawn
) -> None:
    document = _document(drift={}, quality={}, performance={})
    write_monitoring_report(tmp_path / "report.html", document, alerts=ALERTS, levels=LEVELS)
    [[(_, collections)]] = drawn
    spans = sorted(
        (round(float(segment[0][0]), 3), round(float(segment[1][0]), 3))
        for segments in collections
        for segment in segments
        if len(segment) == 2
    )
    first, second = ALERTS
    assert spans == [
        (
            round(date2num(datetime.fromisoformat(first["first_raised_at"])), 3),
            round(date2num(datetime.fromisoformat(first["cleared_at"])), 3),
        ),
        (  # still holding: up to its last raise
            round(date2num(datetime.fromisoformat(second["first_raised_at"])), 3),
            round(date2num(datetime.fromisoformat(second["last_raised_at"])), 3),
        ),
    ]


@pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is not installed")
def test_the_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    path = write_monitoring_report(
        tmp_path / "report.html", _document(), alerts=ALERTS, levels=LEVELS
    )
    shot = screenshot(path, tmp_path, window="1280,2600")
    assert shot.stat().st_size > 50_000  # a page of figures, not a blank one
