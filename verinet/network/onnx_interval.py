"""Interval arithmetic over an ONNX graph, for models the piecewise-linear IR refuses.

:class:`IntervalGraph` evaluates a model on a box of inputs and returns, for every
output element, an interval that contains the value of the **real-valued** function the
graph denotes, for every input in the box.  It covers operators outside the IR —
smooth ones (Sigmoid, Tanh, Exp, Pow, Softmax, Div, products of two values) and step
ones (Greater, Less, Equal, Where, Not/And/Or, Cast to integers or booleans, Floor,
Ceil) — besides the affine, ReLU and data-movement operators, so that the graph-split
engine (:mod:`verinet.search.graph_split`) can prove ``unsat`` from these bounds and
look for ``sat`` by sampling.  Bounds are loose (no relaxation is optimised); that
engine is meant for small input dimensions.

Soundness in floating point: every arithmetic result is widened outward by more than
float64 rounding can move it (a relative term on the magnitudes involved, plus the
smallest normal number), so the interval contains the exact real result.  Casts to
float types are the identity (the real-valued reading, see ``docs/vnnlib2.md``); casts
to integers truncate toward zero and casts to ``bool`` test for non-zero, exactly.
Unbounded results (a division by an interval containing zero, an overflow) are
``-inf``/``+inf``; ``nan`` never escapes (it becomes the unbounded interval).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..errors import ModelLoadError, UnsupportedOperatorError

__all__ = ["IntervalGraph", "INTERVAL_OPS"]

Pair = tuple[np.ndarray, np.ndarray]
_EPS = np.finfo(np.float64).eps
_TINY = np.finfo(np.float64).tiny
_INT_TYPES = {2, 3, 4, 5, 6, 7, 12, 13}  # uint8 int8 uint16 int16 int32 int64 uint32 uint64
_BOOL = 9


def _clean(lo: np.ndarray, hi: np.ndarray) -> Pair:
    lo = np.where(np.isnan(lo), -np.inf, lo)
    hi = np.where(np.isnan(hi), np.inf, hi)
    return lo, hi


def _widen(lo, hi, scale=None, ops: int = 1) -> Pair:
    """``[lo, hi]`` pushed outward by ``ops`` roundings of values of magnitude ``scale``."""
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    if scale is None:
        scale = np.maximum(np.abs(lo), np.abs(hi))
    pad = 4.0 * (ops + 1) * _EPS * np.asarray(scale, dtype=np.float64) + _TINY
    with np.errstate(invalid="ignore", over="ignore"):
        return _clean(lo - pad, hi + pad)


def _point(v: np.ndarray) -> Pair:
    a = np.asarray(v, dtype=np.float64)
    return a, a


def _hull(*pairs: Pair) -> Pair:
    lo = pairs[0][0]
    hi = pairs[0][1]
    for p_lo, p_hi in pairs[1:]:
        lo = np.minimum(lo, p_lo)
        hi = np.maximum(hi, p_hi)
    return lo, hi


def _mul(a: Pair, b: Pair) -> Pair:
    with np.errstate(invalid="ignore", over="ignore"):
        c = [a[i] * b[j] for i in (0, 1) for j in (0, 1)]
    c = [np.where(np.isnan(t), 0.0, t) for t in c]  # 0 * unbounded: the product is 0
    lo = np.minimum(np.minimum(c[0], c[1]), np.minimum(c[2], c[3]))
    hi = np.maximum(np.maximum(c[0], c[1]), np.maximum(c[2], c[3]))
    return _widen(lo, hi)


def _recip(b: Pair) -> Pair:
    lo, hi = b
    spans_zero = (lo <= 0) & (hi >= 0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        r_lo = np.where(spans_zero, -np.inf, 1.0 / hi)
        r_hi = np.where(spans_zero, np.inf, 1.0 / lo)
    return _widen(r_lo, r_hi)


def _monotone(fn: Callable, a: Pair, increasing: bool = True, ops: int = 4) -> Pair:
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        f_lo, f_hi = fn(a[0]), fn(a[1])
    if not increasing:
        f_lo, f_hi = f_hi, f_lo
    return _widen(f_lo, f_hi, ops=ops)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.where(x >= 0, 1.0 / (1.0 + np.exp(-x)), np.exp(x) / (1.0 + np.exp(x)))


def _pow(a: Pair, p: Pair) -> Pair:
    if not np.array_equal(p[0], p[1]):  # a varying exponent: exp(e * ln(base)), base > 0
        lo, hi = np.broadcast_arrays(a[0], a[1])
        with np.errstate(divide="ignore", invalid="ignore"):
            ln = _widen(np.log(np.where(lo > 0, lo, 1.0)), np.log(np.where(lo > 0, hi, 1.0)),
                        ops=4)
        lo_e, hi_e = _monotone(np.exp, _mul(ln, p))
        lo_e = np.where(lo > 0, np.maximum(lo_e, 0.0), -np.inf)
        return lo_e, np.where(lo > 0, hi_e, np.inf)
    e = p[0]
    lo, hi, e = np.broadcast_arrays(a[0], a[1], e)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        f_lo, f_hi = np.power(lo, e), np.power(hi, e)
    is_int = e == np.round(e)
    even = is_int & (np.mod(e, 2) == 0)
    both_lo, both_hi = np.minimum(f_lo, f_hi), np.maximum(f_lo, f_hi)
    spans = (lo < 0) & (hi > 0)
    # even integer powers: the minimum over an interval holding 0 is 0 (or +inf for e < 0)
    z = np.where(e > 0, 0.0, np.where(e == 0, 1.0, np.inf))
    out_lo = np.where(even & spans, np.minimum(z, both_lo), both_lo)
    out_hi = np.where(even & spans & (e < 0), np.inf, both_hi)
    # odd negative powers across 0 are unbounded; fractional powers of negatives are nan
    odd_neg = is_int & ~even & (e < 0) & (lo <= 0) & (hi >= 0)
    frac_neg = ~is_int & (lo < 0)
    bad = odd_neg | frac_neg
    out_lo = np.where(bad, -np.inf, out_lo)
    out_hi = np.where(bad, np.inf, out_hi)
    return _widen(out_lo, out_hi, ops=8)


def _compare(a: Pair, b: Pair, op: str) -> Pair:
    a_lo, a_hi = a
    b_lo, b_hi = b
    if op == "Greater":
        yes, no = a_lo > b_hi, a_hi <= b_lo
    elif op == "GreaterOrEqual":
        yes, no = a_lo >= b_hi, a_hi < b_lo
    elif op == "Less":
        yes, no = a_hi < b_lo, a_lo >= b_hi
    elif op == "LessOrEqual":
        yes, no = a_hi <= b_lo, a_lo > b_hi
    else:  # Equal
        yes = (a_lo == a_hi) & (b_lo == b_hi) & (a_lo == b_lo)
        no = (a_hi < b_lo) | (b_hi < a_lo)
    return np.where(yes, 1.0, 0.0), np.where(no, 0.0, 1.0)


def _softmax_last(a: Pair) -> Pair:
    """Softmax bounds over the last axis: ``1 / (1 + sum_{j != i} exp(x_j - x_i))``."""
    lo, hi = a
    n = lo.shape[-1]
    off = ~np.eye(n, dtype=bool)
    with np.errstate(over="ignore", invalid="ignore"):
        d_lo = np.exp(hi[..., None, :] - lo[..., :, None])  # largest exp(x_j - x_i)
        d_hi = np.exp(lo[..., None, :] - hi[..., :, None])
        s_lo = np.where(off, d_lo, 0.0).sum(axis=-1)
        s_hi = np.where(off, d_hi, 0.0).sum(axis=-1)
        out_lo = 1.0 / (1.0 + s_lo)
        out_hi = 1.0 / (1.0 + s_hi)
    out_lo = np.where(np.isnan(out_lo), 0.0, out_lo)
    out_hi = np.where(np.isnan(out_hi), 1.0, out_hi)
    w_lo, w_hi = _widen(out_lo, out_hi, ops=4 * n + 8)
    return np.clip(w_lo, 0.0, 1.0), np.clip(w_hi, 0.0, 1.0)


def _matmul(a: Pair, b: Pair) -> Pair:
    a_lo, a_hi = a
    b_lo, b_hi = b
    k = a_lo.shape[-1]
    if np.array_equal(b_lo, b_hi) and np.all(np.isfinite(a_lo)) and np.all(np.isfinite(a_hi)):
        mid, rad = (a_lo + a_hi) / 2, (a_hi - a_lo) / 2
        w = b_lo
        c, r = mid @ w, rad @ np.abs(w)
        scale = np.abs(mid) @ np.abs(w) + r
        return _widen(c - r, c + r, scale=scale, ops=k + 4)
    if np.array_equal(a_lo, a_hi) and np.all(np.isfinite(b_lo)) and np.all(np.isfinite(b_hi)):
        mid, rad = (b_lo + b_hi) / 2, (b_hi - b_lo) / 2
        w = a_lo
        c, r = w @ mid, np.abs(w) @ rad
        scale = np.abs(w) @ np.abs(mid) + r
        return _widen(c - r, c + r, scale=scale, ops=k + 4)
    a2 = (a_lo[..., :, :, None], a_hi[..., :, :, None]) if a_lo.ndim >= 2 else \
        (a_lo[None, :, None], a_hi[None, :, None])
    b2 = (b_lo[..., None, :, :], b_hi[..., None, :, :]) if b_lo.ndim >= 2 else \
        (b_lo[None, :, None][..., None, :, :], b_hi[None, :, None][..., None, :, :])
    p_lo, p_hi = _mul(a2, b2)
    with np.errstate(invalid="ignore"):
        lo, hi = _clean(p_lo.sum(axis=-2), p_hi.sum(axis=-2))
    scale = np.maximum(np.abs(p_lo), np.abs(p_hi)).sum(axis=-2)
    lo, hi = _widen(lo, hi, scale=scale, ops=k + 4)
    if a_lo.ndim == 1:
        lo, hi = lo[..., 0, :], hi[..., 0, :]
    if b_lo.ndim == 1:
        lo, hi = lo[..., 0], hi[..., 0]
    return lo, hi


def _add(a: Pair, b: Pair, sign: float = 1.0) -> Pair:
    b_lo, b_hi = (b[0], b[1]) if sign > 0 else (-b[1], -b[0])
    with np.errstate(invalid="ignore", over="ignore"):
        lo, hi = a[0] + b_lo, a[1] + b_hi
    scale = np.maximum(np.maximum(np.abs(a[0]), np.abs(a[1])),
                       np.maximum(np.abs(b_lo), np.abs(b_hi)))
    return _widen(lo, hi, scale=scale)


def _both(fn: Callable, a: Pair, *args) -> Pair:
    """A data-movement function applied to both ends (it moves values, never changes them)."""
    return fn(a[0], *args), fn(a[1], *args)


def _const(p: Pair, what: str) -> np.ndarray:
    if p is None:
        return None
    if not np.array_equal(p[0], p[1]):
        raise ValueError(f"{what} must not depend on the network input")
    return p[0]


def _ints(p: Pair | None, what: str) -> list[int] | None:
    v = _const(p, what) if p is not None else None
    return None if v is None else [int(t) for t in np.asarray(v).reshape(-1)]


class _Node:
    """What an interval rule sees: the node, its attributes and the model's opset."""

    def __init__(self, node: onnx.NodeProto, opset: int):
        self.node = node
        self.opset = opset
        self.attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}

    def get(self, name: str, default=None):
        return self.attrs.get(name, default)


Rule = Callable[[_Node, list], list]
INTERVAL_OPS: dict[str, Rule] = {}


def _rule(*names: str):
    def deco(fn: Rule) -> Rule:
        for n in names:
            INTERVAL_OPS[n] = fn
        return fn
    return deco


@_rule("Identity", "Dropout")
def _r_identity(n, ins):
    return [ins[0]]


@_rule("Constant")
def _r_constant(n, ins):
    a = n.attrs
    if "value" in a:
        return [_point(numpy_helper.to_array(a["value"]))]
    for key in ("value_float", "value_floats", "value_int", "value_ints"):
        if key in a:
            return [_point(np.array(a[key]))]
    raise ValueError("a Constant without a numeric value")


@_rule("ConstantOfShape")
def _r_constant_of_shape(n, ins):
    shape = _ints(ins[0], "the shape")
    val = numpy_helper.to_array(n.get("value")).reshape(-1)[0] if "value" in n.attrs else 0.0
    return [_point(np.full(shape, float(val)))]


@_rule("Shape")
def _r_shape(n, ins):
    shape = np.array(ins[0][0].shape, dtype=np.float64)
    start, end = n.get("start", 0), n.get("end", None)
    return [_point(shape[start:end])]


@_rule("Size")
def _r_size(n, ins):
    return [_point(np.array(float(ins[0][0].size)))]


@_rule("Cast")
def _r_cast(n, ins):
    to = n.get("to")
    lo, hi = ins[0]
    if to in _INT_TYPES:  # truncation; out of the type's range ONNX leaves it undefined
        info = np.iinfo(helper.tensor_dtype_to_np_dtype(to))
        t_lo, t_hi = np.trunc(lo), np.trunc(hi)
        inside = (t_lo >= info.min) & (t_hi <= info.max)
        return [(np.where(inside, t_lo, -np.inf), np.where(inside, t_hi, np.inf))]
    if to == _BOOL:
        zero_only = (lo == 0) & (hi == 0)
        has_zero = (lo <= 0) & (hi >= 0)
        return [(np.where(has_zero, 0.0, 1.0), np.where(zero_only, 0.0, 1.0))]
    return [(lo, hi)]  # a float type: the real-valued reading


@_rule("Reshape")
def _r_reshape(n, ins):
    shape = _ints(ins[1], "the target shape")
    src = ins[0][0].shape
    if not n.get("allowzero", 0):
        shape = [src[i] if s == 0 else s for i, s in enumerate(shape)]
    return [_both(np.reshape, ins[0], shape)]


@_rule("Flatten")
def _r_flatten(n, ins):
    shape = ins[0][0].shape
    axis = n.get("axis", 1) % max(len(shape), 1) if shape else 0
    lead = int(np.prod(shape[:axis])) if axis else 1
    return [_both(np.reshape, ins[0], (lead, -1))]


def _axes(n: _Node, ins: list, pos: int = 1) -> list[int] | None:
    if "axes" in n.attrs:
        return list(n.get("axes"))
    if len(ins) > pos and ins[pos] is not None:
        return _ints(ins[pos], "the axes")
    return None


@_rule("Squeeze")
def _r_squeeze(n, ins):
    axes = _axes(n, ins)
    rank = ins[0][0].ndim
    return [_both(np.squeeze, ins[0], None if axes is None else tuple(a % rank for a in axes))]


@_rule("Unsqueeze")
def _r_unsqueeze(n, ins):
    axes = _axes(n, ins)
    rank = ins[0][0].ndim + len(axes)
    return [_both(np.expand_dims, ins[0], tuple(sorted(a % rank for a in axes)))]


@_rule("Transpose")
def _r_transpose(n, ins):
    perm = n.get("perm")
    return [_both(np.transpose, ins[0], None if perm is None else list(perm))]


@_rule("Concat")
def _r_concat(n, ins):
    axis = n.get("axis")
    parts = [p for p in ins if p is not None and p[0].size]
    if not parts:
        parts = [p for p in ins if p is not None]
    return [(np.concatenate([p[0] for p in parts], axis=axis),
             np.concatenate([p[1] for p in parts], axis=axis))]


@_rule("Slice")
def _r_slice(n, ins):
    x = ins[0]
    rank = x[0].ndim
    if n.opset < 10:
        starts, ends = list(n.get("starts")), list(n.get("ends"))
        axes, steps = n.get("axes"), None
    else:
        starts, ends = _ints(ins[1], "starts"), _ints(ins[2], "ends")
        axes = _ints(ins[3], "axes") if len(ins) > 3 and ins[3] is not None else None
        steps = _ints(ins[4], "steps") if len(ins) > 4 and ins[4] is not None else None
    axes = list(range(len(starts))) if axes is None else list(axes)
    steps = [1] * len(starts) if steps is None else steps
    idx = [slice(None)] * rank
    for s, e, a, st in zip(starts, ends, axes, steps):
        dim = x[0].shape[a % rank]
        big = np.iinfo(np.int64).max // 2
        s = max(min(s, dim), -dim - 1) if abs(s) < big else (dim if s > 0 else -dim - 1)
        e = max(min(e, dim), -dim - 1) if abs(e) < big else (dim if e > 0 else -dim - 1)
        if st > 0:
            s = min(max(s + dim if s < 0 else s, 0), dim)
            e = min(max(e + dim if e < 0 else e, 0), dim)
        else:
            s = min(max(s + dim if s < 0 else s, -1), dim - 1)
            e = min(max(e + dim if e < 0 else e, -1), dim - 1)
            e = None if e < 0 else e
        idx[a % rank] = slice(s, e, st)
    t = tuple(idx)
    return [(x[0][t], x[1][t])]


@_rule("Gather")
def _r_gather(n, ins):
    idx = _const(ins[1], "the indices").astype(np.int64)
    axis = n.get("axis", 0)
    dim = ins[0][0].shape[axis]
    idx = np.where(idx < 0, idx + dim, idx)
    return [_both(np.take, ins[0], idx, axis)]


@_rule("Expand")
def _r_expand(n, ins):
    shape = _ints(ins[1], "the shape")
    lo = ins[0][0]
    target = np.broadcast_shapes(lo.shape, tuple(shape))
    return [_both(np.broadcast_to, ins[0], target)]


@_rule("Split")
def _r_split(n, ins):
    axis = n.get("axis", 0)
    x = ins[0]
    dim = x[0].shape[axis]
    sizes = n.get("split")
    if sizes is None and len(ins) > 1 and ins[1] is not None:
        sizes = _ints(ins[1], "the split sizes")
    k = len(n.node.output)
    if sizes is None:
        step = -(-dim // k)
        sizes = [min(step, dim - i * step) for i in range(k)]
    cuts = np.cumsum(sizes)[:-1]
    return list(zip(np.split(x[0], cuts, axis=axis), np.split(x[1], cuts, axis=axis)))


@_rule("Add", "Sum")
def _r_add(n, ins):
    acc = ins[0]
    for b in ins[1:]:
        acc = _add(acc, b)
    return [acc]


@_rule("Sub")
def _r_sub(n, ins):
    return [_add(ins[0], ins[1], -1.0)]


@_rule("Neg")
def _r_neg(n, ins):
    return [(-ins[0][1], -ins[0][0])]


@_rule("Mul")
def _r_mul(n, ins):
    return [_mul(ins[0], ins[1])]


@_rule("Div")
def _r_div(n, ins):
    return [_mul(ins[0], _recip(ins[1]))]


@_rule("Reciprocal")
def _r_reciprocal(n, ins):
    return [_recip(ins[0])]


@_rule("Pow")
def _r_pow(n, ins):
    return [_pow(ins[0], ins[1])]


@_rule("Relu")
def _r_relu(n, ins):
    return [(np.maximum(ins[0][0], 0.0), np.maximum(ins[0][1], 0.0))]


@_rule("LeakyRelu")
def _r_leaky(n, ins):
    alpha = float(n.get("alpha", 0.01))
    f = (lambda v: np.where(v >= 0, v, alpha * v))
    return [_monotone(f, ins[0], increasing=alpha >= 0, ops=1)]


@_rule("Abs")
def _r_abs(n, ins):
    lo, hi = ins[0]
    a_lo = np.where((lo <= 0) & (hi >= 0), 0.0, np.minimum(np.abs(lo), np.abs(hi)))
    return [(a_lo, np.maximum(np.abs(lo), np.abs(hi)))]


@_rule("Sigmoid")
def _r_sigmoid(n, ins):
    lo, hi = _monotone(_sigmoid, ins[0])
    return [(np.clip(lo, 0.0, 1.0), np.clip(hi, 0.0, 1.0))]


@_rule("Tanh")
def _r_tanh(n, ins):
    lo, hi = _monotone(np.tanh, ins[0])
    return [(np.clip(lo, -1.0, 1.0), np.clip(hi, -1.0, 1.0))]


@_rule("Exp")
def _r_exp(n, ins):
    lo, hi = _monotone(np.exp, ins[0])
    return [(np.maximum(lo, 0.0), hi)]


@_rule("Sqrt")
def _r_sqrt(n, ins):
    lo, hi = ins[0]
    s_lo, s_hi = _monotone(np.sqrt, (np.maximum(lo, 0.0), hi))
    return [(np.where(lo < 0, -np.inf, np.maximum(s_lo, 0.0)), np.where(np.isnan(s_hi), np.inf,
                                                                           s_hi))]


@_rule("Floor", "Ceil", "Round", "Sign")
def _r_step(n, ins):
    f = {"Floor": np.floor, "Ceil": np.ceil, "Round": np.round, "Sign": np.sign}
    return [_both(f[n.node.op_type], ins[0])]


@_rule("Greater", "GreaterOrEqual", "Less", "LessOrEqual", "Equal")
def _r_compare(n, ins):
    return [_compare(ins[0], ins[1], n.node.op_type)]


@_rule("Not")
def _r_not(n, ins):
    return [(1.0 - ins[0][1], 1.0 - ins[0][0])]


@_rule("And", "Or", "Max", "Min")
def _r_andor(n, ins):
    f = np.minimum if n.node.op_type in ("And", "Min") else np.maximum
    lo, hi = ins[0]
    for b in ins[1:]:
        lo, hi = f(lo, b[0]), f(hi, b[1])
    return [(lo, hi)]


@_rule("Where")
def _r_where(n, ins):
    c, a, b = ins
    lo = np.where(c[0] >= 1, a[0], np.where(c[1] <= 0, b[0], np.minimum(a[0], b[0])))
    hi = np.where(c[0] >= 1, a[1], np.where(c[1] <= 0, b[1], np.maximum(a[1], b[1])))
    return [(lo, hi)]


@_rule("Clip")
def _r_clip(n, ins):
    lo, hi = ins[0]
    if n.opset < 11:
        m = None if n.get("min") is None else _point(np.array(n.get("min")))
        big = None if n.get("max") is None else _point(np.array(n.get("max")))
    else:
        m = ins[1] if len(ins) > 1 else None
        big = ins[2] if len(ins) > 2 else None
    if m is not None:
        lo, hi = np.maximum(lo, m[0]), np.maximum(hi, m[1])
    if big is not None:
        lo, hi = np.minimum(lo, big[0]), np.minimum(hi, big[1])
    return [(lo, hi)]


@_rule("MatMul")
def _r_matmul(n, ins):
    return [_matmul(ins[0], ins[1])]


@_rule("Gemm")
def _r_gemm(n, ins):
    a, b = ins[0], ins[1]
    if n.get("transA", 0):
        a = _both(np.swapaxes, a, -1, -2)
    if n.get("transB", 0):
        b = _both(np.swapaxes, b, -1, -2)
    out = _matmul(a, b)
    alpha, beta = float(n.get("alpha", 1.0)), float(n.get("beta", 1.0))
    if alpha != 1.0:
        out = _mul(out, _point(np.array(alpha)))
    if len(ins) > 2 and ins[2] is not None:
        c = ins[2] if beta == 1.0 else _mul(ins[2], _point(np.array(beta)))
        out = _add(out, c)
    return [out]


@_rule("ReduceSum", "ReduceMean")
def _r_reduce(n, ins):
    axes = _axes(n, ins)
    lo, hi = ins[0]
    if axes is None and n.get("noop_with_empty_axes", 0):
        return [(lo, hi)]
    ax = None if axes is None else tuple(a % lo.ndim for a in axes)
    keep = bool(n.get("keepdims", 1))
    s_lo, s_hi = lo.sum(axis=ax, keepdims=keep), hi.sum(axis=ax, keepdims=keep)
    count = lo.size // max(s_lo.size, 1)
    scale = np.maximum(np.abs(lo), np.abs(hi)).sum(axis=ax, keepdims=keep)
    if n.node.op_type == "ReduceMean":
        s_lo, s_hi, scale = s_lo / count, s_hi / count, scale / count
    return [_widen(s_lo, s_hi, scale=scale, ops=count + 2)]


@_rule("Softmax")
def _r_softmax(n, ins):
    lo, hi = ins[0]
    shape = lo.shape
    if n.opset < 13:
        axis = n.get("axis", 1) % lo.ndim
        flat = (int(np.prod(shape[:axis])), -1)
        out = _softmax_last((lo.reshape(flat), hi.reshape(flat)))
        return [(out[0].reshape(shape), out[1].reshape(shape))]
    axis = n.get("axis", -1) % lo.ndim
    moved = (np.moveaxis(lo, axis, -1), np.moveaxis(hi, axis, -1))
    out = _softmax_last(moved)
    return [(np.moveaxis(out[0], -1, axis), np.moveaxis(out[1], -1, axis))]


@_rule("BatchNormalization")
def _r_batchnorm(n, ins):
    x, scale, bias, mean, var = ins[:5]
    eps = float(n.get("epsilon", 1e-5))
    shape = (-1,) + (1,) * (x[0].ndim - 2)
    s = _const(scale, "scale").reshape(shape)
    v = _const(var, "variance").reshape(shape)
    m = _const(mean, "mean").reshape(shape)
    b = _const(bias, "bias").reshape(shape)
    k = s / np.sqrt(v + eps)
    centred = _add(x, _point(m), -1.0)
    return [_widen(*_add(_mul(centred, _widen(k, k, ops=4)), _point(b)))]


class IntervalGraph:
    """A model's main graph, ready to be evaluated on boxes (see the module docstring).

    Args:
        model: the ONNX model: one graph input (the one that is not an initializer),
            one graph output.
        path: the file name used in messages.
    Raises:
        UnsupportedOperatorError: a node whose operator has no interval rule here.
    """

    def __init__(self, model: onnx.ModelProto, path: str = "<model>"):
        g = model.graph
        self.path = path
        self.opset = next((int(o.version) for o in model.opset_import
                           if o.domain in ("", "ai.onnx")), 13)
        self.consts = {t.name: _point(numpy_helper.to_array(t)) for t in g.initializer}
        inputs = [i for i in g.input if i.name not in self.consts]
        if len(inputs) != 1 or len(g.output) != 1:
            raise ModelLoadError(f"{path}: interval evaluation needs one input and one output, "
                                 f"found {len(inputs)} and {len(g.output)}")
        self.input = inputs[0].name
        dims = inputs[0].type.tensor_type.shape.dim
        self.input_shape = tuple(int(d.dim_value) if d.dim_value > 0 else 1 for d in dims)
        self.output = g.output[0].name
        for node in g.node:
            if node.domain not in ("", "ai.onnx"):
                raise UnsupportedOperatorError(f"{node.domain}.{node.op_type}",
                                               node.name or node.output[0],
                                               "operators outside the default ONNX domain "
                                               "are not supported", path)
            if node.op_type not in INTERVAL_OPS:
                raise UnsupportedOperatorError(node.op_type, node.name or node.output[0],
                                               "no interval rule for this operator", path)
        self.nodes = [_Node(node, self.opset) for node in g.node]

    def evaluate(self, lower: np.ndarray, upper: np.ndarray) -> Pair:
        """Bounds ``(lo, hi)`` of the flattened output over the box ``[lower, upper]``."""
        lo, hi = self._run(lower, upper, None)
        return lo, hi

    def softmax_groups(self, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
        """Per flattened output, the id of the Softmax group it belongs to, or ``-1``.

        A group is reported only when all its members reach the output exactly once,
        moved by data-movement operators only: then their values sum to exactly 1 (a
        fact the per-element intervals lose, and the property check can use).
        """
        tags: dict[str, np.ndarray] = {}
        self._run(lower, upper, tags)
        out = tags.get(self.output)
        if out is None:
            return np.full(self._run(lower, upper, None)[0].size, -1)
        out = out.reshape(-1).astype(np.int64)
        sizes = tags["__sizes__"]
        ids, counts = np.unique(out[out >= 0], return_counts=True)
        for i, c in zip(ids, counts):
            if c != sizes[int(i)]:
                out[out == i] = -1
        return out

    def _run(self, lower, upper, tags: dict | None) -> Pair:
        env: dict[str, Pair] = dict(self.consts)
        env[self.input] = (np.asarray(lower, dtype=np.float64).reshape(self.input_shape),
                           np.asarray(upper, dtype=np.float64).reshape(self.input_shape))
        for n in self.nodes:
            ins = [env[i] if i else None for i in n.node.input]
            name = n.node.name or n.node.output[0]
            try:
                outs = INTERVAL_OPS[n.node.op_type](n, ins)
                if tags is not None:
                    self._tag(n, ins, outs, tags)
            except (ValueError, TypeError, IndexError, KeyError) as exc:
                raise UnsupportedOperatorError(n.node.op_type, name,
                                               f"cannot bound it ({exc})", self.path) from None
            for out_name, val in zip(n.node.output, outs):
                if out_name:
                    env[out_name] = (np.asarray(val[0], dtype=np.float64),
                                     np.asarray(val[1], dtype=np.float64))
        lo, hi = env[self.output]
        return lo.reshape(-1), hi.reshape(-1)

    def _tag(self, n: _Node, ins: list, outs: list, tags: dict) -> None:
        """Carry Softmax group ids through data movement (see :meth:`softmax_groups`)."""
        sizes = tags.setdefault("__sizes__", [])
        op = n.node.op_type
        if op == "Softmax":
            lo = ins[0][0]
            if n.opset < 13:
                axis = n.get("axis", 1) % lo.ndim
                inner = int(np.prod(lo.shape[axis:]))
                ids = np.arange(lo.size).reshape(-1, inner)[:, :1] // inner
                ids = np.broadcast_to(ids, (lo.size // inner, inner)).reshape(lo.shape)
                size = inner
            else:
                axis = n.get("axis", -1) % lo.ndim
                idx = np.indices(lo.shape)
                keep = [d for d in range(lo.ndim) if d != axis]
                flat = np.ravel_multi_index([idx[d] for d in keep],
                                            [lo.shape[d] for d in keep]) if keep else \
                    np.zeros(lo.shape, dtype=np.int64)
                ids = flat
                size = lo.shape[axis]
            base = len(sizes)
            sizes.extend([size] * (int(ids.max()) + 1 if ids.size else 0))
            tags[n.node.output[0]] = (ids + base).astype(np.float64)
            return
        moving = op in _DATA_MOVEMENT or (op == "Cast" and n.get("to") not in _INT_TYPES
                                          and n.get("to") != _BOOL)
        if not moving:
            return
        data = range(len(ins)) if op == "Concat" else range(1)
        t_ins = list(ins)
        for i in data:
            src = n.node.input[i]
            t = tags.get(src)
            if t is None:
                t = np.full(ins[i][0].shape, -1.0)
            t_ins[i] = (t, t)
        if all(tags.get(n.node.input[i]) is None for i in data):
            return
        for out_name, val in zip(n.node.output, INTERVAL_OPS[op](n, t_ins)):
            tags[out_name] = np.asarray(val[0], dtype=np.float64)


_DATA_MOVEMENT = {"Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose",
                  "Concat", "Slice", "Gather", "Expand", "Split", "Dropout"}
