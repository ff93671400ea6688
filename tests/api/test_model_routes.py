"""The model routes on the real MLflow registry of the demo: versions with aliases, metrics and
tags; one version by number or alias; promotion by hand and rollback move the champion alias in
the registry, and a rollback with no earlier champion is refused."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from api_calls import AS_OF, bearer
from okr_pipeline import jobs
from okr_pipeline.config import Settings
from okr_pipeline.core import as_of_instant


def _aliases(settings: Settings) -> dict[str, tuple[str, ...]]:
    """The aliases each version holds, as the registry tells them."""
    return {v.version: v.aliases for v in jobs.model_versions(settings)}


def test_the_versions_with_their_aliases_metrics_and_tags(client: FlaskClient, tokens: Any):
    response = client.get("/api/v1/models", headers=bearer(tokens.viewer))
    assert response.status_code == 200
    listed = response.get_json()
    assert listed["champion"] == listed["challenger"] == "1"  # the demo trained one version
    (version,) = listed["items"]
    assert version["version"] == "1" and sorted(version["aliases"]) == ["challenger", "champion"]
    assert 0.5 < version["metrics"]["auc"] <= 1
    assert version["tags"]["okr.gate_decision"] == "promoted"
    assert version["run_id"]
    one = client.get("/api/v1/models/1", headers=bearer(tokens.viewer)).get_json()
    assert one == version
    assert client.get("/api/v1/models/champion", headers=bearer(tokens.viewer)).get_json() == one


def test_an_unknown_version_is_404_and_a_malformed_one_422(
    client: FlaskClient, settings: Settings, tokens: Any
):
    missing = client.get("/api/v1/models/42", headers=bearer(tokens.viewer))
    assert missing.status_code == 404 and "42" in missing.get_json()["detail"]
    assert client.get("/api/v1/models/latest", headers=bearer(tokens.viewer)).status_code == 422
    promoted = client.post("/api/v1/models/42/promote", headers=bearer(tokens.admin))
    assert promoted.status_code == 404 and promoted.get_json()["error"] == "not_found"
    assert _aliases(settings)["1"] == ("challenger", "champion")


def test_promote_and_rollback_move_the_champion_in_the_registry(
    client: FlaskClient, settings: Settings, tokens: Any
):
    second = jobs.train_model(settings, as_of_instant(AS_OF))  # version 2, through the gate
    champion, other = ("2", "1") if second.promoted else ("1", "2")
    assert _aliases(settings)[champion][-1] == "champion"

    promoted = client.post(f"/api/v1/models/{other}/promote", headers=bearer(tokens.admin))
    assert promoted.status_code == 200, promoted.get_data(True)
    body = promoted.get_json()
    assert body["version"] == other and "champion" in body["aliases"]
    assert body["tags"]["okr.promotion_reason"] == "promoted by hand"
    assert "champion" in _aliases(settings)[other]
    assert "champion" not in _aliases(settings)[champion]
    listed = client.get("/api/v1/models", headers=bearer(tokens.viewer)).get_json()
    assert listed["champion"] == other and listed["challenger"] == "2"

    again = client.post(f"/api/v1/models/{other}/promote", headers=bearer(tokens.admin))
    assert again.status_code == 200 and again.get_json()["version"] == other  # no change

    restored = client.post("/api/v1/models/rollback", headers=bearer(tokens.admin))
    assert restored.status_code == 200, restored.get_data(True)
    assert restored.get_json()["version"] == champion
    assert "champion" in _aliases(settings)[champion]
    assert "champion" not in _aliases(settings)[other]
    assert "okr.rolled_back_at" in jobs.model_version(settings, other)["tags"]


def test_a_rollback_without_an_earlier_champion_is_409(
    client: FlaskClient, settings: Settings, tokens: Any
):
    refused = client.post("/api/v1/models/rollback", headers=bearer(tokens.admin))
    assert refused.status_code == 409 and refused.get_json()["error"] == "conflict"
    assert "no previous champion" in refused.get_json()["detail"]
    assert _aliases(settings)["1"] == ("challenger", "champion")  # nothing moved
    audited = jobs.audit_entries(settings, limit=1).items[0]
    assert (audited["operation_id"], audited["status"], audited["outcome"]) == (
        "rollback_model",
        409,
        "failed",
    )
