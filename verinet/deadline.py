"""One deadline for the whole query, visible to code that runs long without a deadline
argument of its own (bound computations over large networks).

:func:`verinet.verify.verify` runs the search inside ``with until(deadline):``; long loops
call :func:`check`, which raises :class:`DeadlineExceeded` once ``time.monotonic()`` has
passed the innermost deadline.  ``verify`` turns that into a ``timeout`` answer, so an
interrupted computation never yields an answer.  Outside any ``until`` block, ``check``
never raises.
"""

from __future__ import annotations

import contextvars
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["DeadlineExceeded", "until", "check", "remaining"]

_DEADLINE: contextvars.ContextVar[float] = contextvars.ContextVar("verinet_deadline",
                                                                  default=math.inf)


class DeadlineExceeded(Exception):
    """The query's time budget ran out in the middle of a computation."""


@contextmanager
def until(deadline: float) -> Iterator[None]:
    """Within the block, :func:`check` raises after ``deadline`` (or an outer, earlier one)."""
    token = _DEADLINE.set(min(deadline, _DEADLINE.get()))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def check() -> None:
    """Raise :class:`DeadlineExceeded` when the current deadline has passed."""
    if time.monotonic() > _DEADLINE.get():
        raise DeadlineExceeded


def remaining() -> float:
    """Seconds left before the current deadline (``inf`` outside any ``until`` block)."""
    return _DEADLINE.get() - time.monotonic()
