"""The z3 engine: exact answers on hand-made networks, fixed phases, sub-boxes, every
operation kind, the deadline, and the rule that ``sat`` carries a confirmed point."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from verinet.counterexample import CexChecker
from verinet.errors import InputError
from verinet.network.ir import Network, NetworkBuilder
from verinet.network.ops import Affine, Concat, MaxPool, Relu, Sum
from verinet.result import Stats
from verinet.search.smt import encode_case, smt_decide, smt_verify
from verinet.spec.property import Box, Case, Conjunction, Property

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "soundness"))
from random_nets import random_instance, random_network  # noqa: E402


def _abs_net() -> Network:
    """``y = relu(x) + relu(-x) = |x|`` for one input; ReLU node ``r`` has 2 entries."""
    nb = NetworkBuilder()
    nb.add_input("x", (1,))
    nb.add("h", Affine(("x",), 2, W=np.array([[1.0], [-1.0]]), b=np.zeros(2)), (2,))
    nb.add("r", Relu(("h",), 2), (2,))
    nb.add("y", Affine(("r",), 1, W=np.array([[1.0, 1.0]]), b=np.zeros(1)), (1,))
    return nb.finish("y", name="abs")


def _case(lo, hi, *conjs: tuple) -> Case:
    """A case from ``(A_out, b)`` or ``(A_out, b, A_in)`` tuples."""
    return Case(Box(np.atleast_1d(np.asarray(lo, float)), np.atleast_1d(np.asarray(hi, float))),
                tuple(Conjunction(*c) for c in conjs))


def _decide(net: Network, case: Case, budget: float = 20.0, **kw):
    prop = Property((case,), net.n_inputs, net.n_outputs)
    stats = Stats()
    out = smt_decide(net, case, CexChecker(net, prop), time.monotonic() + budget, stats, **kw)
    if out.status == "sat":
        _assert_confirmed(net, prop, out.counterexample)
    return out, stats


def _assert_confirmed(net: Network, prop: Property, cex) -> None:
    assert cex is not None and cex.source.startswith("z3")
    assert prop.cases[cex.case].box.contains(cex.x)
    y = net.evaluate(cex.x[None])[0]
    assert prop.margin(cex.x[None], y[None])[0] >= 0


GE = np.array([[-1.0]])  # -y <= -t   is   y >= t
LE = np.array([[1.0]])


@pytest.mark.parametrize(("lo", "hi", "row", "b", "want"), [
    (-1, 1, GE, [-0.99], "sat"),  # |x| >= 0.99 at the ends
    (-1, 1, GE, [-1.01], "unsat"),  # |x| <= 1 on the box
    (-1, 1, LE, [-0.01], "unsat"),  # |x| >= 0 everywhere
    (-1, 1, LE, [0.0], "sat"),  # |x| <= 0 exactly at 0: on the boundary, still confirmed
    (0.25, 0.5, GE, [-0.5], "sat"),  # attained only at the box corner
    (0.25, 0.5, GE, [-0.5 - 2.0 ** -40], "unsat"),  # just beyond the corner
])
def test_abs_known_answers(lo, hi, row, b, want):
    out, stats = _decide(_abs_net(), _case(lo, hi, (row, b)))
    assert out.status == want, out.reason
    assert stats.smt_calls >= 1 and stats.time_smt > 0


def test_input_rows_and_disjunctions():
    net = _abs_net()
    # x <= -0.5 and |x| <= 0.4: impossible; x <= -0.5 and |x| >= 0.6: x in [-1, -0.6]
    left = (np.array([[1.0]]), [0.4], np.zeros((1, 1)))
    both = (np.array([[0.0], [1.0]]), [-0.5, 0.4], np.array([[1.0], [0.0]]))
    assert _decide(net, _case(-1, 1, both))[0].status == "unsat"
    far = (np.array([[0.0], [-1.0]]), [-0.5, -0.6], np.array([[1.0], [0.0]]))
    assert _decide(net, _case(-1, 1, far))[0].status == "sat"
    assert _decide(net, _case(-1, 1, both, far))[0].status == "sat"
    out, _ = _decide(net, _case(-1, 1, both, far), conj=[0])
    assert out.status == "unsat"
    assert _decide(net, _case(-1, 1, left))[0].status == "sat"


def test_empty_cases():
    net = _abs_net()
    assert _decide(net, Case(Box([0.0], [1.0]), ()))[0].status == "unsat"
    # a conjunction without rows is always met: any point is a counterexample
    out, _ = _decide(net, _case(0, 1, (np.zeros((0, 1)), np.zeros(0))))
    assert out.status == "sat"


def test_fixed_phases_restrict_the_query():
    net = _abs_net()
    case = _case(-1, 1, (GE, [-0.5]))  # |x| >= 0.5
    assert _decide(net, case)[0].status == "sat"
    # x >= 0 branch and x <= 0 branch each reach it; the contradictory phases do not
    for phases, want in [([1, -1], "sat"), ([-1, 1], "sat"), ([1, 1], "unsat"),
                         ([-1, -1], "unsat"), ([0, -1], "sat")]:
        out, _ = _decide(net, case, fixed={"r": np.array(phases, np.int8)})
        assert out.status == want, phases
        if want == "sat" and phases[0]:
            assert np.sign(out.counterexample.x[0]) in (0, phases[0])
    # within the x >= 0 branch on [-1, 0.3], |x| reaches only 0.3
    out, _ = _decide(net, _case(-1, 0.3, (GE, [-0.5])), fixed={"r": np.array([1, -1], np.int8)})
    assert out.status == "unsat"


def test_fixed_phases_are_validated():
    net = _abs_net()
    with pytest.raises(InputError, match="not a ReLU"):
        _decide(net, _case(-1, 1, (GE, [-0.5])), fixed={"h": np.zeros(2, np.int8)})
    with pytest.raises(InputError, match="expected shape"):
        _decide(net, _case(-1, 1, (GE, [-0.5])), fixed={"r": np.zeros(3, np.int8)})


def test_sub_box():
    net = _abs_net()
    case = _case(-1, 1, (GE, [-0.5]))
    assert _decide(net, case, box=(np.array([-0.3]), np.array([0.4])))[0].status == "unsat"
    out, _ = _decide(net, case, box=(np.array([0.2]), np.array([0.6])))
    assert out.status == "sat" and 0.5 <= out.counterexample.x[0] <= 0.6


def _mixed_net(sparse: bool = False) -> Network:
    """Input 3 -> Affine 4 -> Relu -> MaxPool(windows [[0,1],[2,3],[1,-1]]) -> Concat with
    the Affine -> Sum with a second Affine of the input -> Affine to 2 outputs."""
    rng = np.random.default_rng(3)
    W1 = rng.normal(size=(4, 3))
    W1c = sp.csr_array(W1) if sparse else W1
    nb = NetworkBuilder()
    nb.add_input("x", (3,))
    nb.add("a", Affine(("x",), 4, W=W1c, b=rng.normal(size=4) * 0.3), (4,))
    nb.add("r", Relu(("a",), 4), (4,))
    nb.add("m", MaxPool(("r",), 3, windows=np.array([[0, 1], [2, 3], [1, -1]])), (3,))
    nb.add("c", Concat(("m", "a"), 7), (7,))
    nb.add("d", Affine(("x",), 7, W=rng.normal(size=(7, 3)), b=np.zeros(7)), (7,))
    nb.add("s", Sum(("c", "d"), 7), (7,))
    nb.add("rs", Relu(("s",), 7), (7,))
    nb.add("y", Affine(("rs",), 2, W=rng.normal(size=(2, 7)), b=rng.normal(size=2)), (2,))
    return nb.finish("y", name="mixed", simplify=False)


@pytest.mark.parametrize("sparse", [False, True])
def test_maxpool_sum_concat_against_sampling(sparse):
    net = _mixed_net(sparse)
    rng = np.random.default_rng(0)
    lo, hi = -np.ones(3), np.ones(3)
    x = rng.uniform(lo, hi, (20000, 3))
    y = net.evaluate(x)
    for row in (np.array([1.0, 0.0]), np.array([-1.0, 0.0]), np.array([0.5, -1.0])):
        v = y @ row
        span = v.max() - v.min()
        # below the sampled minimum by 30% of the range: (almost surely) unreachable, and
        # a quantile: reached by samples, so the exact answer must be sat
        for b, want in [(v.min() - 0.3 * span, "unsat"), (np.quantile(v, 0.3), "sat")]:
            out, _ = _decide(net, _case(lo, hi, (row[None], [b])))
            assert out.status == want


def test_maxpool_exact_value():
    """MaxPool of a padded window: ``max(x0, x1)`` and ``x1`` alone, decided exactly."""
    nb = NetworkBuilder()
    nb.add_input("x", (2,))
    nb.add("m", MaxPool(("x",), 2, windows=np.array([[0, 1], [1, -1]])), (2,))
    net = nb.finish("m", name="pool")
    lo, hi = np.array([0.0, -1.0]), np.array([0.5, 0.25])
    # max(x0, x1) <= -0.01 is impossible (x0 >= 0); max(x0, x1) - x1 peaks at 1.5 at (0.5, -1)
    assert _decide(net, _case(lo, hi, (np.array([[1.0, 0.0]]), [-0.01])))[0].status == "unsat"
    assert _decide(net, _case(lo, hi, (np.array([[-1.0, 1.0]]), [-1.5])))[0].status == "sat"
    assert _decide(net, _case(lo, hi, (np.array([[-1.0, 1.0]]), [-1.5 - 1e-12])))[0].status \
        == "unsat"


def test_encodings_agree_on_random_nets():
    """``If`` terms, phase Booleans, with and without interval pruning: same answers."""
    for seed in range(6):
        inst = random_instance(seed, widths=[6, 5])
        case = inst.prop.cases[0]
        answers = {_decide(inst.network, case, relu_mode=mode, prune=prune)[0].status
                   for mode in ("ite", "phase") for prune in (True, False)}
        assert len(answers) == 1 and answers <= {"sat", "unsat"}, (inst.describe(), answers)


def test_interval_bounds_contain_samples():
    inst = random_instance(5, weight_bits=None)
    net, box = inst.network, inst.prop.cases[0].box
    enc = encode_case(net, box.lower, box.upper)
    x = np.random.default_rng(1).uniform(box.lower, box.upper, (2000, net.n_inputs))
    vals = net.evaluate_all(x)
    for name, (lo, hi) in enc.bounds.items():
        assert np.all(vals[name] >= lo) and np.all(vals[name] <= hi), name


class _Rejecting(CexChecker):
    """Rejects the first ``n`` candidates (with ``repairs=False``: every candidate of
    the repair step too, sources ``z3+lp`` and ``z3+pgd``), then checks normally."""

    def __init__(self, net, prop, n, repairs=True):
        super().__init__(net, prop)
        self.n = n
        self.repairs = repairs
        self.sources: list[str] = []

    def confirm(self, x, source=""):
        self.sources.append(source)
        repair = source != "z3"
        if repair and not self.repairs:
            self.rejected += 1
            return None
        if self.n > 0:
            self.n -= 1
            self.rejected += 1
            return None
        return super().confirm(x, source)


def test_unconfirmed_solution_is_repaired_then_nudged_then_unknown():
    net = _abs_net()
    case = _case(-1, 1, (GE, [-0.5]))
    prop = Property((case,), 1, 1)
    stats = Stats()
    # z3's point rejected: the deepest point of its linear piece (an LP) confirms
    out = smt_decide(net, case, _Rejecting(net, prop, 1), time.monotonic() + 20, stats)
    assert out.status == "sat" and stats.smt_calls == 1 and stats.lps == 1
    assert out.counterexample.source == "z3+lp"
    assert abs(out.counterexample.x[0]) == 1.0  # |x| >= 0.5 deepest at the ends
    _assert_confirmed(net, prop, out.counterexample)
    # no repair confirms: re-solved inside the region
    stats = Stats()
    checker = _Rejecting(net, prop, 1, repairs=False)
    out = smt_decide(net, case, checker, time.monotonic() + 20, stats)
    assert out.status == "sat" and stats.smt_calls == 2
    assert out.counterexample.source == "z3" and "z3+pgd" in checker.sources
    _assert_confirmed(net, prop, out.counterexample)
    out = smt_decide(net, case, _Rejecting(net, prop, 999), time.monotonic() + 20, Stats())
    assert out.status == "unknown" and out.counterexample is None and "confirm" in out.reason
    # a bad region met only on its boundary: the strengthened query is unsat -> unknown
    edge = _case(-1, 1, (GE, [-1.0]))
    out = smt_decide(net, edge, _Rejecting(net, Property((edge,), 1, 1), 1, repairs=False),
                     time.monotonic() + 20, Stats())
    assert out.status == "unknown" and "margin" in out.reason


def test_repair_never_answers_unsat_and_respects_the_deadline():
    """A rejecting checker only ever turns ``sat`` into ``unknown`` or ``timeout``."""
    for seed in range(8):
        inst = random_instance(seed, widths=[6, 5])
        case = inst.prop.cases[0]
        plain, _ = _decide(inst.network, case)
        out = smt_decide(inst.network, case, _Rejecting(inst.network, inst.prop, 10 ** 6),
                         time.monotonic() + 20, Stats())
        assert out.status == ("unsat" if plain.status == "unsat" else "unknown")
    net, case = _hard_query()
    t0 = time.monotonic()
    out = smt_decide(net, case, _Rejecting(net, Property((case,), 10, 1), 10 ** 6),
                     time.monotonic() + 0.5, Stats())
    assert out.status == "timeout" and time.monotonic() - t0 < 1.5


def test_sat_always_confirmed_on_random_instances():
    for seed in range(20):
        inst = random_instance(seed, widths=[8, 6])
        stats = Stats()
        out = smt_verify(inst.network, inst.prop, time.monotonic() + 20, stats,
                         CexChecker(inst.network, inst.prop))
        assert out.status in ("sat", "unsat"), inst.describe()
        assert (out.counterexample is not None) == (out.status == "sat")
        if out.status == "sat":
            _assert_confirmed(inst.network, inst.prop, out.counterexample)


def test_verify_all_cases():
    net = _abs_net()
    no = _case(-0.2, 0.2, (GE, [-0.5]))
    yes = _case(0.4, 0.6, (GE, [-0.5]))
    for cases, want in [((no,), "unsat"), ((no, yes), "sat"), ((), "unsat")]:
        prop = Property(cases, 1, 1)
        out = smt_verify(net, prop, time.monotonic() + 20, Stats(), CexChecker(net, prop))
        assert out.status == want
        if want == "sat":
            assert out.counterexample.case == 1


def _hard_query() -> tuple[Network, Case]:
    """3 x 40 ReLUs, full float64 weights, a threshold below every sampled output."""
    rng = np.random.default_rng(7)
    net = random_network(rng, 10, [40, 40, 40], 1, weight_bits=None)
    x = rng.uniform(-1, 1, (2000, 10))
    v = net.evaluate(x)[:, 0]
    t = v.min() - 0.05 * (v.max() - v.min())
    return net, _case(-np.ones(10), np.ones(10), (LE, [t]))


@pytest.mark.parametrize("budget", [0.0, 0.3, 1.5])
def test_deadline_is_honoured(budget):
    net, case = _hard_query()
    t0 = time.monotonic()
    out, stats = _decide(net, case, budget=budget)
    took = time.monotonic() - t0
    assert out.status == "timeout"
    assert took < budget + 1.0, f"returned {took - budget:.2f} s after the deadline"


@pytest.mark.slow
def test_ctrl_c_during_z3_exits_130_without_an_answer(tmp_path, benchmarks_dir) -> None:
    """SIGINT while z3 works: exit 130 promptly, no results file (z3 used to swallow it
    and answer ``unknown``, exit 20)."""
    import subprocess

    from tests.procs import interrupt

    acas = benchmarks_dir / "acasxu"
    if not (acas / "prop_3.vnnlib").exists():
        pytest.skip("ACAS Xu benchmark data not available")
    res = tmp_path / "res.txt"
    root = Path(__file__).resolve().parents[2]
    p = subprocess.Popen([sys.executable, "-m", "verinet", "verify",
                          str(acas / "ACASXU_run2a_1_1_batch_2000.onnx"), "--vnnlib",
                          str(acas / "prop_3.vnnlib"), "--strategy", "smt", "--no-attack",
                          "--timeout", "60", "--results-file", str(res)],
                         cwd=root, stderr=subprocess.PIPE, text=True)
    time.sleep(4.0)
    rc, err, took = interrupt(p)
    assert rc == 130, err
    assert took < 5.0
    assert not res.exists()
