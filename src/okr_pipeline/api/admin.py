"""Administration (an admin token): the API's tokens and its audit log."""

from __future__ import annotations

from typing import Annotated, Literal

from flask import Response
from pydantic import Field

from okr_pipeline import jobs
from okr_pipeline.api.area import Area
from okr_pipeline.api.context import json_response, page_limit, settings
from okr_pipeline.api.models import ErrorBody, Instant, Model, PageQuery

__all__ = ["area"]

area = Area("admin", __name__, role="admin", tag="Administration")

Role = Literal["viewer", "editor", "admin"]
TokenName = Annotated[
    str, Field(pattern=jobs.TOKEN_NAME, description="1 to 100 letters, digits, '.', '_', '@', '-'")
]

# --- tokens -------------------------------------------------------------------------------------


class Token(Model):
    name: str
    role: Role
    created_at: Instant
    revoked_at: Instant | None
    last_used_at: Instant | None


class TokenList(Model):
    items: list[Token]


class NewTokenRequest(Model):
    name: TokenName
    role: Role


class NewToken(Model):
    """A token just made: `token` is its secret, shown this once."""

    token: str
    name: str
    role: Role


class TokenPath(Model):
    name: TokenName


@area.get("/tokens", responses={200: TokenList})
def list_tokens() -> Response:
    """The API's tokens

    Every token, revoked ones included, by name; never their secrets."""
    tokens = [token.as_dict() for token in jobs.list_tokens(settings())]
    return json_response(TokenList.model_validate({"items": tokens}))


@area.post("/tokens", responses={201: NewToken, 409: ErrorBody, 413: ErrorBody})
def create_token(body: NewTokenRequest) -> Response:
    """Create a token

    Its secret is in this response only: the API keeps its SHA-256 alone."""
    made = jobs.create_token(settings(), body.name, body.role)
    return json_response(NewToken.model_validate(made.as_dict()), 201)


@area.delete("/tokens/<name>", responses={200: Token, 404: ErrorBody, 409: ErrorBody})
def revoke_token(path: TokenPath) -> Response:
    """Revoke a token

    From now on the token is refused (401); it stays listed, with the time it was revoked."""
    return json_response(Token.model_validate(jobs.revoke_token(settings(), path.name).as_dict()))


# --- audit log ----------------------------------------------------------------------------------


class AuditQuery(PageQuery):
    outcome: Literal["allowed", "refused", "failed"] | None = None
    token: TokenName | None = None


class AuditEntry(Model):
    id: int
    at: Instant
    token_name: str | None = Field(description="None: no valid token was presented")
    role: Role | None
    remote_addr: str | None
    method: str
    path: str
    operation_id: str
    status: int
    outcome: Literal["allowed", "refused", "failed"]


class AuditPage(Model):
    items: list[AuditEntry]
    next_cursor: str | None


@area.get("/audit", responses={200: AuditPage})
def list_audit(query: AuditQuery) -> Response:
    """The audit log

    Every write and every admin call, allowed or refused, newest first, a page at a time."""
    page = jobs.audit_entries(
        settings(),
        cursor=query.cursor,
        limit=page_limit(query.limit),
        outcome=query.outcome,
        token_name=query.token,
    )
    return json_response(AuditPage.model_validate(page.as_dict()))
