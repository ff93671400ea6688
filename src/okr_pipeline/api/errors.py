"""Every error as JSON `{"error": <short code>, "detail": <message or problems>}` with its
status: the request's own mistakes as 4xx, the project's errors by their kind, and anything
unexpected as a 500 that names a reference to the traceback in the log, never the traceback."""

from __future__ import annotations

import logging
import secrets

from flask import Flask, Response
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from okr_pipeline.api.models import ErrorBody, Problem
from okr_pipeline.errors import (
    ConflictError,
    InputError,
    NoChampionError,
    NotFoundError,
    OkrError,
    TooLargeError,
)

__all__ = ["error_response", "install", "okr_status", "unexpected_status", "validation_error"]

log = logging.getLogger(__name__)

# short codes of the statuses the API answers with; another status is named by its phrase
CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "invalid_request",
    429: "rate_limited",
    500: "internal",
    503: "unavailable",
}


def error_response(status: int, detail: str | list[Problem], code: str | None = None) -> Response:
    body = ErrorBody(error=code or CODES.get(status, f"http_{status}"), detail=detail)
    return Response(body.model_dump_json(), status=status, mimetype="application/json")


def validation_error(exc: ValidationError) -> Response:
    """flask-openapi3's answer to a request that breaks its models: 422 with every problem."""
    problems = [
        Problem(loc=list(error["loc"]), msg=error["msg"], type=error["type"])
        for error in exc.errors(include_url=False, include_context=False, include_input=False)
    ]
    return error_response(422, problems)


def _http_error(exc: HTTPException) -> BaseResponse:
    # the exception's own response keeps its headers (Allow, WWW-Authenticate, Retry-After)
    response = exc.get_response()
    status = exc.code or 500
    detail = exc.description or ""
    if status == 429:  # the limiter counts failed authentications only
        detail = f"too many failed authentications from this address ({detail}); try later"
    body = ErrorBody(error=CODES.get(status, f"http_{status}"), detail=detail)
    response.set_data(body.model_dump_json())
    response.mimetype = "application/json"
    return response


def okr_status(exc: OkrError) -> tuple[int, str | None]:
    """The status (and short code, if not the status's own) the project's error answers with;
    its message is written for the user (passwords redacted)."""
    if isinstance(exc, NotFoundError):
        return 404, None
    if isinstance(exc, ConflictError):
        return 409, None
    if isinstance(exc, TooLargeError):
        return 413, None
    if isinstance(exc, InputError):
        return 400, None
    if isinstance(exc, NoChampionError):
        return 503, "no_champion"
    # the configuration, the warehouse or a source: not the request's fault
    log.warning("answered 503: %s", exc)
    return 503, None


def _okr_error(exc: OkrError) -> Response:
    status, code = okr_status(exc)
    return error_response(status, str(exc), code)


def unexpected_status(exc: Exception) -> tuple[int, str]:
    """The status and message an unexpected error answers with, logged with its traceback
    under a reference the message names (never the traceback itself)."""
    reference = secrets.token_hex(4)
    if isinstance(exc, OperationalError | PoolTimeoutError):
        log.warning("answered 503 (ref %s): the warehouse failed", reference, exc_info=exc)
        return 503, f"the warehouse did not answer (ref {reference})"
    log.error("answered 500 (ref %s)", reference, exc_info=exc)
    return 500, f"an unexpected error (ref {reference}); the server's log holds its details"


def _unexpected(exc: Exception) -> Response:
    return error_response(*unexpected_status(exc))


def install(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(OkrError, _okr_error)
    app.register_error_handler(Exception, _unexpected)
