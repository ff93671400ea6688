"""Every page of the dashboard on the demo warehouse (a champion, stored risks, a monitoring
run with an alert): what it shows, its filters and sorting, its empty states on an empty
warehouse, and bad parameters answered with a 400 page, never a 500."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from dashboard_forms import sign_in
from flask.testing import FlaskClient
from markupsafe import escape

from api_calls import AS_OF
from okr_pipeline import jobs
from okr_pipeline.api import create_app
from okr_pipeline.config import Settings, load_settings
from okr_pipeline.core import as_of_instant

LATER = "2026-07-01"  # the demo's quarter has closed: the stored risks meet their outcomes
ROW = re.compile(r'<tr>\s*<th scope="row"><a href="/key-results/([^"?]+)\?as_of=[^"]*">', re.S)


def _rows(html: str) -> list[str]:
    return ROW.findall(html)


@pytest.fixture
def viewer(signed_in: Callable[[str], FlaskClient]) -> FlaskClient:
    return signed_in("viewer")


def _page(browser: FlaskClient, url: str) -> str:
    response = browser.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/html"
    policy = response.headers["Content-Security-Policy"]
    assert "script-src" not in policy and policy.startswith("default-src 'none'")
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    assert ' style="' not in html and "<script" not in html  # the policy allows neither
    return html


def test_the_overview_counts_departments_and_draws_the_trend(viewer: FlaskClient, settings):
    html = _page(viewer, f"/?as_of={AS_OF}")
    assert "Overview: 2026 Q2" in html
    departments = jobs.department_overview(settings, as_of_instant(AS_OF))
    assert departments and all(str(escape(d["department"])) in html for d in departments)
    at_risk = sum(d["at_risk"] + d["off_track"] for d in departments)
    assert at_risk > 0
    assert '<svg class="chart" id="risk-trend"' in html and "<polyline" in html
    # each department links to its key results at risk, as of the same date
    links = re.findall(r'href="(/key-results\?[^"]*department=[^"]*)"', html)
    named = [d for d in departments if d["department"] != jobs.NO_DEPARTMENT]
    assert len(links) == len(named) and all(f"as_of={AS_OF}" in link for link in links)


def test_the_at_risk_list_holds_the_open_key_results_at_risk_riskiest_first(
    viewer: FlaskClient, settings: Settings
):
    html = _page(viewer, f"/key-results?as_of={AS_OF}&limit=500")
    shown = _rows(html)
    expected = [
        kr
        for kr in jobs.key_results_as_of(
            settings, jobs.KeyResultFilters(as_of=as_of_instant(AS_OF), state="open")
        )
        if kr["risk"] is not None and kr["risk"] >= settings.model.risk_thresholds.at_risk
    ]
    expected.sort(key=lambda kr: (-kr["risk"], kr["key_result_id"]))
    assert shown and len(shown) == len(expected)
    assert shown[0] == max(expected, key=lambda kr: kr["risk"])["key_result_id"]
    assert 'aria-sort="descending"' in html
    assert "raises risk" in html  # the reasons of each risk


def test_the_list_filters_by_department_owner_and_status(viewer: FlaskClient, settings):
    choices = jobs.filter_choices(settings)
    department = choices["departments"][0]
    html = _page(viewer, f"/key-results?as_of={AS_OF}&department={department}&status=all")
    items = jobs.key_results_as_of(
        settings,
        jobs.KeyResultFilters(as_of=as_of_instant(AS_OF), state="open", department=department),
    )
    assert sorted(_rows(html)) == sorted(kr["key_result_id"] for kr in items)[: len(_rows(html))]
    assert f"<option selected>{escape(department)}</option>" in html
    owner = items[0]["owner_id"]
    html = _page(viewer, f"/key-results?as_of={AS_OF}&owner={owner}&status=all")
    assert set(_rows(html)) == {kr["key_result_id"] for kr in items if kr["owner_id"] == owner} | (
        set(_rows(html)) - {kr["key_result_id"] for kr in items}
    )
    off = _rows(_page(viewer, f"/key-results?as_of={AS_OF}&status=off_track&limit=500"))
    assert all(
        jobs.key_result_record(settings, kr, as_of_instant(AS_OF))["risk_status"] == "off_track"
        for kr in off
    )
    empty = _page(viewer, f"/key-results?as_of={AS_OF}&owner=nobody-at-all")
    assert "No open key result matches these filters" in empty


def test_the_list_sorts_and_pages(viewer: FlaskClient, settings):
    html = _page(viewer, f"/key-results?as_of={AS_OF}&status=all&sort=progress&limit=5")
    first = _rows(html)
    assert len(first) == 5 and 'aria-sort="ascending"' in html
    progress = {
        kr["key_result_id"]: kr["progress"]
        for kr in jobs.key_results_as_of(
            settings, jobs.KeyResultFilters(as_of=as_of_instant(AS_OF), state="open")
        )
    }
    assert [progress[k] for k in first] == sorted(progress[k] for k in first)
    following = re.search(r'<a href="([^"]+)" rel="next">', html)
    assert following is not None
    second = _rows(_page(viewer, following.group(1).replace("&amp;", "&")))
    assert second and not set(second) & set(first)
    assert min(progress[k] for k in second) >= max(progress[k] for k in first)


def test_a_key_result_shows_its_chart_check_ins_milestones_and_tasks(viewer, settings):
    open_krs = jobs.key_results_as_of(
        settings, jobs.KeyResultFilters(as_of=as_of_instant(AS_OF), state="open")
    )
    kr = max(open_krs, key=lambda k: k["risk"] or 0)
    record = jobs.key_result_record(settings, kr["key_result_id"], as_of_instant(AS_OF))
    html = _page(viewer, f"/key-results/{kr['key_result_id']}?as_of={AS_OF}")
    assert '<svg class="chart" id="key-result-chart"' in html
    for series in ("pace", "progress", "risk"):
        assert f'<g class="series {series}" data-series=' in html
    assert html.count("<circle") >= len(
        [c for c in record["check_ins"] if c["checked_in_at"] <= as_of_instant(AS_OF).isoformat()]
    )
    assert "Check-ins" in html and "Milestones" in html and "Tasks" in html
    for check_in in record["check_ins"][:3]:
        if check_in["confidence"] is not None:
            assert f"{check_in['confidence']:.1f}" in html
    assert "Why this risk" in html


def test_the_model_page_compares_and_calibrates(signed_in, settings):
    admin = signed_in("admin")
    html = _page(admin, f"/model?as_of={LATER}")
    assert "champion v1" in html and "pace rule" in html and "pace + confidence" in html
    assert '<svg class="chart" id="calibration"' in html and "<circle" in html
    assert "Roll the champion back" in html  # an admin's
    viewer = signed_in("viewer")
    html = _page(viewer, f"/model?as_of={AS_OF}")
    assert "Roll the champion back" not in html and "Promote" not in html
    assert "No outcomes to calibrate against yet" in html  # nothing had closed by then


def test_the_monitoring_page_shows_drift_quality_performance_and_alerts(viewer):
    html = _page(viewer, f"/monitoring?as_of={AS_OF}")
    assert "Drift per feature" in html and 'id="drift-table"' in html
    assert "Data quality" in html and "Estimated (before outcomes)" in html
    assert 'id="alerts-table"' in html and "estimated AUC" in html
    assert "Acknowledge" not in html  # a viewer's page
    assert "Only those still holding" in html


def test_the_pipelines_page_shows_runs_lag_quarantine_and_dead_letters(signed_in):
    html = _page(signed_in("viewer"), "/pipelines")
    assert 'id="runs-table"' in html and "monitoring" in html
    assert "Stream lag" in html and "okr-warehouse" in html
    assert "Quarantine" in html and "Dead letters" in html
    assert "Retry the quarantine" not in html
    editor = _page(signed_in("editor"), "/pipelines?pipeline=monitoring")
    assert "Retry the quarantine" in editor and "Retry the open dead letters" in editor


@pytest.mark.parametrize(
    "url",
    [
        "/?as_of=yesterday",
        "/?unknown=1",
        "/?as_of=2026-05-15&as_of=2026-05-16",
        "/key-results?sort=colour",
        "/key-results?status=lost",
        "/key-results?limit=0",
        "/key-results?cursor=not-a-cursor",
        "/monitoring?open=perhaps",
        "/monitoring?cursor=%00",
        "/pipelines?pipeline=nightly",
        "/pipelines?runs_cursor=bad",
        "/pipelines?entity=people",
        "/model?as_of=2026-13-01",
        "/login?notice=hello",
    ],
)
def test_bad_parameters_are_a_400_page(viewer: FlaskClient, url: str):
    response = viewer.get(url)
    assert response.status_code == 400, response.get_data(as_text=True)
    html = response.get_data(as_text=True)
    assert "Bad request" in html and response.mimetype == "text/html"


@pytest.mark.parametrize("as_of", ["9999-10-01", "9999-12-31", "0001-01-01"])
def test_the_overview_at_the_ends_of_the_calendar(viewer: FlaskClient, as_of: str):
    response = viewer.get(f"/?as_of={as_of}")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert f"Q{(int(as_of[5:7]) - 1) // 3 + 1}" in response.get_data(as_text=True)


def test_an_unknown_key_result_is_a_404_page(viewer: FlaskClient):
    response = viewer.get("/key-results/no-such-kr")
    assert response.status_code == 404 and "no key result" in response.get_data(as_text=True)


def test_empty_states_are_said_plainly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OKR_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("OKR_API__SECRET_KEY", "s" * 40)
    settings = load_settings()
    token = jobs.create_token(settings, "first", "admin").token
    with create_app(settings).test_client() as browser:
        sign_in(browser, token)
        pages = {
            "/": "No key results are due",
            "/key-results": "No open key result matches",
            "/model": "No model is registered yet",
            "/monitoring": "No monitoring run",
            "/pipelines": "No pipeline runs recorded",
        }
        for url, said in pages.items():
            assert said in _page(browser, url), url
        assert "No risks were stored" in _page(browser, "/")
        assert "No alerts." in _page(browser, "/monitoring")


def test_the_style_sheet_comes_with_the_package(client: FlaskClient):
    response = client.get("/static/dashboard.css")
    assert response.status_code == 200 and response.mimetype == "text/css"
    assert b"@media (max-width: 600px)" in response.data
    assert b":focus-visible" in response.data
