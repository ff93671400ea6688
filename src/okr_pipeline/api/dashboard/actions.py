"""What the dashboard's forms do: promote a model version or roll the champion back, acknowledge
an alert, retry the dead letters or the quarantine. Each requires the role its API operation
requires (read from that operation, so the two never differ), is audited as the API's writes
are (allowed or refused), and returns to its page with a notice."""

from __future__ import annotations

from flask import request
from werkzeug.wrappers import Response

from okr_pipeline import jobs
from okr_pipeline.api import dead_letters, monitoring, quarantine, registry
from okr_pipeline.api.area import Area
from okr_pipeline.api.context import settings
from okr_pipeline.api.dashboard.site import site
from okr_pipeline.api.dashboard.view import keep

__all__ = ["ACTION_ROLES"]


def _role_of(area: Area, operation: str) -> str:
    role = area.roles[operation]
    if role is None:
        raise RuntimeError(f"{area.name}.{operation} is open: a dashboard action needs a role")
    return role


# each action's role: its API operation's
ACTION_ROLES = {
    "promote": _role_of(registry.area, "promote_model"),
    "rollback": _role_of(registry.area, "rollback_model"),
    "acknowledge": _role_of(monitoring.area, "acknowledge_alert"),
    "retry_dead_letters": _role_of(dead_letters.area, "retry_dead_letters"),
    "retry_quarantine": _role_of(quarantine.area, "retry_quarantine"),
}


def _back(endpoint: str, notice: str) -> Response:
    """303 to the page the form was on (its as-of kept), with the action's notice."""
    response = Response(status=303)
    response.headers["Location"] = keep(endpoint, notice=notice)
    return response


@site.page("/model/<version>/promote", role=ACTION_ROLES["promote"], methods=("POST",))
def promote(version: str) -> Response:
    """Promote a version to champion by hand (past the gate), as the API does."""
    path = registry.VersionPath.model_validate({"version": version})
    jobs.promote_model(settings(), path.version)
    return _back("dashboard.model", "promoted")


@site.page("/model/rollback", role=ACTION_ROLES["rollback"], methods=("POST",))
def rollback() -> Response:
    """The champion alias goes back to the previous champion (409 page if none)."""
    jobs.rollback_model(settings())
    return _back("dashboard.model", "rolled_back")


@site.page("/alerts/<alert_id>/ack", role=ACTION_ROLES["acknowledge"], methods=("POST",))
def acknowledge(alert_id: str) -> Response:
    """Acknowledge an alert (404 page if unknown, 409 if it has cleared)."""
    path = monitoring.AlertPath.model_validate({"alert_id": alert_id})
    jobs.acknowledge_alert_by_id(settings(), path.alert_id)
    return _back("dashboard.monitoring", "acknowledged")


@site.page("/dead-letters/retry", role=ACTION_ROLES["retry_dead_letters"], methods=("POST",))
def retry_dead_letters() -> Response:
    """Apply the open dead letters (of the form's reason, if any) again."""
    form = dead_letters.RetryQuery.model_validate({"reason": request.form.get("reason") or None})
    jobs.retry_dead_lettered(settings(), form.reason)
    return _back("dashboard.pipelines", "dead_letters_retried")


@site.page("/quarantine/retry", role=ACTION_ROLES["retry_quarantine"], methods=("POST",))
def retry_quarantine() -> Response:
    """Validate the open quarantined rows again and store those that pass."""
    jobs.retry_quarantined(settings())
    return _back("dashboard.pipelines", "quarantine_retried")
