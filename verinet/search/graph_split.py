"""Input splitting on interval bounds of an ONNX graph: the engine for models the IR refuses.

A model with operators outside the piecewise-linear IR (Sigmoid, Pow, Div, Greater,
Where, Cast to integers, ...) cannot be encoded exactly, but it can still be decided on
small input boxes.  :func:`graph_split` keeps a stack of ``(case, box)`` items and, for
each, in this order:

1. bounds the outputs over the box with :class:`~verinet.network.onnx_interval.IntervalGraph`
   (sound for the real-valued function); a box on which every conjunction of the case has
   a row that cannot hold is closed;
2. tries points of the box (its centre, and random points at the root) in the model
   itself, run by ``run`` (onnxruntime, float32): a point inside the case's box whose
   outputs meet a conjunction is a counterexample, already replayed;
3. else halves the box along the input with the largest width, weighted by how much that
   input moved the output bounds at the root.

``unsat`` only when every box was closed by bounds; a box that reaches float32
resolution without closing is left open and the answer is ``unknown``.  Bounds are
interval arithmetic (no relaxation), so this is for small input dimensions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..counterexample import case_margin, to_input_precision
from ..spec.property import Case, Property

__all__ = ["GraphOutcome", "graph_split", "conjunction_closed"]

_EPS = np.finfo(np.float64).eps
_ROOT_SAMPLES = 64


@dataclass
class GraphOutcome:
    status: str  # "sat", "unsat", "timeout", "unknown"
    x: np.ndarray | None = None
    reason: str = ""
    boxes: int = 0


def _row_lower(a: np.ndarray | None, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray,
                                                                              np.ndarray]:
    """Lower bounds of ``a @ v`` over ``lo <= v <= hi`` and the magnitudes summed."""
    if a is None:
        return np.zeros(0), np.zeros(0)
    with np.errstate(invalid="ignore", over="ignore"):
        terms = np.where(a > 0, a * lo, np.where(a < 0, a * hi, 0.0))
        terms = np.where(np.isnan(terms), -np.inf, terms)
    return terms.sum(axis=1), np.abs(terms).sum(axis=1)


def _group_lower(a: np.ndarray, ylo: np.ndarray, yhi: np.ndarray,
                 groups: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Lower bounds of ``a @ y`` using that the members of each Softmax group sum to 1:
    ``a_G @ y_G = c + (a_G - c) @ y_G`` for any ``c``, with ``c`` the smallest (or the
    largest) coefficient, whichever bound is higher."""
    if groups is None or not np.any(groups >= 0):
        return _row_lower(a, ylo, yhi)
    free = groups < 0
    low, mag = _row_lower(a[:, free], ylo[free], yhi[free])
    for g in np.unique(groups[~free]):
        m = groups == g
        a_g = a[:, m]
        plain, p_mag = _row_lower(a_g, ylo[m], yhi[m])
        c1, c2 = a_g.min(axis=1), a_g.max(axis=1)
        with np.errstate(invalid="ignore", over="ignore"):
            t1 = np.where(a_g > c1[:, None], (a_g - c1[:, None]) * ylo[m], 0.0)
            t2 = np.where(a_g < c2[:, None], (a_g - c2[:, None]) * yhi[m], 0.0)
        t1 = np.where(np.isnan(t1), -np.inf, t1)
        t2 = np.where(np.isnan(t2), -np.inf, t2)
        alt1, alt2 = c1 + t1.sum(axis=1), c2 + t2.sum(axis=1)
        low = low + np.maximum(plain, np.maximum(alt1, alt2))
        mag = mag + p_mag + np.abs(c1) + np.abs(c2) + np.abs(t1).sum(axis=1) \
            + np.abs(t2).sum(axis=1) + 1.0
    return low, mag


def conjunction_closed(conj, lo: np.ndarray, hi: np.ndarray, ylo: np.ndarray,
                       yhi: np.ndarray, groups: np.ndarray | None = None) -> bool:
    """Whether some row of ``conj`` cannot hold for any ``x`` in the box and ``y`` in the
    output bounds (a strict row also fails when its lower bound equals ``b``).
    ``groups``: Softmax group ids of the outputs (see ``IntervalGraph.softmax_groups``)."""
    if conj.k == 0:
        return False
    coef = conj.A_out if conj.A_in is None else np.hstack([conj.A_out, conj.A_in])
    l_in, m_in = (0.0, 0.0) if conj.A_in is None else _row_lower(conj.A_in, lo, hi)
    k = coef.shape[1]
    # one term with a power-of-two coefficient is computed exactly; else pad for rounding
    nnz = np.count_nonzero(coef, axis=1)
    exact = (nnz <= 1) & (np.frexp(np.abs(coef).max(axis=1))[0] == 0.5)
    low, mag = _row_lower(conj.A_out, ylo, yhi)
    with np.errstate(invalid="ignore"):
        low, mag = low + l_in, mag + m_in
        pad = 4.0 * (k + 2) * _EPS * (mag + np.abs(conj.b)) + np.finfo(np.float64).tiny
        low = np.where(exact, low, low - pad)
        if groups is not None and np.any(groups >= 0):
            g_low, g_mag = _group_lower(conj.A_out, ylo, yhi, groups)
            g_low, g_mag = g_low + l_in, g_mag + m_in
            g_pad = 4.0 * (k + 4) * _EPS * (g_mag + np.abs(conj.b)) + np.finfo(np.float64).tiny
            low = np.maximum(low, g_low - g_pad)
    strict = conj.strict if conj.strict is not None else np.zeros(conj.k, dtype=bool)
    fails = np.where(strict, low >= conj.b, low > conj.b)
    return bool(np.any(fails & np.isfinite(low)))


def _closed(case: Case, lo, hi, ylo, yhi, groups) -> bool:
    return all(conjunction_closed(c, lo, hi, ylo, yhi, groups) for c in case.bad)


def _resolution(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Widths below which halving cannot separate float32 inputs any more."""
    mag = np.maximum(np.abs(lo), np.abs(hi))
    return np.maximum(mag * 2.0 ** -22, 2.0 ** -140)


def graph_split(evaluate: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
                run: Callable[[np.ndarray], np.ndarray], prop: Property, deadline: float,
                seed: int = 0, groups: np.ndarray | None = None) -> GraphOutcome:
    """Decide ``prop`` by interval bounds (``evaluate(lo, hi) -> (ylo, yhi)``) and points
    run through the model (``run(x) -> y``, both flat); see the module docstring.
    ``groups``: outputs that form Softmax groups (each sums to exactly 1), or ``None``."""
    rng = np.random.default_rng(seed)
    boxes = 0
    open_boxes = 0

    def try_point(case: Case, x: np.ndarray, lo, hi) -> np.ndarray | None:
        xr = to_input_precision(x, lo, hi, "float32")
        if not bool(case.box.contains(xr)):
            return None
        y = np.asarray(run(xr), dtype=np.float64).reshape(-1)
        if not np.all(np.isfinite(y)):
            return None
        return xr if case_margin(case, xr[None, :], y[None, :])[0] >= 0 else None

    for case in prop.cases:
        lo0, hi0 = case.box.lower.copy(), case.box.upper.copy()
        weight = _influence(evaluate, lo0, hi0, deadline)
        for x in [(lo0 + hi0) / 2, lo0, hi0,
                  *rng.uniform(lo0, hi0, size=(_ROOT_SAMPLES, lo0.size))]:
            hit = try_point(case, x, lo0, hi0)
            if hit is not None:
                return GraphOutcome("sat", hit, boxes=boxes)
        scale = np.where(hi0 > lo0, hi0 - lo0, 1.0)
        stack = [(lo0, hi0)]
        while stack:
            if time.monotonic() > deadline:
                return GraphOutcome("timeout", boxes=boxes)
            lo, hi = stack.pop()
            boxes += 1
            ylo, yhi = evaluate(lo, hi)
            if _closed(case, lo, hi, ylo, yhi, groups):
                continue
            hit = try_point(case, (lo + hi) / 2, lo, hi)
            if hit is not None:
                return GraphOutcome("sat", hit, boxes=boxes)
            width = hi - lo
            splittable = width > _resolution(lo, hi)
            if not np.any(splittable):
                open_boxes += 1
                continue
            score = np.where(splittable, width / scale * weight, -1.0)
            d = int(np.argmax(score))
            mid = lo[d] + width[d] / 2
            left_hi, right_lo = hi.copy(), lo.copy()
            left_hi[d] = mid
            right_lo[d] = mid
            stack.append((right_lo, hi))
            stack.append((lo, left_hi))
    if open_boxes:
        return GraphOutcome("unknown", reason=f"{open_boxes} input box(es) at float32 "
                            "resolution could be neither closed by interval bounds nor "
                            "shown to hold a counterexample", boxes=boxes)
    return GraphOutcome("unsat", boxes=boxes)


def _influence(evaluate, lo: np.ndarray, hi: np.ndarray, deadline: float) -> np.ndarray:
    """Per input, how much halving it narrows the output bounds at the root (``1e-3``
    for inputs that did not move them: they are split last, never skipped)."""
    ylo, yhi = evaluate(lo, hi)
    base = _finite_width(ylo, yhi)
    gain = np.zeros(lo.size)
    for d in np.flatnonzero(hi > lo):
        if time.monotonic() > deadline:
            return np.ones(lo.size)
        h = hi.copy()
        h[d] = lo[d] + (hi[d] - lo[d]) / 2
        l2 = lo.copy()
        l2[d] = h[d]
        w = (_finite_width(*evaluate(lo, h)) + _finite_width(*evaluate(l2, hi))) / 2
        gain[d] = max(base - w, 0.0)
    top = gain.max() if gain.size else 0.0
    return np.where(gain > 0, gain / top, 1e-3) if top > 0 else np.ones(lo.size)


def _finite_width(ylo: np.ndarray, yhi: np.ndarray) -> float:
    w = yhi - ylo
    return float(np.where(np.isfinite(w), np.minimum(w, 1e30), 1e30).sum())
