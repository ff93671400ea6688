"""The dashboard's actions: each requires the role of its API operation, a viewer posting an
admin's action gets a 403 page, and every action is in the audit log, allowed or refused, as
the API's writes are."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from dashboard_forms import post_form
from flask.testing import FlaskClient

from okr_pipeline import jobs
from okr_pipeline.api import dead_letters, monitoring, quarantine, registry
from okr_pipeline.api.dashboard.actions import ACTION_ROLES
from okr_pipeline.config import Settings

SignedIn = Callable[[str], FlaskClient]


def _last_audit(settings: Settings) -> dict[str, object]:
    entry: dict[str, object] = jobs.audit_entries(settings, limit=1).items[0]
    return entry


def test_the_actions_take_their_api_operations_roles():
    assert {
        "promote": registry.area.roles["promote_model"],
        "rollback": registry.area.roles["rollback_model"],
        "acknowledge": monitoring.area.roles["acknowledge_alert"],
        "retry_dead_letters": dead_letters.area.roles["retry_dead_letters"],
        "retry_quarantine": quarantine.area.roles["retry_quarantine"],
    } == ACTION_ROLES
    assert ACTION_ROLES["promote"] == ACTION_ROLES["acknowledge"] == "admin"


def test_an_admin_acknowledges_an_alert(signed_in: SignedIn, settings: Settings):
    alert = jobs.alerts(settings)[0]
    admin = signed_in("admin")
    page = admin.get("/monitoring?as_of=2026-05-15").get_data(as_text=True)
    assert f'action="/alerts/{alert.id}/ack?as_of=2026-05-15"' in page
    response = post_form(admin, f"/alerts/{alert.id}/ack?as_of=2026-05-15")
    assert response.status_code == 303
    assert response.headers["Location"] == "/monitoring?notice=acknowledged&as_of=2026-05-15"
    assert jobs.alerts(settings)[0].status == "acknowledged"
    entry = _last_audit(settings)
    assert (entry["operation_id"], entry["token_name"], entry["outcome"], entry["status"]) == (
        "dashboard.acknowledge",
        "test-admin",
        "allowed",
        303,
    )
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "The alert is acknowledged" in page


@pytest.mark.parametrize(
    "url",
    ["/alerts/1/ack", "/model/1/promote", "/model/rollback", "/dead-letters/retry"],
)
def test_a_viewer_posting_an_action_is_refused_and_audited(
    signed_in: SignedIn, settings: Settings, url: str
):
    response = post_form(signed_in("viewer"), url)
    assert response.status_code == 403
    html = response.get_data(as_text=True)
    assert "Not allowed" in html and "test-viewer" in html and response.mimetype == "text/html"
    entry = _last_audit(settings)
    assert (entry["path"], entry["token_name"], entry["role"], entry["outcome"]) == (
        url,
        "test-viewer",
        "viewer",
        "refused",
    )
    assert jobs.alerts(settings)[0].status == "open"


def test_an_action_without_a_session_goes_to_the_login_and_changes_nothing(
    client: FlaskClient, settings: Settings
):
    response = post_form(client, "/alerts/1/ack")
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert jobs.alerts(settings)[0].status == "open"
    entry = _last_audit(settings)  # refused, though answered by a redirect
    assert (entry["status"], entry["outcome"], entry["token_name"]) == (401, "refused", None)


def test_an_editor_retries_dead_letters_and_the_quarantine(signed_in: SignedIn, settings: Settings):
    editor = signed_in("editor")
    response = post_form(editor, "/dead-letters/retry", {"reason": "unknown_reference"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/pipelines?notice=dead_letters_retried"
    assert post_form(editor, "/quarantine/retry").status_code == 303
    assert _last_audit(settings)["operation_id"] == "dashboard.retry_quarantine"
    refused = post_form(editor, "/alerts/1/ack")
    assert refused.status_code == 403 and _last_audit(settings)["outcome"] == "refused"
    bad = post_form(editor, "/dead-letters/retry", {"reason": "no-such-reason"})
    assert bad.status_code == 400


def test_promote_and_rollback_answer_with_pages(signed_in: SignedIn, settings: Settings):
    admin = signed_in("admin")
    response = post_form(admin, "/model/1/promote")  # the champion already: no change
    assert response.status_code == 303
    assert response.headers["Location"] == "/model?notice=promoted"
    conflict = post_form(admin, "/model/rollback")  # no earlier champion
    assert conflict.status_code == 409 and "Conflict" in conflict.get_data(as_text=True)
    assert _last_audit(settings)["outcome"] == "failed"
    assert post_form(admin, "/model/99/promote").status_code == 404
    assert post_form(admin, "/model/v1/promote").status_code == 400
    assert post_form(admin, "/alerts/0/ack").status_code == 400
    assert post_form(admin, "/alerts/12345/ack").status_code == 404
