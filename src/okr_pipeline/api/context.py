"""What a view needs of the app and the request: the settings, the caller's token, page sizes,
and a JSON response made from a response model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from flask import Response, current_app, g
from pydantic import BaseModel

from okr_pipeline.config import Settings

if TYPE_CHECKING:
    from okr_pipeline.jobs import TokenInfo

__all__ = ["ApiState", "caller", "json_response", "page_limit", "settings", "state"]

EXTENSION = "okr_api"


@dataclass(frozen=True)
class ApiState:
    """What the app keeps for its views and hooks."""

    settings: Settings
    roles: dict[str, str | None]  # endpoint -> the role it requires (None: open)
    operation_ids: dict[str, str]  # endpoint -> its operationId in the OpenAPI document
    # endpoints whose caller is the dashboard's login session, not a bearer token
    sessions: frozenset[str] = frozenset()
    # open endpoints that are given a token to check (the dashboard's login): a refused one
    # counts as a failed authentication
    sign_ins: frozenset[str] = frozenset()


def state() -> ApiState:
    return cast(ApiState, current_app.extensions[EXTENSION])


def settings() -> Settings:
    return state().settings


def caller() -> TokenInfo | None:
    """The token the request was authenticated with (None on an open route or before auth)."""
    return cast("TokenInfo | None", g.get("okr_token"))


def page_limit(asked: int | None) -> int:
    """The page size for a `limit` asked (None: the default), capped to api.page_size_max."""
    api = settings().api
    return min(asked or api.page_size, api.page_size_max)


def json_response(body: BaseModel, status: int = 200) -> Response:
    """`body` as JSON (NaN and infinity as null): the response model is the document."""
    return Response(body.model_dump_json(), status=status, mimetype="application/json")
