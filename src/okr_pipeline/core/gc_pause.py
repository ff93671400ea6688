"""Pausing Python's cyclic garbage collector around bulk work.

Reading and ingesting a large bundle creates millions of small acyclic objects (rows, dicts,
strings); the collector would scan the growing heap again and again and find nothing to free.
Reference counting still frees everything as usual while it is paused.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["gc_paused"]


@contextmanager
def gc_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
