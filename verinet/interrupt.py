"""Ctrl-C ends the command with one line and exit 130, and nothing else on stderr.

A ``KeyboardInterrupt`` can land inside a library object's constructor (z3's, say); when the
half-built object is collected, its ``__del__`` fails and Python prints an "Exception
ignored" traceback. Once the user has interrupted us that is noise: :func:`handled` notes
the interrupt in the signal handler itself, before any unwinding, and from then on drops
such unraisable-exception reports.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

__all__ = ["handled", "interrupted"]

_INTERRUPTED = threading.Event()


def interrupted() -> bool:
    """True once a Ctrl-C reached a command run under :func:`handled`."""
    return _INTERRUPTED.is_set()


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    _INTERRUPTED.set()
    raise KeyboardInterrupt


def _quiet_after_interrupt(report: Any, *, hook: Any) -> None:
    if not _INTERRUPTED.is_set():
        hook(report)


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """Install the Ctrl-C handler for one command (main thread, default handler only)."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield  # someone else owns Ctrl-C here (a host program, a test runner)
        return
    old_hook = sys.unraisablehook
    signal.signal(signal.SIGINT, _on_sigint)
    sys.unraisablehook = lambda report: _quiet_after_interrupt(report, hook=old_hook)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if not _INTERRUPTED.is_set():  # after an interrupt, stay quiet through shutdown
            sys.unraisablehook = old_hook
