"""A `docker` for scripts/deploy's tests (Docker does not run here): it records every call and
runs `docker compose ... exec -T api okr ARGS` as `okr ARGS` on this machine, in `env`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "scripts" / "deploy"

_SCRIPT = """#!{python}
import json, subprocess, sys
args = sys.argv[1:]
with open({log!r}, "a") as log:
    log.write(json.dumps(args) + "\\n")
if "exec" in args:
    rest = args[args.index("exec") + 1:]
    assert rest[:3] == ["-T", "api", "okr"], rest
    env = json.loads({env!r})
    sys.exit(subprocess.run([sys.executable, "-m", "okr_pipeline", *rest[3:]], env=env).returncode)
"""


def deploy(
    folder: Path, *args: str, env: dict[str, str] | None = None, **extra: str
) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
    """scripts/deploy ARGS with the fake docker first on PATH; its result and docker's calls."""
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "docker-calls.jsonl"
    docker = folder / "docker"
    docker.write_text(
        _SCRIPT.format(python=sys.executable, log=str(log), env=json.dumps(env or dict(os.environ)))
    )
    docker.chmod(0o755)
    result = subprocess.run(
        ["bash", str(DEPLOY), *args],
        env={**os.environ, "PATH": f"{folder}:{os.environ['PATH']}", **extra},
        capture_output=True,
        text=True,
        timeout=300,
    )
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return result, calls
