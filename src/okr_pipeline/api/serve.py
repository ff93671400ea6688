"""`okr serve`: the API in gunicorn, run in this process (gunicorn's BaseApplication), with
`workers` processes that each build the app after they start.

Each worker counts its requests in files of a folder of its own to this server (under the data
directory, named by the server's pid, removed when it stops), PROMETHEUS_MULTIPROC_DIR: set
before any worker starts, so /metrics on any worker adds up all of them; a worker that exits is
marked dead there (its counts stay, its live gauges go).

Without `api.secret_key` the server makes a random one before its workers start (they inherit
it), so a dashboard session signed by one worker is read by the others; it ends with the server.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.workers.base import Worker
from pydantic import SecretStr

from okr_pipeline.config import Settings

__all__ = ["metrics_folder", "serve", "with_secret_key"]

log = logging.getLogger(__name__)
MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"  # as prometheus_client reads it


def metrics_folder(settings: Settings, pid: int) -> Path:
    """Where the workers of the server with this pid write their metrics."""
    return settings.data_dir.resolve() / "metrics" / str(pid)


def _child_exit(_server: Arbiter, worker: Worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


class _Server(BaseApplication):  # type: ignore[misc]  # gunicorn has no type hints
    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self.settings = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from okr_pipeline.api.app import create_app  # in each worker, after it started

        return create_app(self.settings)


def with_secret_key(settings: Settings) -> Settings:
    """`settings` with a key to sign sessions: api.secret_key, else a random one of this
    server's."""
    if settings.api.secret_key is not None:
        return settings
    key = SecretStr(secrets.token_urlsafe(48))
    return settings.model_copy(update={"api": settings.api.model_copy(update={"secret_key": key})})


def serve(settings: Settings, host: str, port: int, workers: int) -> None:
    """Serve the API at host:port with `workers` processes until SIGTERM or SIGINT."""
    settings = with_secret_key(settings)  # in the master: every worker signs with the same
    folder = metrics_folder(settings, os.getpid())
    if folder.exists():  # left by an earlier server with this pid: its counts are not ours
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    os.environ[MULTIPROC_DIR] = str(folder)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    url = f"http://{address}"

    def when_ready(server: Arbiter) -> None:
        server.log.info("okr API at %s/api/v1 (docs: %s/api/v1/docs)", url, url)

    options = {
        "bind": address,
        "control_socket_disable": True,  # gunicornc's socket would sit in $HOME, one per user
        "workers": workers,
        # gthread with one thread: a sync worker, but one that keeps a client's connection
        # open between requests (a third more predictions per second from one client)
        "worker_class": "gthread",
        "threads": 1,
        "keepalive": 5,
        "proc_name": "okr-api",
        "accesslog": "-",
        "child_exit": _child_exit,
        "when_ready": when_ready,
    }
    server = os.getpid()
    try:
        _Server(settings, options).run()
    finally:
        # workers are forked inside run() and leave it through here too: the server cleans up
        if os.getpid() == server:
            shutil.rmtree(folder)
