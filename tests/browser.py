"""A report rendered in a real browser: headless Chromium's screenshot of a page, offline."""

from __future__ import annotations

import subprocess
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")


def screenshot(page: Path, folder: Path, window: str = "1200,3000") -> Path:
    """The PNG screenshot of `page` (a file) in `folder`, with no network fetched beside it."""
    shot = folder / "screenshot.png"
    subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            f"--user-data-dir={folder / 'profile'}",
            f"--screenshot={shot}",
            f"--window-size={window}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return shot
