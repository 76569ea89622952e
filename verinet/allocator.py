"""The C allocator set for numpy's large short-lived arrays (glibc only).

The bounds allocate and free arrays of megabytes many times a second.  With glibc's
defaults such a block goes back to the system when it is freed (the heap is trimmed above
128 KiB free at its top, and blocks from 128 KiB up are mapped on their own), and the next
one is faulted in again page by page: on reach_prob_density's robot_3, 13 s of a 42 s run
went to the kernel.  :func:`tune` keeps freed memory for reuse instead: blocks are mapped
on their own only from 32 MiB (glibc's largest threshold), and the heap is trimmed only
when more than 1 GiB is free at its top.  The peak memory of a run stays what it was (its
arrays are the same); memory freed after the peak stays with the process until it ends.

``VERINET_MALLOC=default`` keeps glibc's settings.  Elsewhere (not glibc) nothing changes.
"""

from __future__ import annotations

import os

__all__ = ["tune"]

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_state: bool | None = None  # None: not tried yet


def tune() -> bool:
    """Set the allocator once per process (see the module docstring); whether it is set."""
    global _state
    if _state is None:
        _state = _set()
    return _state


def _set() -> bool:
    if os.environ.get("VERINET_MALLOC", "").lower() == "default":
        return False
    try:
        import ctypes

        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return (mallopt(_M_MMAP_THRESHOLD, 32 * 2 ** 20) == 1
            and mallopt(_M_TRIM_THRESHOLD, 2 ** 30) == 1)
