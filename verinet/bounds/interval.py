"""Interval bounds over the IR, the ``Bounds`` record, and outward rounding.

Every rule here is *sound in floating point*: the returned interval contains the
real-arithmetic value of the node for every input in the box (the weights are the
stored float64 numbers, read exactly).  The argument is in ``docs/bounds.md``; in
short, each float expression of ``N`` roundings over terms whose magnitudes sum to
``S`` is off by at most ``gamma_N * S`` (plus ``N`` underflow quanta), and we widen
by ``slack(N, S) = 2 * gamma_{N+2} * S + TINY`` and then one more ulp outward.

Shapes: ``B`` boxes, a node of ``size`` entries has bounds ``(B, size)``.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import InputError, UnsupportedOperatorError
from ..network.ir import Network
from ..network.ops import Affine, Concat, Input, Matrix, MaxPool, Op, Relu, Sum, issparse

__all__ = ["Bounds", "interval_bounds", "INTERVAL_RULES", "UNIT_ROUNDOFF", "TINY", "gamma",
           "slack", "widen"]

UNIT_ROUNDOFF = 2.0**-53
"""``u`` for float64 with round-to-nearest."""

TINY = 1e-300
"""Absolute slack per expression: covers underflow (at most ``2**-1075`` per product)."""

Pair = tuple[np.ndarray, np.ndarray]


# ---------------------------------------------------------------- rounding
def gamma(n: int) -> float:
    """Higham's ``gamma_n = n u / (1 - n u)``: relative error bound of ``n`` roundings."""
    nu = n * UNIT_ROUNDOFF
    assert nu < 0.5, f"expression of {n} operations is too long for the error bound"
    return nu / (1.0 - nu)


def slack(n: int, s: np.ndarray) -> np.ndarray:
    """A rigorous bound on the rounding error of an ``n``-operation float expression.

    ``s`` is the computed (float) sum of the magnitudes of its terms, itself rounded
    down by at most a factor ``1 - gamma``; the factor 2 covers that and the few
    roundings of adding the slack in.  Returns ``2 gamma_{n+2} s + TINY`` (``s``'s shape).
    """
    return (2.0 * gamma(n + 2)) * s + TINY


def widen(lo: np.ndarray, hi: np.ndarray, err: np.ndarray | float = 0.0) -> Pair:
    """``[lo - err, hi + err]`` rounded outward by one ulp (covers the rounded subtraction)."""
    return (np.nextafter(lo - err, -np.inf), np.nextafter(hi + err, np.inf))


def magnitude(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``max(|lo|, |hi|)``: a bound on ``|x|`` for ``x`` in ``[lo, hi]`` (exact)."""
    return np.maximum(np.abs(lo), np.abs(hi))


_ABS_CACHE: weakref.WeakKeyDictionary[Op, Matrix] = weakref.WeakKeyDictionary()


def abs_weight(op: Affine) -> Matrix:
    """``|W|`` of an affine op, cached per op (ops are immutable once a network is built)."""
    A = _ABS_CACHE.get(op)
    if A is None:
        A = abs(op.W) if issparse(op.W) else np.abs(op.W)
        _ABS_CACHE[op] = A
    return A


def matvec(W: Matrix, x: np.ndarray) -> np.ndarray:
    """``x @ W.T`` for ``x`` of shape ``(B, n)``; dense ``(B, m)``."""
    if issparse(W):
        return np.asarray((W @ x.T).T)
    return x @ W.T


# ---------------------------------------------------------------- the record
@dataclass
class Bounds:
    """Bounds on every node of a network over ``B`` input boxes.

    Attributes:
        lower, upper: node name -> ``(B, size)``; the real value of the node lies in
            ``[lower, upper]`` for every input in the box (and, with ``fixed`` phases,
            every input whose ReLU pre-activations have those signs).
        out_lower, out_upper: ``(B, k)`` bounds on ``C @ y`` when ``C`` was given.
        C: the ``(B, k, n_out)`` matrix those bounds are about (``None`` without ``C``).
        lower_A, lower_b, upper_A, upper_b: linear bounds of the final target w.r.t. the
            input (CROWN only): ``lower_A[b] @ x + lower_b[b] <= C[b] @ y(x) <=
            upper_A[b] @ x + upper_b[b]`` for every ``x`` in box ``b``, with ``lower_A``
            of shape ``(B, k, n_in)`` and ``lower_b`` of shape ``(B, k)``.  With ``C=None``
            the target is ``y`` itself (``k = n_out``).  ``out_lower`` may be tighter than
            the minimum of ``lower_A @ x + lower_b`` over the box (it is intersected with
            interval bounds).
        infeasible: ``(B,)`` bool; True where some node has ``lower > upper``, i.e. the
            fixed phases cannot all hold in the box (every claim about it is vacuous).
        method: ``"interval"`` or ``"crown"``.
        lam: Relu node name -> ``(B, k, size)`` coefficients of the lower bounds of
            ``C @ y`` on the node's output, for the nodes asked for (CROWN's ``record``).
    """

    lower: dict[str, np.ndarray]
    upper: dict[str, np.ndarray]
    out_lower: np.ndarray | None = None
    out_upper: np.ndarray | None = None
    C: np.ndarray | None = None
    lower_A: np.ndarray | None = None
    lower_b: np.ndarray | None = None
    upper_A: np.ndarray | None = None
    upper_b: np.ndarray | None = None
    infeasible: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    method: str = "interval"
    lam: dict[str, np.ndarray] | None = None

    @property
    def batch(self) -> int:
        return int(self.infeasible.shape[0])

    def take(self, index: np.ndarray | slice) -> Bounds:
        """The bounds of a subset (or repetition) of the boxes, rows ``index``."""
        def sel(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[index]
        return replace(
            self,
            lower={k: v[index] for k, v in self.lower.items()},
            upper={k: v[index] for k, v in self.upper.items()},
            out_lower=sel(self.out_lower), out_upper=sel(self.out_upper), C=sel(self.C),
            lower_A=sel(self.lower_A), lower_b=sel(self.lower_b),
            upper_A=sel(self.upper_A), upper_b=sel(self.upper_b),
            infeasible=self.infeasible[index],
            lam=None if self.lam is None else {k: v[index] for k, v in self.lam.items()})


# ---------------------------------------------------------------- interval rules
def _affine(op: Affine, ins: list[Pair]) -> Pair:
    ((lo, hi),) = ins
    B = lo.shape[0]
    c = 0.5 * lo + 0.5 * hi
    # any float c works: r is rounded up so that [lo, hi] lies in [c - r, c + r] exactly
    r = np.nextafter(np.maximum(hi - c, c - lo), np.inf)
    mid = matvec(op.W, c) + op.b
    both = matvec(abs_weight(op), np.concatenate([r, np.abs(c) + r]))
    rad, mag = both[:B], both[B:]
    err = slack(op.n_in + 4, mag + np.abs(op.b))
    if op.has_error:  # the source operators run in float32
        err = err + op.float_error(np.abs(c) + r)
    return widen(mid - rad, mid + rad, err)


def _relu(op: Relu, ins: list[Pair]) -> Pair:
    ((lo, hi),) = ins
    return np.maximum(lo, 0.0), np.maximum(hi, 0.0)


def _sum(op: Sum, ins: list[Pair]) -> Pair:
    lo = ins[0][0].copy()
    hi = ins[0][1].copy()
    mag = magnitude(*ins[0])
    for l2, h2 in ins[1:]:
        lo += l2
        hi += h2
        mag += magnitude(l2, h2)
    return widen(lo, hi, slack(len(ins), mag) + op.err_rho * mag * (1 + 1e-12))


def _concat(op: Concat, ins: list[Pair]) -> Pair:
    return (np.concatenate([p[0] for p in ins], axis=1),
            np.concatenate([p[1] for p in ins], axis=1))


def pool_gather(op: MaxPool, x: np.ndarray, pad: float) -> tuple[np.ndarray, np.ndarray]:
    """``x`` gathered over the windows, ``(B, m, k)``, padding filled with ``pad``;
    and the window index array with padding mapped to the extra column ``n``."""
    n = x.shape[1]
    xp = np.concatenate([x, np.full((x.shape[0], 1), pad)], axis=1)
    idx = np.where(op.windows < 0, n, op.windows)
    return xp[:, idx], idx


def _maxpool(op: MaxPool, ins: list[Pair]) -> Pair:
    ((lo, hi),) = ins
    return (pool_gather(op, lo, -np.inf)[0].max(axis=2),
            pool_gather(op, hi, -np.inf)[0].max(axis=2))


IntervalRule = Callable[[Op, list[Pair]], Pair]

INTERVAL_RULES: dict[type[Op], IntervalRule] = {
    Affine: _affine,  # type: ignore[dict-item]
    Relu: _relu,  # type: ignore[dict-item]
    Sum: _sum,  # type: ignore[dict-item]
    Concat: _concat,  # type: ignore[dict-item]
    MaxPool: _maxpool,  # type: ignore[dict-item]
}
"""Interval rule per op kind: ``rule(op, [(lo, hi) of each input]) -> (lo, hi)``."""


def interval_rule(op: Op, name: str) -> IntervalRule:
    rule = INTERVAL_RULES.get(type(op))
    if rule is None:
        raise UnsupportedOperatorError(op.kind, name, "no bound rule for this IR operation")
    return rule


# ---------------------------------------------------------------- shared checks
def check_box(net: Network, lower: np.ndarray, upper: np.ndarray) -> Pair:
    """Validate a batch of input boxes; returns float64 ``(B, n_in)`` arrays."""
    n = net.n_inputs
    lo = np.atleast_2d(np.asarray(lower, dtype=np.float64))
    hi = np.atleast_2d(np.asarray(upper, dtype=np.float64))
    if lo.shape != hi.shape or lo.ndim != 2 or lo.shape[1] != n:
        raise InputError(f"{net.name or 'network'}: boxes must be (B, {n}) arrays, got lower "
                         f"{lo.shape} and upper {hi.shape}")
    if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
        raise InputError(f"{net.name or 'network'}: input boxes must be finite")
    if (lo > hi).any():
        b, j = np.argwhere(lo > hi)[0]
        raise InputError(f"{net.name or 'network'}: box {b} has lower > upper in input {j} "
                         f"({lo[b, j]} > {hi[b, j]})")
    return lo, hi


def check_fixed(net: Network, fixed: Mapping[str, np.ndarray] | None, B: int
                ) -> dict[str, np.ndarray]:
    """Validate ReLU phases: Relu node name -> int8 ``(B, size)`` in {-1, 0, +1}."""
    out: dict[str, np.ndarray] = {}
    for name, ph in (fixed or {}).items():
        if name not in net.graph or not isinstance(net.op(name), Relu):
            raise InputError(f"fixed phases name {name!r}, which is not a Relu node")
        size = net.op(name).size
        a = np.asarray(ph)
        try:
            a = np.broadcast_to(a, (B, size)).astype(np.int8)
        except ValueError:
            raise InputError(f"fixed phases of {name!r}: shape {np.shape(ph)}, expected "
                             f"({B}, {size})") from None
        if not np.isin(a, (-1, 0, 1)).all():
            raise InputError(f"fixed phases of {name!r} must be -1, 0 or +1")
        out[name] = a
    return out


def check_C(net: Network, C: np.ndarray | None, B: int) -> np.ndarray | None:
    """``C`` as a ``(B, k, n_out)`` float64 array (a ``(k, n_out)`` one is broadcast)."""
    if C is None:
        return None
    a = np.asarray(C, dtype=np.float64)
    n = net.n_outputs
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or a.shape[2] != n or a.shape[0] not in (1, B):
        raise InputError(f"C must be (k, {n}) or ({B}, k, {n}), got {np.shape(C)}")
    if not np.isfinite(a).all():
        raise InputError("C must be finite")
    return np.ascontiguousarray(np.broadcast_to(a, (B,) + a.shape[1:]))


def clip_phases(net: Network, name: str, lo: np.ndarray, hi: np.ndarray,
                fixed: dict[str, np.ndarray]) -> Pair:
    """Clip the bounds of node ``name`` by the phases of the Relus that read it."""
    for succ in net.graph.successors(name):
        ph = fixed.get(succ)
        if ph is not None:
            lo = np.where(ph > 0, np.maximum(lo, 0.0), lo)
            hi = np.where(ph < 0, np.minimum(hi, 0.0), hi)
    return lo, hi


def relu_forward(lo: np.ndarray, hi: np.ndarray, ph: np.ndarray | None) -> Pair:
    """Interval of a Relu output from (already clipped) input bounds and phases."""
    lo, hi = np.maximum(lo, 0.0), np.maximum(hi, 0.0)
    if ph is not None:
        lo = np.where(ph < 0, 0.0, lo)
        hi = np.where(ph < 0, 0.0, hi)
    return lo, hi


def linear_interval(C: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> Pair:
    """Bounds on ``C[b] @ y`` for ``y`` in ``[lo[b], hi[b]]``; ``C`` is ``(B, k, n)``."""
    c = 0.5 * lo + 0.5 * hi
    r = np.nextafter(np.maximum(hi - c, c - lo), np.inf)
    A = np.abs(C)
    mid = np.einsum("bkn,bn->bk", C, c)
    rad = np.einsum("bkn,bn->bk", A, r)
    mag = np.einsum("bkn,bn->bk", A, np.abs(c) + r)
    return widen(mid - rad, mid + rad, slack(C.shape[2] + 4, mag))


def interval_bounds(net: Network, lower: np.ndarray, upper: np.ndarray,
                    C: np.ndarray | None = None, *,
                    fixed: Mapping[str, np.ndarray] | None = None) -> Bounds:
    """Interval bounds on every node for ``B`` input boxes at once.

    Args:
        net: the network.
        lower, upper: ``(B, n_in)`` (or ``(n_in,)``) box corners, ``lower <= upper``.
        C: optional ``(k, n_out)`` or ``(B, k, n_out)``; bounds on ``C @ y`` are returned
            in ``out_lower``/``out_upper`` (``(B, k)``).
        fixed: optional Relu node name -> int8 ``(B, size)`` phases (+1 active, -1
            inactive, 0 free); bounds then hold for inputs that respect the phases.
    Returns:
        :class:`Bounds` with ``lower``/``upper`` for every node, ``method="interval"``.
    """
    lo_in, hi_in = check_box(net, lower, upper)
    B = lo_in.shape[0]
    ph = check_fixed(net, fixed, B)
    Cb = check_C(net, C, B)
    lo_d: dict[str, np.ndarray] = {}
    hi_d: dict[str, np.ndarray] = {}
    for name, op in net.plan:
        if isinstance(op, Input):
            lo, hi = lo_in, hi_in
        elif isinstance(op, Relu):
            lo, hi = relu_forward(lo_d[op.inputs[0]], hi_d[op.inputs[0]], ph.get(name))
        else:
            lo, hi = interval_rule(op, name)(op, [(lo_d[s], hi_d[s]) for s in op.inputs])
        lo, hi = clip_phases(net, name, lo, hi, ph)
        # overflow (inf, NaN) carries no information: such a bound is dropped
        lo_d[name] = np.where(np.isfinite(lo), lo, -np.inf)
        hi_d[name] = np.where(np.isfinite(hi), hi, np.inf)
    infeasible = np.zeros(B, dtype=bool)
    for name in lo_d:
        infeasible |= (lo_d[name] > hi_d[name]).any(axis=1)
    out_lo = out_hi = None
    if Cb is not None:
        out_lo, out_hi = linear_interval(Cb, lo_d[net.output_name], hi_d[net.output_name])
        out_lo = np.where(np.isfinite(out_lo), out_lo, -np.inf)
        out_hi = np.where(np.isfinite(out_hi), out_hi, np.inf)
    return Bounds(lo_d, hi_d, out_lo, out_hi, Cb, infeasible=infeasible, method="interval")
