"""The app factory: one Flask app (flask-openapi3) holding every area of the API and the
dashboard, with its hooks in the order they must run and the OpenAPI document at
/api/v1/openapi.json."""

from __future__ import annotations

from importlib import metadata

from flask import Response, current_app, request
from flask_openapi3 import Info, OpenAPI
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from okr_pipeline.api import (
    admin,
    audit,
    auth,
    dashboard,
    data,
    dead_letters,
    errors,
    headers,
    intake,
    limiter,
    meta,
    metrics,
    monitoring,
    pipelines,
    quarantine,
    registry,
    risks,
)
from okr_pipeline.api.area import SECURITY_SCHEME, Area
from okr_pipeline.api.bodies import BoundedJSONProvider
from okr_pipeline.api.context import EXTENSION, ApiState
from okr_pipeline.api.models import ErrorBody, Problem
from okr_pipeline.config import Settings, load_settings

__all__ = ["AREAS", "create_app"]

# every area of the API; a new one is added here
AREAS: tuple[Area, ...] = (
    meta.area,
    data.area,
    risks.area,
    intake.area,
    admin.area,
    registry.area,
    pipelines.area,
    monitoring.area,
    quarantine.area,
    dead_letters.area,
)
# endpoints that are no operation of an area: flask-openapi3's document and docs pages
_DOCUMENTATION = ("openapi.", "swagger.")


def _every_route(app: OpenAPI, declared: dict[str, str | None]) -> dict[str, str | None]:
    """The role of every route: an operation's declared role, or None for documentation. A
    route that is neither fails the start: it would otherwise be served without auth."""
    roles = {}
    for rule in app.url_map.iter_rules():
        endpoint = rule.endpoint
        if endpoint in declared:
            roles[endpoint] = declared[endpoint]
        elif endpoint.startswith(_DOCUMENTATION):
            roles[endpoint] = None
        else:
            raise RuntimeError(f"route {rule.rule} ({endpoint}) is not an operation of an Area")
    return roles


def create_app(settings: Settings | None = None) -> OpenAPI:
    """The API on `settings` (default: loaded as the CLI loads them)."""
    settings = settings or load_settings()
    app = OpenAPI(
        __name__,
        info=Info(
            title="okr-pipeline",
            version=metadata.version("okr-pipeline"),
            description="Objectives, key results and the risk that they miss.",
        ),
        security_schemes={
            SECURITY_SCHEME: {
                "type": "http",
                "scheme": "bearer",
                "description": "a token from `okr token create`",
            }
        },
        doc_prefix="/api/v1",
        doc_url="/openapi.json",
        validation_error_status=422,
        validation_error_model=ErrorBody,
        validation_error_callback=errors.validation_error,
        static_folder=None,
    )
    app.json = BoundedJSONProvider(app)  # a body nested too deeply is bad input, not a 500
    app.config.update(
        MAX_CONTENT_LENGTH=settings.api.max_body_bytes,  # larger bodies: 413
        OPENAPI_HTML_STRING=headers.INDEX_PAGE,
        SWAGGER_CONFIG={"validatorUrl": None},  # the UI would send the document to swagger.io
    )
    for area in AREAS:
        app.register_api(area)
    roles = {f"{a.name}.{endpoint}": role for a in AREAS for endpoint, role in a.roles.items()}
    operation_ids = {endpoint: endpoint.split(".", 1)[1] for endpoint in roles}
    if len(set(operation_ids.values())) < len(operation_ids):
        raise RuntimeError("two operations share a view name: operation ids must be unique")
    # the dashboard's pages: roles as the API's, the caller from the login session, each
    # named in the audit log by its endpoint (dashboard.<view>)
    app.register_blueprint(dashboard.site)
    pages = {f"{dashboard.DASHBOARD}.{view}": role for view, role in dashboard.site.roles.items()}
    roles |= pages
    operation_ids |= {endpoint: endpoint for endpoint in pages}
    headers.install(app, settings)  # with the route of the docs page
    roles[headers.DOCS_ENDPOINT] = None
    app.extensions[EXTENSION] = ApiState(
        settings,
        _every_route(app, roles),
        operation_ids,
        sessions=frozenset(endpoint for endpoint, role in pages.items() if role is not None),
        sign_ins=frozenset({f"{dashboard.DASHBOARD}.login"}),
    )

    # before each request in this order, after it in the reverse order: time it; refuse a
    # body too large; refuse an address with too many failed authentications; check the token
    metrics.install(app)
    app.before_request(_refuse_large_bodies)
    limiter.install(app, settings)
    auth.install(app)
    audit.install(app)
    dashboard.install(app, settings, exempt=list(AREAS))  # sessions; CSRF on the dashboard
    app.before_request(_refuse_repeated_parameters)
    errors.install(app)
    if settings.api.proxies:
        # the last `proxies` entries of X-Forwarded-For/-Proto were written by our proxies; an
        # entry before them is the client's word and is ignored, so no one forges an address
        proxies = settings.api.proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
    return app


def _refuse_repeated_parameters() -> Response | None:
    """No parameter of the API takes a list: a repeated one (`?owner=a&owner=b`) is refused,
    not read as its first value."""
    if not request.path.startswith("/api/"):
        return None
    repeated = sorted(name for name in request.args if len(request.args.getlist(name)) > 1)
    if not repeated:
        return None
    return errors.error_response(
        422, [Problem(loc=[name], msg="given more than once", type="repeated") for name in repeated]
    )


def _refuse_large_bodies() -> None:
    """A declared length over the limit is refused before anything reads the body (a body
    without a declared length is cut off at the limit when read)."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge(f"the body is larger than {limit} bytes (api.max_body_bytes)")
