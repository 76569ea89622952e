"""HiGHS prints a banner on stdout when an instance is made: this silences it."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

__all__ = ["stdout_silenced"]


@contextlib.contextmanager
def stdout_silenced() -> Iterator[None]:
    """Send file descriptor 1 to the null device (C-level prints included) for a moment.

    Process-wide: output another thread writes to stdout in that moment is lost too.
    """
    if sys.stdout is not None:
        sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)
