"""CROWN / DeepPoly bounds over the IR, batched over input boxes.

For every Relu (and MaxPool) input, and for the output, a linear bound on the node
is carried backwards through the graph to the input (back-substitution, in reverse
topological order, accumulating one coefficient array per node; the per-op rules
and relaxations are in :mod:`verinet.bounds.relax`) and concretised over the box.
The result is intersected with the interval bound.  Upper bounds are lower bounds
of the negated rows.  The whole batch moves through numpy at once; boxes are grouped
by how many pre-activations they need bounded (powers of two), so a Python loop runs
over at most ``log2(width) + 1`` groups per layer, never over boxes or neurons.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .. import deadline
from ..errors import InputError, UnsupportedOperatorError
from ..network.ir import Network
from ..network.ops import Affine, Input, MaxPool, Op, Relu
from .interval import (
    Bounds,
    check_box,
    check_C,
    check_fixed,
    clip_phases,
    interval_rule,
    linear_interval,
    relu_forward,
    slack,
)
from .relax import BACKWARD_RULES, Ctx, Index, bmv, pool_relaxation, relu_relaxation

__all__ = ["crown_bounds"]

Alpha = str | float | Mapping[str, np.ndarray]


def _backsub(net: Network, target: str, L0: np.ndarray, boxes: Index, ctx: Ctx,
             record: dict[str, np.ndarray | None] | None = None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower bounds on ``L0[g, k] . value(target)`` over box ``boxes[g]``.

    ``L0`` is ``(G, K, size)``.  Returns ``(val, A, off)``: ``val`` ``(G, K)`` the
    bounds, and the linear bound ``L0[g, k] . target >= A[g, k] . x + off[g, k]`` for
    every ``x`` in the box (``A`` ``(G, K, n_in)``).  ``record``: node names whose
    coefficient arrays (``(G, K, size)``, the sensitivity of the bound to the node) are
    stored into it as they are reached.
    """
    G, K = L0.shape[:2]
    const = np.zeros((G, K))
    err = np.zeros((G, K))
    stop = [n for n, _ in net.plan].index(target)
    lam: dict[str, np.ndarray] = {target: L0}
    for name, op in reversed(net.plan[1:stop + 1]):
        L = lam.pop(name, None)
        if L is None:
            continue
        if record is not None and name in record:
            record[name] = L
        deadline.check()
        rule = BACKWARD_RULES.get(type(op))
        if rule is None:
            raise UnsupportedOperatorError(op.kind, name, "no back-substitution rule")
        contribs, dc, de = rule(op, name, L, boxes, ctx)
        if dc is not None:
            const = const + dc
            err = err + slack(1, np.abs(const))
        if de is not None:
            err = err + de
        for src, coef in contribs:
            if src in lam:
                coef = lam[src] + coef
                err = err + slack(1, bmv(np.abs(coef), ctx.mag(src)[boxes]))
            lam[src] = coef
    x0 = net.input_name
    lo, hi = ctx.lower[x0][boxes], ctx.upper[x0][boxes]
    L = lam.get(x0, np.zeros((G, K, lo.shape[1])))
    corner = np.where(L >= 0, lo[:, None, :], hi[:, None, :])
    s = np.einsum("gkn,gkn->gk", L, corner) + const
    total = (err + slack(lo.shape[1] + 1, bmv(np.abs(L), ctx.mag(x0)[boxes]))
             + slack(1, np.abs(s)))
    val = np.nextafter(s - total, -np.inf)
    off = np.nextafter(const - err, -np.inf)
    return val, L, off


def _interval_tight(net: Network) -> set[str]:
    """Nodes whose interval bound is as tight as a back-substituted one: the input, an
    Affine reading it, and a Relu or MaxPool of such nodes (entrywise maps of one affine
    function each: CROWN's relaxation of them gives back the same interval)."""
    tight: set[str] = set()
    for name, op in net.plan:
        if isinstance(op, Input) or (isinstance(op, Affine) and op.inputs[0] == net.input_name):
            tight.add(name)
        elif isinstance(op, (Relu, MaxPool)) and op.inputs[0] in tight:
            tight.add(name)
    return tight


def _targets(net: Network) -> dict[str, bool]:
    """Nodes that get back-substituted bounds -> whether inactive entries may be skipped.

    Relu inputs need no rows where the bound already proves the ReLU inactive (its
    output is 0 whatever the bound); MaxPool inputs get all rows; the output is handled
    on its own.  A node whose interval bound is as tight (:func:`_interval_tight`, e.g.
    ``Relu(Conv(x))`` before a MaxPool) is skipped.
    """
    tight = _interval_tight(net)
    out: dict[str, bool] = {}
    for _, op in net.plan:
        if isinstance(op, (Relu, MaxPool)):
            src = op.inputs[0]
            if src in tight:
                continue
            out[src] = out.get(src, True) and isinstance(op, Relu)
    out.pop(net.output_name, None)
    return out


def _alpha_for(alpha: Alpha, name: str) -> np.ndarray | float | str:
    if isinstance(alpha, str):
        if alpha != "adaptive":
            raise InputError(f'alpha must be "adaptive", a number or a mapping, got {alpha!r}')
        return alpha
    if isinstance(alpha, Mapping):
        return alpha.get(name, "adaptive")
    return float(alpha)


def _no_overflow(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bounds with every non-finite entry (overflow: inf, or NaN from inf - inf) replaced by
    "no information" (``-inf`` below, ``inf`` above), so that no proof rests on one."""
    return np.where(np.isfinite(lo), lo, -np.inf), np.where(np.isfinite(hi), hi, np.inf)


def _tighten(net: Network, name: str, m: int, lo: np.ndarray, hi: np.ndarray,
             skip_inactive: bool, fixed: dict[str, np.ndarray], ctx: Ctx
             ) -> tuple[np.ndarray, np.ndarray]:
    """Intersect ``[lo, hi]`` (``(B, m)``) of node ``name`` with back-substituted bounds.

    Entries worth bounding: all, or (Relu inputs) those not yet proved inactive and not
    fixed.  Boxes are grouped by their count rounded up to a power of two; each group
    bounds its first ``K`` entries in an order that puts the wanted ones first (the
    extra rows bound other entries, which is harmless and sound).
    """
    want = np.ones(lo.shape, dtype=bool)
    if skip_inactive:
        want = hi > 0
        for succ in net.graph.successors(name):
            if succ in fixed:
                want &= fixed[succ] == 0
    count = want.sum(axis=1)
    klass = np.where(count > 0, np.minimum(2 ** np.ceil(np.log2(np.maximum(count, 1))), m), 0)
    order = np.argsort(~want, axis=1, kind="stable")
    lo, hi = lo.copy(), hi.copy()
    for K in np.unique(klass[klass > 0]).astype(int):
        for boxes in _chunks(np.nonzero(klass == K)[0], 2 * K, ctx.width):
            G = boxes.shape[0]
            # entries in row blocks, so that the (G, 2R, width) coefficient arrays stay
            # within _ROW_BLOCK entries however wide the layer (memory stays bounded)
            R = int(max(1, min(K, _ROW_BLOCK // max(1, 2 * G * ctx.width))))
            for r0 in range(0, K, R):
                idx = order[boxes, r0:min(K, r0 + R)]  # (G, k)
                k = idx.shape[1]
                L0 = np.zeros((G, 2 * k, m))
                gi, ki = np.arange(G)[:, None], np.arange(k)[None, :]
                L0[gi, ki, idx] = 1.0
                L0[gi, ki + k, idx] = -1.0
                val, _, _ = _backsub(net, name, L0, boxes, ctx)
                bi = boxes[:, None]
                lo[bi, idx] = np.maximum(lo[bi, idx], val[:, :k])
                hi[bi, idx] = np.minimum(hi[bi, idx], -val[:, k:])
    return lo, hi


_ROW_BLOCK = 1 << 23
"""Entries of one back-substitution's coefficient array at most (64 MiB), unless a
single row is larger."""


_CHUNK = 1 << 18
"""Entries of a coefficient array per chunk (2 MiB): small enough to stay in cache
and to be recycled by the allocator instead of being mapped afresh."""


def _chunks(boxes: np.ndarray, K: int, width: int) -> list[np.ndarray]:
    """Split a group of boxes so that ``(G, K, width)`` arrays stay near ``_CHUNK``."""
    step = max(1, _CHUNK // max(1, K * width))
    return [boxes[i:i + step] for i in range(0, boxes.shape[0], step)]


def _output_bounds(net: Network, m: int, Cb: np.ndarray | None, ctx: Ctx,
                   lo: np.ndarray, hi: np.ndarray, record: tuple[str, ...] = (),
                   lower_only: bool = False):
    """Back-substitute ``[C; -C; I; -I]`` from the output in one pass (``[C]`` alone
    with ``C`` and ``lower_only``: the upper bounds of ``C @ y`` and the output's bounds
    are then the interval ones).

    Returns the output's bounds, the linear bounds ``(A (B, 2k, n_in), off (B, 2k))``
    of rows ``[C; -C]`` (``[I; -I]`` without ``C``; ``[C]`` with ``lower_only``), the
    bounds on ``C @ y`` or None, and for each node named in ``record`` the coefficients
    of the lower bounds of ``C @ y`` on it, ``(B, k, size)``.
    """
    B = ctx.B
    eye = np.eye(m)
    lower_only = lower_only and Cb is not None
    rows = [Cb] if lower_only else [eye, -eye] if Cb is None else [Cb, -Cb, eye, -eye]
    L0 = np.concatenate([np.broadcast_to(r, (B,) + r.shape[-2:]) for r in rows], axis=1)
    parts, recs = [], []
    for bx in _chunks(np.arange(B), L0.shape[1], ctx.width):
        rec: dict[str, np.ndarray | None] = dict.fromkeys(record)
        parts.append(_backsub(net, net.output_name, L0[bx], bx, ctx, rec))
        recs.append(rec)
    val, A, off = (np.concatenate([p[i] for p in parts]) for i in range(3))
    k = 0 if Cb is None else Cb.shape[1]
    lam = {}
    for name in record:  # the rows of C only; a node the bound does not reach gets zeros
        lam[name] = np.concatenate([
            r[name][:, :k] if r[name] is not None else
            np.zeros((len(p[0]), k, net.op(name).size)) for r, p in zip(recs, parts)])
    if lower_only:
        ilo, ihi = linear_interval(Cb, lo, hi)
        return (lo, hi), (A, off), (np.maximum(val, ilo), ihi), lam
    lo = np.maximum(lo, val[:, 2 * k:2 * k + m])
    hi = np.minimum(hi, -val[:, 2 * k + m:])
    if Cb is None:
        return (lo, hi), (A, off), None, lam
    ilo, ihi = linear_interval(Cb, lo, hi)
    out = np.maximum(val[:, :k], ilo), np.minimum(-val[:, k:2 * k], ihi)
    return (lo, hi), (A[:, :2 * k], off[:, :2 * k]), out, lam


def crown_bounds(net: Network, lower: np.ndarray, upper: np.ndarray,
                 C: np.ndarray | None = None, *,
                 fixed: Mapping[str, np.ndarray] | None = None,
                 alpha: Alpha = "adaptive", prior: Bounds | None = None,
                 keep: Bounds | None = None, record: tuple[str, ...] = (),
                 lower_only: bool = False) -> Bounds:
    """CROWN / DeepPoly bounds on every node for ``B`` input boxes at once.

    Args:
        net: the network.
        lower, upper: ``(B, n_in)`` (or ``(n_in,)``) box corners, ``lower <= upper``.
        C: optional ``(k, n_out)`` or ``(B, k, n_out)``; ``C @ y`` is back-substituted
            directly and bounded in ``out_lower``/``out_upper`` ``(B, k)``, with linear
            bounds in ``lower_A``/``lower_b``/``upper_A``/``upper_b``.  Without ``C``
            those linear bounds describe ``y`` itself.
        fixed: optional Relu node name -> int8 ``(B, size)`` phases: +1 forced active
            (identity; its pre-activation lower bound clipped to >= 0), -1 forced
            inactive (zero; pre-activation upper bound clipped to <= 0), 0 free.
        alpha: lower slope of unstable ReLUs: ``"adaptive"`` (1 if ``u > -l`` else 0),
            a number in ``[0, 1]``, or Relu node name -> ``(B, size)`` slopes.
        prior: bounds valid on a superset of this query (the parent branch: same
            boxes or larger ones, fewer fixed phases); every node is intersected with
            them, so the result is never looser.  Needed for that guarantee: CROWN
            itself is not monotone in the split constraints.
        keep: like ``prior`` (valid on a superset of this query, same batch), and the
            nodes it bounds are not back-substituted again: only the output is.  Branch
            and bound over ReLU phases: a child keeps its parent's intermediate bounds,
            the split neurons clipped by their phases, and pays one back-substitution of
            ``C`` instead of one per unstable neuron.
        record: Relu node names; ``Bounds.lam`` then holds, for each, the coefficients
            ``(B, k, size)`` of the lower bounds of ``C @ y`` on that node's output (how
            much each neuron's relaxation weighs in the bound: branching scores).
        lower_only: with ``C``, back-substitute only the rows of ``C`` from the output
            (a third of that pass or less, for callers that read only lower bounds of
            ``C @ y``): ``out_upper`` and the output's bounds are then interval bounds,
            ``upper_A``/``upper_b`` are None, and ``out_lower`` is the rows' own bound
            (the full pass also meets it with the interval of ``C`` over the output's
            back-substituted bounds, now and then tighter).
    Returns:
        :class:`Bounds` (``method="crown"``); ``lower``/``upper`` for every node.
        Pre-activations of ReLUs proved inactive keep their interval upper bound
        (anything <= 0 gives the same relaxation).
    """
    lo_in, hi_in = check_box(net, lower, upper)
    B = lo_in.shape[0]
    ph = check_fixed(net, fixed, B)
    Cb = check_C(net, C, B)
    if prior is not None and prior.batch != B:
        raise InputError(f"prior bounds cover {prior.batch} boxes, this query {B}")
    if keep is not None:
        if prior is not None or keep.batch != B:
            raise InputError(f"keep bounds cover {keep.batch} boxes, this query {B}"
                             if prior is None else "give keep or prior, not both")
        prior = keep
    lam: dict[str, np.ndarray] = {}
    ctx = Ctx(B, width=max(op.size for _, op in net.plan))
    targets = _targets(net)
    lin: tuple[np.ndarray, np.ndarray] | None = None
    out_lo = out_hi = None
    for name, op in net.plan:
        lo, hi = _forward(op, name, ctx, ph, lo_in, hi_in)
        if prior is not None and not isinstance(op, Input) and name in prior.lower:
            lo, hi = np.maximum(lo, prior.lower[name]), np.minimum(hi, prior.upper[name])
        lo, hi = clip_phases(net, name, lo, hi, ph)
        if isinstance(op, Relu):  # relaxations read only the (final) input bounds
            src = op.inputs[0]
            ctx.relax[name] = relu_relaxation(ctx.lower[src], ctx.upper[src], ph.get(name),
                                              _alpha_for(alpha, name))
        elif isinstance(op, MaxPool):
            ctx.pool[name] = pool_relaxation(op, ctx.lower[op.inputs[0]],
                                             ctx.upper[op.inputs[0]])
        if name == net.output_name:
            (lo, hi), lin, out, lam = _output_bounds(net, op.size, Cb, ctx, lo, hi, record,
                                                     lower_only)
            if out is not None:
                out_lo, out_hi = out
        elif name in targets and (keep is None or name not in keep.lower):
            lo, hi = _tighten(net, name, op.size, lo, hi, targets[name], ph, ctx)
        ctx.lower[name], ctx.upper[name] = _no_overflow(lo, hi)
    if (prior is not None and out_lo is not None and out_hi is not None
            and prior.C is not None and prior.out_lower is not None
            and prior.out_upper is not None and Cb is not None
            and prior.C.shape == Cb.shape and np.array_equal(prior.C, Cb)):
        out_lo = np.maximum(out_lo, prior.out_lower)
        out_hi = np.minimum(out_hi, prior.out_upper)
    if out_lo is not None and out_hi is not None:
        out_lo, out_hi = _no_overflow(out_lo, out_hi)
    infeasible = np.zeros(B, dtype=bool)
    for name in ctx.lower:
        infeasible |= (ctx.lower[name] > ctx.upper[name]).any(axis=1)
    if out_lo is not None and out_hi is not None:
        infeasible |= (out_lo > out_hi).any(axis=1)
    assert lin is not None
    A, off = lin
    # a linear bound with a non-finite coefficient says nothing: ``0 x + (-inf)``
    bad = ~(np.isfinite(A).all(axis=2) & np.isfinite(off))
    if bad.any():
        A, off = np.where(bad[:, :, None], 0.0, A), np.where(bad, -np.inf, off)
    if Cb is not None and lower_only:  # the rows of C alone: no upper linear bound
        k, up_A, up_b = A.shape[1], None, None
    else:
        k = A.shape[1] // 2
        up_A, up_b = -A[:, k:], -off[:, k:]
    return Bounds(ctx.lower, ctx.upper, out_lo, out_hi, Cb,
                  lower_A=A[:, :k], lower_b=off[:, :k], upper_A=up_A, upper_b=up_b,
                  infeasible=infeasible, method="crown", lam=lam or None)


def _forward(op: Op, name: str, ctx: Ctx, ph: dict[str, np.ndarray], lo_in: np.ndarray,
             hi_in: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The interval bound of a node from the final bounds of its inputs."""
    if isinstance(op, Input):
        return lo_in, hi_in
    if isinstance(op, Relu):
        src = op.inputs[0]
        return relu_forward(ctx.lower[src], ctx.upper[src], ph.get(name))
    return interval_rule(op, name)(op, [(ctx.lower[s], ctx.upper[s]) for s in op.inputs])
