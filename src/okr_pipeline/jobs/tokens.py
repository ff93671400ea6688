"""Use cases about the API's bearer tokens: create one (its secret shown once), list, revoke,
and authenticate the token a request presents.

A token is "okr_" and 256 random bits; only its SHA-256 is stored. A slow password hash buys
nothing for a secret that cannot be guessed, and a fast one keeps every request cheap.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from okr_pipeline.config import Settings
from okr_pipeline.core import now_utc
from okr_pipeline.errors import ConflictError, InputError, NotFoundError
from okr_pipeline.warehouse import api_tokens, open_warehouse, sqlite_busy, sqlite_wait

__all__ = [
    "ROLES",
    "TOKEN_NAME",
    "NewToken",
    "TokenInfo",
    "authenticate",
    "authenticate_digest",
    "create_token",
    "list_tokens",
    "revoke_token",
    "role_allows",
    "token_digest",
]

log = logging.getLogger(__name__)

# each role may do what the roles before it may: viewer reads; editor also writes events and
# ingests; admin also manages tokens, models, pipelines, alerts and reads the audit log
ROLES = ("viewer", "editor", "admin")
TOKEN_NAME = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$"  # fits a URL path segment and a log line
PREFIX = "okr_"
MAX_TOKEN_LENGTH = 256  # far above PREFIX + 43 characters: longer input is not a token
# last_used_at is written at most this often per token: reads should not all become writes
LAST_USED_PRECISION = timedelta(minutes=1)


@dataclass(frozen=True)
class TokenInfo:
    """A token as listed: never its secret."""

    name: str
    role: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at and self.revoked_at.isoformat(),
            "last_used_at": self.last_used_at and self.last_used_at.isoformat(),
        }


@dataclass(frozen=True)
class NewToken:
    """A token just created, with its secret: the only time the secret is known."""

    token: str
    name: str
    role: str
    created_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {"token": self.token, "name": self.name, "role": self.role}


def role_allows(role: str, required: str) -> bool:
    """Whether a token of `role` may call an operation that requires `required`."""
    return ROLES.index(role) >= ROLES.index(required)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_name(name: str) -> None:
    if not re.fullmatch(TOKEN_NAME, name):
        raise InputError(
            f"token name {name!r}: 1 to 100 letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit"
        )


def create_token(settings: Settings, name: str, role: str) -> NewToken:
    """A new token named `name` with `role`; its secret is returned once and never stored."""
    _check_name(name)
    if role not in ROLES:
        raise InputError(f"unknown role {role!r}; the roles are {', '.join(ROLES)}")
    token = PREFIX + secrets.token_urlsafe(32)
    created = now_utc()
    try:
        with open_warehouse(settings).begin() as conn:
            existing = conn.execute(
                select(api_tokens.c.revoked_at).where(api_tokens.c.name == name)
            ).first()
            if existing is not None:
                state = "a revoked token" if existing.revoked_at else "a token"
                raise ConflictError(f"{state} named {name!r} exists; choose another name")
            conn.execute(
                insert(api_tokens).values(
                    name=name, role=role, token_hash=_digest(token), created_at=created
                )
            )
    except IntegrityError:  # created by another process since the look above
        raise ConflictError(f"a token named {name!r} exists; choose another name") from None
    return NewToken(token=token, name=name, role=role, created_at=created)


def _info(row: Any) -> TokenInfo:
    return TokenInfo(
        name=row.name,
        role=row.role,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


_LISTED = (
    api_tokens.c.name,
    api_tokens.c.role,
    api_tokens.c.created_at,
    api_tokens.c.revoked_at,
    api_tokens.c.last_used_at,
)


def list_tokens(settings: Settings) -> list[TokenInfo]:
    """Every token, revoked ones included, by name."""
    with open_warehouse(settings).connect() as conn:
        rows = conn.execute(select(*_LISTED).order_by(api_tokens.c.name))
        return [_info(row) for row in rows]


def revoke_token(settings: Settings, name: str) -> TokenInfo:
    """Revoke the token named `name`: from now on it is refused."""
    _check_name(name)
    with open_warehouse(settings).begin() as conn:
        row = conn.execute(select(*_LISTED).where(api_tokens.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"no token named {name!r}")
        if row.revoked_at is not None:
            raise ConflictError(f"token {name!r} was already revoked at {row.revoked_at}")
        revoked = now_utc()
        conn.execute(update(api_tokens).where(api_tokens.c.name == name).values(revoked_at=revoked))
    return TokenInfo(
        name=row.name,
        role=row.role,
        created_at=row.created_at,
        revoked_at=revoked,
        last_used_at=row.last_used_at,
    )


def authenticate(settings: Settings, token: str) -> TokenInfo | None:
    """The live token `token` is, or None (unknown, revoked or not a token at all)."""
    if not token.startswith(PREFIX) or len(token) > MAX_TOKEN_LENGTH:
        return None
    return authenticate_digest(settings, _digest(token))


def token_digest(token: str) -> str:
    """What the warehouse finds a token by (its SHA-256): the dashboard's session keeps this,
    never the token, and looks the token up again on every request."""
    return _digest(token)


def authenticate_digest(settings: Settings, digest: str) -> TokenInfo | None:
    """The live token whose SHA-256 is `digest`, or None (unknown or revoked)."""
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        return None
    engine = open_warehouse(settings)
    with engine.connect() as conn:
        row = conn.execute(
            select(api_tokens.c.id, api_tokens.c.token_hash, *_LISTED).where(
                api_tokens.c.token_hash == digest
            )
        ).first()
    # the lookup found it by its hash; the comparison that decides is the constant-time one
    if row is None or not hmac.compare_digest(row.token_hash, digest) or row.revoked_at:
        return None
    now = now_utc()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_PRECISION:
        _note_use(engine, row.id, now)
    return _info(row)


def _note_use(engine: Engine, token_id: int, now: datetime) -> None:
    """The token's last use, written only if no other writer holds the warehouse now: a read
    must not wait for a long write (an ingest holds SQLite's lock for its whole transaction).
    Skipped, it is written at a later use."""
    try:
        with engine.begin() as conn, sqlite_wait(conn, 0):
            conn.execute(
                update(api_tokens).where(api_tokens.c.id == token_id).values(last_used_at=now)
            )
    except OperationalError as exc:
        if not sqlite_busy(exc):
            raise
        log.debug("last use of token %s not written: the warehouse is busy", token_id)
