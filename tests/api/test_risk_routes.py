"""One key result's risk over the API: the stored one (latest, or for exactly an as-of), the
one computed on demand by the champion for another as-of (the risk `okr predict` would store,
not stored), and the errors: unknown key result, no risk then, no champion, bad as-of."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from api_calls import AS_OF, ON_BOTH, bearer, error_detail
from okr_pipeline import jobs
from okr_pipeline.config import Settings
from okr_pipeline.core import as_of_instant, days, now_utc
from okr_pipeline.features import load_history
from okr_pipeline.model import open_registry
from okr_pipeline.warehouse import open_warehouse, predictions

EARLIER = "2026-04-20"  # no risk is stored for it in the demo


def _stored(settings: Settings) -> dict[str, Any]:
    """A prediction row stored for AS_OF, of a key result open also at EARLIER."""
    with open_warehouse(settings).connect() as conn:
        history = load_history(conn, settings.model.achievement_threshold)
        rows = conn.execute(
            select(predictions).where(predictions.c.as_of == as_of_instant(AS_OF))
        ).all()
    earlier = days(as_of_instant(EARLIER))
    for row in sorted(rows, key=lambda r: r.key_result_id):
        if history.key_results[row.key_result_id].begin <= earlier:  # open then: due later
            return dict(row._mapping)
    raise AssertionError("no stored risk of a key result open at both dates")


def _count(settings: Settings) -> int:
    with open_warehouse(settings).connect() as conn:
        return int(conn.execute(select(func.count()).select_from(predictions)).scalar_one())


def _get(client: FlaskClient, token: str, kr_id: str, **query: str) -> Any:
    return client.get(
        f"/api/v1/key-results/{kr_id}/risk", query_string=query, headers=bearer(token)
    )


def _same_as_stored(body: dict[str, Any], row: dict[str, Any]) -> None:
    assert body["stored"] is True
    assert body["key_result_id"] == row["key_result_id"]
    assert body["risk"] == row["risk"]
    assert body["status"] == row["status"]
    assert body["reasons"] == json.loads(row["reasons"])
    assert body["model_version"] == row["model_version"]
    assert body["as_of"] == row["as_of"].isoformat() + "Z"
    assert body["created_at"] == row["created_at"].isoformat() + "Z"


@pytest.mark.parametrize("settings", ON_BOTH, indirect=True)
def test_the_stored_risk_latest_and_for_its_exact_as_of(
    client: FlaskClient, settings: Settings, tokens: Any
):
    row = _stored(settings)
    latest = _get(client, tokens.viewer, row["key_result_id"])
    assert latest.status_code == 200, latest.get_data(True)
    _same_as_stored(latest.get_json(), row)  # the demo stores risks for AS_OF only
    exact = _get(client, tokens.viewer, row["key_result_id"], as_of=AS_OF)
    assert exact.status_code == 200
    _same_as_stored(exact.get_json(), row)
    reasons = exact.get_json()["reasons"]
    assert len(reasons) == 3 and {r["direction"] for r in reasons} <= {"raises_risk", "lowers_risk"}


def test_the_latest_stored_risk_is_the_newest_as_of(
    client: FlaskClient, settings: Settings, tokens: Any
):
    row = _stored(settings)
    later = row | {"id": None, "as_of": row["as_of"] + timedelta(days=1), "risk": 0.5}
    with open_warehouse(settings).begin() as conn:
        conn.execute(predictions.insert().values({k: v for k, v in later.items() if k != "id"}))
    body = _get(client, tokens.viewer, row["key_result_id"]).get_json()
    assert body["risk"] == 0.5 and body["as_of"].startswith("2026-05-16")
    # a stored risk for an as-of after now is not the latest yet
    future = later | {"as_of": now_utc() + timedelta(days=30), "risk": 0.9}
    with open_warehouse(settings).begin() as conn:
        conn.execute(predictions.insert().values({k: v for k, v in future.items() if k != "id"}))
    assert _get(client, tokens.viewer, row["key_result_id"]).get_json()["risk"] == 0.5


def test_another_as_of_is_computed_on_demand_as_okr_predict_would_store_it(
    client: FlaskClient, settings: Settings, tokens: Any
):
    row = _stored(settings)
    kr_id = row["key_result_id"]
    before = _count(settings)
    computed = _get(client, tokens.viewer, kr_id, as_of=EARLIER)
    assert computed.status_code == 200, computed.get_data(True)
    body = computed.get_json()
    champion = open_registry(settings).version("champion")
    assert champion is not None
    assert body["stored"] is False and body["created_at"] is None
    assert body["model_version"] == champion.version
    assert body["as_of"] == as_of_instant(EARLIER).isoformat() + "Z"
    assert _count(settings) == before  # nothing stored

    # what `okr predict --as-of` stores for that date is the same risk, status and reasons
    jobs.predict_risks(settings, as_of_instant(EARLIER))
    stored = _get(client, tokens.viewer, kr_id, as_of=EARLIER).get_json()
    assert stored["stored"] is True
    for field in ("risk", "status", "reasons", "model_version", "as_of"):
        assert stored[field] == body[field], field
    # an instant (not a day) is an as-of too
    instant = _get(client, tokens.viewer, kr_id, as_of="2026-04-20T12:00:00+02:00").get_json()
    assert instant["as_of"] == "2026-04-20T10:00:00Z" and instant["stored"] is False


def test_unknown_key_result_is_404(client: FlaskClient, tokens: Any):
    detail = error_detail(_get(client, tokens.viewer, "no-such-kr"), 404, "not_found")
    assert "no-such-kr" in detail


def test_a_key_result_not_open_at_the_as_of_has_no_risk(
    client: FlaskClient, settings: Settings, tokens: Any
):
    kr_id = _stored(settings)["key_result_id"]
    detail = error_detail(_get(client, tokens.viewer, kr_id, as_of="2020-01-01"), 404, "not_found")
    assert "not open" in detail and kr_id in detail
    with open_warehouse(settings).connect() as conn:
        history = load_history(conn, settings.model.achievement_threshold)
    cancelled = next(k for k, kr in sorted(history.key_results.items()) if kr.cancelled)
    detail = error_detail(_get(client, tokens.viewer, cancelled, as_of=AS_OF), 404, "not_found")
    assert "cancelled" in detail


def test_no_champion_is_503_only_when_the_risk_must_be_computed(
    client: FlaskClient, settings: Settings, tokens: Any
):
    row = _stored(settings)
    registry = open_registry(settings)
    registry._client.delete_registered_model_alias(registry.registered_name, "champion")
    detail = error_detail(
        _get(client, tokens.viewer, row["key_result_id"], as_of=EARLIER), 503, "no_champion"
    )
    assert "okr train" in detail
    stored = _get(client, tokens.viewer, row["key_result_id"], as_of=AS_OF)
    assert stored.status_code == 200 and stored.get_json()["stored"] is True


def test_a_future_as_of_without_a_stored_risk_is_refused(
    client: FlaskClient, settings: Settings, tokens: Any
):
    kr_id = _stored(settings)["key_result_id"]
    detail = error_detail(
        _get(client, tokens.viewer, kr_id, as_of="9999-12-31"), 400, "bad_request"
    )
    assert "future" in detail


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"as_of": "someday"}, "as_of"),
        ({"as_of": "2026-02-30"}, "as_of"),
        ({"as_of": ""}, "as_of"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_a_bad_query_is_422_naming_it(
    client: FlaskClient, settings: Settings, tokens: Any, query: dict[str, str], field: str
):
    kr_id = _stored(settings)["key_result_id"]
    problems = error_detail(_get(client, tokens.viewer, kr_id, **query), 422, "invalid_request")
    assert any(problem["loc"][0] == field for problem in problems), problems


@pytest.mark.parametrize("kr_id", ["a" * 256, "a%00b"])
def test_a_bad_key_result_id_is_422(client: FlaskClient, tokens: Any, kr_id: str):
    error_detail(_get(client, tokens.viewer, kr_id), 422, "invalid_request")
