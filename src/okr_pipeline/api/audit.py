"""The audit log's writer: every write (POST, PUT, PATCH, DELETE) and every admin operation is
recorded once answered, allowed or refused (401, 403 and 429 included): who (token and role),
from where, what (method, path, operation), when, and how it ended. If the record cannot be
written the call answers 500: an audited call never goes unrecorded in silence.

A POST that a viewer may make (`/predict`: rows in, risks out) changes nothing: it is recorded
only when refused, so that serving predictions costs no warehouse write per call."""

from __future__ import annotations

from flask import Flask, Response, g, request

from okr_pipeline import jobs
from okr_pipeline.api.context import caller, settings, state
from okr_pipeline.core import now_utc

__all__ = ["REFUSED_AS", "WRITES", "install"]

REFUSED_AS = "okr_refused_as"  # in flask.g: the status to audit instead of the response's

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _audited(status: int) -> bool:
    # no operation (a 404 or 405), or Flask's automatic OPTIONS answer (a CORS preflight)
    if request.endpoint is None or request.method == "OPTIONS":
        return False
    role = state().roles[request.endpoint]
    if role == "viewer" and status < 400:
        return False  # a read, whatever its method
    return request.method in WRITES or role == "admin"


def _record(response: Response) -> Response:
    # the status the call was refused with, where its response is another (the dashboard sends
    # a caller who is not signed in to its sign-in page: a 303 for a 401)
    status = g.pop(REFUSED_AS, response.status_code)
    if _audited(status):
        token = caller()
        jobs.record_audit(
            settings(),
            jobs.AuditEntry(
                at=now_utc(),
                token_name=token.name if token else None,
                role=token.role if token else None,
                remote_addr=request.remote_addr,
                method=request.method,
                path=request.path,
                operation_id=state().operation_ids[request.endpoint or ""],
                status=status,
            ),
        )
    return response


def install(app: Flask) -> None:
    app.after_request(_record)
