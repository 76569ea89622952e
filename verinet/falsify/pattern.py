"""Counterexamples in thin bad regions: the linear program of a point's activation pattern.

Where the bad region is a sliver (reach_prob_density's robot properties: sixteen thousand
gradient starts miss it), a point near it still tells which way each ReLU goes there.
With every ReLU held in the phase it has at a point ``x0`` (and every MaxPool window at
its maximiser), the network is one affine map ``y = M x + d`` on the polyhedron of inputs
with that pattern, so the bad points of that region are the solutions of a linear program
over ``x`` alone: the box, the pattern's half-spaces, and the conjunction's rows.  Its
variables are the inputs and one margin ``t`` (maximised, at most 1: the point deepest in
the bad region), so it is small where the inputs are few, whatever the width.

A point returned is only a *candidate*: the caller confirms it (float64 and onnxruntime)
before anything is reported.  Nothing here is a proof: an infeasible program says only
that this pattern has no bad point.
"""

from __future__ import annotations

import time

import numpy as np

from ..network.ir import Network
from ..network.ops import Affine, Concat, Input, MaxPool, Relu, Sum, matvec_batch
from ..spec.property import Case, Conjunction

__all__ = ["pattern_points", "pattern_cost", "MAX_COST"]


def pattern_cost(network: Network) -> int:
    """Entries of the affine forms one point carries (inputs x neurons): what a pattern
    costs to set up; callers skip networks where it is large."""
    return network.n_inputs * sum(op.size for _, op in network.plan)


def _forms(network: Network, x: np.ndarray):
    """Affine forms ``(A (size, n), c (size,))`` of every node at ``x``'s pattern, and the
    pattern's half-spaces ``G x <= h``."""
    vals = network.evaluate_all(x[None])
    n = x.shape[0]
    forms: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    G, h = [], []
    for name, op in network.plan:
        if isinstance(op, Input):
            forms[name] = (np.eye(n), np.zeros(n))
        elif isinstance(op, Affine):
            A, c = forms[op.inputs[0]]
            W = op.linear()
            forms[name] = (matvec_batch(W, A.T).T, matvec_batch(W, c[None])[0] + op.b)
        elif isinstance(op, Relu):
            A, c = forms[op.inputs[0]]
            on = vals[op.inputs[0]][0] >= 0
            sign = np.where(on, -1.0, 1.0)  # on: -(A x + c) <= 0; off: A x + c <= 0
            G.append(sign[:, None] * A)
            h.append(-sign * c)
            forms[name] = (A * on[:, None], c * on)
        elif isinstance(op, Sum):
            parts = [forms[s] for s in op.inputs]
            forms[name] = (sum(p[0] for p in parts), sum(p[1] for p in parts))
        elif isinstance(op, Concat):
            parts = [forms[s] for s in op.inputs]
            forms[name] = (np.vstack([p[0] for p in parts]),
                           np.concatenate([p[1] for p in parts]))
        elif isinstance(op, MaxPool):
            A, c = forms[op.inputs[0]]
            v = vals[op.inputs[0]][0]
            win = op.windows
            vv = np.where(win >= 0, v[np.maximum(win, 0)], -np.inf)
            arg = win[np.arange(win.shape[0]), np.argmax(vv, axis=1)]
            for j in range(win.shape[1]):  # every other entry of a window below its max
                other = win[:, j]
                ok = (other >= 0) & (other != arg)
                if ok.any():
                    G.append(A[other[ok]] - A[arg[ok]])
                    h.append(c[arg[ok]] - c[other[ok]])
            forms[name] = (A[arg], c[arg])
        else:  # pragma: no cover - the IR has no other operation
            return None
    Gm = np.vstack(G) if G else np.zeros((0, n))
    hv = np.concatenate(h) if h else np.zeros(0)
    return forms[network.output_name], Gm, hv


def _highs():
    import highspy

    from ..quiet import stdout_silenced

    with stdout_silenced():
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    return h


def _solve(h, M, d, G, h_, conj: Conjunction, lo: np.ndarray, hi: np.ndarray):
    """The deepest bad point of the region, or None: maximise ``t`` subject to the
    pattern, the rows shifted by ``t``, the box (HiGHS ``h``)."""
    import highspy

    n = lo.shape[0]
    R = conj.A_out @ M + (conj.A_in if conj.A_in is not None else 0.0)
    A = np.vstack([np.hstack([G, np.zeros((G.shape[0], 1))]),
                   np.hstack([R, np.ones((R.shape[0], 1))])])
    ub = np.concatenate([h_, conj.b - conj.A_out @ d])
    if not (np.isfinite(A).all() and np.isfinite(ub).all()):
        return None
    nz = A != 0
    starts = np.concatenate([[0], np.cumsum(nz.sum(axis=1))[:-1]]).astype(np.int32)
    cost = np.zeros(n + 1)
    cost[-1] = -1.0
    h.clearModel()
    h.addCols(n + 1, cost, np.append(lo, -1e9), np.append(hi, 1.0), 0,
              np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0))
    h.addRows(A.shape[0], np.full(A.shape[0], -highspy.kHighsInf), ub, int(nz.sum()), starts,
              np.nonzero(nz)[1].astype(np.int32), A[nz])
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    x = np.array(h.getSolution().col_value)
    if x[-1] < 0:
        return None
    return np.clip(x[:n], lo, hi)


#: :func:`pattern_cost` above which callers skip patterns (a setup of about 16 MB a point)
MAX_COST = 2_000_000


def pattern_points(network: Network, case: Case, X: np.ndarray, *,
                   deadline: float = np.inf, seen: set | None = None) -> np.ndarray:
    """For each point of ``X`` (``(K, n_in)``), per conjunction of ``case``, the deepest
    bad point of the case's box with that point's activation pattern, when there is one;
    ``(m, n_in)``, candidates to confirm.  ``seen``: patterns already tried (skipped, and
    the new ones added); stops at ``deadline``."""
    lo, hi = case.box.lower, case.box.upper
    found = []
    seen = set() if seen is None else seen
    h = None
    for x in np.asarray(X, dtype=np.float64):
        if time.monotonic() > deadline:
            break
        got = _forms(network, x)
        if got is None:
            continue
        (M, d), G, hv = got
        key = hash((G.tobytes(), hv.tobytes()))
        if key in seen:  # the same pattern as an earlier point
            continue
        seen.add(key)
        for conj in case.bad:
            if conj.k == 0:
                continue
            if h is None:
                h = _highs()
            p = _solve(h, M, d, G, hv, conj, lo, hi)
            if p is not None:
                found.append(p)
                break
    return np.array(found).reshape(-1, lo.shape[0])
