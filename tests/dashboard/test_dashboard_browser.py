"""The dashboard in a real browser: Playwright driving Debian's Chromium against `okr serve`
(two workers, no OKR_API__SECRET_KEY: the key the server makes is shared by its workers) on a
copy of the demo warehouse. Sign in with the keyboard, see the overview, filter the key results
at risk, open one and find its chart drawn, acknowledge an alert as an admin, be refused as a
viewer, and read every page at a phone's width. Each page's screenshot is kept in
test-artifacts/dashboard/. One server and one browser for the module."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from api_calls import AS_OF
from okr_pipeline import jobs
from okr_pipeline.config import Settings, load_settings
from okr_pipeline.core import as_of_instant
from served import okr_serve

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"
PAGES = {
    "overview": f"/?as_of={AS_OF}",
    "at-risk": f"/key-results?as_of={AS_OF}",
    "model": "/model?as_of=2026-07-01",
    "monitoring": f"/monitoring?as_of={AS_OF}",
    "pipelines": "/pipelines",
}

if not CHROMIUM.exists():
    pytest.skip(f"Chromium is not installed at {CHROMIUM}", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


@dataclass
class Served:
    url: str
    admin: str
    viewer: str
    settings: Settings


@pytest.fixture(scope="module")
def served(demo_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("dashboard-browser")
    data = root / "data"
    shutil.copytree(demo_data, data)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OKR_")}
    environment["OKR_DATA_DIR"] = str(data)
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("OKR_")]:
            patch.delenv(name)
        patch.setenv("OKR_DATA_DIR", str(data))
        settings = load_settings()
        admin = jobs.create_token(settings, "browser-admin", "admin").token
        viewer = jobs.create_token(settings, "browser-viewer", "viewer").token
    with okr_serve(environment, 2, root / "serve.log") as (url, _):
        yield Served(url, admin, viewer, settings)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: object, request: pytest.FixtureRequest) -> Iterator[object]:
    """A new browser context at 1280 px (or the width the test is parametrized with)."""
    width = getattr(request, "param", 1280)
    context = browser.new_context(viewport={"width": width, "height": 900})  # type: ignore[attr-defined]
    opened = context.new_page()
    errors: list[str] = []  # a style or image the policy refused, a file not found
    opened.on("console", lambda m: errors.append(m.text) if _problem(m) else None)
    opened.on(
        "response",
        lambda r: errors.append(f"{r.status} {r.url}") if _missing(r) else None,
    )
    yield opened
    context.close()
    assert not errors, errors


def _problem(message: object) -> bool:
    # a missing file is told by its response (below), with its URL
    text: str = message.text  # type: ignore[attr-defined]
    error = message.type == "error"  # type: ignore[attr-defined]
    return error and not text.startswith("Failed to load resource")


def _missing(response: object) -> bool:
    # the browser asks for /favicon.ico of its own accord: the dashboard has none
    url: str = response.url  # type: ignore[attr-defined]
    return response.status == 404 and not url.endswith("/favicon.ico")  # type: ignore[attr-defined]


def _sign_in(page: object, served: Served, token: str, start: str = PAGES["overview"]) -> None:
    """Sign in with the keyboard: the skip link first, then the token field and Enter."""
    page.goto(served.url + start)  # type: ignore[attr-defined]
    assert "/login" in page.url  # type: ignore[attr-defined]
    page.keyboard.press("Tab")  # type: ignore[attr-defined]
    focused = page.evaluate("document.activeElement.textContent")  # type: ignore[attr-defined]
    assert focused == "Skip to content"
    page.get_by_label("API token").fill(token)  # type: ignore[attr-defined]
    with page.expect_navigation():  # type: ignore[attr-defined]
        page.keyboard.press("Enter")  # type: ignore[attr-defined]
    assert "/login" not in page.url  # type: ignore[attr-defined]


def _shot(page: object, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def test_sign_in_and_see_the_overview(page, served: Served):
    page.goto(served.url + PAGES["overview"])
    _shot(page, "login")
    _sign_in(page, served, served.viewer)
    assert page.get_by_role("heading", level=1).inner_text() == "Overview: 2026 Q2"
    chart = page.locator("svg#risk-trend")
    assert chart.is_visible() and chart.bounding_box()["width"] > 300
    assert page.locator("table.data tbody tr").count() >= 3
    _shot(page, "overview")


def test_filter_the_at_risk_list(page, served: Served):
    _sign_in(page, served, served.viewer, PAGES["at-risk"])
    everything = page.locator("#key-results tbody tr").count()
    department = jobs.filter_choices(served.settings)["departments"][1]
    page.get_by_label("Department").select_option(department)
    page.get_by_label("Status").select_option("all")
    with page.expect_navigation():
        page.get_by_role("button", name="Apply").click()
    assert "department=" in page.url and f"as_of={AS_OF}" in page.url
    rows = page.locator("#key-results tbody tr")
    assert rows.count() > 0
    cells = rows.locator("td:nth-child(6)").all_inner_texts()
    assert set(cells) == {department}
    assert everything > 0
    _shot(page, "at-risk")


def test_open_a_key_result_and_find_its_chart_drawn(page, served: Served):
    _sign_in(page, served, served.viewer, PAGES["at-risk"])
    with page.expect_navigation():
        page.locator("#key-results tbody tr th a").first.click()
    assert re.search(r"/key-results/[^/?]+\?as_of=", page.url)
    chart = page.locator("svg#key-result-chart")
    assert chart.is_visible()
    for series in ("pace", "progress", "risk"):
        line = chart.locator(f"g.series.{series} polyline")
        assert line.count() == 1 and line.bounding_box() is not None, series
    assert chart.locator("g.progress circle").count() >= 2  # the check-ins
    # drawn in the style sheet's colours: the page loaded its CSS
    stroke = chart.locator("g.series.risk polyline").evaluate("e => getComputedStyle(e).stroke")
    assert stroke == "rgb(207, 34, 46)"
    _shot(page, "key-result")


def test_acknowledge_an_alert_as_admin(page, served: Served):
    _sign_in(page, served, served.admin, PAGES["monitoring"])
    _shot(page, "monitoring")
    acknowledge = page.get_by_role("button", name="Acknowledge").first
    acknowledge.focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")  # a real button: the keyboard posts it
    assert page.get_by_role("status").inner_text().startswith("The alert is acknowledged")
    assert "acknowledged" in page.locator("#alerts-table tbody tr").first.inner_text()
    for name in ("model", "pipelines"):
        page.goto(served.url + PAGES[name])
        assert page.get_by_role("heading", level=1).is_visible()
        _shot(page, name)
    assert page.get_by_role("button", name="Retry the open dead letters").is_visible()


def test_be_refused_as_viewer(page, served: Served):
    _sign_in(page, served, served.viewer, PAGES["monitoring"])
    assert page.get_by_role("button", name="Acknowledge").count() == 0
    alert = jobs.alerts(served.settings)[0]
    token = page.locator('input[name="csrf_token"]').first.get_attribute("value")
    answer = page.request.post(
        f"{served.url}/alerts/{alert.id}/ack", form={"csrf_token": token}, max_redirects=0
    )
    assert answer.status == 403 and "Not allowed" in answer.text()
    page.set_content(answer.text())
    _shot(page, "refused")
    entry = jobs.audit_entries(served.settings, limit=1).items[0]
    assert (entry["token_name"], entry["outcome"], entry["status"]) == (
        "browser-viewer",
        "refused",
        403,
    )


@pytest.mark.parametrize("page", [375], indirect=True)
def test_every_page_reads_at_a_phones_width(page, served: Served):
    _sign_in(page, served, served.admin)
    open_then = jobs.KeyResultFilters(as_of=as_of_instant(AS_OF), state="open")
    key_result = jobs.key_results_as_of(served.settings, open_then)[0]["key_result_id"]
    for name, url in {**PAGES, "key-result": f"/key-results/{key_result}?as_of={AS_OF}"}.items():
        page.goto(served.url + url)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{name} is {width} px wide"
        _shot(page, f"phone-{name}")
