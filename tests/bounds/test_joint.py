"""Joint bounds of conjunctions: sound on sampled points, never worse after the ascent."""

from __future__ import annotations

import numpy as np
import pytest

from verinet.bounds import crown_bounds
from verinet.bounds.joint import chain_of, joint_bounds
from verinet.network import Affine, NetworkBuilder, Relu, Sum


def _chain(sizes, seed):
    rng = np.random.default_rng(seed)
    nb = NetworkBuilder()
    nb.add_input("x", (sizes[0],))
    prev = "x"
    for i in range(len(sizes) - 1):
        n, m = sizes[i], sizes[i + 1]
        nb.add(f"a{i}", Affine((prev,), m, W=rng.normal(0, 1 / np.sqrt(n), (m, n)),
                               b=rng.normal(0, 0.3, m)), (m,))
        prev = f"a{i}"
        if i < len(sizes) - 2:
            nb.add(f"r{i}", Relu((prev,), m), (m,))
            prev = f"r{i}"
    return nb.finish(prev, name="chain")


def _residual(seed):
    """Not a chain: a Sum skips a layer (the ascent does not run, the bound must hold)."""
    rng = np.random.default_rng(seed)
    nb = NetworkBuilder()
    nb.add_input("x", (4,))
    nb.add("a0", Affine(("x",), 8, W=rng.normal(0, 0.5, (8, 4)), b=rng.normal(0, .3, 8)), (8,))
    nb.add("r0", Relu(("a0",), 8), (8,))
    nb.add("a1", Affine(("r0",), 8, W=rng.normal(0, 0.4, (8, 8)), b=rng.normal(0, .3, 8)), (8,))
    nb.add("s", Sum(("a1", "a0"), 8), (8,))
    nb.add("r1", Relu(("s",), 8), (8,))
    nb.add("out", Affine(("r1",), 3, W=rng.normal(0, 0.4, (3, 8)), b=np.zeros(3)), (3,))
    return nb.finish("out", name="residual")


def _query(net, seed, P=40):
    rng = np.random.default_rng(seed)
    n, m = net.n_inputs, net.n_outputs
    centre = rng.uniform(-1, 1, (P, n))
    rad = rng.uniform(0.05, 0.6, (P, n))
    lo, hi = centre - rad, centre + rad
    K = 3
    C_out = rng.normal(0, 1, (K, m))
    C_in = np.where(rng.random((K, n)) < 0.3, rng.normal(0, 0.3, (K, n)), 0.0)
    # right-hand sides near the rows' values at the box centres: conjunctions that are
    # sometimes infeasible, and often not by any single row
    y = net.evaluate(centre)
    b = (y @ C_out.T + centre @ C_in.T).mean(axis=0) - 0.2
    member = rng.random((P, K)) < 0.7
    member[np.arange(P), rng.integers(0, K, P)] = True
    return lo, hi, C_out, C_in, b, member


def _samples(net, lo, hi, rng, n=400):
    x = lo + (hi - lo) * rng.random((n, lo.size))
    corners = np.where(rng.random((n // 4, lo.size)) < 0.5, lo, hi)
    x = np.concatenate([x, corners])
    return x, net.evaluate(x)


@pytest.mark.parametrize("make", [lambda s: _chain([5, 12, 12, 10, 4], s),
                                  lambda s: _chain([3, 20, 3], s), _residual])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_joint_bound_holds_on_samples(make, seed):
    net = make(seed)
    lo, hi, C_out, C_in, b, member = _query(net, seed)
    bd = crown_bounds(net, lo, hi, C_out)
    rng = np.random.default_rng(seed + 100)
    box_of = np.arange(lo.shape[0])
    for iters in (0, 30):
        val, A, c, lam = joint_bounds(net, bd, lo, hi, C_out, C_in, b, box_of, member,
                                      iters=iters)
        assert (lam >= 0).all() and not lam[~member].any()
        for p in range(lo.shape[0]):
            x, y = _samples(net, lo[p], hi[p], rng)
            f = (y @ C_out.T + x @ C_in.T - b) @ lam[p]
            assert (f >= val[p]).all(), (iters, p, f.min(), val[p])
            assert (f >= x @ A[p] + c[p] - 1e-12 * (1 + np.abs(f))).all()
            sat_all = ((y @ C_out.T + x @ C_in.T - b)[:, member[p]] <= 0).all(axis=1)
            assert not (sat_all.any() and val[p] > 0)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_ascent_never_loses_and_often_wins(seed):
    net = _chain([5, 16, 16, 16, 4], seed)
    assert chain_of(net) is not None
    lo, hi, C_out, C_in, b, member = _query(net, seed, P=60)
    bd = crown_bounds(net, lo, hi, C_out)
    box_of = np.arange(lo.shape[0])
    v0 = joint_bounds(net, bd, lo, hi, C_out, C_in, b, box_of, member, iters=0)[0]
    v1 = joint_bounds(net, bd, lo, hi, C_out, C_in, b, box_of, member, iters=40)[0]
    assert (v1 >= v0 - 1e-9 * (1 + np.abs(v0))).all()
    assert (v1 > v0 + 1e-6).mean() > 0.3


def test_joint_row_closes_what_no_single_row_does():
    """``d <= t`` and ``d >= t + 0.1`` for ``d = y0 - y1``: each row alone holds somewhere
    in the box, together they hold nowhere; the joint bound proves it."""
    net = _chain([2, 6, 2], 5)
    lo, hi = np.array([[-1.0, -1.0]]), np.array([[1.0, 1.0]])
    x = np.random.default_rng(0).uniform(-1, 1, (2000, 2))
    d = net.evaluate(x) @ np.array([1.0, -1.0])
    t = float(np.median(d))
    assert (d < t).any() and (d > t + 0.1).any()
    C_out = np.array([[1.0, -1.0], [-1.0, 1.0]])
    b = np.array([t, -t - 0.1])
    bd = crown_bounds(net, lo, hi, C_out)
    assert not (bd.out_lower - b > 0).any()
    val = joint_bounds(net, bd, lo, hi, C_out, np.zeros((2, 2)), b, np.array([0]),
                       np.ones((1, 2), dtype=bool), iters=30)[0]
    assert val[0] > 0


def _phases(net, lo, hi, seed, splits=3):
    """Per box, ``splits`` random unstable neurons fixed to random phases (int8 arrays)."""
    rng = np.random.default_rng(seed)
    bd = crown_bounds(net, lo, hi)
    relus = [(n, op.inputs[0]) for n, op in net.plan if isinstance(op, Relu)]
    fixed = {n: np.zeros((lo.shape[0], net.op(n).size), dtype=np.int8) for n, _ in relus}
    for p in range(lo.shape[0]):
        cand = [(n, j) for n, src in relus
                for j in np.flatnonzero((bd.lower[src][p] < 0) & (bd.upper[src][p] > 0))]
        for k in rng.permutation(len(cand))[:splits]:
            n, j = cand[k]
            fixed[n][p, j] = rng.choice([-1, 1])
    return fixed


def _in_domain(net, x, fixed, p):
    """Which sample points satisfy box ``p``'s phases (real pre-activations)."""
    vals = net.evaluate_all(x)
    ok = np.ones(x.shape[0], dtype=bool)
    for n, ph in fixed.items():
        z = vals[net.op(n).inputs[0]]
        ok &= np.where(ph[p] > 0, z >= 0, True).all(axis=1)
        ok &= np.where(ph[p] < 0, z <= 0, True).all(axis=1)
    return ok


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_beta_bound_holds_on_the_split_domain(seed):
    """With split phases and their multipliers (beta), the bound holds on every sampled
    point that satisfies the phases, and it beats the bound without beta somewhere."""
    net = _chain([4, 12, 12, 3], seed)
    lo, hi, C_out, C_in, b, member = _query(net, seed, P=30)
    fixed = _phases(net, lo, hi, seed)
    bd = crown_bounds(net, lo, hi, C_out, fixed=fixed)
    box_of = np.arange(lo.shape[0])
    rng = np.random.default_rng(seed + 7)
    plain = joint_bounds(net, bd, lo, hi, C_out, C_in, b, box_of, member, iters=30)[0]
    val, A, c, lam = joint_bounds(net, bd, lo, hi, C_out, C_in, b, box_of, member,
                                  iters=30, fixed=fixed)
    checked = 0
    for p in range(lo.shape[0]):
        if bd.infeasible[p]:
            continue
        x, _ = _samples(net, lo[p], hi[p], rng, n=4000)
        keep = _in_domain(net, x, fixed, p)
        x = x[keep]
        checked += x.shape[0]
        y = net.evaluate(x)
        f = (y @ C_out.T + x @ C_in.T - b) @ lam[p]
        assert (f >= val[p]).all(), (p, f.min(), val[p])
        assert (f >= x @ A[p] + c[p] - 1e-12 * (1 + np.abs(f))).all()
    assert checked > 1000
    assert (val > plain + 1e-6).any()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_optimised_intermediate_bounds_hold_and_never_loosen(seed):
    from verinet.bounds.joint import optimise_intermediate

    net = _chain([4, 16, 16, 16, 3], seed)
    rng = np.random.default_rng(seed)
    c = rng.uniform(-1, 1, 4)
    lo, hi = (c - 0.5)[None], (c + 0.5)[None]
    C = rng.normal(0, 1, (2, 3))
    bd = crown_bounds(net, lo, hi, C)
    opt = optimise_intermediate(net, bd, lo, hi, iters=30, C=C)
    x, _ = _samples(net, lo[0], hi[0], rng, n=3000)
    vals = net.evaluate_all(x)
    tighter = 0.0
    for _name, op in net.plan:
        if isinstance(op, Relu):
            src = op.inputs[0]
            assert (opt.lower[src] >= bd.lower[src]).all()
            assert (opt.upper[src] <= bd.upper[src]).all()
            assert (vals[src] >= opt.lower[src]).all() and (vals[src] <= opt.upper[src]).all()
            tighter += float((bd.upper[src] - bd.lower[src]).sum()
                             - (opt.upper[src] - opt.lower[src]).sum())
    y = net.evaluate(x) @ C.T
    assert (y >= opt.out_lower).all() and (y <= opt.out_upper).all()
    assert tighter > 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_split_trials_match_a_full_pass_on_each_child(seed):
    """The trial value of each candidate's child (a pass started at the candidate's Relu)
    equals a whole float64 backward pass on that child at the same slopes and multipliers
    (to float32 precision: the trials run in float32)."""
    from verinet.bounds.joint import _ascend, split_trials

    net = _chain([4, 10, 10, 10, 3], seed)
    lo, hi, C_out, C_in, b, _ = _query(net, seed, P=12)
    C_out, C_in, b = C_out[:2], C_in[:2], b[:2]
    fixed = _phases(net, lo, hi, seed, splits=2)
    bd = crown_bounds(net, lo, hi, C_out, fixed=fixed)
    P = lo.shape[0]
    chain = chain_of(net)
    relus = [(n, op.inputs[0]) for n, op in net.plan if isinstance(op, Relu)]
    state = {"alpha": {}, "beta": {}}
    joint_bounds(net, bd, lo, hi, C_out, C_in, b, np.arange(P), np.ones((P, 2), bool),
                 iters=5, fixed=fixed, state=state)
    signs = {n: v.astype(np.float64) for n, v in fixed.items() if v.any()}
    free = {n: (fixed[n] == 0) & (bd.lower[s] < 0) & (bd.upper[s] > 0) for n, s in relus}

    def choose(coef):
        assert set(coef) == {n for n, _ in relus}
        layer = np.full((P, 3), -1)
        index = np.zeros((P, 3), dtype=int)
        for p in range(P):
            cand = [(li, j) for li, (n, _) in enumerate(relus)
                    for j in np.flatnonzero(free[n][p])]
            for c, (li, j) in enumerate(cand[:3]):
                layer[p, c], index[p, c] = li, j
        return layer, index

    layer, index, val = split_trials(chain, lo, hi, bd.lower, bd.upper, C_out, C_in, b,
                                     signs, state, choose)
    checked = 0
    for p in range(P):
        for c in range(3):
            if layer[p, c] < 0:
                assert np.isneginf(val[p, c]).all()
                continue
            n, src = relus[layer[p, c]]
            j = index[p, c]
            for side, ph in ((0, 1), (1, -1)):
                lower = {k: v[p:p + 1].copy() for k, v in bd.lower.items()}
                upper = {k: v[p:p + 1].copy() for k, v in bd.upper.items()}
                if ph > 0:
                    lower[src][0, j] = max(lower[src][0, j], 0.0)
                else:
                    upper[src][0, j] = min(upper[src][0, j], 0.0)
                sg = {k: v[p:p + 1].copy() for k, v in fixed.items()}
                sg[n][0, j] = ph
                sg = {k: v.astype(np.float64) for k, v in sg.items() if v.any()}
                start = {part: {k: v[p:p + 1] for k, v in state[part].items()}
                         for part in state}
                lam, alpha, beta = _ascend(chain, lo[p:p + 1], hi[p:p + 1], lower, upper,
                                           C_out, C_in, b, np.ones((1, 2), bool), 1, 0.0,
                                           sg, start)
                # the same value, computed by the sound bound's own code path
                ref = _value(net, lower, upper, lo[p:p + 1], hi[p:p + 1], C_out, C_in, b,
                             lam, alpha, beta, sg)
                assert val[p, c, side] == pytest.approx(ref, rel=1e-4, abs=1e-4)  # float32
                checked += 1
    assert checked > 20


def _value(net, lower, upper, lo, hi, C_out, C_in, b, lam, alpha, beta, signs):
    """The float64 bound of ``lam . (rows - b)`` at the given slopes and multipliers."""
    a = lam @ C_out
    const = -(lam @ b)
    for name, op in reversed(net.plan):
        if isinstance(op, Affine):
            const = const + a @ op.b
            a = a @ op.W
        elif isinstance(op, Relu):
            from verinet.bounds.relax import relu_relaxation

            r = relu_relaxation(lower[op.inputs[0]], upper[op.inputs[0]], None, "adaptive")
            pos, neg = np.maximum(a, 0), np.minimum(a, 0)
            const = const + (neg * r.t).sum(axis=1)
            a = pos * alpha[name] + neg * r.s
            if name in beta:
                a = a - beta[name] * signs[name]
    a = a + lam @ C_in
    return float(((np.where(a >= 0, lo, hi) * a).sum(axis=1) + const)[0])
