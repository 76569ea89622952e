"""The allocator setting: made once, on glibc; ``VERINET_MALLOC=default`` keeps glibc's."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

CODE = "from verinet import allocator; print(allocator.tune(), allocator.tune())"


def _run(env_value):
    env = {k: v for k, v in os.environ.items() if k != "VERINET_MALLOC"}
    if env_value is not None:
        env["VERINET_MALLOC"] = env_value
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True,
                         env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_tuned_once_on_glibc_and_not_when_asked():
    import platform

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc")
    assert _run(None) == ["True", "True"]
    assert _run("default") == ["False", "False"]
