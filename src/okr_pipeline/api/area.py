"""An area of the API: a flask-openapi3 blueprint whose every operation declares, in one place,
the role it requires: the area's default, or `role=` on the route's decorator.

    area = Area("data", __name__, role="viewer", tag="Objectives and key results")

    @area.get("/key-results/<key_result_id>", responses={200: KeyResultRecord, 404: ErrorBody})
    def get_key_result(path: KeyResultPath, query: AsOfQuery) -> Response:
        '''One key result...'''  # the first line is the operation's summary

    @area.post("/events", role="editor", responses={202: Accepted})

The role is enforced by the app (`auth`) and written in the OpenAPI document: the bearer
security scheme and `x-required-role` on each operation that needs a token. The operation's id
is the view function's name. Every operation also documents the errors it can answer with.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask_openapi3 import APIBlueprint, Tag

from okr_pipeline.api.models import ErrorBody
from okr_pipeline.jobs import ROLES

__all__ = ["INHERIT", "ROLE_EXTENSION", "Area"]

F = TypeVar("F", bound=Callable[..., Any])
ROLE_EXTENSION = "x-required-role"
INHERIT = "inherit"  # an operation's role: its area's
SECURITY_SCHEME = "bearer"

# errors an operation that needs a token may answer with: bad input, the warehouse away, and
# no token, too low a role, too many failed authentications
_ERRORS: dict[int, Any] = {400: ErrorBody, 422: ErrorBody, 503: ErrorBody}
_AUTH_ERRORS: dict[int, Any] = {401: ErrorBody, 403: ErrorBody, 429: ErrorBody}


def _operation_id(*, name: str = "", path: str = "", method: str = "") -> str:
    return name  # the view's name: unique in the app (create_app checks)


class Area(APIBlueprint):
    """One area of the API; `role` is what its operations require unless one names another
    (None: open to anyone, no token needed)."""

    def __init__(
        self,
        name: str,
        import_name: str,
        *,
        role: str | None,
        tag: str,
        url_prefix: str | None = "/api/v1",
    ) -> None:
        _check_role(role)
        super().__init__(
            name,
            import_name,
            url_prefix=url_prefix,
            abp_tags=[Tag(name=tag)],
            operation_id_callback=_operation_id,
        )
        self.role = role
        self.roles: dict[str, str | None] = {}  # endpoint (within the area) -> required role

    def get(self, rule: str, *, role: str | None = INHERIT, **options: Any) -> Callable[[F], F]:
        return self._operation(super().get, rule, role, options)

    def post(self, rule: str, *, role: str | None = INHERIT, **options: Any) -> Callable[[F], F]:
        return self._operation(super().post, rule, role, options)

    def put(self, rule: str, *, role: str | None = INHERIT, **options: Any) -> Callable[[F], F]:
        return self._operation(super().put, rule, role, options)

    def patch(self, rule: str, *, role: str | None = INHERIT, **options: Any) -> Callable[[F], F]:
        return self._operation(super().patch, rule, role, options)

    def delete(self, rule: str, *, role: str | None = INHERIT, **options: Any) -> Callable[[F], F]:
        return self._operation(super().delete, rule, role, options)

    def _operation(
        self,
        route: Callable[..., Callable[[F], F]],
        rule: str,
        role: str | None,
        options: dict[str, Any],
    ) -> Callable[[F], F]:
        required = self.role if role == INHERIT else role
        _check_role(required)
        # an open operation (health, readiness) takes no input and declares what it answers
        errors = _ERRORS | _AUTH_ERRORS if required is not None else {}
        options["responses"] = errors | options.get("responses", {})
        if required is not None:
            options["security"] = [{SECURITY_SCHEME: []}]
            extensions = options.get("openapi_extensions") or {}
            options["openapi_extensions"] = extensions | {ROLE_EXTENSION: required}
        decorate = route(rule, **options)

        def register(view: F) -> F:
            self.roles[options.get("endpoint") or view.__name__] = required
            return decorate(view)

        return register


def _check_role(role: str | None) -> None:
    if role is not None and role not in ROLES:
        raise ValueError(f"unknown role {role!r}; the roles are {', '.join(ROLES)}")
