"""Readiness: whether this process can serve, checked part by part (the warehouse answers a
query, a champion model exists, the event log can be read), with what failed and why."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import closing
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from okr_pipeline.config import Settings
from okr_pipeline.errors import NoChampionError, OkrError
from okr_pipeline.stream import open_event_log
from okr_pipeline.warehouse import open_warehouse

__all__ = ["readiness"]

log = logging.getLogger(__name__)


def _warehouse(settings: Settings) -> None:
    with open_warehouse(settings).connect() as conn:
        conn.execute(text("SELECT 1")).scalar_one()


def _champion(settings: Settings) -> None:
    from okr_pipeline.model import CHAMPION, open_registry  # MLflow: loaded when first asked

    if open_registry(settings).version(CHAMPION) is None:
        raise NoChampionError


def _event_log(settings: Settings) -> None:
    with closing(open_event_log(settings)) as event_log:
        event_log.group_lag(settings.stream.group, [settings.stream.topics.events])


CHECKS: dict[str, Callable[[Settings], None]] = {
    "warehouse": _warehouse,
    "champion": _champion,
    "event_log": _event_log,
}


def readiness(settings: Settings) -> dict[str, Any]:
    """`{"ready": bool, "checks": {name: {"ok": bool, "detail": str | None}}}`: ready when
    every check passes. A check fails with the message of the error it met (the project's
    errors say what is wrong for the user; a database error by its kind, its details logged)."""
    checks: dict[str, dict[str, Any]] = {}
    for name, check in CHECKS.items():
        try:
            check(settings)
        except OkrError as exc:
            checks[name] = {"ok": False, "detail": str(exc)}
        except SQLAlchemyError as exc:
            log.warning("readiness check %s failed", name, exc_info=True)
            checks[name] = {"ok": False, "detail": f"database error ({type(exc).__name__})"}
        else:
            checks[name] = {"ok": True, "detail": None}
    return {"ready": all(c["ok"] for c in checks.values()), "checks": checks}
