"""Ctrl-C: exit 130 with one line, and no "Exception ignored" noise from half-built objects."""

import subprocess
import sys

import pytest

_SCRIPT = r"""
import os, signal, sys
from verinet.interrupt import handled, interrupted

class HalfBuilt:  # like z3's AST objects: __del__ needs what __init__ never set
    def __init__(self, fire):
        if fire:
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(10**6):
                pass
        self.ctx = 1
    def __del__(self):
        self.ctx  # AttributeError when __init__ was interrupted

def run(fire):
    try:
        with handled():
            HalfBuilt(fire)
            HalfBuilt(False)
    except KeyboardInterrupt:
        print("interrupted", interrupted(), file=sys.stderr)
        return 130
    return 0

if sys.argv[1] == "broken":  # a real failing __del__ without an interrupt is still reported
    with handled():
        obj = HalfBuilt(False); del obj.ctx; del obj
    sys.exit(0)
sys.exit(run(sys.argv[1] == "fire"))
"""


def _run(tmp_path, mode: str) -> subprocess.CompletedProcess:
    script = tmp_path / "s.py"
    script.write_text(_SCRIPT)
    return subprocess.run([sys.executable, str(script), mode], capture_output=True, text=True,
                          timeout=60)


@pytest.mark.skipif(sys.platform.startswith("win"), reason="POSIX signals")
def test_interrupt_inside_a_constructor_leaves_no_traceback(tmp_path):
    p = _run(tmp_path, "fire")
    assert p.returncode == 130
    assert p.stderr.strip() == "interrupted True"


@pytest.mark.skipif(sys.platform.startswith("win"), reason="POSIX signals")
def test_without_an_interrupt_unraisable_errors_are_still_reported(tmp_path):
    p = _run(tmp_path, "broken")
    assert p.returncode == 0
    assert "Exception ignored" in p.stderr and "AttributeError" in p.stderr
    quiet = _run(tmp_path, "calm")
    assert quiet.returncode == 0 and quiet.stderr == ""
