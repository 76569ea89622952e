"""``verify_parallel``: the input region split into boxes shared by worker processes."""

from __future__ import annotations

import time
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


ACASLIKE = Path(__file__).resolve().parents[2] / "benchmarks" / "acaslike"


def _instances():
    import csv

    with open(ACASLIKE / "instances.csv", newline="") as f:
        return [(r[0], r[1]) for r in csv.reader(f) if r]


@pytest.mark.parametrize("onnx, vnnlib", _instances())
def test_a_search_continued_from_its_frontier_gives_the_same_answer(onnx, vnnlib):
    import dataclasses

    from verinet.config import VerifierConfig

    net = load(str(ACASLIKE / onnx))
    prop = read_vnnlib(str(ACASLIKE / vnnlib))
    cfg = VerifierConfig()
    quiet = dataclasses.replace(cfg, attack=dataclasses.replace(cfg.attack, enabled=False))
    full = verify(net, prop, timeout=60, config=quiet)
    assert full.status in (Status.SAT, Status.UNSAT)
    for t in (0.01, 0.05, 0.2):
        part = verify(net, prop, timeout=t, config=quiet)
        if part.frontier is None:
            continue
        k = part.frontier["case"]
        roots = (part.frontier["lower"], part.frontier["upper"], part.frontier["depth"])
        case = prop.cases[k]
        assert np.all(roots[0] >= case.box.lower) and np.all(roots[1] <= case.box.upper)
        rest = [verify(net, type(prop)((c,), prop.n_inputs, prop.n_outputs), timeout=60,
                       config=quiet) for c in prop.cases[k + 1:]]
        cont = verify(net, type(prop)((case,), prop.n_inputs, prop.n_outputs), timeout=60,
                      config=quiet, roots=roots)
        statuses = [cont.status] + [r.status for r in rest]
        answer = Status.SAT if Status.SAT in statuses else (
            Status.UNSAT if all(s is Status.UNSAT for s in statuses) else None)
        assert answer is full.status, (t, statuses)


@pytest.mark.parametrize("onnx, vnnlib, expected", [
    ("ACASXU_run2a_4_7_batch_2000.onnx", "prop_1.vnnlib", Status.UNSAT),
    ("ACASXU_run2a_1_5_batch_2000.onnx", "prop_2.vnnlib", Status.SAT),
])
def test_acas_continued_from_frontiers(benchmarks_dir, onnx, vnnlib, expected):
    import dataclasses

    from verinet.config import VerifierConfig

    folder = benchmarks_dir / "acasxu"
    net = load(str(folder / onnx))
    prop = read_vnnlib(str(folder / vnnlib))
    cfg = VerifierConfig()
    quiet = dataclasses.replace(cfg, attack=dataclasses.replace(cfg.attack, enabled=False))
    seen = 0
    for t in (0.5, 1.0):
        part = verify(net, prop, timeout=t, config=quiet)
        if part.frontier is None:
            continue
        seen += 1
        assert part.frontier["case"] == 0 and len(prop.cases) == 1
        roots = (part.frontier["lower"], part.frontier["upper"], part.frontier["depth"])
        assert roots[0].shape == roots[1].shape and roots[2].shape == roots[0].shape[:1]
        cont = verify(net, prop, timeout=120, config=quiet, roots=roots)
        assert cont.status is expected
    assert seen, "no frontier: the search ended before the deadline"
    par = verify_parallel(net, prop, timeout=120, jobs=2, warmup=0.5)
    assert par.status is expected


def test_sliced_shares_keep_the_answer_and_the_budget(benchmarks_dir):
    """Shares in short slices (every continuation re-queued, split when nothing waits)
    give the one-process answer; a budget too short for the query is kept to within a
    second, worker start-up included."""
    folder = benchmarks_dir / "acasxu"
    net = load(str(folder / "ACASXU_run2a_4_7_batch_2000.onnx"))
    prop = read_vnnlib(str(folder / "prop_1.vnnlib"))
    par = verify_parallel(net, prop, timeout=120, jobs=2, warmup=0.3, slice_seconds=0.3)
    assert par.status is Status.UNSAT
    hard = load(str(folder / "ACASXU_run2a_3_3_batch_2000.onnx"))
    t0 = time.monotonic()
    out = verify_parallel(hard, read_vnnlib(str(folder / "prop_2.vnnlib")), timeout=3.0,
                          jobs=2, warmup=1.0)
    assert out.status is Status.TIMEOUT
    assert time.monotonic() - t0 < 4.0
