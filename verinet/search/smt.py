"""Exact decisions with z3: one property case as a real-arithmetic SMT query.

Encoding
--------
Every float64 weight, bias and box bound ``v`` enters the query as the exact rational
``fractions.Fraction(v)``, so the query is about the real-arithmetic function of the
float64 network (a float32 model's weights are exact in float64, so the same holds for
it).  For one case the query asserts

* the input box ``lower <= x <= upper`` (or the sub-box ``box`` of the caller);
* each ``Affine`` row as the linear term ``sum_j W_ij u_j + b_i`` over the nonzeros of
  ``W`` only (dense or CSR), substituted into its consumers (no fresh variable);
* each ``Relu`` entry ``r = relu(z)`` of unknown phase as a Boolean ``p`` with
  ``p -> (z >= 0 & r = z)`` and ``!p -> (z <= 0 & r = 0)``, plus the redundant triangle
  ``r >= 0, r >= z, r <= s (z - l)`` over interval bounds ``l < 0 < u`` of ``z`` (``l``,
  ``u`` and the slope ``s >= u / (u - l)`` rounded outward to 8-bit rationals, so that
  they stay valid and add no long numbers).  An entry whose phase is known is replaced
  by its linear piece: ``z >= 0`` and ``r = z`` when active, ``z <= 0`` and ``r = 0`` when
  inactive.  A phase is known when the caller fixes it (``fixed``, from a ReLU splitting
  search) or when the interval bounds of ``z`` have one sign;
* ``Sum`` and ``Concat`` as sums and lists of terms, ``MaxPool`` as a chain of ``If``;
* the bad region: the disjunction over conjunctions of ``A_in x + A_out y <= b``.

The interval bounds are computed in float64 and widened by a bound on their rounding
error (a ``k``-term dot product is off by at most ``k u sum |terms|``, ``u = 2**-53``;
the widening uses ``4 (k + 2) u``), so every settled phase and every triangle is implied
by the exact constraints: they only spare z3 case splits.

Cost and measurements.  z3's simplex is exact, and with float64 coefficients (53-bit
numerators) its rationals grow long: a pivot costs far more than in floating point.
Random 2-10-input networks with 3-30 ReLUs (40 networks, 47 cases, 5 s limit each, total
z3 time with full float64 weights / with weights on a 2**-6 grid):

=====================================  ==================  ================
encoding                               float64 weights     6-bit weights
=====================================  ==================  ================
``If(z > 0, z, 0)``                    33.5 s, 3 timeouts  6.0 s
``If`` + triangle                      28.4 s, 3 timeouts  6.0 s
phase Booleans                         29.4 s, 3 timeouts  6.6 s
phase Booleans + triangle (default)    16.2 s, 1 timeout   3.5 s
default without interval pruning       79.2 s, 12 timeouts 8.3 s
=====================================  ==================  ================

So ``If`` and phase Booleans alone are on a par; the triangle helps the phase form most,
and settling stable ReLUs matters most.  Substituting affine terms instead of naming
them by equations saved a quarter of the total (one query: 2 s instead of over 10 s).  A
3 x 40 ReLU network with float64 weights is out of reach within seconds; a leaf of a ReLU
splitting search with all phases fixed (a linear program) takes tens of milliseconds.

Answers
-------
``sat``: the model's input values are read as exact rationals, rounded to float64 and
handed to ``checker.confirm``.  A solution exactly on the boundary of the bad region may
leave it after rounding (of ``x``, onto a float32 model's input grid, or of the forward
pass).  Then, before anything else, the point is *repaired* (:func:`_repair`): per
conjunction, HiGHS finds the point of largest smallest (normalised) slack on the linear
piece of the solution (its ReLU phases fixed, inside the box and the caller's phases),
and projected signed-gradient steps on the margin, measured on the model's input grid,
start from that point and from the solution (:func:`verinet.falsify.pgd.polish`); each
point whose margin is ``>= 0`` goes to the checker.  Only if none confirms is the query
solved again with each bad row strengthened by a margin ``rel * scale_row`` for ``rel``
in ``1e-12, 1e-9, 1e-6, 1e-4`` (``scale_row`` sums the magnitudes of the row's terms at
the first solution), repairing each new solution the same way, until a point confirms
or the strengthened query is ``unsat``.  Only a confirmed point is ever returned as
``sat``; otherwise the answer is ``unknown`` with a reason; the repair never decides
anything else.  The margins alone miss bad regions whose depth falls between two of
them, or below the float32 grid's resolution: a sliver ``3e-7`` (relative) deep in a
float32 ONNX model, for instance, where the ``1e-6`` query is ``unsat`` and the
``1e-9`` point rounds out.  (On random networks about 1 query in 300 needs this: a conjunction met
only within 1e-9 of its boundary, where the exact vertex z3 returns misses by 1e-16 in
float64 and the 1e-12 margin confirms.)

``unsat``: exact for the real-arithmetic function of the float64 weights.  The float64
(or float32, or onnxruntime) evaluation of the network rounds, and so may differ from it
by a relative ~1e-15 per layer; z3 does not model that.  The two can only disagree on a
bad region met (or missed) by a margin at the rounding level, where the answer depends
on the evaluation order and no two implementations agree either.  VNN-LIB defines the
property on the mathematical network, which z3 decides exactly, so closing a leaf with
z3 is sound for it.  The bound and LP engines never close such a branch (they require a
margin that covers float error), and a float counterexample is confirmed by concrete
runs wherever it comes from; so the one possible disagreement inside verinet is a
rounding-level ``sat`` next to z3's ``unsat``, never a wrong ``unsat`` with a margin.

Time: the solver's ``timeout`` is set from the time left before ``deadline``
(``time.monotonic()`` based) right before ``check``; ``check`` runs in a worker thread
while the calling thread waits in 20 ms steps and interrupts the z3 context 0.05 s after
the deadline (z3 does not poll its timeout everywhere, e.g. in preprocessing), and
encoding stops at the deadline.  Ctrl-C reaches the waiting thread as
``KeyboardInterrupt``: z3 is interrupted and the interrupt re-raised (never answered as
``unknown``).  Each solve uses a fresh solver: ``push`` would make z3
preprocess the assertions outside ``check``, where neither limit applies (seconds on a
3 x 40 network).  Measured overrun past the deadline: 0.1-0.4 s.
``stats.smt_calls`` counts solver checks, ``stats.time_smt`` their encoding and solving.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import scipy.sparse as sp
import z3

from ..config import LPConfig
from ..constraints.encoding import Encoding
from ..counterexample import CexChecker, to_input_precision
from ..errors import InputError, UnsupportedOperatorError
from ..falsify.pgd import polish
from ..lp import HighsLP, LPStatus
from ..network.ir import Network
from ..network.ops import Affine, Concat, MaxPool, Relu, Sum
from ..result import Counterexample, Stats
from ..spec.property import Case, Conjunction, Property
from .input_split import SplitOutcome

__all__ = ["SmtEncoding", "encode_case", "smt_decide", "smt_verify"]

_U = 2.0 ** -53
_TINY = 1e-300  # absolute widening: covers rounding in the subnormal range
_NUDGE = (1e-12, 1e-9, 1e-6, 1e-4)  # relative margins tried when a solution does not confirm
_GRACE = 0.05  # seconds past the deadline before the context is interrupted


class _OutOfTime(Exception):
    """The deadline passed while encoding."""


Terms = list  # a node's value: one z3 arithmetic term per entry
Interval = tuple[np.ndarray, np.ndarray]


@dataclass
class SmtEncoding:
    """The network over one box, in a private z3 context.

    Attributes:
        ctx: the context every term lives in.
        x: the ``n_in`` input variables.
        y: the ``n_out`` output terms.
        constraints: box, phase and triangle constraints.
        bounds: per node, float64 interval bounds ``(lower, upper)`` of its entries,
            widened to cover rounding (sound for the exact real function).
        relu_mode: ``"ite"`` or ``"phase"`` (see the module docstring).
        relax: add the triangle relaxation of each ReLU of unknown phase.
        free_relus: ReLU entries of unknown phase (z3's case splits).
    """

    ctx: z3.Context
    x: list
    y: list
    constraints: list
    bounds: dict[str, Interval]
    relu_mode: str = "phase"
    relax: bool = True
    free_relus: int = 0

    def q(self, v: float) -> z3.ArithRef:
        """The exact rational value of the float ``v`` as a z3 constant."""
        return z3.RealVal(Fraction(float(v)), self.ctx)

    def linear(self, coeffs: np.ndarray, terms: Sequence, const: float = 0.0) -> z3.ArithRef:
        """``sum_j coeffs[j] * terms[j] + const`` over the nonzero coefficients, exactly."""
        parts = [self.q(c) * terms[j] for j, c in zip(np.flatnonzero(coeffs), coeffs[coeffs != 0])]
        if const != 0.0 or not parts:
            parts.append(self.q(const))
        return parts[0] if len(parts) == 1 else z3.Sum(*parts)


def _widen(lo: np.ndarray, hi: np.ndarray, mag: np.ndarray, k: int) -> Interval:
    """``[lo, hi]`` widened by ``4 (k + 2) u mag``: the rounding of ``k``-term sums."""
    tol = 4.0 * (k + 2) * _U * mag + _TINY
    with np.errstate(invalid="ignore", over="ignore"):
        lo, hi = lo - tol, hi + tol
    # overflow (inf, NaN) carries no information: such a bound is dropped
    return np.where(np.isfinite(lo), lo, -np.inf), np.where(np.isfinite(hi), hi, np.inf)


def _enc_affine(enc: SmtEncoding, name: str, op: Affine, ins: list[Terms],
                bnds: list[Interval], phases) -> tuple[Terms, Interval]:
    (u,), ((lo, hi),) = ins, bnds
    W = sp.csr_array(op.W) if op.is_sparse else np.asarray(op.W)
    out = []
    for i in range(op.size):
        if sp.issparse(W):
            cols = W.indices[W.indptr[i]:W.indptr[i + 1]]
            vals = W.data[W.indptr[i]:W.indptr[i + 1]]
            row = [enc.q(w) * u[j] for j, w in zip(cols, vals) if w != 0]
            row.append(enc.q(op.b[i]))
            expr = row[0] if len(row) == 1 else z3.Sum(*row)
        else:
            expr = enc.linear(W[i], u, op.b[i])
        out.append(expr)
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        return out, (np.full(op.size, -np.inf), np.full(op.size, np.inf))
    Wp = W.maximum(0) if sp.issparse(W) else np.maximum(W, 0.0)
    Wn = W.minimum(0) if sp.issparse(W) else np.minimum(W, 0.0)
    Wa = abs(W)
    mag = np.maximum(np.abs(lo), np.abs(hi))
    new_lo = Wp @ lo + Wn @ hi + op.b
    new_hi = Wp @ hi + Wn @ lo + op.b
    k = int(np.max(np.diff(W.indptr))) if sp.issparse(W) else W.shape[1]
    new_lo, new_hi = _widen(np.asarray(new_lo), np.asarray(new_hi), Wa @ mag + np.abs(op.b), k)
    if op.has_error:  # run in float32, each entry lands within d of W u + b
        d = op.float_error(mag[None])[0]
        out = _with_error(enc, name, out, d)
        new_lo, new_hi = new_lo - d, new_hi + d
    return out, (new_lo, new_hi)


def _with_error(enc: SmtEncoding, name: str, terms: list, d: np.ndarray) -> list:
    """``terms[i] + e_i`` with fresh reals ``|e_i| <= d_i`` (rounded up to a rational)."""
    out = []
    for i, (t, di) in enumerate(zip(terms, d)):
        e = z3.Real(f"{name}#err{i}", enc.ctx)
        if np.isfinite(di):  # an overflowing bound leaves e free: nothing is assumed
            q = enc.q(float(np.nextafter(di, np.inf)))
            enc.constraints += [e <= q, e >= -q]
        out.append(t + e)
    return out


def _enc_relu(enc: SmtEncoding, name: str, op: Relu, ins: list[Terms],
              bnds: list[Interval], phases) -> tuple[Terms, Interval]:
    (z,), ((lo, hi),) = ins, bnds
    zero = z3.RealVal(0, enc.ctx)
    known = np.where(hi <= 0, -1, np.where(lo >= 0, 1, 0))
    if phases is not None:
        known = np.where(phases != 0, phases, known)
    out = []
    for i in range(op.size):
        if known[i] > 0:
            enc.constraints.append(z[i] >= 0)
            out.append(z[i])
        elif known[i] < 0:
            enc.constraints.append(z[i] <= 0)
            out.append(zero)
        else:
            out.append(_free_relu(enc, f"{name}[{i}]", z[i], lo[i], hi[i]))
    enc.free_relus += int(np.count_nonzero(known == 0))
    out_lo = np.where(known < 0, 0.0, np.maximum(lo, 0.0))
    out_hi = np.where(known < 0, 0.0, np.maximum(hi, 0.0))
    return out, (out_lo, out_hi)


def _coarse(v: Fraction, up: bool, bits: int = 8) -> Fraction:
    """``v`` rounded up (or down) to ``bits`` significant bits, exactly."""
    if v == 0:
        return Fraction(0)
    scale = Fraction(2) ** (bits - math.frexp(float(v))[1])
    n = v * scale
    return Fraction(math.ceil(n) if up else math.floor(n)) / scale


def _free_relu(enc: SmtEncoding, label: str, z, lo: float, hi: float):
    """``relu(z)`` for a ReLU of unknown phase, with its triangle relaxation when
    ``lo < 0 < hi`` are finite (redundant, rounded outward to short rationals)."""
    zero = z3.RealVal(0, enc.ctx)
    if enc.relu_mode == "phase":
        r, p = z3.Real(label, enc.ctx), z3.Bool(label + "?", enc.ctx)
        enc.constraints.append(z3.Implies(p, z3.And(z >= 0, r == z)))
        enc.constraints.append(z3.Implies(z3.Not(p), z3.And(z <= 0, r == 0)))
    elif enc.relax:
        r = z3.Real(label, enc.ctx)
        enc.constraints.append(r == z3.If(z > 0, z, zero))
    else:
        return z3.If(z > 0, z, zero)
    if enc.relax and np.isfinite(lo) and np.isfinite(hi):
        l, u = _coarse(Fraction(float(lo)), up=False), _coarse(Fraction(float(hi)), up=True)
        slope = _coarse(u / (u - l), up=True)
        enc.constraints += [r >= 0, r >= z,
                            r <= z3.RealVal(slope, enc.ctx) * (z - z3.RealVal(l, enc.ctx))]
    return r


def _enc_sum(enc, name, op: Sum, ins, bnds, phases):
    out = [z3.Sum(*parts) for parts in zip(*ins)]
    lo = np.sum([b[0] for b in bnds], axis=0)
    hi = np.sum([b[1] for b in bnds], axis=0)
    mag = np.sum([np.maximum(np.abs(a), np.abs(c)) for a, c in bnds], axis=0)
    lo, hi = _widen(lo, hi, mag, len(ins))
    if op.err_rho:
        d = op.err_rho * mag * (1 + 1e-12)
        out = _with_error(enc, name, out, d)
        lo, hi = lo - d, hi + d
    return out, (lo, hi)


def _enc_concat(enc, name, op: Concat, ins, bnds, phases):
    out = [t for part in ins for t in part]
    return out, (np.concatenate([b[0] for b in bnds]), np.concatenate([b[1] for b in bnds]))


def _enc_maxpool(enc, name, op: MaxPool, ins, bnds, phases):
    (u,), ((lo, hi),) = ins, bnds
    out = []
    for window in op.windows:
        idx = [int(j) for j in window if j >= 0]
        m = u[idx[0]]
        for j in idx[1:]:
            m = z3.If(u[j] > m, u[j], m)
        out.append(m)
    w = np.where(op.windows >= 0, op.windows, 0)
    pad = op.windows < 0
    out_lo = np.where(pad, -np.inf, lo[w]).max(axis=1)
    out_hi = np.where(pad, -np.inf, hi[w]).max(axis=1)
    return out, (out_lo, out_hi)


_ENCODERS: dict[type, Callable] = {
    Affine: _enc_affine, Relu: _enc_relu, Sum: _enc_sum, Concat: _enc_concat,
    MaxPool: _enc_maxpool,
}


def encode_case(network: Network, lower: np.ndarray, upper: np.ndarray, *,
                fixed: Mapping[str, np.ndarray] | None = None, relu_mode: str = "phase",
                prune: bool = True, relax: bool = True,
                deadline: float | None = None) -> SmtEncoding:
    """Encode ``network`` over the box ``[lower, upper]`` (see the module docstring).

    Args:
        fixed: optional ReLU node name -> int ``(size,)`` phases (+1 active, -1
            inactive, 0 free).
        relu_mode: ``"phase"`` (Booleans) or ``"ite"`` (``If`` terms).
        prune: use interval bounds to settle stable ReLUs (sound; off for testing).
        relax: add the triangle relaxation of ReLUs of unknown phase (needs ``prune``).
        deadline: ``time.monotonic()`` instant after which encoding stops (raises
            ``_OutOfTime``; :func:`smt_decide` answers ``timeout``).
    """
    ctx = z3.Context()
    fixed = dict(fixed or {})
    relus = {n for n, op in network.plan if isinstance(op, Relu)}
    for key, ph in fixed.items():
        if key not in relus:
            raise InputError(f"fixed phases name {key!r}, which is not a ReLU node of "
                             f"{network.name or 'the network'}")
        if np.shape(ph) != (network.op(key).size,):
            raise InputError(f"fixed phases of {key!r}: expected shape "
                             f"({network.op(key).size},), got {np.shape(ph)}")
    lo = np.asarray(lower, dtype=np.float64).reshape(-1)
    hi = np.asarray(upper, dtype=np.float64).reshape(-1)
    assert lo.shape == hi.shape == (network.n_inputs,), (
        f"box of {network.n_inputs} inputs expected, got {lo.shape} and {hi.shape}")
    enc = SmtEncoding(ctx, [], [], [], {}, relu_mode, relax)
    enc.x = [z3.Real(f"x[{i}]", ctx) for i in range(lo.size)]
    for xi, a, b in zip(enc.x, lo, hi):
        if a == b:
            enc.constraints.append(xi == enc.q(a))
        else:
            enc.constraints += [xi >= enc.q(a), xi <= enc.q(b)]
    vals: dict[str, Terms] = {network.input_name: enc.x}
    enc.bounds[network.input_name] = (lo, hi)
    for name, op in network.plan[1:]:
        if deadline is not None and time.monotonic() >= deadline:
            raise _OutOfTime
        rule = _ENCODERS.get(type(op))
        if rule is None:
            raise UnsupportedOperatorError(op.kind, name, "the z3 encoding has no rule for it")
        ins = [vals[s] for s in op.inputs]
        bnds = [enc.bounds[s] for s in op.inputs]
        if not prune:
            bnds = [(np.full_like(a, -np.inf), np.full_like(b, np.inf)) for a, b in bnds]
        ph = fixed.get(name)
        vals[name], enc.bounds[name] = rule(enc, name, op, ins, bnds,
                                            None if ph is None else np.asarray(ph))
    enc.y = vals[network.output_name]
    return enc


def _bad_region(enc: SmtEncoding, case: Case, conj: Sequence[int], rel: float,
                scale: list[np.ndarray] | None) -> z3.BoolRef:
    """The disjunction of the chosen conjunctions, each row tightened by ``rel * scale``."""
    ors = []
    for j in conj:
        c = case.bad[j]
        rows = []
        for r in range(c.k):
            lhs = enc.linear(c.A_out[r], enc.y)
            if c.A_in is not None:
                lhs = lhs + enc.linear(c.A_in[r], enc.x)
            rhs = Fraction(float(c.b[r]))
            if rel > 0 and scale is not None:
                rhs -= Fraction(rel) * Fraction(float(scale[j][r]))
            if c.strict is not None and c.strict[r]:  # exactly as written: <
                rows.append(lhs < z3.RealVal(rhs, enc.ctx))
            else:
                rows.append(lhs <= z3.RealVal(rhs, enc.ctx))
        ors.append(z3.And(*rows) if rows else z3.BoolVal(True, enc.ctx))
    return z3.Or(*ors) if ors else z3.BoolVal(False, enc.ctx)


def _row_scales(network: Network, case: Case, conj: Sequence[int], x: np.ndarray
                ) -> list[np.ndarray]:
    """Per conjunction, per row: ``|b| + |A_out| |y(x)| + |A_in| |x|`` (at least 1)."""
    y = network.evaluate(x[None])[0]
    out: list[np.ndarray] = [np.zeros(0)] * len(case.bad)
    for j in conj:
        c = case.bad[j]
        s = np.abs(c.b) + np.abs(c.A_out) @ np.abs(y)
        if c.A_in is not None:
            s = s + np.abs(c.A_in) @ np.abs(x)
        out[j] = np.maximum(s, 1.0)
    return out


def _solve(enc: SmtEncoding, bad: z3.BoolRef, deadline: float, stats: Stats
           ) -> tuple[str, np.ndarray | None, str]:
    """One z3 solve of the encoding and ``bad``, bounded by ``deadline``.

    Returns ``("sat", x, "")`` with the model's input point, ``("unsat", None, "")``, or
    ``("timeout" | "unknown", None, reason)``.  A fresh solver is used each time: pushing
    a scope would make z3 preprocess the assertions outside ``check`` and its timeout.

    ``check`` runs in a worker thread while this (the calling) thread waits in short
    steps: past ``deadline + _GRACE`` it interrupts the context, and on Ctrl-C
    (``KeyboardInterrupt`` here, or z3 reporting that it was cancelled without our
    interrupt) it interrupts z3, waits for it and raises ``KeyboardInterrupt``.
    """
    left = deadline - time.monotonic()
    if left <= 0:
        return "timeout", None, ""
    stats.smt_calls += 1
    solver = z3.Solver(ctx=enc.ctx)
    solver.add(*enc.constraints)
    solver.add(bad)
    left = deadline - time.monotonic()
    if left <= 0:
        return "timeout", None, ""
    solver.set("timeout", max(1, int(left * 1000)))
    box: dict = {}

    def work() -> None:
        try:
            box["res"] = solver.check()
        except z3.Z3Exception as exc:
            box["exc"] = exc

    worker = threading.Thread(target=work, daemon=True)
    stopped = False  # whether we interrupted z3 for the deadline
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.02)
            if not stopped and time.monotonic() > deadline + _GRACE:
                stopped = True
                enc.ctx.interrupt()
    except KeyboardInterrupt:
        enc.ctx.interrupt()
        worker.join()
        raise
    try:
        res = box.get("res")
        if res == z3.sat:
            return "sat", _model_point(enc, solver.model()), ""
        if res == z3.unsat:
            return "unsat", None, ""
        why = solver.reason_unknown() if res is not None else f"z3 failed: {box.get('exc')}"
    except z3.Z3Exception as exc:  # e.g. reading the model
        why = f"z3 failed: {exc}"
    if not stopped and _cancelled(why) and time.monotonic() < deadline - 0.1:
        raise KeyboardInterrupt  # z3 caught a Ctrl-C itself and gave up
    if time.monotonic() >= deadline or "timeout" in why or "canceled" in why:
        return "timeout", None, ""
    return "unknown", None, f"z3 returned unknown ({why})"


def _cancelled(why: str) -> bool:
    """Whether z3's ``reason_unknown`` says it was stopped from outside."""
    w = why.lower()
    return "cancel" in w or "interrupt" in w


def _model_point(enc: SmtEncoding, model: z3.ModelRef) -> np.ndarray:
    """The model's input values, exact rationals rounded to the nearest float64."""
    vals = []
    for xi in enc.x:
        v = model.eval(xi, model_completion=True)
        if z3.is_rational_value(v):
            vals.append(float(Fraction(v.numerator_as_long(), v.denominator_as_long())))
        else:  # an algebraic number cannot arise from linear constraints; be safe anyway
            vals.append(float(Fraction(v.approx(20).as_fraction())))
    return np.array(vals, dtype=np.float64)


def smt_decide(network: Network, case: Case, checker: CexChecker, deadline: float,
               stats: Stats, *, fixed: Mapping[str, np.ndarray] | None = None,
               box: tuple[np.ndarray, np.ndarray] | None = None,
               conj: Sequence[int] | None = None, relu_mode: str = "phase",
               prune: bool = True) -> SplitOutcome:
    """Decide one case exactly with z3.

    Args:
        network, case: the query; ``case`` must be one of ``checker.prop``'s cases (the
            checker confirms counterexamples against the property).
        checker: confirms a solution before it is reported ``sat``.
        deadline: ``time.monotonic()`` instant by which to answer (``timeout`` after).
        stats: ``smt_calls`` and ``time_smt`` are added to.
        fixed: ReLU node name -> ``(size,)`` phases (+1 active, -1 inactive, 0 free),
            restricting the query to a node of a ReLU-splitting search.
        box: ``(lower, upper)`` replacing the case's box (a sub-box of it).
        conj: indices of the conjunctions to consider (default: all of them).
        relu_mode, prune: encoding options (see :func:`encode_case`).
    Returns:
        ``sat`` with a confirmed counterexample, ``unsat``, ``timeout``, or ``unknown``
        with a reason.
    """
    t0 = time.monotonic()
    try:
        out = _decide(network, case, checker, deadline, stats, fixed, box, conj, relu_mode,
                      prune)
        if out.status == "unknown" and network.models_float and time.monotonic() < deadline:
            # the float32 encoding reaches the bad region only through its rounding
            # allowance, with no point that confirms; the exact (real) encoding may still
            # give one that does (a witness is checked whatever encoding produced it)
            real = _decide(network.real(), case, checker, deadline, stats, fixed, box, conj,
                           relu_mode, prune)
            if real.status == "sat":
                return real
        return out
    finally:
        stats.time_smt += time.monotonic() - t0


def _decide(network, case, checker, deadline, stats, fixed, box, conj, relu_mode, prune):
    conj = list(range(len(case.bad))) if conj is None else list(conj)
    if not conj:
        return SplitOutcome("unsat")
    lo, hi = box if box is not None else (case.box.lower, case.box.upper)
    try:
        enc = encode_case(network, lo, hi, fixed=fixed, relu_mode=relu_mode, prune=prune,
                          deadline=deadline)
    except _OutOfTime:
        return SplitOutcome("timeout")
    scale = None
    tried: set = set()  # (conjunction, activation pattern) pairs whose LP was solved
    for rel in (0.0, *_NUDGE):
        status, x, why = _solve(enc, _bad_region(enc, case, conj, rel, scale), deadline, stats)
        if status in ("timeout", "unknown"):
            return SplitOutcome(status, reason=why)
        if status == "unsat":
            if rel == 0.0:
                return SplitOutcome("unsat")
            return SplitOutcome("unknown", reason=(
                "z3 reaches the bad region only within a relative margin of "
                f"{rel:g} of its boundary, and no such point confirms in floating point"))
        cex = checker.confirm(x, source="z3")
        if cex is None:
            cex = _repair(network, case, conj, x, lo, hi, enc, fixed, checker, deadline, stats,
                          tried)
        if cex is not None:
            return SplitOutcome("sat", cex)
        if scale is None:
            scale = _row_scales(network, case, conj, x)
            if not all(np.isfinite(np.asarray(v, dtype=float)).all() for v in scale):
                return SplitOutcome("unknown", reason=(
                    "z3's point does not confirm, and the rows' scale overflows: no margin "
                    "to retry with"))
    return SplitOutcome("unknown", reason=(
        f"z3 solutions, even {_NUDGE[-1]:g} (relative) inside the bad region, did not "
        "confirm in floating point"))


def _repair(network: Network, case: Case, conj: Sequence[int], x: np.ndarray,
            lo: np.ndarray, hi: np.ndarray, enc: SmtEncoding,
            fixed: Mapping[str, np.ndarray] | None, checker: CexChecker, deadline: float,
            stats: Stats, tried: set) -> Counterexample | None:
    """Look for a confirmed point next to z3's rejected solution ``x``.

    Per conjunction (those deepest at ``x`` first): the deepest point of the linear
    piece of ``x`` (:func:`_piece_point`), then projected gradient steps on the margin
    from that point and from ``x`` (:func:`~verinet.falsify.pgd.polish`, measured on the
    model's input grid).  Only ``checker``-confirmed points come back; nothing here can
    lead to ``unsat``.
    """
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    live = [j for j in conj if case.bad[j].k > 0]
    y = network.evaluate(x[None])
    live.sort(key=lambda j: -float(case.bad[j].slack(x[None], y).min()))
    dtype = checker.input_dtype

    def project(z: np.ndarray) -> np.ndarray:
        return to_input_precision(z, lo, hi, dtype)

    for j in live:
        starts = []
        if time.monotonic() < deadline:
            xl = _piece_point(network, case.bad[j], x, lo, hi, enc, fixed, deadline, stats,
                              tried, j)
            if xl is not None:
                stats.candidates += 1
                cex = checker.confirm(xl, source="z3+lp")
                if cex is not None:
                    return cex
                starts.append(xl)
        starts.append(x)
        for x0 in starts:
            for cand in polish(network, case.bad[j], x0, lo, hi, project=project,
                               deadline=deadline):
                stats.candidates += 1
                cex = checker.confirm(cand, source="z3+pgd")
                if cex is not None:
                    return cex
            if time.monotonic() >= deadline:
                return None
    return None


def _piece_point(network: Network, conj: Conjunction, x: np.ndarray, lo: np.ndarray,
                 hi: np.ndarray, enc: SmtEncoding, fixed: Mapping[str, np.ndarray] | None,
                 deadline: float, stats: Stats, tried: set, j: int) -> np.ndarray | None:
    """The input point of largest smallest slack of ``conj`` on ``x``'s linear piece.

    The ReLU phases are read off the float64 pass at ``x`` (ties active; the caller's
    ``fixed`` phases win), the network's rows become the equalities of
    :class:`~verinet.constraints.encoding.Encoding`, each active ReLU adds ``post = pre``
    and ``pre >= 0``, each inactive one ``pre <= 0`` and ``post = 0``, inside the box and
    the interval bounds of ``enc``; HiGHS then minimises the depth column ``t`` of the
    bad rows ``A_in x + A_out y - ||row|| t <= b``.  ``None`` when the network has no
    such LP (MaxPool, unbounded intervals), the piece was tried before, the LP is not
    optimal, or time is up.
    """
    try:
        lp_enc = Encoding(network)
    except UnsupportedOperatorError:
        return None
    vals = network.evaluate_all(x[None])
    col_lo = np.empty(lp_enc.n_cols)
    col_hi = np.empty(lp_enc.n_cols)
    for name, cols in lp_enc.cols.items():
        if isinstance(network.op(name), Concat):
            continue
        if name == network.input_name:
            col_lo[cols], col_hi[cols] = lo, hi
        else:
            col_lo[cols], col_hi[cols] = enc.bounds[name]
    pattern = []
    eq_rows, eq_cols, eq_vals = [], [], []
    for layer in lp_enc.relus:
        src = network.op(layer.name).inputs[0]
        ph = np.where(vals[src][0] >= 0, 1, -1)
        given = (fixed or {}).get(layer.name)
        if given is not None:
            ph = np.where(np.asarray(given) != 0, np.asarray(given), ph)
        pattern.append(ph.astype(np.int8).tobytes())
        on, off = ph > 0, ph < 0
        col_lo[layer.pre[on]] = np.maximum(col_lo[layer.pre[on]], 0.0)
        col_hi[layer.pre[off]] = np.minimum(col_hi[layer.pre[off]], 0.0)
        col_lo[layer.post[off]] = col_hi[layer.post[off]] = 0.0
        for k in np.flatnonzero(on):
            row = len(eq_rows) // 2
            eq_rows += [row, row]
            eq_cols += [int(layer.post[k]), int(layer.pre[k])]
            eq_vals += [1.0, -1.0]
    key = (j, tuple(pattern))
    if key in tried:
        return None
    tried.add(key)
    xmag = np.maximum(np.abs(lo), np.abs(hi))
    ymag = np.maximum(np.abs(col_lo[lp_enc.y_cols]), np.abs(col_hi[lp_enc.y_cols]))
    norms = np.sqrt((conj.A_out ** 2).sum(axis=1)
                    + ((conj.A_in ** 2).sum(axis=1) if conj.A_in is not None else 0.0))
    reach = np.abs(conj.b) + np.abs(conj.A_out) @ ymag
    if conj.A_in is not None:
        reach = reach + np.abs(conj.A_in) @ xmag
    col_lo[lp_enc.t_col] = -(1.0 + float(np.max(reach / np.maximum(norms, 1e-12))))
    col_hi[lp_enc.t_col] = 0.0
    if (not (np.all(np.isfinite(col_lo)) and np.all(np.isfinite(col_hi))) or np.any(col_lo > col_hi)
            or np.max(np.abs(np.concatenate([col_lo, col_hi]))) >= 1e15):
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        return None
    lp = HighsLP(lp_enc.n_cols, col_lo, col_hi, LPConfig())
    blocks = [lp_enc.network_rows(), lp_enc.bad_rows(conj)]
    if eq_rows:
        n_eq = len(eq_rows) // 2
        A = sp.csr_matrix((eq_vals, (eq_rows, eq_cols)), shape=(n_eq, lp_enc.n_cols))
        blocks.append((A, np.zeros(n_eq), np.zeros(n_eq)))
    for A, rl, ru in blocks:
        if A.shape[0]:
            lp.add_rows(A, rl, ru)
    c = np.zeros(lp_enc.n_cols)
    c[lp_enc.t_col] = 1.0
    lp.set_objective(c, "min")
    stats.lps += 1
    res = lp.solve(time_limit=left)
    if res.status is not LPStatus.OPTIMAL or res.x is None:
        return None
    return np.clip(res.x[lp_enc.x_cols], lo, hi)


def smt_verify(network: Network, prop: Property, deadline: float, stats: Stats,
               checker: CexChecker) -> SplitOutcome:
    """Decide every case of ``prop`` with z3: ``sat`` if one is, ``unsat`` if all are."""
    undecided = None
    for case in prop.cases:
        out = smt_decide(network, case, checker, deadline, stats)
        if out.status in ("sat", "timeout"):
            return out
        if out.status == "unknown":
            undecided = out
    return undecided or SplitOutcome("unsat")
