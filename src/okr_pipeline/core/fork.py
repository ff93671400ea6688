"""Whether this process may fork a worker.

A forked child starts at once with what the parent holds, imports nothing, and runs no main
module again; but a lock another thread held at the fork would stay locked in the child.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading

__all__ = ["can_fork", "die_with_parent"]

_PR_SET_PDEATHSIG = 1  # prctl option (linux/prctl.h): a signal to get when the parent dies


def can_fork() -> bool:
    """Whether a child can be forked safely: the platform has fork, and this process runs one
    (Python) thread."""
    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1


def die_with_parent(parent: int) -> None:
    """In a forked child: end when the parent `parent` ends (SIGKILL and SIGTERM included)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:  # the parent died before the kernel was told
        os._exit(1)
