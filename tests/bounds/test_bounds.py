"""Bounds contain sampled values; CROWN is tighter than intervals; fixed phases; points."""

from __future__ import annotations

import itertools
import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from verinet.bounds import Bounds, crown_bounds, interval_bounds
from verinet.errors import InputError
from verinet.network import Affine, Concat, MaxPool, Network, NetworkBuilder, Relu, Sum

N_SAMPLES = 10_000
ACAS = (Path(os.environ.get("VERINET_BENCHMARKS")
             or Path(__file__).resolve().parents[3] / "shared" / "benchmarks")
        / "acasxu" / "ACASXU_run2a_1_1_batch_2000.onnx")


# ---------------------------------------------------------------- networks
def layered(sizes: list[int], seed: int) -> Network:
    rng = np.random.default_rng(seed)
    nb = NetworkBuilder()
    nb.add_input("x", (sizes[0],))
    prev = "x"
    for i, (n, m) in enumerate(itertools.pairwise(sizes)):
        W = rng.normal(0, 1.0 / np.sqrt(n), (m, n))
        nb.add(f"a{i}", Affine((prev,), m, W=W, b=rng.normal(0, 0.3, m)), (m,))
        prev = f"a{i}"
        if i < len(sizes) - 2:
            nb.add(f"r{i}", Relu((prev,), m), (m,))
            prev = f"r{i}"
    return nb.finish(prev, name=f"layered{sizes}")


def dag(seed: int) -> Network:
    """Residual Sum, Concat, an overlapping padded MaxPool feeding a Relu, sparse W."""
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)

    def aff(src: str, m: int, n: int, sparse: bool = False) -> Affine:
        W = rng.normal(0, 1.0 / np.sqrt(n), (m, n))
        if sparse:
            W[rng.uniform(size=W.shape) < 0.5] = 0.0
            W = sp.csr_array(W)
        return Affine((src,), m, W=W, b=rng.normal(0, 0.3, m))

    nb = NetworkBuilder()
    nb.add_input("x", (4,))
    nb.add("h", aff("x", 6, 4), (6,))
    nb.add("r1", Relu(("h",), 6), (6,))
    nb.add("a2", aff("r1", 6, 6, sparse=True), (6,))
    nb.add("s", Sum(("a2", "h"), 6), (6,))
    nb.add("r2", Relu(("s",), 6), (6,))
    nb.add("c", Concat(("r2", "r1"), 12), (12,))
    nb.add("a3", aff("c", 8, 12), (8,))
    windows = np.array([[0, 1, 2], [2, 3, -1], [3, 4, 5], [5, 6, 7], [7, 0, -1]])
    nb.add("mp", MaxPool(("a3",), 5, windows=windows), (5,))
    nb.add("r3", Relu(("mp",), 5), (5,))
    nb.add("s2", Sum(("r3", "mp"), 5), (5,))
    nb.add("y", aff("s2", 3, 5), (3,))
    return nb.finish("y", name="dag", simplify=False)


NETS = {
    "deep": lambda: layered([3, 12, 12, 12, 12, 4], 0),
    "wide": lambda: layered([5, 40, 30, 5], 1),
    "single_affine": lambda: layered([4, 3], 2),
    "dag": lambda: dag(3),
    "dag2": lambda: dag(4),
}


# ---------------------------------------------------------------- helpers
def boxes(n: int, B: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    c = rng.uniform(-1, 1, (B, n))
    w = rng.uniform(0, 0.6, (B, n))
    w[rng.uniform(size=(B, n)) < 0.25] = 0.0  # degenerate dimensions
    w[0] = 0.0  # one point box
    return c - w, c + w


def samples(lo: np.ndarray, hi: np.ndarray, count: int, seed: int) -> np.ndarray:
    """``count`` uniform points of one box plus all its corners."""
    rng = np.random.default_rng(seed)
    n = lo.shape[0]
    pts = lo + (hi - lo) * rng.uniform(size=(count, n))
    if n <= 6:
        bits = np.array(list(itertools.product((0.0, 1.0), repeat=n)))
        pts = np.concatenate([pts, lo + (hi - lo) * bits])
    return pts


def tol(v: np.ndarray) -> np.ndarray:
    """The float evaluation of a sample is not its real value: allow its rounding."""
    return 1e-9 * (1.0 + np.abs(v))


def assert_contains(b: Bounds, net: Network, box: int, vals: dict[str, np.ndarray],
                    C: np.ndarray | None = None, mask: np.ndarray | None = None) -> None:
    for name, v in vals.items():
        v = v if mask is None else v[mask]
        lo, hi = b.lower[name][box], b.upper[name][box]
        assert (lo <= v + tol(v)).all(), f"{b.method}: node {name} below lower bound"
        assert (v <= hi + tol(v)).all(), f"{b.method}: node {name} above upper bound"
    if C is not None:
        y = vals[net.output_name] if mask is None else vals[net.output_name][mask]
        cy = y @ C[box].T
        assert (b.out_lower[box] <= cy + tol(cy)).all()
        assert (cy <= b.out_upper[box] + tol(cy)).all()


# ---------------------------------------------------------------- containment
@pytest.mark.parametrize("key", sorted(NETS))
def test_bounds_contain_samples(key: str) -> None:
    net = NETS[key]()
    B = 6
    lo, hi = boxes(net.n_inputs, B, seed=hash(key) % 1000)
    C = np.random.default_rng(7).normal(size=(B, 3, net.n_outputs))
    ib = interval_bounds(net, lo, hi, C)
    cb = crown_bounds(net, lo, hi, C)
    assert cb.lower_A.shape == (B, 3, net.n_inputs) and cb.lower_b.shape == (B, 3)
    assert not cb.infeasible.any() and not ib.infeasible.any()
    for box in range(B):
        x = samples(lo[box], hi[box], N_SAMPLES // B, seed=box)
        vals = net.evaluate_all(x)
        assert_contains(ib, net, box, vals, C)
        assert_contains(cb, net, box, vals, C)
        # the linear bounds w.r.t. the input hold pointwise
        cy = vals[net.output_name] @ C[box].T
        lin_lo = x @ cb.lower_A[box].T + cb.lower_b[box]
        lin_hi = x @ cb.upper_A[box].T + cb.upper_b[box]
        assert (lin_lo <= cy + tol(cy)).all() and (cy <= lin_hi + tol(cy)).all()


@pytest.mark.parametrize("key", sorted(NETS))
def test_lower_only_gives_the_rows_own_bounds_for_less_work(key: str) -> None:
    """``lower_only``: the linear lower bounds of ``C @ y`` are those of the full pass (the
    same rows; BLAS may block fewer rows differently, hence the ulp tolerance); the full
    pass can only be tighter (it also bounds the output itself), and both contain
    every sample."""
    net = NETS[key]()
    B = 5
    lo, hi = boxes(net.n_inputs, B, seed=sum(map(ord, key)))
    C = np.random.default_rng(3).normal(size=(B, 3, net.n_outputs))
    full = crown_bounds(net, lo, hi, C)
    low = crown_bounds(net, lo, hi, C, lower_only=True)
    for got, want in ((low.lower_A, full.lower_A), (low.lower_b, full.lower_b)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert (low.out_lower <= full.out_lower + 1e-12).all()
    assert low.upper_A is None and low.upper_b is None
    assert (low.out_upper >= full.out_upper).all()
    for box in range(B):
        vals = net.evaluate_all(samples(lo[box], hi[box], 200, seed=box))
        assert_contains(low, net, box, vals, C)


def test_crown_linear_bounds_describe_output_without_C() -> None:
    net = NETS["deep"]()
    lo, hi = boxes(3, 4, 11)
    cb = crown_bounds(net, lo, hi)
    assert cb.out_lower is None and cb.lower_A.shape == (4, net.n_outputs, 3)
    for box in range(4):
        x = samples(lo[box], hi[box], 500, box)
        y = net.evaluate(x)
        assert (x @ cb.lower_A[box].T + cb.lower_b[box] <= y + tol(y)).all()
        assert (y <= x @ cb.upper_A[box].T + cb.upper_b[box] + tol(y)).all()


@pytest.mark.parametrize("key", ["deep", "wide"])
def test_crown_at_least_as_tight_as_interval(key: str) -> None:
    net = NETS[key]()
    lo, hi = boxes(net.n_inputs, 20, 5)
    C = np.random.default_rng(1).normal(size=(2, net.n_outputs))
    ib, cb = interval_bounds(net, lo, hi, C), crown_bounds(net, lo, hi, C)
    for name in ib.lower:
        assert (cb.lower[name] >= ib.lower[name] - tol(ib.lower[name])).all(), name
        assert (cb.upper[name] <= ib.upper[name] + tol(ib.upper[name])).all(), name
    assert (cb.out_lower >= ib.out_lower - tol(ib.out_lower)).all()
    assert (cb.out_upper <= ib.out_upper + tol(ib.out_upper)).all()
    # and strictly tighter somewhere on the output
    y = net.output_name
    assert ((cb.upper[y] - cb.lower[y]) < 0.99 * (ib.upper[y] - ib.lower[y])).any()


# ---------------------------------------------------------------- fixed phases
def _phases_at(net: Network, x0: np.ndarray, frac: float, seed: int) -> dict[str, np.ndarray]:
    """Phases of a random subset of ReLUs, read from the points ``x0`` ``(B, n)``."""
    rng = np.random.default_rng(seed)
    vals = net.evaluate_all(x0)
    fixed = {}
    for name, op in net.plan:
        if isinstance(op, Relu):
            z = vals[op.inputs[0]]
            ph = np.where(z >= 0, 1, -1).astype(np.int8)
            ph[rng.uniform(size=ph.shape) > frac] = 0
            fixed[name] = ph
    return fixed


def _respects(net: Network, vals: dict[str, np.ndarray], fixed: dict[str, np.ndarray],
              box: int) -> np.ndarray:
    ok = np.ones(next(iter(vals.values())).shape[0], dtype=bool)
    for name, ph in fixed.items():
        z = vals[net.op(name).inputs[0]]
        ok &= ((ph[box] <= 0) | (z >= 0)).all(axis=1) & ((ph[box] >= 0) | (z <= 0)).all(axis=1)
    return ok


@pytest.mark.parametrize("key", ["deep", "wide", "dag"])
def test_fixed_phases_sound_and_never_looser(key: str) -> None:
    net = NETS[key]()
    B = 5
    lo, hi = boxes(net.n_inputs, B, 21)
    rng = np.random.default_rng(3)
    x0 = lo + (hi - lo) * rng.uniform(size=lo.shape)
    fixed = _phases_at(net, x0, 0.3, seed=4)
    C = rng.normal(size=(2, net.n_outputs))
    ib0 = interval_bounds(net, lo, hi, C)
    cb0 = crown_bounds(net, lo, hi, C)
    ib = interval_bounds(net, lo, hi, C, fixed=fixed)
    cb = crown_bounds(net, lo, hi, C, fixed=fixed, prior=cb0)
    cb_plain = crown_bounds(net, lo, hi, C, fixed=fixed)
    used = 0
    for box in range(B):
        x = np.concatenate([x0[box:box + 1], samples(lo[box], hi[box], 4000, box)])
        vals = net.evaluate_all(x)
        mask = _respects(net, vals, fixed, box)
        assert mask[0]
        used += int(mask.sum())
        for b in (ib, cb, cb_plain):
            assert_contains(b, net, box, vals, np.broadcast_to(C, (B,) + C.shape), mask)
    assert used >= B
    for name in cb0.lower:
        # exact with a prior; intervals are monotone up to their rounding margins
        assert (cb.lower[name] >= cb0.lower[name]).all(), name
        assert (cb.upper[name] <= cb0.upper[name]).all(), name
        assert (ib.lower[name] >= ib0.lower[name] - tol(ib0.lower[name])).all(), name
        assert (ib.upper[name] <= ib0.upper[name] + tol(ib0.upper[name])).all(), name
    assert (cb.out_lower >= cb0.out_lower).all() and (cb.out_upper <= cb0.out_upper).all()
    assert (ib.out_lower >= ib0.out_lower - tol(ib0.out_lower)).all()


def test_contradictory_phases_flag_infeasible() -> None:
    net = NETS["deep"]()
    lo, hi = boxes(3, 3, 2)
    z = net.evaluate_all(lo)["a0"]
    # force the first neuron of the first layer to the phase opposite to a clear sign
    j = int(np.argmax(np.abs(z[0])))
    ph = np.zeros((3, 12), dtype=np.int8)
    hi[0] = lo[0]  # a point box: its pre-activation sign is known
    ph[0, j] = -1 if z[0, j] > 0 else 1
    b = crown_bounds(net, lo, hi, fixed={"r0": ph})
    assert b.infeasible[0] and not b.infeasible[1:].any()


# ---------------------------------------------------------------- points and rounding
@pytest.mark.parametrize("key", sorted(NETS))
def test_point_box_collapses(key: str) -> None:
    net = NETS[key]()
    x = np.random.default_rng(9).uniform(-1, 1, (4, net.n_inputs))
    vals = net.evaluate_all(x)
    for b in (interval_bounds(net, x, x), crown_bounds(net, x, x)):
        for name, v in vals.items():
            assert (b.lower[name] <= v + tol(v)).all() and (v <= b.upper[name] + tol(v)).all()
            width = b.upper[name] - b.lower[name]
            assert (width <= 1e-10 * (1 + np.abs(v))).all(), (b.method, name, width.max())


def _exact_eval(net: Network, x: np.ndarray) -> list[Fraction]:
    """Real-arithmetic value of a layered network at a float point (weights read exactly)."""
    v = [Fraction(float(t)) for t in x]
    for _, op in net.plan[1:]:
        if isinstance(op, Affine):
            W = op.dense_W()
            v = [sum((Fraction(float(W[i, j])) * v[j] for j in range(len(v))),
                     Fraction(float(op.b[i]))) for i in range(op.size)]
        else:
            v = [max(t, Fraction(0)) for t in v]
    return v


def test_bounds_contain_exact_real_values() -> None:
    """No tolerance: compare with exact rational evaluation at box points."""
    net = layered([3, 8, 8, 2], 13)
    lo, hi = boxes(3, 4, 17)
    C = np.array([[1.0, -1.0]])
    bs = [interval_bounds(net, lo, hi, C), crown_bounds(net, lo, hi, C)]
    for box in range(4):
        for x in samples(lo[box], hi[box], 6, box):
            y = _exact_eval(net, x)
            for b in bs:
                for i in range(2):
                    assert Fraction(float(b.lower["a2"][box, i])) <= y[i]
                    assert y[i] <= Fraction(float(b.upper["a2"][box, i]))
                margin = y[0] - y[1]
                assert Fraction(float(b.out_lower[box, 0])) <= margin
                assert margin <= Fraction(float(b.out_upper[box, 0]))


# ---------------------------------------------------------------- misc
def test_take_and_bad_input() -> None:
    net = NETS["deep"]()
    lo, hi = boxes(3, 4, 1)
    b = crown_bounds(net, lo, hi, np.eye(4)[:2])
    t = b.take(np.array([2, 2, 0]))
    assert t.batch == 3 and t.out_lower.shape == (3, 2)
    np.testing.assert_array_equal(t.lower["a1"][0], b.lower["a1"][2])
    with pytest.raises(InputError):
        crown_bounds(net, hi, lo - 1)
    with pytest.raises(InputError):
        crown_bounds(net, lo, hi, fixed={"a0": np.zeros((4, 12))})
    with pytest.raises(InputError):
        interval_bounds(net, lo[:, :2], hi[:, :2])


@pytest.mark.skipif(not ACAS.exists(), reason="ACAS Xu benchmark not available")
def test_acas_crown_contains_samples() -> None:
    from verinet.network.onnx_import import load_onnx

    net = load_onnx(ACAS)
    lo, hi = boxes(5, 50, 3)
    lo, hi = np.clip(lo, -0.5, 0.5), np.clip(hi, -0.5, 0.5)
    C = np.array([[1.0, -1, 0, 0, 0], [1, 0, -1, 0, 0]])
    b = crown_bounds(net, lo, hi, C)
    for box in range(0, 50, 5):
        x = samples(lo[box], hi[box], 1000, box)
        assert_contains(b, net, box, net.evaluate_all(x), np.broadcast_to(C, (50, 2, 5)))


def _pooled(seed: int) -> Network:
    """Affine(x) -> Relu -> MaxPool (overlapping, padded) -> Relu -> Affine: the Relu and
    MaxPool nodes are entrywise maps of one affine function of the input each."""
    rng = np.random.default_rng(seed)
    nb = NetworkBuilder()
    nb.add_input("x", (4,))
    nb.add("h", Affine(("x",), 8, W=rng.normal(0, 1, (8, 4)), b=rng.normal(0, 0.3, 8)), (8,))
    nb.add("r", Relu(("h",), 8), (8,))
    windows = np.array([[0, 1, 2], [2, 3, -1], [3, 4, 5], [5, 6, 7], [7, 0, -1]])
    nb.add("mp", MaxPool(("r",), 5, windows=windows), (5,))
    nb.add("r2", Relu(("mp",), 5), (5,))
    nb.add("y", Affine(("r2",), 3, W=rng.normal(0, 1, (3, 5)), b=np.zeros(3)), (3,))
    return nb.finish("y", name="pooled", simplify=False)


@pytest.mark.parametrize("seed", range(4))
def test_interval_tight_nodes_skip_back_substitution_and_lose_nothing(seed, monkeypatch):
    """Nodes whose interval bound is exact (Relu/MaxPool of one affine function of the
    input each) are not back-substituted; the bounds are the same as with it."""
    import verinet.bounds.crown as crown

    net = _pooled(seed)
    assert crown._interval_tight(net) == {"x", "h", "r", "mp", "r2"}
    assert crown._targets(net) == {}
    lo, hi = boxes(4, 16, seed)
    C = np.random.default_rng(seed).normal(size=(2, 3))
    fast = crown_bounds(net, lo, hi, C)
    monkeypatch.setattr(crown, "_interval_tight", lambda net: {net.input_name})
    slow = crown_bounds(net, lo, hi, C)
    for name in net.graph.nodes:
        np.testing.assert_allclose(fast.lower[name], slow.lower[name], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(fast.upper[name], slow.upper[name], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fast.out_lower, slow.out_lower, rtol=1e-9, atol=1e-12)
    x = samples(lo[0], hi[0], 500, seed)
    assert_contains(fast, net, 0, net.evaluate_all(x))
