"""``verify_parallel``: the input region split into boxes shared by worker processes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from verinet import load
from verinet.parallel import split_box, verify_parallel
from verinet.result import Status
from verinet.spec import read_vnnlib
from verinet.spec.property import Box
from verinet.verify import verify

DEMO = Path(__file__).resolve().parents[2] / "benchmarks" / "demo"


def test_split_box_covers_the_box():
    box = Box(np.array([0.0, -1.0, 5.0]), np.array([1.0, 1.0, 5.0]))
    parts = split_box(box, 8)
    assert len(parts) == 8
    rng = np.random.default_rng(0)
    pts = rng.uniform(box.lower, box.upper, size=(2000, 3))
    inside = np.array([[p.contains(x) for p in parts] for x in pts])
    assert inside.any(axis=1).all()  # every point is in some part
    vol = sum(np.prod(np.where(p.upper > p.lower, p.upper - p.lower, 1.0)) for p in parts)
    assert vol == pytest.approx(np.prod([1.0, 2.0]))
    assert all(p.lower[2] == p.upper[2] == 5.0 for p in parts)  # a point dimension stays


@pytest.mark.parametrize("threshold, expected", [(0.05, Status.UNSAT), (-0.2, Status.SAT)])
def test_parallel_agrees_with_one_process(threshold, expected, tmp_path):
    net = load(str(DEMO / "demo.onnx"))
    text = (DEMO / "demo.vnnlib").read_text().replace("(assert (>= Y_0 0.05))",
                                                      f"(assert (>= Y_0 {threshold}))")
    p = tmp_path / "p.vnnlib"
    p.write_text(text)
    prop = read_vnnlib(str(p))
    one = verify(net, prop, timeout=60)
    # warmup 0: every query goes through the workers
    par = verify_parallel(net, prop, timeout=60, jobs=2, warmup=0.0)
    assert one.status is par.status is expected
    if expected is Status.SAT:
        cex = par.counterexample
        assert prop.cases[0].box.contains(cex.x)
        assert cex.checks["onnxruntime"] >= 0
    assert "parallel x2" in par.stats.strategy
