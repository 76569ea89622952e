"""The vnnlib-satisfactory conformance suite through the standard CLI.

``scripts/satisfactory.py`` runs each case as ``verinet verify QUERY --network ...`` and
replays every ``sat`` assignment in onnxruntime on the networks' own files.  The default
run takes the first case of every family (each ``...01``); the whole suite is ``-m slow``.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "satisfactory.py"

needs_suite = pytest.mark.skipif(importlib.util.find_spec("vnntest") is None,
                                 reason="vnnlib-satisfactory is not installed "
                                        "(pip install '.[test]')")


def run_suite(tmp_path: Path, pattern: str) -> list[dict]:
    out = tmp_path / "rows.json"
    p = subprocess.run([sys.executable, str(SCRIPT), "--filter", pattern, "--timeout", "20",
                        "--jobs", "2", "--json", str(out)], capture_output=True, text=True,
                       timeout=1800)
    rows = json.loads(out.read_text())
    wrong = [r for r in rows if r["outcome"] == "wrong"]
    assert not wrong, wrong
    assert p.returncode == 0, p.stderr[-2000:]
    return rows


@needs_suite
def test_first_case_of_every_family(tmp_path):
    rows = run_suite(tmp_path, r"01$")
    assert len(rows) >= 40
    missed = [(r["name"], r["outcome"], r["stderr"]) for r in rows if r["outcome"] != "correct"]
    assert not missed
    assert any(r["verdict"] == "sat" for r in rows) and any(r["verdict"] == "unsat"
                                                             for r in rows)


@pytest.mark.slow
@needs_suite
def test_whole_suite(tmp_path):
    rows = run_suite(tmp_path, "")
    assert len(rows) == 178
    correct = sum(r["outcome"] == "correct" for r in rows)
    assert correct >= 170, [(r["name"], r["outcome"]) for r in rows if r["outcome"] != "correct"]
