"""Fixtures shared by every test package."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_DEFAULT_BENCHMARKS = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks"


@pytest.fixture(scope="session")
def benchmarks_dir() -> Path:
    """The VNN-COMP style benchmark folder (``$VERINET_BENCHMARKS``, else
    ``../shared/benchmarks`` beside the repository); skips the test when it is absent."""
    env = os.environ.get("VERINET_BENCHMARKS")
    path = Path(env) if env else _DEFAULT_BENCHMARKS
    if not path.is_dir():
        how = "$VERINET_BENCHMARKS" if env else "the default location"
        pytest.skip(f"benchmark folder {path} ({how}) not found; set VERINET_BENCHMARKS "
                    "to a folder of VNN-COMP benchmarks to run this test")
    return path
