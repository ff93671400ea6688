"""nginx from Debian in front of a test's server: deploy/nginx/okr.conf.template rendered into
a temporary folder (as the nginx image's envsubst renders it), run in the foreground on a
loopback port with its pid, logs and temporary files in that folder."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from served import free_port

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "deploy" / "nginx" / "okr.conf.template"
PLACEHOLDER = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None
    )


def render(template: str, values: dict[str, str]) -> str:
    """The template with each ${NAME} replaced; a name without a value fails."""
    missing = set(PLACEHOLDER.findall(template)) - set(values)
    assert not missing, f"no value for {sorted(missing)}"
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def _main_config(folder: Path, site: Path) -> str:
    temp = {kind: folder / kind for kind in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir()
    # as root, nginx's workers would run as nobody, who may not read the test's folders
    user = "user root;" if os.geteuid() == 0 else ""
    return f"""
daemon off;
{user}
worker_processes 1;
pid {folder / "nginx.pid"};
error_log {folder / "error.log"} info;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {folder / "access.log"};
    client_body_temp_path {temp["body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    include {site};
}}
"""


@contextmanager
def nginx(folder: Path, upstream: str, static_root: Path) -> Iterator[str]:
    """nginx on a free loopback port in front of `upstream` (host:port); yields its URL."""
    binary = nginx_binary()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is not installed (scripts/test installs it as root)")
        pytest.skip("nginx is not installed (scripts/test installs it as root)")
    folder.mkdir(parents=True)
    port = free_port()
    site = folder / "okr.conf"
    site.write_text(
        render(
            TEMPLATE.read_text(),
            {
                "OKR_NGINX_LISTEN": f"127.0.0.1:{port}",
                "OKR_API_UPSTREAM": upstream,
                "OKR_STATIC_ROOT": str(static_root),
            },
        )
    )
    config = folder / "nginx.conf"
    config.write_text(_main_config(folder, site))
    log = folder / "stderr.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [binary, "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(config)],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 20
        while not (folder / "nginx.pid").exists():
            if process.poll() is not None or time.monotonic() > deadline:
                errors = (
                    (folder / "error.log").read_text() if (folder / "error.log").exists() else ""
                )
                pytest.fail(f"nginx did not start:\n{log.read_text()}\n{errors}")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()  # SIGTERM: nginx's fast shutdown
        process.wait(timeout=20)
