"""The `okr` command as a real process, for tests of what runs beside it or is killed."""

from __future__ import annotations

import subprocess
import sys


def okr(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "okr_pipeline", *args],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
