"""LP encoding on tiny nets with hand-checked answers; chords; the row numbering rule."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from verinet.bounds import crown_bounds
from verinet.config import LPConfig
from verinet.constraints import Encoding, QueryLP, ReluConstraint, triangle_chord
from verinet.constraints.relu import Phase
from verinet.lp import LPStatus
from verinet.network.ir import NetworkBuilder
from verinet.network.ops import Affine, Concat, Relu, Sum
from verinet.spec.property import Conjunction


def _two_relu_net(c: tuple[float, float]):
    """y = c0 relu(x1 + x2) + c1 relu(x1 - x2)."""
    nb = NetworkBuilder()
    nb.add_input("x", (2,))
    nb.add("z", Affine(("x",), 2, W=np.array([[1.0, 1.0], [1.0, -1.0]]), b=np.zeros(2)), (2,))
    nb.add("r", Relu(("z",), 2), (2,))
    nb.add("y", Affine(("r",), 1, W=np.array([list(c)]), b=np.zeros(1)), (1,))
    return nb.finish("y")


def _lp_max_y(net, fixed=None) -> float:
    """max y over the LP of the box [-1, 1]^2: bad row -y <= 0, min t gives t* = -max y."""
    lo, hi = -np.ones(2), np.ones(2)
    fx = None if fixed is None else {"r": np.array([fixed], dtype=np.int8)}
    b = crown_bounds(net, lo, hi, np.array([[-1.0]]), fixed=fx)
    enc = Encoding(net)
    q = QueryLP(enc, Conjunction(np.array([[-1.0]]), np.zeros(1)), LPConfig(), t_lower=-100.0)
    q.build(b)
    q.enter(0, b, {} if fx is None else fx)
    res = q.solve(None)
    assert res.status is LPStatus.OPTIMAL
    return -res.objective


def test_triangle_relaxation_hand_values() -> None:
    # relu(x1+x2) + relu(x1-x2) on [-1,1]^2: exact max 2, triangle max (a+2)/2 + (b+2)/2 = x1+2 = 3
    net = _two_relu_net((1.0, 1.0))
    assert _lp_max_y(net) == pytest.approx(3.0, abs=1e-7)
    # fixed phases make the LP exact: both active -> y = 2 x1 with x1 >= |x2| -> max 2
    assert _lp_max_y(net, fixed=[1, 1]) == pytest.approx(2.0, abs=1e-7)
    # one active, one inactive: y = x1 + x2 with x1 <= x2 -> max 2 at (1, 1)
    assert _lp_max_y(net, fixed=[1, -1]) == pytest.approx(2.0, abs=1e-7)
    # both inactive: y = 0
    assert _lp_max_y(net, fixed=[-1, -1]) == pytest.approx(0.0, abs=1e-7)


def test_difference_of_relus_hand_values() -> None:
    # y = relu(x1+x2) - relu(x1-x2): the triangle gives max x2 + 1 - ... ; exact max 2 at (1, 1)
    # LP: post_a <= (a + 2)/2, post_b >= max(0, b): y <= (x1 + x2 + 2)/2 - max(0, x1 - x2)
    # maximised at x1 = x2 = 1: 2.  Min of y: -(max) of the mirrored net = -2.
    net = _two_relu_net((1.0, -1.0))
    assert _lp_max_y(net) == pytest.approx(2.0, abs=1e-7)
    mirrored = _two_relu_net((-1.0, 1.0))
    assert _lp_max_y(mirrored) == pytest.approx(2.0, abs=1e-7)


def test_chord_is_above_relu_exactly() -> None:
    rng = np.random.default_rng(0)
    l = -np.exp(rng.uniform(-20, 5, 2000))
    u = np.exp(rng.uniform(-20, 5, 2000))
    s, t = triangle_chord(l, u)
    for li, ui, si, ti in zip(l[:300], u[:300], s[:300], t[:300]):
        L, U, S, T = (Fraction(float(v)) for v in (li, ui, si, ti))
        assert S * L + T >= 0 and S * U + T >= U
    assert np.all(t <= 1e-12 + 1e-9 * (-l * u / (u - l)) + -l * u / (u - l))  # barely looser


def test_relu_constraint_view() -> None:
    c = ReluConstraint("r", 0, pre=3, post=7)
    assert c.phase(-1.0, 2.0) is Phase.FREE
    assert c.phase(0.5, 2.0) is Phase.ACTIVE and c.phase(-2.0, 0.0) is Phase.INACTIVE
    assert c.phase(-1.0, 2.0, fixed=-1) is Phase.INACTIVE
    active, inactive = c.case_splits()
    assert active.phase is Phase.ACTIVE and {(t.column, t.kind) for t in active.tightenings} \
        == {(3, "lower"), (7, "lower")}
    assert {(t.column, t.kind, t.value) for t in inactive.tightenings} \
        == {(3, "upper", 0.0), (7, "upper", 0.0)}
    assert c.row(0.5, 2.0) == ({7: 1.0, 3: -1.0}, 0.0)
    assert c.row(-2.0, -1.0) is None
    coef, rhs = c.row(-1.0, 3.0)
    assert coef[7] == 1.0 and coef[3] == pytest.approx(-0.75) and rhs >= 0.75


def test_numbering_rule_and_frames() -> None:
    """Columns: x, then Affine/Sum/Relu nodes in plan order, Concat aliasing, t last.
    Rows: network, ReLU lower, bad rows, then frames that pop on backtracking."""
    nb = NetworkBuilder()
    nb.add_input("x", (2,))
    nb.add("a", Affine(("x",), 2, W=np.array([[1.0, 2.0], [-1.0, 1.0]]), b=np.ones(2)), (2,))
    nb.add("r", Relu(("a",), 2), (2,))
    nb.add("c", Concat(("r", "x"), 4), (4,))
    nb.add("s", Sum(("r", "x"), 2), (2,))
    nb.add("cs", Concat(("c", "s", "x"), 8), (8,))  # x read twice: coefficients add up
    nb.add("y", Affine(("cs",), 1, W=np.ones((1, 8)), b=np.zeros(1)), (1,))
    net = nb.finish("y", simplify=False)
    enc = Encoding(net)
    assert list(enc.cols["x"]) == [0, 1] and list(enc.cols["a"]) == [2, 3]
    assert list(enc.cols["r"]) == [4, 5] and list(enc.cols["c"]) == [4, 5, 0, 1]
    assert list(enc.cols["s"]) == [6, 7] and list(enc.cols["y"]) == [8]
    assert enc.t_col == 9 and enc.n_cols == 10
    A, lo, hi = enc.network_rows()
    assert A.shape == (2 + 2 + 1, 10) and np.array_equal(lo, hi)
    assert A[0].toarray().tolist() == [[-1, -2, 1, 0, 0, 0, 0, 0, 0, 0]]
    assert A[4].toarray().tolist() == [[-2, -2, 0, 0, -1, -1, -1, -1, 1, 0]]
    conj = Conjunction(np.array([[1.0]]), np.array([0.5]))
    b = crown_bounds(net, -np.ones(2), np.ones(2), conj.A_out)
    q = QueryLP(enc, conj, LPConfig(), -10.0)
    q.build(b)
    assert q.base_rows == 5 + 2 + 1
    q.enter(0, b, {})
    n0 = q.lp.n_rows
    assert len(q.row_log) == n0 - q.base_rows
    fixed = {"r": np.array([[1, 0]], dtype=np.int8)}
    b1 = crown_bounds(net, -np.ones(2), np.ones(2), conj.A_out, fixed=fixed, prior=b)
    q.enter(1, b1, fixed)
    assert q.lp.n_rows > n0 and q.row_log[-1].frame == 1
    q.enter(1, b1, fixed)  # a sibling at the same depth replaces the frame
    n1 = q.lp.n_rows
    q.enter(0, b, {})
    assert q.lp.n_rows == n0 < n1 and all(r.frame == 0 for r in q.row_log)
    assert q.builds == 1
