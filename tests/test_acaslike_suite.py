"""The embedded ACAS-like suite in ``benchmarks/acaslike/`` (built by
``scripts/make_acaslike.py``): its files are current and ``verify`` agrees with the
z3-decided expected answers on every instance."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

from verinet.network import load
from verinet.result import Status
from verinet.spec.vnnlib import read_vnnlib
from verinet.verify import verify

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT / "benchmarks" / "acaslike"


def _instances() -> list[tuple[str, str, float]]:
    with open(SUITE / "instances.csv", newline="") as fh:
        return [(r[0].strip(), r[1].strip(), float(r[2])) for r in csv.reader(fh) if r]


def _expected() -> dict[tuple[str, str], str]:
    with open(SUITE / "expected.csv", newline="") as fh:
        return {(r["onnx"], r["vnnlib"]): r["expected"] for r in csv.DictReader(fh)}


@pytest.mark.slow
def test_acaslike_files_are_current() -> None:
    """The committed files are exactly what ``scripts/make_acaslike.py`` generates
    (z3 included: regenerating the whole suite takes a few seconds).  Marked slow: the
    training is float64 numpy, and another BLAS may round a weight differently, so this
    byte-for-byte check belongs to the maintainers' runs, not to every fresh clone."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import make_acaslike
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    assert make_acaslike.main(["--check", "--out", str(SUITE)]) == 0


def test_acaslike_layout() -> None:
    instances = _instances()
    expected = _expected()
    assert len(instances) == 12
    for onnx_name, vnnlib_name, timeout in instances:
        assert (SUITE / onnx_name).is_file() and (SUITE / vnnlib_name).is_file()
        assert timeout == 30
        assert expected[(onnx_name, vnnlib_name)] in ("sat", "unsat")
    assert set(expected) == {(o, v) for o, v, _ in instances}
    answers = list(expected.values())
    assert answers.count("sat") >= 3 and answers.count("unsat") >= 3


@pytest.mark.parametrize("onnx_name,vnnlib_name,timeout", _instances(),
                         ids=lambda v: str(v).removesuffix(".vnnlib"))
def test_acaslike_verify_matches_expected(onnx_name: str, vnnlib_name: str,
                                          timeout: float) -> None:
    net = load(SUITE / onnx_name)
    prop = read_vnnlib(SUITE / vnnlib_name)
    result = verify(net, prop, timeout=timeout)
    want = _expected()[(onnx_name, vnnlib_name)]
    assert result.status is Status(want), (result.status, result.reason)
    if result.status is Status.SAT:
        assert "onnxruntime" in result.counterexample.checks
