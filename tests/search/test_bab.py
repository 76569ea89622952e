"""Branch and bound over ReLU phases: agreement with the LP search on wider networks, the
engine choice, the deadline and the memory cap."""

from __future__ import annotations

import time

import numpy as np
import pytest

from verinet.config import AttackConfig, SearchConfig, VerifierConfig
from verinet.counterexample import CexChecker
from verinet.network.ir import Network, NetworkBuilder
from verinet.network.ops import Affine, Relu
from verinet.result import Stats, Status
from verinet.search.bab import relu_bab
from verinet.spec.property import Box, Case, Conjunction, Property
from verinet.verify import _use_bab, verify


def _chain(widths, seed, n_in=6, n_out=3) -> Network:
    rng = np.random.default_rng(seed)
    nb = NetworkBuilder()
    nb.add_input("x", (n_in,))
    prev, size = "x", n_in
    for k, m in enumerate([*widths, n_out]):
        W = rng.normal(0, 1.2 / np.sqrt(size), (m, size))
        nb.add(f"a{k}", Affine((prev,), m, W=W, b=rng.normal(0, 0.3, m)), (m,))
        prev, size = f"a{k}", m
        if k < len(widths):
            nb.add(f"r{k}", Relu((prev,), m), (m,))
            prev = f"r{k}"
    return nb.finish(prev, name="chain")


def _case(net, seed, shift):
    """``y_0 - y_1 <= t`` on a box, ``t`` a sampled quantile moved by ``shift``."""
    rng = np.random.default_rng(seed)
    c = rng.uniform(-1, 1, net.n_inputs)
    lo, hi = c - 0.3, c + 0.3
    x = lo + (hi - lo) * rng.random((4000, net.n_inputs))
    d = net.evaluate(x) @ np.array([1.0, -1.0, 0.0])
    t = float(d.min() + shift * (d.max() - d.min()))
    conj = Conjunction(np.array([[1.0, -1.0, 0.0]]), np.array([t]))
    return Case(Box(lo, hi), (conj,))


@pytest.mark.parametrize("seed", [0, 3, 4, 5])
@pytest.mark.parametrize("shift", [-0.05, 0.02])
def test_branch_and_bound_agrees_with_the_lp_search(seed, shift):
    """Two hidden layers of 24: deep enough that branching and the split multipliers do
    the work; near the sampled minimum both answers occur.  Through ``verify`` (z3 at
    the leaves, as in use), without the attack, so that the engines find the points."""
    net = _chain([24, 24], seed)
    case = _case(net, seed, shift)
    prop = Property((case,), net.n_inputs, net.n_outputs)
    res = {}
    for engine in ("bab", "lp"):
        cfg = VerifierConfig(search=SearchConfig(strategy="relu", relu_engine=engine),
                             attack=AttackConfig(enabled=False))
        res[engine] = verify(net, prop, timeout=30, config=cfg)
    a, b = res["bab"], res["lp"]
    assert a.status.decided and a.status == b.status, (a, b)
    if a.status is Status.SAT:
        y = net.evaluate(a.counterexample.x[None])[0]
        assert y[0] - y[1] <= case.bad[0].b[0]
    if shift > 0:
        assert a.status is Status.SAT  # a sampled point is below the threshold


def test_engine_choice():
    wide, narrow, single = _chain([200, 100], 0), _chain([20, 20], 0), _chain([400], 0)
    auto = VerifierConfig()
    assert _use_bab(wide, auto) and not _use_bab(narrow, auto)
    assert not _use_bab(single, auto)  # one ReLU layer: the LP search
    assert _use_bab(narrow, VerifierConfig(search=SearchConfig(relu_engine="bab")))
    assert not _use_bab(wide, VerifierConfig(search=SearchConfig(relu_engine="lp")))
    with pytest.raises(ValueError, match="relu_engine"):
        SearchConfig(relu_engine="fast")


def test_deadline_and_memory_cap():
    net = _chain([64, 64, 64], 3, n_in=10)
    case = _case(net, 3, -0.3)
    prop = Property((case,), net.n_inputs, net.n_outputs)
    t = time.monotonic()
    out = relu_bab(net, case, CexChecker(net, prop), t + 1.0, Stats(), batch=4)
    assert out.status in ("timeout", "unsat") and time.monotonic() - t < 3.0
    if out.status == "timeout":
        capped = relu_bab(net, case, CexChecker(net, prop), time.monotonic() + 20, Stats(),
                          batch=4, max_mib=1e-3)
        assert capped.status == "unknown" and "memory cap" in capped.reason


@pytest.mark.parametrize("seed", [0, 4])
@pytest.mark.parametrize("shift", [-0.05, 0.02])
def test_threads_change_the_time_not_the_answer(seed, shift):
    """Two batches a round on two threads: the same answers as one thread."""
    net = _chain([24, 24], seed)
    case = _case(net, seed, shift)
    prop = Property((case,), net.n_inputs, net.n_outputs)
    res = {}
    for threads in (1, 2):
        cfg = VerifierConfig(search=SearchConfig(strategy="relu", relu_engine="bab",
                                                 bab_workers=threads, bab_batch=4),
                             attack=AttackConfig(enabled=False))
        res[threads] = verify(net, prop, timeout=30, config=cfg)
    assert res[1].status.decided and res[1].status == res[2].status, res
    if res[2].status is Status.SAT:
        y = net.evaluate(res[2].counterexample.x[None])[0]
        assert y[0] - y[1] <= case.bad[0].b[0]
    with pytest.raises(ValueError, match="bab_workers"):
        SearchConfig(bab_workers=0)


def test_parallel_runs_branch_and_bound_on_threads():
    """verify_parallel keeps a branch-and-bound query in one process, on ``jobs`` threads
    (an in-memory network: no model file is needed for that)."""
    from verinet.parallel import verify_parallel
    from verinet.verify import bab_query

    net = _chain([160, 160], 2, n_in=16)
    case = _case(net, 2, -0.1)
    prop = Property((case,), net.n_inputs, net.n_outputs)
    assert bab_query(net, VerifierConfig())
    assert not bab_query(net, VerifierConfig(search=SearchConfig(strategy="input")))
    one = verify(net, prop, timeout=60)
    two = verify_parallel(net, prop, timeout=60, jobs=2)
    assert "2 batches at once on threads" in two.stats.strategy
    assert one.status.decided and one.status == two.status
