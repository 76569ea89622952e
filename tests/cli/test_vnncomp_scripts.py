"""The VNN-COMP tool scripts (scripts/vnncomp/), run the way the competition harness runs them."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from verinet.counterexample import read_results_file

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts" / "vnncomp"
DEMO = ROOT / "benchmarks" / "demo"
ACASLIKE = ROOT / "benchmarks" / "acaslike"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="the scripts need bash")


def _script(name: str, *argv: object, tmp: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, VERINET_PYTHON=sys.executable, TMPDIR=str(tmp),
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(["bash", str(SCRIPTS / name), *map(str, argv)], env=env,
                          capture_output=True, text=True, timeout=120)


def _expected(folder: Path) -> dict[tuple[str, str], str]:
    rows = [line.split(",") for line in (folder / "expected.csv").read_text().split()[1:]]
    return {(r[0], r[1]): r[2] for r in rows}


def test_prepare_checks_version_and_files(tmp_path: Path) -> None:
    ok = _script("prepare_instance.sh", "v1", "demo", DEMO / "demo.onnx", DEMO / "demo.vnnlib",
                 tmp=tmp_path)
    assert ok.returncode == 0, ok.stderr
    bad = _script("prepare_instance.sh", "v2", "demo", DEMO / "demo.onnx", DEMO / "demo.vnnlib",
                  tmp=tmp_path)
    assert bad.returncode != 0 and "v1" in bad.stderr
    missing = _script("prepare_instance.sh", "v1", "demo", tmp_path / "none.onnx",
                      DEMO / "demo.vnnlib", tmp=tmp_path)
    assert missing.returncode != 0 and "none.onnx" in missing.stderr


def test_run_instance_unsat_from_gzipped_property(tmp_path: Path) -> None:
    prop = tmp_path / "demo.vnnlib.gz"
    prop.write_bytes(gzip.compress((DEMO / "demo.vnnlib").read_bytes()))
    results = tmp_path / "out.txt"
    run = _script("run_instance.sh", "v1", "demo", DEMO / "demo.onnx", prop, results, "20.0",
                  tmp=tmp_path)
    assert run.returncode == 0, run.stderr
    assert results.read_text().split()[0] == _expected(DEMO)[("demo.onnx", "demo.vnnlib")]
    assert not list(tmp_path.glob("verinet-vnncomp.*")), "the temporary copy was left behind"


def test_run_instance_sat_writes_a_replayable_counterexample(tmp_path: Path) -> None:
    sat = [k for k, v in _expected(ACASLIKE).items() if v == "sat"]
    assert sat, "the embedded suite has sat instances"
    onnx, prop = sat[0]
    results = tmp_path / "out.txt"
    run = _script("run_instance.sh", "v1", "acaslike", ACASLIKE / onnx, ACASLIKE / prop, results,
                  "60", tmp=tmp_path)
    assert run.returncode == 0, run.stderr
    status, x, _ = read_results_file(results)
    assert status == "sat" and x is not None and np.all(np.isfinite(x))
    check = subprocess.run([sys.executable, "-m", "verinet", "check-cex", str(ACASLIKE / onnx),
                            str(ACASLIKE / prop), str(results)], capture_output=True, text=True,
                           cwd=ROOT, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize("timeout", ["abc", "0", "-3"])
def test_run_instance_bad_timeout_is_an_error_result(tmp_path: Path, timeout: str) -> None:
    results = tmp_path / "out.txt"
    run = _script("run_instance.sh", "v1", "demo", DEMO / "demo.onnx", DEMO / "demo.vnnlib",
                  results, timeout, tmp=tmp_path)
    assert run.returncode == 0
    assert results.read_text().strip() == "error"
    assert "TIMEOUT" in run.stderr


def test_run_instance_unreadable_property_is_unknown(tmp_path: Path) -> None:
    bad = tmp_path / "bad.vnnlib"
    bad.write_text("(declare-const X_0 Real)\n(assert (<= X_0 oops))\n")
    results = tmp_path / "out.txt"
    run = _script("run_instance.sh", "v1", "demo", DEMO / "demo.onnx", bad, results, "10",
                  tmp=tmp_path)
    assert run.returncode == 0
    assert results.read_text().strip() == "unknown"
    assert "bad.vnnlib" in run.stderr
