"""Strict inequalities: read, written back, met strictly by counterexamples, decided exactly.

The differential part builds small ReLU networks with integer weights on integer boxes,
where the bad region's boundary is often touched exactly (ties), and checks that every
engine agrees with the exact z3 engine on the strict and on the relaxed (VNN-COMP)
reading, and that the two readings do differ on some instances.
"""

from __future__ import annotations

import numpy as np
import pytest

from verinet import parse_vnnlib, verify, write_vnnlib
from verinet.config import AttackConfig, SearchConfig, VerifierConfig
from verinet.network.ir import NetworkBuilder
from verinet.network.ops import Affine, Relu
from verinet.result import Status
from verinet.spec.property import Box, Case, Conjunction, Property

HEAD = "(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n"
BOX = "(assert (>= X_0 0.0))\n(assert (<= X_0 1.0))\n(assert (>= X_1 0.0))\n" \
      "(assert (<= X_1 1.0))\n"


def test_strict_rows_are_marked_and_round_trip():
    prop = parse_vnnlib(HEAD + BOX + "(assert (or (< Y_0 X_0) (>= Y_0 2.0) (> Y_0 3.0)))\n")
    strict = [c.strict for c in prop.cases[0].bad]
    assert strict[0].tolist() == [True] and strict[1] is None and strict[2].tolist() == [True]
    back = parse_vnnlib(write_vnnlib(prop))
    assert back == prop
    assert back != prop.non_strict() and not prop.non_strict().has_strict


def test_strict_input_bound_keeps_closed_box_and_strict_row():
    prop = parse_vnnlib(HEAD + "(assert (>= X_0 0.0))\n(assert (< X_0 1.0))\n"
                        "(assert (>= X_1 0.0))\n(assert (<= X_1 1.0))\n(assert (>= Y_0 0.0))\n")
    case = prop.cases[0]
    assert case.box.upper.tolist() == [1.0, 1.0]      # proofs see the closed box
    conj = case.bad[0]
    assert conj.strict is not None and conj.strict.sum() == 1
    x_edge, x_in = np.array([[1.0, 0.5]]), np.array([[0.999, 0.5]])
    y = np.array([[1.0]])
    assert prop.margin(x_edge, y)[0] < 0 <= prop.margin(x_in, y)[0]
    assert parse_vnnlib(write_vnnlib(prop)) == prop


def test_slack_of_a_tie_is_negative_only_when_strict():
    c = Conjunction(np.array([[1.0]]), np.array([0.0]), None, np.array([True]))
    assert c.slack(np.zeros((1, 1)), np.array([[0.0]]))[0, 0] < 0
    assert c.non_strict().slack(np.zeros((1, 1)), np.array([[0.0]]))[0, 0] == 0
    assert c.slack(np.zeros((1, 1)), np.array([[-1.0]]))[0, 0] == 1.0
    with pytest.raises(Exception, match="strict has"):
        Conjunction(np.array([[1.0]]), np.array([0.0]), None, np.array([True, False]))


def _integer_net(rng: np.random.Generator):
    nb = NetworkBuilder()
    nb.add_input("x", (2,))
    W1 = rng.integers(-2, 3, (3, 2)).astype(float)
    b1 = rng.integers(-1, 2, 3).astype(float)
    W2 = rng.integers(-2, 3, (1, 3)).astype(float)
    nb.add("fc0", Affine(("x",), 3, W=W1, b=b1), (3,))
    nb.add("relu0", Relu(("fc0",), 3), (3,))
    nb.add("fc1", Affine(("relu0",), 1, W=W2, b=np.zeros(1)), (1,))
    return nb.finish("fc1", name="int-net")


def _answers(net, prop, strategies=("smt", "input", "relu")):
    out = {}
    for s in strategies:
        cfg = VerifierConfig(search=SearchConfig(strategy=s), attack=AttackConfig(enabled=False))
        r = verify(net, prop, timeout=20, config=cfg)
        assert r.status is not Status.SAT or prop.margin(r.counterexample.x[None],
                                                         r.counterexample.y[None])[0] >= 0
        out[s] = r.status
    return out


@pytest.mark.parametrize("seed", range(12))
def test_engines_agree_with_exact_strictness(seed):
    rng = np.random.default_rng(seed)
    net = _integer_net(rng)
    grid = np.stack(np.meshgrid(np.linspace(0, 1, 5), np.linspace(0, 1, 5)), -1).reshape(-1, 2)
    top = float(net.evaluate(grid).max())  # often the exact maximum, attained on a vertex
    box = Box(np.zeros(2), np.ones(2))
    strict = Property((Case(box, (Conjunction(np.array([[-1.0]]), np.array([-top]), None,
                                              np.array([True])),)),), 2, 1)  # Y_0 > top
    decided = {Status.SAT, Status.UNSAT}
    for prop in (strict, strict.non_strict()):
        ans = _answers(net, prop)
        truth = ans["smt"]
        assert truth in decided, f"seed {seed}: z3 did not decide ({truth})"
        for s, a in ans.items():
            assert a in (truth, Status.UNKNOWN, Status.TIMEOUT), f"seed {seed} {s}: {a} vs {truth}"
    # the relaxed reading meets the maximum itself: sat; the strict one may not
    assert _answers(net, strict.non_strict(), ("smt",))["smt"] is Status.SAT


def test_strict_and_relaxed_readings_differ_on_ties():
    differ = 0
    for seed in range(12):
        rng = np.random.default_rng(seed)
        net = _integer_net(rng)
        grid = np.stack(np.meshgrid(np.linspace(0, 1, 5), np.linspace(0, 1, 5)),
                        -1).reshape(-1, 2)
        top = float(net.evaluate(grid).max())
        box = Box(np.zeros(2), np.ones(2))
        strict = Property((Case(box, (Conjunction(np.array([[-1.0]]), np.array([-top]), None,
                                                  np.array([True])),)),), 2, 1)
        a = _answers(net, strict, ("smt",))["smt"]
        b = _answers(net, strict.non_strict(), ("smt",))["smt"]
        differ += a is Status.UNSAT and b is Status.SAT
    assert differ >= 3
