"""The dashboard's blueprint: server-rendered pages at `/`, their one style sheet at `/static/`
(where nginx serves the same folder from disk). Each view declares the role it requires, as the
API's operations do, so the app's hooks authenticate (from the login session), authorize and
audit the dashboard exactly as the API.

    @site.page("/model", role="viewer")
    def model() -> str: ...

    @site.page("/alerts/<int:alert_id>/ack", role=ROLE_OF["acknowledge_alert"], methods=["POST"])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint

from okr_pipeline.jobs import ROLES

__all__ = ["DASHBOARD", "STATIC_URL_PATH", "Site", "site"]

F = TypeVar("F", bound=Callable[..., Any])
DASHBOARD = "dashboard"  # the blueprint's name: its endpoints are dashboard.<view>
STATIC_URL_PATH = "/static"  # deploy/nginx/okr.conf.template serves this path from disk


class Site(Blueprint):
    """A blueprint whose views declare their role: `roles` (view -> role; None: open, such as
    the login page and the style sheet) is what the app's hooks enforce."""

    def __init__(self) -> None:
        super().__init__(
            DASHBOARD,
            __name__,
            template_folder="templates",
            static_folder="static",
            static_url_path=STATIC_URL_PATH,
        )
        self.roles: dict[str, str | None] = {"static": None}

    def page(
        self, rule: str, *, role: str | None, methods: tuple[str, ...] = ("GET",)
    ) -> Callable[[F], F]:
        if role is not None and role not in ROLES:
            raise ValueError(f"unknown role {role!r}; the roles are {', '.join(ROLES)}")
        decorate = self.route(rule, methods=list(methods))

        def register(view: F) -> F:
            self.roles[view.__name__] = role
            return decorate(view)

        return register


site = Site()
