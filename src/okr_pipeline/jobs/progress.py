"""How a use case shows its progress and notes without knowing who runs it: the CLI passes a
terminal progress bar and stderr, the scheduler and the API pass nothing or their logs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

__all__ = ["Advance", "Notify", "ProgressBar", "no_progress", "quiet"]

# Called with how many more units are done.
Advance = Callable[[int], None]
# `with progress_bar(total, label) as advance:` where `advance` may be None (nothing shown).
ProgressBar = Callable[[int, str], AbstractContextManager[Advance | None]]
# A note for whoever runs the use case ("no champion model: training one").
Notify = Callable[[str], None]


@contextmanager
def no_progress(total: int, label: str) -> Iterator[Advance | None]:
    yield None


def quiet(note: str) -> None:
    """Notes go nowhere."""
