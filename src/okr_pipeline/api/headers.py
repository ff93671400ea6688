"""Security headers on every response, CORS when origins are configured, and the docs pages.

The JSON API gets a Content-Security-Policy that allows nothing at all. The Swagger UI page
(flask-openapi3-swagger, its scripts and styles served from the wheel) runs one inline script:
its policy allows that script by its SHA-256, taken from the page as the app renders it at
start, and otherwise scripts of this origin only. Styles may be inline (the page has a style
block and Swagger UI adds styles as it runs; a style runs no code), and the UI may fetch from
this origin only (the OpenAPI document and, with "Try it out", the API).

The dashboard's pages run no script at all: their policy allows this origin's style sheets and
images and forms posted to this origin, nothing else (their charts are SVG in the page). They
are never stored by a cache (`no-store`): a page seen signed in is not shown after signing out.
Their referrer policy is `same-origin`: over https, Flask-WTF checks that a form was posted from
a page of this origin by its Referer.
"""

from __future__ import annotations

import base64
import hashlib
import re

from flask import Flask, Response, redirect, request, url_for
from flask_cors import CORS

from okr_pipeline.api.dashboard.site import DASHBOARD
from okr_pipeline.config import Settings

__all__ = ["DOCS_ENDPOINT", "DOCS_PATH", "INDEX_PAGE", "install"]

DOCS_PATH = "/api/v1/docs"
DOCS_ENDPOINT = "docs"
SWAGGER_ENDPOINT = "swagger.swagger"
# the list of documentation pages flask-openapi3 serves at /api/v1/: links only, no script
INDEX_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>okr-pipeline API</title></head>
<body><h1>okr-pipeline API</h1><ul>
{% for ui in ui_templates %}<li><a href="{{ ui.name }}">{{ ui.display_name }}</a></li>{% endfor %}
<li><a href="openapi.json">OpenAPI document</a></li></ul></body></html>
"""
NOTHING = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
PAGES = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
_SCRIPT = re.compile(r"<script(\s[^>]*)?>(.*?)</script\s*>", re.DOTALL | re.IGNORECASE)


def _script_hashes(page: str) -> list[str]:
    """The CSP hash sources of the inline scripts of `page` (those without src)."""
    found = []
    for match in _SCRIPT.finditer(page):
        attributes, content = match.group(1) or "", match.group(2)
        if "src=" not in attributes.lower():
            digest = base64.b64encode(hashlib.sha256(content.encode()).digest()).decode()
            found.append(f"'sha256-{digest}'")
    return found


def _docs_policy(app: Flask) -> str:
    with app.test_request_context("/api/v1/swagger"):
        page = app.view_functions[SWAGGER_ENDPOINT]()
    if not isinstance(page, str):
        raise RuntimeError("flask-openapi3-swagger's page is not HTML text")
    scripts = " ".join(["'self'", *_script_hashes(page)])
    return (
        f"default-src 'none'; script-src {scripts}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )


def install(app: Flask, settings: Settings) -> None:
    """The headers on every response; the docs page at DOCS_PATH; CORS for the configured
    origins (none: no cross-origin browser call is allowed)."""
    app.add_url_rule(DOCS_PATH, DOCS_ENDPOINT, lambda: redirect(url_for(SWAGGER_ENDPOINT)))
    docs_policy = _docs_policy(app)

    @app.after_request
    def _security_headers(response: Response) -> Response:
        response.headers.update(HEADERS)
        if request.endpoint == SWAGGER_ENDPOINT:
            response.headers["Content-Security-Policy"] = docs_policy
        elif request.blueprint == DASHBOARD and response.mimetype == "text/html":
            response.headers["Content-Security-Policy"] = PAGES
            response.headers["Cache-Control"] = "no-store"
            # the forms' CSRF check over https wants the Referer of this origin; no other
            # origin is told where the browser came from
            response.headers["Referrer-Policy"] = "same-origin"
        else:
            response.headers["Content-Security-Policy"] = NOTHING
        if request.path.startswith("/api/") and response.mimetype == "application/json":
            response.headers["Cache-Control"] = "no-store"
        return response

    if settings.api.cors_origins:
        CORS(
            app,
            resources={r"/api/*": {"origins": settings.api.cors_origins}},
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=["Retry-After"],
            max_age=600,
        )
