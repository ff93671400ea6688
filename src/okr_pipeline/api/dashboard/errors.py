"""The dashboard's errors as pages, not the API's JSON: a request's own mistakes (a bad query
parameter, an expired form) as a 400 page that says what was wrong, 403 when the role is too
low, 404, 409; a page that needs signing in redirects to the login; the unexpected as a 500
page with a reference to the server's log, never a traceback."""

from __future__ import annotations

from flask import g, request, url_for
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from okr_pipeline.api.audit import REFUSED_AS
from okr_pipeline.api.dashboard.site import site
from okr_pipeline.api.dashboard.view import render
from okr_pipeline.api.errors import okr_status, unexpected_status
from okr_pipeline.errors import OkrError

__all__: list[str] = []

TITLES = {
    400: "Bad request",
    401: "Sign in",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    429: "Too many failed sign-ins",
    500: "Something went wrong",
    503: "Unavailable",
}


def _page(status: int, detail: str) -> Response:
    body = render("error.html", status=status, title=TITLES.get(status, "Error"), detail=detail)
    return Response(body, status=status, mimetype="text/html")


@site.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    if status == 401:  # not signed in, or the token was revoked: sign in, then come back
        g.setdefault(REFUSED_AS, 401)  # audited as the refusal it is, not as the redirect
        target = request.full_path.rstrip("?") if request.method == "GET" else None
        response = Response(status=303)
        response.headers["Location"] = url_for("dashboard.login", next=target)
        return response
    detail = exc.description or ""
    if status == 429:
        detail = "Too many failed sign-ins from this address: try again later."
    page = _page(status, detail)
    for name in ("Retry-After", "Allow"):  # kept from the exception's own response
        if name in exc.get_response().headers:
            page.headers[name] = exc.get_response().headers[name]
    return page


@site.errorhandler(ValidationError)
def _invalid(exc: ValidationError) -> Response:
    # a path parameter that breaks its model (a version, an alert id)
    problems = "; ".join(error["msg"] for error in exc.errors(include_url=False))
    return _page(400, f"bad request: {problems}")


@site.errorhandler(OkrError)
def _okr_error(exc: OkrError) -> Response:
    status, _ = okr_status(exc)
    return _page(status, str(exc))


@site.errorhandler(Exception)
def _unexpected(exc: Exception) -> Response:
    status, detail = unexpected_status(exc)
    return _page(status, detail)
