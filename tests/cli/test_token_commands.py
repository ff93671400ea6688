"""`okr token create/list/revoke`: the token shown once and stored only as its SHA-256, the JSON
shapes, and clear errors with a non-zero exit."""

from __future__ import annotations

import hashlib
import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from okr_pipeline import jobs
from okr_pipeline.cli import main
from okr_pipeline.config import load_settings
from okr_pipeline.warehouse import api_tokens, open_warehouse


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_create_prints_the_token_once_and_stores_its_hash():
    code, out, err = _run("token", "create", "--name", "dashboard", "--role", "viewer")
    token = out.strip()
    assert code == 0 and token.startswith("okr_") and len(token) == len("okr_") + 43
    assert "dashboard" in err and "not shown again" in err
    settings = load_settings()
    found = jobs.authenticate(settings, token)
    assert found is not None and (found.name, found.role) == ("dashboard", "viewer")
    with open_warehouse(settings).connect() as conn:
        stored = conn.execute(select(api_tokens)).one()._mapping
    assert stored["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in {str(value) for value in stored.values()}


def test_json_shapes_of_create_list_and_revoke():
    code, out, _ = _run("token", "create", "--name", "ci", "--role", "editor", "--json")
    created = json.loads(out)
    assert code == 0 and set(created) == {"token", "name", "role"}
    assert (created["name"], created["role"]) == ("ci", "editor")

    code, out, _ = _run("token", "list", "--json")
    listed = json.loads(out)
    assert code == 0 and [t["name"] for t in listed] == ["ci"]
    assert set(listed[0]) == {"name", "role", "created_at", "revoked_at", "last_used_at"}
    assert created["token"] not in out

    code, out, _ = _run("token", "revoke", "ci", "--json")
    revoked = json.loads(out)
    assert code == 0 and revoked["name"] == "ci" and revoked["revoked_at"]
    assert jobs.authenticate(load_settings(), created["token"]) is None

    code, out, _ = _run("token", "list")
    assert code == 0 and "ci" in out and "revoked" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("create", "--name", "x", "--role", "root"), "unknown role 'root'"),
        (("create", "--name", "has space", "--role", "viewer"), "token name"),
        (("create", "--name", "taken", "--role", "viewer"), "a token named 'taken' exists"),
        (("revoke", "nobody"), "no token named 'nobody'"),
        (("revoke", "gone"), "already revoked"),
    ],
)
def test_errors_exit_non_zero_with_a_clear_message(args: tuple[str, ...], message: str):
    assert _run("token", "create", "--name", "taken", "--role", "viewer")[0] == 0
    assert _run("token", "create", "--name", "gone", "--role", "admin")[0] == 0
    assert _run("token", "revoke", "gone")[0] == 0
    code, out, err = _run("token", *args)
    assert code == 1 and out == ""
    assert err.startswith("Error: ") and message in err
