"""End-to-end ``verify`` on small and benchmark instances: answers, counterexamples, time."""

from __future__ import annotations

import time

import numpy as np
import pytest

from verinet.config import AttackConfig, SearchConfig, VerifierConfig
from verinet.counterexample import case_margin
from verinet.network import Affine, NetworkBuilder, Relu, load
from verinet.result import Status, vnncomp_text
from verinet.spec import parse_vnnlib, read_vnnlib
from verinet.verify import verify

NO_ATTACK = VerifierConfig(attack=AttackConfig(enabled=False),
                           search=SearchConfig(strategy="input"))


def _abs_net():
    """y = relu(x) + relu(-x) = |x| on one input, plus y1 = x."""
    nb = NetworkBuilder()
    nb.add_input("x", (1,))
    nb.add("h", Affine(("x",), 2, W=np.array([[1.0], [-1.0]]), b=np.zeros(2)), (2,))
    nb.add("r", Relu(("h",), 2), (2,))
    nb.add("y", Affine(("r",), 2, W=np.array([[1.0, 1.0], [1.0, -1.0]]), b=np.zeros(2)), (2,))
    return nb.finish("y", name="abs")


PROP = """
(declare-const X_0 Real)
(declare-const Y_0 Real)
(declare-const Y_1 Real)
(assert (>= X_0 -1))
(assert (<= X_0 {hi}))
(assert (>= Y_0 {t}))
"""


@pytest.mark.parametrize("hi,t,expected", [
    (1.0, 1.5, Status.UNSAT),   # |x| <= 1 < 1.5
    (1.0, 0.999, Status.SAT),   # |x| reaches 1 at the ends
    (0.5, 1.0, Status.SAT),     # x = -1 gives 1
    (0.5, 1.0001, Status.UNSAT),
])
def test_hand_checked_answers(hi, t, expected):
    net = _abs_net()
    prop = parse_vnnlib(PROP.format(hi=hi, t=t))
    r = verify(net, prop, timeout=10, config=NO_ATTACK)
    assert r.status is expected
    if expected is Status.SAT:
        cex = r.counterexample
        assert cex is not None and cex.checks["float64"] >= 0
        y = net.evaluate(cex.x[None])
        assert case_margin(prop.cases[0], cex.x[None], y)[0] >= 0
        assert prop.cases[0].box.contains(cex.x).all()
        assert vnncomp_text(r).startswith("sat\n((X_0 ")


def test_disjunctive_cases_need_every_case_unsat():
    net = _abs_net()
    text = """
(declare-const X_0 Real)
(declare-const Y_0 Real)
(declare-const Y_1 Real)
(assert (or (and (>= X_0 -1) (<= X_0 -0.5) (>= Y_0 2))
            (and (>= X_0 0.5) (<= X_0 1) (<= Y_1 0.4))))
"""
    prop = parse_vnnlib(text)
    assert verify(net, prop, timeout=10, config=NO_ATTACK).status is Status.UNSAT
    text2 = text.replace("(<= Y_1 0.4)", "(<= Y_1 0.6)")
    r = verify(net, parse_vnnlib(text2), timeout=10, config=NO_ATTACK)
    assert r.status is Status.SAT and r.counterexample.x[0] >= 0.5


def test_benchmark_sanity_instances(benchmarks_dir):
    folder = benchmarks_dir / "test"
    rows = [line.split(",") for line in (folder / "expected.csv").read_text().splitlines()[1:]]
    for onnx_name, vnn, expected in rows:
        net = load(folder / onnx_name)
        prop = read_vnnlib(folder / vnn)
        r = verify(net, prop, timeout=30)
        assert r.status.value == expected, (onnx_name, vnn, r.status, r.reason)
        if r.status is Status.SAT:
            assert "onnxruntime" in r.counterexample.checks


def test_acas_unsat_instance_by_search(benchmarks_dir):
    folder = benchmarks_dir / "acasxu"
    net = load(folder / "ACASXU_run2a_2_1_batch_2000.onnx")
    prop = read_vnnlib(folder / "prop_3.vnnlib")
    r = verify(net, prop, timeout=60)
    assert r.status is Status.UNSAT
    assert r.stats.boxes > 1 and r.stats.strategy == "input"


def test_timeout_is_honoured(benchmarks_dir):
    folder = benchmarks_dir / "acasxu"
    net = load(folder / "ACASXU_run2a_3_3_batch_2000.onnx")
    prop = read_vnnlib(folder / "prop_2.vnnlib")
    t0 = time.monotonic()
    r = verify(net, prop, timeout=1.5, config=NO_ATTACK)
    elapsed = time.monotonic() - t0
    assert r.status is Status.TIMEOUT
    assert elapsed < 1.5 + 2.0


def test_mismatched_property_is_refused():
    from verinet.errors import SpecMismatchError

    prop = parse_vnnlib(PROP.format(hi=1, t=1).replace("(declare-const Y_1 Real)", ""))
    with pytest.raises(SpecMismatchError):
        verify(_abs_net(), prop, timeout=5)


@pytest.mark.parametrize("hi,t,expected", [(1.0, 1.5, Status.UNSAT), (0.5, 0.9, Status.SAT)])
def test_boxes_too_small_to_split_go_to_z3(monkeypatch, hi, t, expected):
    import verinet.verify as V

    def useless_bounder(network, case, joint_iters=None):  # sound, never closes anything
        rows = V.CaseRows.of(case, network.n_inputs, network.n_outputs,
                             joint=joint_iters is not None)

        def bound(lower, upper):
            B, n = lower.shape
            k = rows.b.size
            return np.full((B, k), -1e9), np.zeros((B, k, n)), np.full((B, k), -1e9)
        return bound

    monkeypatch.setattr(V, "_row_bounder", useless_bounder)
    monkeypatch.setattr(V, "_pattern_refiner", lambda *a: None)  # candidates: corners only
    # min_width above the box width: no split is allowed, the box goes to z3 at once
    cfg = VerifierConfig(attack=AttackConfig(enabled=False),
                         search=SearchConfig(strategy="input", min_width=10.0))
    r = verify(_abs_net(), parse_vnnlib(PROP.format(hi=hi, t=t)), timeout=10, config=cfg)
    assert r.status is expected
    assert r.stats.smt_calls >= 1
    if expected is Status.SAT:
        assert r.counterexample.source == "z3"


@pytest.mark.parametrize("strategy", ["relu", "smt"])
@pytest.mark.parametrize("hi,t,expected", [(1.0, 1.5, Status.UNSAT), (1.0, 0.999, Status.SAT)])
def test_every_strategy_on_hand_checked_answers(strategy, hi, t, expected):
    cfg = VerifierConfig(attack=AttackConfig(enabled=False),
                         search=SearchConfig(strategy=strategy))
    r = verify(_abs_net(), parse_vnnlib(PROP.format(hi=hi, t=t)), timeout=10, config=cfg)
    assert r.status is expected
    assert r.stats.strategy == strategy


@pytest.mark.parametrize("t,expected,calls", [
    (1.5, Status.UNSAT, 0),    # root bounds close it: no attack
    (0.999, Status.SAT, 1),    # they cannot: the attack finds the counterexample
])
def test_attack_probe_before_relu_splitting(monkeypatch, t, expected, calls):
    """Ahead of ReLU splitting, root bounds come before the attack; when they close
    everything the attack is skipped."""
    import verinet.verify as V

    ends = []
    real = V.falsify

    def spy(network, prop, checker, rng, end, *a, **kw):
        ends.append(end)
        return real(network, prop, checker, rng, end, *a, **kw)
    monkeypatch.setattr(V, "falsify", spy)
    net = _abs_net()
    prop = parse_vnnlib(PROP.format(hi=1.0, t=t))
    r = verify(net, prop, timeout=40, config=VerifierConfig(search=SearchConfig(
        strategy="relu")))
    assert r.status is expected and len(ends) == calls
    # the input-splitting strategy has no probe: the attack runs first
    ends.clear()
    r = verify(net, prop, timeout=40, config=VerifierConfig(search=SearchConfig(
        strategy="input")))
    assert r.status is expected and len(ends) == 1


def test_attack_runs_when_root_bounds_do_not_close(monkeypatch):
    """Root bounds that leave a conjunction open: the attack runs, with its whole share."""
    import verinet.verify as V

    ends = []
    monkeypatch.setattr(V, "falsify", lambda n, p, c, r, end, *a, **kw: ends.append(end))
    net = _abs_net()
    # |x| >= 0.6 and |x| <= 0.5: unsat, but no single row's bound shows it
    prop = parse_vnnlib(PROP.format(hi=1.0, t=0.6) + "(assert (>= Y_1 -0.5))\n"
                        "(assert (<= Y_1 0.5))\n")
    t0 = time.monotonic()
    r = verify(net, prop, timeout=40, config=VerifierConfig(search=SearchConfig(
        strategy="relu")))
    assert r.status is Status.UNSAT and len(ends) == 1 and ends[0] - t0 > 0.09 * 40


def test_attack_skips_closed_conjunctions_and_takes_the_loosest_first(monkeypatch):
    """Ahead of ReLU splitting the attack gets only the conjunctions root bounds leave
    open, loosest first."""
    import verinet.verify as V

    seen = []
    real = V.falsify

    def spy(network, prop, *a, **kw):
        seen.append(prop)
        return real(network, prop, *a, **kw)
    monkeypatch.setattr(V, "falsify", spy)
    net = _abs_net()
    text = PROP.format(hi=1.0, t=-5).replace(
        "(assert (>= Y_0 -5))",
        "(assert (or (and (>= Y_0 1.5)) (and (>= Y_0 0.9)) (and (>= Y_0 0.5))))")
    prop = parse_vnnlib(text)
    assert len(prop.cases[0].bad) == 3
    r = verify(net, prop, timeout=40, config=VerifierConfig(search=SearchConfig(
        strategy="relu")))
    assert r.status is Status.SAT and len(seen) == 1
    (case,) = seen[0].cases
    assert [float(-c.b[0]) for c in case.bad] == [0.5, 0.9]  # (Y_0 >= t is -Y_0 <= -t)


def test_undecided_at_the_deadline_is_a_timeout(monkeypatch):
    """An engine that gives up because the budget ran out (say, an LP cut off at its time
    limit) answers ``timeout``, not ``unknown``."""
    import time as _time

    import verinet.verify as V
    from verinet.search.input_split import SplitOutcome

    def late(*args, **kw):
        _time.sleep(0.3)
        return SplitOutcome("unknown", reason="LP unclean (Time limit reached)")

    monkeypatch.setattr(V, "_decide_case", late)
    cfg = VerifierConfig(attack=AttackConfig(enabled=False))
    prop = parse_vnnlib(PROP.format(hi=1.0, t=1.5))
    r = verify(_abs_net(), prop, timeout=0.2, config=cfg)
    assert r.status is Status.TIMEOUT and "budget ran out" in r.reason
    r = verify(_abs_net(), prop, timeout=30, config=cfg)
    assert r.status is Status.UNKNOWN
