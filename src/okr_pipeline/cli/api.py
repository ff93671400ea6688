"""Commands about the REST API: serving it, and its bearer tokens."""

from __future__ import annotations

from typing import Any

import click

from okr_pipeline import jobs
from okr_pipeline.cli import app

# --- serve -------------------------------------------------------------------------------------


@app.main.command()
@click.option("--host", help="Address to listen on; default api.host (127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port; default api.port (5001).")
@click.option(
    "--workers", type=click.IntRange(1, 256), help="Worker processes; default api.workers (2)."
)
@app.guarded
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the REST API with gunicorn until SIGTERM or Ctrl-C (docs at /api/v1/docs)."""
    from okr_pipeline.api import serve as serve_api  # gunicorn: loaded for this command only

    settings = app.get_settings()
    api = settings.api
    serve_api(settings, host or api.host, port or api.port, workers or api.workers)


# --- tokens ------------------------------------------------------------------------------------


def _token_line(token: dict[str, Any]) -> str:
    revoked = f", revoked {token['revoked_at']}" if token["revoked_at"] else ""
    used = token["last_used_at"] or "never"
    return (
        f"{token['name']:<24} {token['role']:<7} created {token['created_at']}, "
        f"last used {used}{revoked}"
    )


@app.main.group()
def token() -> None:
    """The REST API's bearer tokens (roles: viewer, editor, admin)."""


@token.command("create")
@click.option("--name", required=True, help="A name for the token: who or what uses it.")
@click.option("--role", required=True, help="viewer (reads), editor (also writes), or admin.")
@app.JSON_OPTION
@app.guarded
def token_create(name: str, role: str, as_json: bool) -> None:
    """Create a token and print it: it is shown this once (only its hash is kept)."""
    made = jobs.create_token(app.get_settings(), name, role)
    app.emit(made.as_dict(), as_json, lambda t: t["token"])
    if not as_json:
        app.notify(f"token {made.name!r} ({made.role}) created: keep it now, it is not shown again")


@token.command("list")
@app.JSON_OPTION
@app.guarded
def token_list(as_json: bool) -> None:
    """The tokens, revoked ones included (never their secrets)."""
    tokens = [t.as_dict() for t in jobs.list_tokens(app.get_settings())]
    app.emit(tokens, as_json, lambda ts: "\n".join(map(_token_line, ts)) or "no tokens")


@token.command("revoke")
@click.argument("name")
@app.JSON_OPTION
@app.guarded
def token_revoke(name: str, as_json: bool) -> None:
    """Revoke the token NAME: the API refuses it from now on."""
    revoked = jobs.revoke_token(app.get_settings(), name).as_dict()
    app.emit(revoked, as_json, lambda t: f"token {t['name']!r} revoked at {t['revoked_at']}")
