"""Optimised joint bounds on conjunctions of output rows (alpha-CROWN with multipliers).

A conjunction ``row_k(x) <= b_k`` (``k`` in a set ``S``) has no solution in a box when,
for some multipliers ``lam >= 0``, the single linear function
``sum_k lam_k (row_k(x) - b_k)`` is positive on all of the box.  Bounding that one
function with CROWN reasons about the rows *jointly*: where no single row is positive
everywhere (output 0 wins in one part of the box, output 1 in another) a combination
often is.  The lower slopes ``alpha`` of the unstable ReLUs are a second free choice
(any slope in ``[0, 1]`` gives a sound lower relaxation).

:func:`joint_bounds` picks ``lam`` (on the simplex over ``S``) and ``alpha`` (per box,
per unstable ReLU) by projected gradient ascent on the bound itself, a whole batch of
(box, conjunction) pairs per numpy call.  The gradient is derived by hand: with the
relaxation choices fixed, the bound is the minimum over the box of the network in which
every ReLU is replaced by its chosen line, a piecewise-linear function; its gradient in
``lam_k`` is ``row_k - b_k`` evaluated on that *relaxed network* at the minimising
corner ``x*``, and in ``alpha_j`` it is ``g_j z_j``, where ``g_j > 0`` is the backward
coefficient at the ReLU's output and ``z_j`` its pre-activation in the same relaxed
forward pass.  The ascent runs in plain float64 (float32 on request: ``guide``) and only
guides the choice: the bound returned is recomputed afterwards by the sound back-substitution of
:mod:`verinet.bounds.crown` (outward rounding, float32 evaluation error), with the chosen
``lam`` and ``alpha`` and the intermediate bounds given, so it holds whatever the ascent
did.  Only the final bound is optimised; intermediate bounds are the ones given.

The ascent needs a chain of ``Affine`` and ``Relu`` nodes (fully-connected networks);
other networks get the sound bound at the initial choice (uniform ``lam``, adaptive
``alpha``), which is still a joint bound.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Mapping

import numpy as np

from .. import deadline
from ..network.ir import Network, NetworkBuilder
from ..network.ops import Affine, Input, MaxPool, Relu, matvec_batch, vecmat_batch
from .crown import _backsub
from .interval import Bounds, slack
from .relax import Ctx, pool_relaxation, relu_relaxation

__all__ = ["joint_bounds", "chain_of", "optimise_intermediate", "split_trials", "FAST"]


def chain_of(net: Network) -> list[tuple[str, Affine | Relu]] | None:
    """The network as a chain ``Affine (Relu Affine)*`` from the input to the output, or
    ``None`` when it is not one (the ascent's gradient is written for chains)."""
    chain: list[tuple[str, Affine | Relu]] = []
    prev = net.input_name
    for name, op in net.plan:
        if isinstance(op, Input):
            continue
        if not isinstance(op, (Affine, Relu)) or op.inputs != (prev,):
            return None
        chain.append((name, op))
        prev = name
    if prev != net.output_name or not chain or not isinstance(chain[0][1], Affine):
        return None
    return chain


#: float type for guidance that may be coarse (branch and bound's ascent and trials):
#: every bound trusted is recomputed in float64 by the sound back-substitution, and
#: sparse products take half the time of float64 on oval21's convolutions
FAST = np.float32
_F32_OPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _weights(op: Affine, dt):
    """``W`` and ``b`` of an affine op in float type ``dt`` (a float32 copy is cached
    per op: ops are immutable)."""
    if dt == np.float64:
        return op.linear(), op.b
    got = _F32_OPS.get(op)
    if got is None:
        got = _F32_OPS[op] = (op.linear(FAST), np.asarray(op.b, dtype=FAST))
    return got


class _Relax:
    """The adaptive relaxation of a Relu on ``[lo, hi]`` in float type ``dt`` (``a``,
    ``s``, ``t`` as in :func:`~verinet.bounds.relax.relu_relaxation`)."""

    def __init__(self, lo: np.ndarray, hi: np.ndarray, dt):
        r = relu_relaxation(lo, hi, None, "adaptive")
        self.a, self.s, self.t = r.a.astype(dt), r.s.astype(dt), r.t.astype(dt)


def _start(rel, lower, upper, chain, signs, start, dt):
    """The initial slopes (adaptive, or ``start``'s where finite, on unstable neurons,
    clipped to ``[0, 1]``) and split multipliers (``start``'s where split and finite,
    ``>= 0``; Relu names of ``signs`` only), in float type ``dt``."""
    alpha, beta = {}, {}
    start = start or {}
    for n, op in chain:
        if not isinstance(op, Relu):
            continue
        a0 = start.get("alpha", {}).get(n)
        unstable = (lower[op.inputs[0]] < 0) & (upper[op.inputs[0]] > 0)
        alpha[n] = (rel[n].a.copy() if a0 is None else
                    np.where(unstable & np.isfinite(a0), np.clip(a0, 0.0, 1.0),
                             rel[n].a).astype(dt))
        if n in signs:
            b0 = start.get("beta", {}).get(n)
            beta[n] = (np.zeros(signs[n].shape, dt) if b0 is None else
                       np.where((signs[n] != 0) & np.isfinite(b0), np.maximum(b0, 0.0),
                                0.0).astype(dt))
    return alpha, beta


def _relu_back(a, const, s, t, alpha, shift=None):
    """One Relu of the backward pass: the coefficient ``a`` at its output and the
    constant, through its relaxation (the upper line ``s z + t`` where ``a < 0``, the
    slope ``alpha`` where ``a >= 0``) and the split multipliers' term ``shift``
    (``beta * s`` of the splits)."""
    pos = np.maximum(a, 0.0)
    neg = a - pos
    const = const + (neg * t).sum(axis=1)
    a = pos * alpha + neg * s
    return (a if shift is None else a - shift), const


def _ascend(chain, lo, hi, lower, upper, C_out, C_in, b, member, iters, lr, signs,
            start=None, dt=np.float64):
    """The ascent (unsound: guidance only, in float type ``dt``); returns ``lam (P, K)``,
    ``alpha`` and ``beta`` (Relu name -> ``(P, m)``; ``beta`` only where ``signs`` is
    nonzero).  ``start``: optional ``{"alpha": ..., "beta": ...}`` to start from (a
    parent's)."""
    P, K = member.shape
    relus = [(n, op) for n, op in chain if isinstance(op, Relu)]
    rel = {n: _Relax(lower[op.inputs[0]], upper[op.inputs[0]], dt) for n, op in relus}
    unstable = {n: (lower[op.inputs[0]] < 0) & (upper[op.inputs[0]] > 0) for n, op in relus}
    signs = {n: sg.astype(dt) for n, sg in signs.items()}
    alpha, beta = _start(rel, lower, upper, chain, signs, start, dt)
    lo, hi, C_out, C_in, b = (v.astype(dt) for v in (lo, hi, C_out, C_in, b))
    theta = np.where(member, 0.0, -np.inf).astype(dt)
    m_t, v_t = np.zeros((P, K), dt), np.zeros((P, K), dt)
    m_a = {n: np.zeros_like(a) for n, a in alpha.items()}
    v_a = {n: np.zeros_like(a) for n, a in alpha.items()}
    m_b = {n: np.zeros_like(v) for n, v in beta.items()}
    v_b = {n: np.zeros_like(v) for n, v in beta.items()}
    best = np.full(P, -np.inf)
    best_lam = member / np.maximum(member.sum(axis=1, keepdims=True), 1)
    best_alpha = {n: a.copy() for n, a in alpha.items()}
    best_beta = {n: v.copy() for n, v in beta.items()}
    b1, b2 = 0.9, 0.999
    for it in range(1, iters + 1):
        deadline.check()
        e = np.exp(theta - theta.max(axis=1, keepdims=True))
        lam = e / e.sum(axis=1, keepdims=True)
        # backward: coefficients at every ReLU output, the constant, the input coefficient
        a = lam @ C_out
        const = -(lam @ b)
        g_at = {}
        for name, op in reversed(chain):
            if isinstance(op, Affine):
                W, bias = _weights(op, dt)
                const = const + a @ bias
                a = vecmat_batch(a, W)
            else:
                g_at[name] = a
                # the Lagrangian term -beta s z of each split s z >= 0
                r = rel[name]
                a, const = _relu_back(a, const, r.s, r.t, alpha[name],
                                      beta[name] * signs[name] if name in beta else None)
        a_in = a + lam @ C_in
        x = np.where(a_in >= 0, lo, hi)
        val = (a_in * x).sum(axis=1) + const
        better = val > best
        if better.any():
            best = np.where(better, val, best)
            best_lam[better] = lam[better]
            for n in alpha:
                best_alpha[n][better] = alpha[n][better]
            for n in beta:
                best_beta[n][better] = beta[n][better]
        if it == iters or (best > 0).all():
            break
        # forward through the relaxed network at x: pre-activations and outputs
        h, z_at = x, {}
        for name, op in chain:
            if isinstance(op, Affine):
                W, bias = _weights(op, dt)
                h = matvec_batch(W, h) + bias
            else:
                r = rel[name]
                z_at[name] = h
                h = np.where(g_at[name] >= 0, alpha[name] * h, r.s * h + r.t)
        g_lam = h @ C_out.T + x @ C_in.T - b  # (P, K)
        g_theta = np.where(member, lam * (g_lam - (lam * g_lam).sum(axis=1, keepdims=True)),
                           0.0)
        corr = np.sqrt(1 - b2 ** it) / (1 - b1 ** it)
        m_t = b1 * m_t + (1 - b1) * g_theta
        v_t = b2 * v_t + (1 - b2) * g_theta ** 2
        theta = np.where(member, theta + lr * corr * m_t / (np.sqrt(v_t) + 1e-12), -np.inf)
        for n in alpha:
            ga = np.where(unstable[n], np.maximum(g_at[n], 0.0) * z_at[n], 0.0)
            m_a[n] = b1 * m_a[n] + (1 - b1) * ga
            v_a[n] = b2 * v_a[n] + (1 - b2) * ga ** 2
            step = lr * corr * m_a[n] / (np.sqrt(v_a[n]) + 1e-12)
            alpha[n] = np.clip(alpha[n] + step, 0.0, 1.0)
        for n in beta:  # d value / d beta_j = -s_j z_j (the relaxed pre-activation)
            gb = -signs[n] * z_at[n]
            m_b[n] = b1 * m_b[n] + (1 - b1) * gb
            v_b[n] = b2 * v_b[n] + (1 - b2) * gb ** 2
            step = lr * corr * m_b[n] / (np.sqrt(v_b[n]) + 1e-12)
            beta[n] = np.where(signs[n] != 0, np.maximum(beta[n] + step, 0.0), 0.0)
    return best_lam, best_alpha, best_beta


def joint_bounds(net: Network, bounds: Bounds, lo: np.ndarray, hi: np.ndarray,
                 C_out: np.ndarray, C_in: np.ndarray, b: np.ndarray, box_of: np.ndarray,
                 member: np.ndarray, *, iters: int = 20, lr: float = 0.5,
                 fixed: Mapping[str, np.ndarray] | None = None,
                 state: dict | None = None, guide=np.float64
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sound lower bounds of ``sum_k lam_k (C_in[k] x + C_out[k] y(x) - b[k])`` over boxes.

    Args:
        net: the network; ``bounds``: sound bounds on every node over boxes ``lo, hi``
            (``(B, n_in)``; from :func:`verinet.bounds.crown_bounds`).
        C_out, C_in, b: the rows, ``(K, n_out)``, ``(K, n_in)``, ``(K,)``.
        box_of: ``(P,)`` the box of each pair; ``member``: ``(P, K)`` bool, its
            conjunction's rows (at least one each).
        fixed: optional Relu name -> int8 ``(B, size)`` phases the boxes' bounds were
            computed under (``crown_bounds(fixed=...)``).  On chain networks each split
            ``s z >= 0`` (``s`` the phase, ``z`` the pre-activation) then gets a
            multiplier ``beta >= 0`` in the ascent (beta-CROWN): the bound is of the
            combination minus ``sum beta s z``, which is no larger on the split domain,
            where ``s z >= 0``; outside it the bounds of the boxes say nothing anyway.
        state: optional ``{"alpha": {...}, "beta": {...}}`` (Relu name -> ``(P, size)``):
            the ascent starts from these slopes and multipliers (a parent's, in branch
            and bound), and the dict is updated with the ones chosen.  Any values give a
            sound bound: slopes are clipped to ``[0, 1]``, multipliers to ``>= 0``.
        guide: the float type of the ascent (:data:`FAST`: half the time on large
            sparse layers; the bound returned is float64 and sound either way).
    Returns:
        ``(value (P,), A (P, n_in), c (P,), lam (P, K))``: ``value > 0`` proves that no
        point of box ``box_of[p]`` satisfies every row of ``member[p]``; ``A x + c`` is a
        linear lower bound of the combination on the box (in real arithmetic; ``0 x -
        inf`` where it overflowed), ``value`` its minimum there, rounded down; ``lam >= 0``
        the multipliers (zero off ``member``).
    """
    P = box_of.shape[0]
    lower = {n: v[box_of] for n, v in bounds.lower.items()}
    upper = {n: v[box_of] for n, v in bounds.upper.items()}
    plo, phi = lo[box_of], hi[box_of]
    chain = chain_of(net)
    signs = {n: v[box_of].astype(np.float64) for n, v in (fixed or {}).items()
             if np.any(v[box_of])}
    beta: dict[str, np.ndarray] = {}
    if chain is not None and iters > 0:
        lam, alpha, beta = _ascend(chain, plo, phi, lower, upper, C_out, C_in, b, member,
                                   iters, lr, signs, state, guide)
        if state is not None:
            state["alpha"], state["beta"] = alpha, beta
    else:
        lam = member / np.maximum(member.sum(axis=1, keepdims=True), 1)
        alpha = {}
    lam = np.where(member, np.maximum(lam, 0.0), 0.0)
    # the sound bound at the chosen lam, alpha and beta, from the given intermediate bounds
    ctx = Ctx(P, width=max(op.size for _, op in net.plan), lower=lower, upper=upper)
    for name, bt in beta.items():  # -beta s, beta >= 0 and only on split neurons
        ctx.shift[name] = -(np.where(signs[name] != 0, np.maximum(bt, 0.0), 0.0)
                            * signs[name])
    for name, op in net.plan:
        if isinstance(op, Relu):
            src = op.inputs[0]
            ctx.relax[name] = relu_relaxation(lower[src], upper[src], None,
                                              alpha.get(name, "adaptive"))
        elif isinstance(op, MaxPool):
            ctx.pool[name] = pool_relaxation(op, lower[op.inputs[0]], upper[op.inputs[0]])
    _, L, off = _backsub(net, net.output_name, (lam @ C_out)[:, None, :], slice(None), ctx)
    # L x + off <= lam . C_out y on the box; add the input part and the right-hand sides
    # and minimise over the box at once (the corner of the sum, not of each part)
    w = lam @ C_in
    A = L[:, 0, :] + w
    rhs = lam @ b
    xmax = np.maximum(np.abs(plo), np.abs(phi))
    n = C_in.shape[1]
    with np.errstate(over="ignore", invalid="ignore"):
        c = off[:, 0] - rhs
        c = np.nextafter(c - slack(2, np.abs(off[:, 0]) + np.abs(rhs))
                         - slack(lam.shape[1] + 1, np.abs(lam) @ np.abs(b)), -np.inf)
        s = (np.where(A >= 0, plo, phi) * A).sum(axis=1) + c
        # A is L + w rounded once per entry: its error and the dot product's are covered
        err = slack(n + 2, ((np.abs(L[:, 0, :]) + np.abs(w)) * xmax).sum(axis=1) + np.abs(c))
        total = np.nextafter(s - err - slack(1, np.abs(s)), -np.inf)
    ok = np.isfinite(A).all(axis=1) & np.isfinite(c)
    return (np.where(np.isfinite(total) & ok, total, -np.inf),
            np.where(ok[:, None], A, 0.0), np.where(ok, c, -np.inf), lam)


def split_trials(chain, lo: np.ndarray, hi: np.ndarray, lower: Mapping[str, np.ndarray],
                 upper: Mapping[str, np.ndarray], C_out: np.ndarray, C_in: np.ndarray,
                 b: np.ndarray, signs: Mapping[str, np.ndarray], start: dict,
                 choose: Callable[[dict[str, np.ndarray]], tuple[np.ndarray, np.ndarray]]
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Values (float32) of the bound of each candidate split's two children, for ranking
    splits (filtered smart branching): *unsound*, guidance only.

    ``P`` domains (boxes ``lo, hi`` ``(P, n_in)``, pre-activation bounds ``lower,
    upper``, split phases ``signs`` as floats, slopes and multipliers ``start`` as for
    :func:`joint_bounds`'s ``state``) of a ``chain`` (:func:`chain_of`), the rows
    ``C_out, C_in, b`` combined uniformly.  One backward pass per domain at its slopes
    gives the coefficient of every Relu's output (Relu name -> ``(P, size)``), from
    which ``choose`` names the candidates, ``(layer, index)`` ``(P, k)``: candidate
    ``c`` of domain ``p`` is neuron ``index[p, c]`` of the ``layer[p, c]``-th Relu
    (-1: none).  A child differs from its domain only at the candidate's neuron (exact
    on its half; its multiplier 0), so its pass starts at that Relu from the domain's
    coefficients there.  Returns ``layer, index`` and ``(P, k, 2)``: the active and the
    inactive child's value (``-inf`` for no candidate).
    """
    P = lo.shape[0]
    K = C_out.shape[0]
    relus = [i for i, (_, op) in enumerate(chain) if isinstance(op, Relu)]
    rel = {chain[i][0]: _Relax(lower[chain[i][1].inputs[0]], upper[chain[i][1].inputs[0]],
                               FAST) for i in relus}
    signs = {n: sg.astype(FAST) for n, sg in signs.items()}
    alpha, beta = _start(rel, lower, upper, chain, signs, start, FAST)
    shift = {n: bt * signs[n] for n, bt in beta.items()}  # beta s, for the Lagrangian term
    lo, hi, C_out, C_in, b = (v.astype(FAST) for v in (lo, hi, C_out, C_in, b))
    lam = np.full(K, 1.0 / K, dtype=FAST)
    w_in = lam @ C_in

    def down(a, const, upto, rows):  # backward through chain[:upto] at rows' relaxations
        for name, op in reversed(chain[:upto]):
            if isinstance(op, Affine):
                W, bias = _weights(op, FAST)
                const = const + a @ bias
                a = vecmat_batch(a, W)
            else:
                a, const = relu_back(name, a, const, rows)
        a_in = a + w_in
        x = np.where(a_in >= 0, lo[rows], hi[rows])
        return (a_in * x).sum(axis=1) + const

    def relu_back(name, a, const, rows):
        r = rel[name]
        return _relu_back(a, const, r.s[rows], r.t[rows], alpha[name][rows],
                          shift[name][rows] if name in shift else None)

    a = np.broadcast_to(lam @ C_out, (P, C_out.shape[1]))
    const = np.full(P, -(lam @ b), dtype=FAST)
    at = {}
    for pos_, (name, op) in reversed(list(enumerate(chain))):
        if isinstance(op, Affine):
            W, bias = _weights(op, FAST)
            const = const + a @ bias
            a = vecmat_batch(a, W)
        else:
            at[pos_] = (a, const)
            a, const = relu_back(name, a, const, np.arange(P))
    layer, index = choose({chain[i][0]: at[i][0] for i in relus})
    out = np.full(layer.shape + (2,), -np.inf)
    for li, i in enumerate(relus):
        p, c = np.nonzero(layer == li)
        if p.size == 0:
            continue
        name = chain[i][0]
        rows = np.repeat(p, 2)
        j = np.repeat(index[p, c], 2)
        act = np.tile([True, False], p.size)
        g, const = at[i][0][rows], at[i][1][rows]
        gj = g[np.arange(rows.size), j]
        a2, const = relu_back(name, g, const, rows)
        # the candidate's neuron: exact on its half (slope 1 or 0, no offset), no beta
        const = const - np.minimum(gj, 0.0) * rel[name].t[rows, j]
        a2[np.arange(rows.size), j] = np.where(act, gj, 0.0)
        val = down(a2, const, i, rows)
        out[p, c, 0], out[p, c, 1] = val[0::2], val[1::2]
    return layer, index, out


def _prefix(net: Network, node: str) -> Network:
    """The network from the input up to ``node`` (same ops, same names), unsimplified."""
    nb = NetworkBuilder()
    g = net.graph.nodes
    nb.add_input(net.input_name, g[net.input_name]["shape"])
    for name, op in net.plan[1:]:
        nb.add(name, op, g[name]["shape"])
        if name == node:
            break
    return nb.finish(node, name=f"{net.name}[:{node}]", simplify=False)


#: unstable neurons (two rows each) optimised together in one ascent
_NEURONS = 256


def optimise_intermediate(net: Network, bounds: Bounds, lo: np.ndarray, hi: np.ndarray,
                          *, iters: int = 20, lr: float = 0.5,
                          C: np.ndarray | None = None, end: float = np.inf) -> Bounds:
    """Tighter bounds on the pre-activations of a chain network's ReLUs, for one box.

    Layer by layer, every unstable pre-activation ``z_j`` gets alpha-CROWN bounds of
    ``z_j`` and ``-z_j`` on the network cut at its layer (:func:`joint_bounds` with one row
    per pair, ``iters`` ascent steps, the earlier layers' tightened bounds given); the
    later layers are then bounded again by CROWN from the tightened ones (``prior``:
    never looser).  ``bounds`` are CROWN bounds of the box ``lo, hi`` (``(1, n_in)``)
    with ``C``; the result has the same ``C`` and output bounds.  Networks that are not
    chains come back as they are.  At ``time.monotonic() == end`` the tightening stops
    after the chunk of neurons in hand, and what it has tightened so far is kept.
    """
    from .crown import crown_bounds

    chain = chain_of(net)
    if chain is None or iters <= 0 or bounds.batch != 1:
        return bounds
    first = chain[0][0]  # an affine map of the input: its interval bound is exact
    for _, op in chain:
        if not isinstance(op, Relu) or op.inputs[0] == first:
            continue
        src = op.inputs[0]
        l0, u0 = bounds.lower[src][0], bounds.upper[src][0]
        unstable = np.flatnonzero((l0 < 0) & (u0 > 0))
        if unstable.size == 0:
            continue
        cut = _prefix(net, src)
        lower, upper = l0.copy(), u0.copy()
        for s0 in range(0, unstable.size, _NEURONS):
            if time.monotonic() > end:
                break
            idx = unstable[s0:s0 + _NEURONS]
            R = idx.size
            C_out = np.zeros((2 * R, op.size))
            C_out[np.arange(R), idx] = 1.0
            C_out[R + np.arange(R), idx] = -1.0
            val = joint_bounds(cut, bounds, lo, hi, C_out, np.zeros((2 * R, lo.shape[1])),
                               np.zeros(2 * R), np.zeros(2 * R, dtype=int),
                               np.eye(2 * R, dtype=bool), iters=iters, lr=lr)[0]
            lower[idx] = np.maximum(lower[idx], val[:R])
            upper[idx] = np.minimum(upper[idx], -val[R:])
        tight = Bounds({**bounds.lower, src: lower[None]}, {**bounds.upper, src: upper[None]},
                       bounds.out_lower, bounds.out_upper, bounds.C,
                       infeasible=bounds.infeasible)
        bounds = crown_bounds(net, lo, hi, C if C is not None else bounds.C, prior=tight)
        if time.monotonic() > end:
            break
    return bounds
