"""Linear relaxations and the per-op backward rules of the back-substitution.

Layout: a back-substitution runs over a *group* of ``G`` boxes (indices ``boxes``
into the batch, or ``slice(None)`` for all of them) with ``K`` linear functions per
box; a coefficient array over a node of ``m`` entries is ``(G, K, m)``, constants
and rounding budgets are ``(G, K)``.  The invariant, in real arithmetic, for every
feasible input of box ``g`` and row ``k``:

    target[g, k] >= sum_v Lam_v[g, k] . v + const[g, k] - err[g, k].

Relaxations (``[l, u]`` the pre-activation bounds):

* Relu, unstable (``l < 0 < u``): upper chord ``s z + t`` with ``s = u / (u - l)``
  and ``t`` rounded up so that the line lies above ``relu`` at both ends (hence on
  all of ``[l, u]``, ``relu`` being convex); lower ``a z`` with ``a`` in ``[0, 1]``.
  Stable or fixed active: identity; stable or fixed inactive: zero.
* MaxPool window: lower bound by the entry with the largest lower bound (exact: the
  max is at least any entry); upper bound by that same entry when its lower bound is
  at least every other entry's upper bound (then the max *is* that entry), otherwise
  by the constant ``max_j u_j``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .. import deadline
from ..network.ops import Affine, Concat, Matrix, MaxPool, Op, Relu, Sum, vecmat_batch
from .interval import TINY, abs_weight, magnitude, matvec, pool_gather, slack

__all__ = ["BACKWARD_RULES", "Ctx", "relu_relaxation", "pool_relaxation"]

_UP = 1.0 + 2.0**-50  # > (1 + u)^2: covers two roundings of a non-negative product

Index = np.ndarray | slice


@dataclass
class ReluRelax:
    """A Relu's relaxation ``a z <= relu(z) <= s z + t``, each ``(B, m)``."""

    a: np.ndarray
    s: np.ndarray
    t: np.ndarray


@dataclass
class PoolRelax:
    """A MaxPool's relaxation, each ``(B, m)``: the window entry ``src`` with the largest
    lower bound, ``dom`` (the max equals that entry), ``U = max_j u_j``."""

    src: np.ndarray
    dom: np.ndarray
    U: np.ndarray


@dataclass
class Ctx:
    """What backward rules read: final bounds of earlier nodes and their relaxations."""

    B: int
    width: int = 1  # the largest node size, for sizing chunks
    lower: dict[str, np.ndarray] = field(default_factory=dict)
    upper: dict[str, np.ndarray] = field(default_factory=dict)
    relax: dict[str, ReluRelax] = field(default_factory=dict)
    pool: dict[str, PoolRelax] = field(default_factory=dict)
    #: Relu name -> ``(B, size)`` added to the coefficients of its pre-activation: the
    #: Lagrangian terms ``-beta s z`` of split constraints ``s z >= 0`` (beta-CROWN; see
    #: :func:`verinet.bounds.joint.joint_bounds`)
    shift: dict[str, np.ndarray] = field(default_factory=dict)
    _mag: dict[str, np.ndarray] = field(default_factory=dict)
    _ferr: dict[str, np.ndarray] = field(default_factory=dict)

    def float_error(self, name: str, op: Affine) -> np.ndarray:
        """The float32 evaluation error bound of Affine node ``name`` on each box."""
        e = self._ferr.get(name)
        if e is None:
            e = self._ferr[name] = op.float_error(self.mag(op.inputs[0]))
        return e

    def mag(self, name: str) -> np.ndarray:
        """``max(|lower|, |upper|)`` of a node, ``(B, size)``."""
        m = self._mag.get(name)
        if m is None:
            m = self._mag[name] = magnitude(self.lower[name], self.upper[name])
        return m


def relu_relaxation(lo: np.ndarray, hi: np.ndarray, ph: np.ndarray | None,
                    alpha: np.ndarray | float | str) -> ReluRelax:
    """Sound relaxation of ``relu`` on ``[lo, hi]`` (float bounds, sound for the reals).

    ``ph`` are fixed phases (or None); ``alpha`` the lower slope of unstable entries:
    ``"adaptive"`` (1 where ``hi > -lo``, else 0), a number or a ``(B, m)`` array.
    """
    active = lo >= 0
    inactive = (hi <= 0) & ~active
    if ph is not None:
        active = (active | (ph > 0)) & ~(ph < 0)
        inactive = (inactive | (ph < 0)) & ~(ph > 0)
    unstable = ~(active | inactive)
    width = np.where(unstable, hi - lo, 1.0)
    s = np.clip(np.where(unstable, hi / width, active * 1.0), 0.0, 1.0)
    # s z + t >= relu(z) at z = lo needs t >= -s lo, at z = hi needs t >= hi (1 - s);
    # both products are rounded (twice at most), so scale up and step one ulp further
    t = np.maximum(np.maximum(-s * lo, hi * (1.0 - s)), 0.0)
    t = np.where(unstable, np.nextafter(t * _UP + TINY, np.inf), 0.0)
    if isinstance(alpha, str):
        a_un = (hi > -lo) * 1.0
    else:
        a_un = np.clip(np.broadcast_to(np.asarray(alpha, dtype=np.float64), lo.shape), 0, 1)
    a = np.where(unstable, a_un, active * 1.0)
    return ReluRelax(a, s, t)


def pool_relaxation(op: MaxPool, lo: np.ndarray, hi: np.ndarray) -> PoolRelax:
    lw, idx = pool_gather(op, lo, -np.inf)  # (B, m, k)
    hw, _ = pool_gather(op, hi, -np.inf)
    arg = lw.argmax(axis=2)  # (B, m)
    src = idx[np.arange(idx.shape[0])[None, :], arg]
    l_best = np.take_along_axis(lw, arg[..., None], axis=2)[..., 0]
    others = hw.copy()
    np.put_along_axis(others, arg[..., None], -np.inf, axis=2)
    dom = l_best >= others.max(axis=2)
    return PoolRelax(src, dom, hw.max(axis=2))


# ---------------------------------------------------------------- helpers
def bmv(L: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``L[g] @ v[g]``: ``(G, K, m)`` by ``(G, m)`` -> ``(G, K)``."""
    return np.einsum("gkm,gm->gk", L, v)


#: Multiply-adds per block of :func:`lmul` between two deadline checks (~0.1 s).
LMUL_BLOCK_WORK = 1e8


def lmul(L: np.ndarray, W: Matrix) -> np.ndarray:
    """``L @ W`` for ``L`` ``(G, K, m)`` and ``W`` ``(m, n)`` (dense, sparse or a
    :class:`~verinet.network.convmap.ConvMap`), one product."""
    G, K, m = L.shape
    flat = L.reshape(G * K, m)
    n = W.shape[1]
    work = (m * n if isinstance(W, np.ndarray) else W.nnz) or 1
    step = max(1, int(LMUL_BLOCK_WORK // work))
    if step >= flat.shape[0]:
        return vecmat_batch(flat, W).reshape(G, K, n)
    # large products in row blocks, so that the query's deadline is checked in between
    out = np.empty((flat.shape[0], n))
    for i in range(0, flat.shape[0], step):
        deadline.check()
        out[i:i + step] = vecmat_batch(flat[i:i + step], W)
    return out.reshape(G, K, n)


# ---------------------------------------------------------------- backward rules
Contrib = list[tuple[str, np.ndarray]]
BackRule = Callable[[Op, str, np.ndarray, Index, Ctx],
                    tuple[Contrib, np.ndarray | None, np.ndarray | None]]


def _back_affine(op: Affine, name: str, L: np.ndarray, boxes: Index, ctx: Ctx):
    (src,) = op.inputs
    Lx = lmul(L, op.linear())
    dc = L @ op.b
    scale = matvec(abs_weight(op), ctx.mag(src)[boxes]) + np.abs(op.b)  # (G, m)
    de = slack(op.size + 1, bmv(np.abs(L), scale))
    if op.has_error:  # L . y_float >= L . (W x + b) - |L| . float error
        de = de + bmv(np.abs(L), ctx.float_error(name, op)[boxes]) * (1 + 1e-12)
    return [(src, Lx)], dc, de


def _back_relu(op: Relu, name: str, L: np.ndarray, boxes: Index, ctx: Ctx):
    (src,) = op.inputs
    r = ctx.relax[name]
    a, s, t = r.a[boxes][:, None, :], r.s[boxes][:, None, :], r.t[boxes]
    pos = np.maximum(L, 0.0)
    neg = L - pos  # exact
    Lz = pos * a
    Lz += np.multiply(neg, s, out=pos)  # one product is an exact zero: one rounding each
    dc = bmv(neg, t)  # <= 0; -dc is sum |neg| t, rounded
    mag = ctx.mag(src)[boxes]
    de = slack(1, bmv(np.abs(Lz, out=neg), mag)) + slack(op.size, -dc)
    sh = ctx.shift.get(name)
    if sh is not None:  # one more rounding per entry
        Lz = Lz + sh[boxes][:, None, :]
        de = de + slack(1, bmv(np.abs(Lz), mag))
    return [(src, Lz)], dc, de


def _back_sum(op: Sum, name: str, L: np.ndarray, boxes: Index, ctx: Ctx):
    de = None
    if op.err_rho > 0:
        mag = sum(ctx.mag(s)[boxes] for s in op.inputs)
        de = op.err_rho * bmv(np.abs(L), mag) * (1 + 1e-12)
    return [(s, L) for s in op.inputs], None, de


def _back_concat(op: Concat, name: str, L: np.ndarray, boxes: Index, ctx: Ctx):
    out, start = [], 0
    for s in op.inputs:
        n = ctx.lower[s].shape[1]
        out.append((s, L[:, :, start:start + n]))
        start += n
    return out, None, None


def _back_maxpool(op: MaxPool, name: str, L: np.ndarray, boxes: Index, ctx: Ctx):
    (src,) = op.inputs
    p = ctx.pool[name]
    G, K, m = L.shape
    psrc, dom, U = p.src[boxes], p.dom[boxes], p.U[boxes]
    coef = np.where((L >= 0) | dom[:, None, :], L, 0.0)
    rest = L - coef  # the negative coefficients bounded by the constant U (exact split)
    n = ctx.lower[src].shape[1]
    Lx = np.zeros((G, n, K))
    gi = np.broadcast_to(np.arange(G)[:, None], psrc.shape)
    np.add.at(Lx, (gi, psrc), coef.transpose(0, 2, 1))  # scatter-add, <= m terms per entry
    dc = bmv(rest, U)
    mag_src = np.take_along_axis(ctx.mag(src)[boxes], psrc, axis=1)
    de = slack(m, bmv(np.abs(coef), mag_src)) + slack(m, bmv(-rest, np.abs(U)))
    return [(src, Lx.transpose(0, 2, 1))], dc, de


BACKWARD_RULES: dict[type[Op], BackRule] = {
    Affine: _back_affine,  # type: ignore[dict-item]
    Relu: _back_relu,  # type: ignore[dict-item]
    Sum: _back_sum,  # type: ignore[dict-item]
    Concat: _back_concat,  # type: ignore[dict-item]
    MaxPool: _back_maxpool,  # type: ignore[dict-item]
}
"""Backward rule per op kind: ``rule(op, name, Lam (G, K, size), boxes, ctx) ->
([(input name, Lam_input (G, K, size_input))], const term (G, K) or None, rounding
error (G, K) or None)``.  Every rule is exact or a sound relaxation in real arithmetic
and returns a bound on the rounding error of its own float operations."""
