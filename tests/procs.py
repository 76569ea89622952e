"""Helpers for tests that run verinet in a child process."""

from __future__ import annotations

import signal
import subprocess
import time


def interrupt(p: subprocess.Popen) -> tuple[int, str, float]:
    """Ctrl-C (SIGINT) to ``p``: its exit code, its stderr, and the seconds it took to end."""
    t = time.monotonic()
    p.send_signal(signal.SIGINT)
    rc = p.wait(timeout=30)
    took = time.monotonic() - t
    err = p.stderr.read()
    p.stderr.close()
    return rc, err, took
