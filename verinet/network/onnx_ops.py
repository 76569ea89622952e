"""One converter per ONNX op type, registered in ``CONVERTERS``.

A converter receives the :class:`~verinet.network.onnx_import.Context`, the node and
its inputs (each a :class:`Var`, a constant ``np.ndarray`` or ``None`` for an omitted
optional input; at least one is a ``Var``) and returns the node's outputs.  Linear
operators become affine maps (``ctx.linear``), data movement becomes index maps
(``ctx.index_map``, free for pure reshapes), and the rest become IR operations.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from .onnx_import import Context, Value, Var
from .onnx_proto import DOUBLE, FLOAT, attribute_value, type_name
from .ops import Concat as ConcatOp
from .ops import MaxPool as MaxPoolOp
from .ops import Relu as ReluOp
from .ops import Sum as SumOp
from .ops import gamma32
from .tensor_ops import align, conv, pool_windows, reshape_target, spatial_pads

if TYPE_CHECKING:
    import onnx

__all__ = ["CONVERTERS"]

Converter = Callable[[Context, "onnx.NodeProto", list], list[Value]]
CONVERTERS: dict[str, Converter] = {}


def register(*op_types: str):
    def deco(fn: Converter) -> Converter:
        for t in op_types:
            CONVERTERS[t] = fn
        return fn
    return deco


def attrs(node: onnx.NodeProto) -> dict:
    return {a.name: attribute_value(a) for a in node.attribute}


def _const(ctx: Context, v, what: str) -> np.ndarray:
    if isinstance(v, Var):
        raise ctx.unsupported(f"{what} must be a constant, but it depends on the network input")
    return v


def _ints(v) -> list[int]:
    return [int(t) for t in np.asarray(v).reshape(-1)]


def _axis(axis: int, rank: int) -> int:
    a = int(axis)
    if not -rank <= a < rank:
        raise ValueError(f"axis {axis} out of range for rank {rank}")
    return a % rank


def _only_var(ctx: Context, inputs: list, pos: int = 0) -> Var:
    v = inputs[pos]
    if not isinstance(v, Var):
        raise ctx.unsupported(f"input {pos} must carry the network's values")
    for i, other in enumerate(inputs):
        if i != pos and isinstance(other, Var):
            raise ctx.unsupported(f"input {i} must be a constant, but it depends on the input")
    return v


def _broadcast_shape(*shapes) -> tuple[int, ...]:
    return tuple(int(d) for d in np.broadcast_shapes(*shapes))


# ------------------------------------------------------------------ reshapes (free)
@register("Identity", "Dropout")
def _identity(ctx, node, inputs):
    v = _only_var(ctx, inputs[:1])
    if node.op_type == "Dropout":
        a = attrs(node)
        training = inputs[2] if len(inputs) > 2 else None
        if training is not None and bool(np.asarray(_const(ctx, training, "training_mode"))):
            raise ctx.unsupported("Dropout in training mode is random")
        if len(node.output) > 1 and node.output[1]:
            raise ctx.unsupported("the Dropout mask output is not supported")
        del a
    return [v]


@register("Cast")
def _cast(ctx, node, inputs):
    v = _only_var(ctx, inputs)
    to = attrs(node).get("to")
    # float32 <-> float64 casts are taken as the identity (a float64 -> float32 cast inside
    # a float64 model rounds, which the error model does not cover).  Narrower types
    # round hard (float16: 11 significant bits) or are not real at all: refused.
    if to not in (FLOAT, DOUBLE):
        name = type_name(to) if to is not None else "?"
        raise ctx.unsupported(f"a cast of network values to {name}, which rounds them "
                              "(verinet reasons in real arithmetic on float32/float64 values); "
                              "export the model in float32 without the cast")
    return [v]


@register("Flatten")
def _flatten(ctx, node, inputs):
    v = _only_var(ctx, inputs)
    r = len(v.shape)
    axis = attrs(node).get("axis", 1)
    axis = axis + r if axis < 0 else axis
    if not 0 <= axis <= r:
        raise ValueError(f"axis {axis} out of range for rank {r}")
    lead = int(np.prod(v.shape[:axis], dtype=np.int64))
    return [Var(v.node, (lead, v.size // lead if lead else 0))]


@register("Reshape")
def _reshape(ctx, node, inputs):
    v = _only_var(ctx, inputs)
    a = attrs(node)
    target = a["shape"] if len(inputs) < 2 else _ints(_const(ctx, inputs[1], "the shape"))
    return [Var(v.node, reshape_target(v.shape, target, bool(a.get("allowzero", 0))))]


def _axes_arg(ctx, node, inputs, pos=1):
    a = attrs(node)
    if "axes" in a:
        return list(a["axes"])
    if len(inputs) > pos and inputs[pos] is not None:
        return _ints(_const(ctx, inputs[pos], "the axes"))
    return None


@register("Squeeze")
def _squeeze(ctx, node, inputs):
    v = _only_var(ctx, inputs)
    axes = _axes_arg(ctx, node, inputs)
    r = len(v.shape)
    if axes is None:
        shape = tuple(d for d in v.shape if d != 1)
    else:
        ax = {_axis(x, r) for x in axes}
        if any(v.shape[x] != 1 for x in ax):
            raise ValueError(f"cannot squeeze axes {axes} of shape {v.shape}")
        shape = tuple(d for i, d in enumerate(v.shape) if i not in ax)
    return [Var(v.node, shape)]


@register("Unsqueeze")
def _unsqueeze(ctx, node, inputs):
    v = _only_var(ctx, inputs)
    axes = _axes_arg(ctx, node, inputs)
    if axes is None:
        raise ValueError("Unsqueeze needs axes")
    r = len(v.shape) + len(axes)
    ax = sorted(_axis(x, r) for x in axes)
    shape = list(v.shape)
    for x in ax:
        shape.insert(x, 1)
    return [Var(v.node, tuple(shape))]


# ------------------------------------------------------------------ index maps
@register("Transpose")
def _transpose(ctx, node, inputs):
    v = _only_var(ctx, inputs)
    perm = attrs(node).get("perm", list(reversed(range(len(v.shape)))))
    full = (0,) + tuple(int(p) + 1 for p in perm)
    return [ctx.index_map(v, lambda x: np.transpose(x, full))]


@register("Slice")
def _slice(ctx, node, inputs):
    v = _only_var(ctx, inputs)
    r = len(v.shape)
    if ctx.opset < 10:
        a = attrs(node)
        starts, ends = a["starts"], a["ends"]
        axes = a.get("axes", list(range(len(starts))))
        steps = [1] * len(starts)
    else:
        starts = _ints(_const(ctx, inputs[1], "starts"))
        ends = _ints(_const(ctx, inputs[2], "ends"))
        axes = (_ints(_const(ctx, inputs[3], "axes")) if len(inputs) > 3
                and inputs[3] is not None else list(range(len(starts))))
        steps = (_ints(_const(ctx, inputs[4], "steps")) if len(inputs) > 4
                 and inputs[4] is not None else [1] * len(starts))
    sl = [slice(None)] * r
    for s, e, ax, st in zip(starts, ends, axes, steps):
        if st == 0:
            raise ValueError("Slice step 0")
        big = 2**62
        s = max(min(s, big), -big)
        e = max(min(e, big), -big)
        sl[_axis(ax, r)] = slice(s, e, st)
    key = (slice(None),) + tuple(sl)
    return [ctx.index_map(v, lambda x: x[key])]


@register("Gather")
def _gather(ctx, node, inputs):
    v = _only_var(ctx, inputs)
    idx = np.asarray(_const(ctx, inputs[1], "the indices"), dtype=np.int64)
    axis = _axis(attrs(node).get("axis", 0), len(v.shape))
    idx = np.where(idx < 0, idx + v.shape[axis], idx)
    if np.any((idx < 0) | (idx >= v.shape[axis])):
        raise ValueError("Gather index out of range")
    return [ctx.index_map(v, lambda x: np.take(x, idx, axis=axis + 1))]


@register("Expand")
def _expand(ctx, node, inputs):
    v = _only_var(ctx, inputs)
    shape = _ints(_const(ctx, inputs[1], "the shape"))
    out = _broadcast_shape(v.shape, tuple(shape))
    return [ctx.index_map(v, lambda x: np.broadcast_to(align(x, len(out)), (1,) + out).copy())]


@register("Tile")
def _tile(ctx, node, inputs):
    v = _only_var(ctx, inputs)
    reps = _ints(_const(ctx, inputs[1], "repeats"))
    return [ctx.index_map(v, lambda x: np.tile(x, [1] + reps))]


@register("Split")
def _split(ctx, node, inputs):
    v = _only_var(ctx, inputs)
    a = attrs(node)
    axis = _axis(a.get("axis", 0), len(v.shape))
    n_out = len(node.output)
    if "split" in a:
        sizes = list(a["split"])
    elif len(inputs) > 1 and inputs[1] is not None:
        sizes = _ints(_const(ctx, inputs[1], "the split sizes"))
    else:
        d = v.shape[axis]
        part = -(-d // n_out)
        sizes = [min(part, d - i * part) for i in range(n_out)]
    cuts = np.cumsum([0] + sizes)
    outs = []
    for i in range(n_out):
        key = (slice(None),) * (axis + 1) + (slice(int(cuts[i]), int(cuts[i + 1])),)
        outs.append(ctx.index_map(v, lambda x, key=key: x[key]))
    return outs


@register("Pad")
def _pad(ctx, node, inputs):
    v = _only_var(ctx, inputs)
    a = attrs(node)
    mode = a.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    r = len(v.shape)
    if ctx.opset < 11:
        pads, value, axes = list(a["pads"]), float(a.get("value", 0.0)), None
    else:
        pads = _ints(_const(ctx, inputs[1], "the pads"))
        value = (float(np.asarray(_const(ctx, inputs[2], "the pad value")).reshape(-1)[0])
                 if len(inputs) > 2 and inputs[2] is not None else 0.0)
        axes = (_ints(_const(ctx, inputs[3], "the axes")) if len(inputs) > 3
                and inputs[3] is not None else None)
    axes = list(range(r)) if axes is None else [_axis(x, r) for x in axes]
    k = len(axes)
    width = [(0, 0)] * (r + 1)
    for i, ax in enumerate(axes):
        width[ax + 1] = (pads[i], pads[i + k])
    if any(p < 0 for pr in width for p in pr):
        raise ctx.unsupported("negative pads (cropping)")
    np_mode = {"constant": "constant", "reflect": "reflect", "edge": "edge", "wrap": "wrap"}
    if mode not in np_mode:
        raise ctx.unsupported(f"Pad mode {mode!r}")
    if mode == "constant":
        return [ctx.index_map(v, lambda x: np.pad(x, width), fill=value)]
    return [ctx.index_map(v, lambda x: np.pad(x, width, mode=np_mode[mode]))]


@register("Concat")
def _concat(ctx, node, inputs):
    vals = [x for x in inputs if x is not None]
    shapes = [x.shape if isinstance(x, Var) else tuple(np.asarray(x).shape) for x in vals]
    r = len(shapes[0])
    axis = _axis(attrs(node)["axis"], r)
    vars_ = [x for x in vals if isinstance(x, Var)]
    if len(vars_) == 1:
        flat = vars_[0]
    else:
        total = sum(x.size for x in vars_)
        flat = ctx.emit(node.output[0] + "/concat",
                        lambda nm: ConcatOp(tuple(x.node for x in vars_), total), (total,))
    sizes = [x.size for x in vars_]

    def rebuild(x: np.ndarray, consts_as_zero: bool) -> np.ndarray:
        b = x.shape[0]
        parts, pos, off = [], 0, 0
        for val, shape in zip(vals, shapes):
            if isinstance(val, Var):
                parts.append(x[:, off:off + sizes[pos]].reshape((b,) + shape))
                off += sizes[pos]
                pos += 1
            else:
                c = np.asarray(val, dtype=np.float64)
                parts.append(np.zeros((b,) + shape) if consts_as_zero
                             else np.broadcast_to(c, (b,) + shape))
        return np.concatenate(parts, axis=axis + 1)

    fill = np.concatenate([np.zeros(s) if isinstance(val, Var) else np.asarray(val, np.float64)
                           for val, s in zip(vals, shapes)], axis=axis)
    flat_in = Var(flat.node, (flat.size,))
    return [ctx.index_map(flat_in, lambda x: rebuild(x.reshape(x.shape[0], -1), True),
                          fill=fill)]


# ------------------------------------------------------------------ arithmetic
def _broadcast_var(ctx, v: Var, shape: tuple[int, ...]) -> Var:
    if v.shape == shape:
        return v
    return ctx.index_map(v, lambda x: np.broadcast_to(align(x, len(shape)),
                                                      (x.shape[0],) + shape).copy())


def _negate(ctx, v: Var) -> Var:
    return ctx.linear(v, lambda x: -x, 0.0, label="Neg")


@register("Add", "Sub", "Sum")
def _add(ctx, node, inputs):
    vals = [x for x in inputs if x is not None]
    shapes = [x.shape if isinstance(x, Var) else np.asarray(x).shape for x in vals]
    out = _broadcast_shape(*shapes)
    sign = [1.0] + [(-1.0 if node.op_type == "Sub" else 1.0)] * (len(vals) - 1)
    vars_ = [(s, x) for s, x in zip(sign, vals) if isinstance(x, Var)]
    const = np.zeros(out)
    for s, x in zip(sign, vals):
        if not isinstance(x, Var):
            const = const + s * np.asarray(x, dtype=np.float64)
    terms = []
    for s, x in vars_:
        xb = _broadcast_var(ctx, x, out)
        terms.append(xb if s > 0 else _negate(ctx, xb))
    if len(terms) == 1:
        t = terms[0]
        if not np.any(const):
            return [t]
        return [ctx.linear(t, lambda x: x, const, label=node.op_type)]
    n = terms[0].size
    rho = gamma32(len(terms) + 1, ctx.roundoff) if ctx.roundoff is not None else 0.0
    summed = ctx.emit(node.output[0] + ("/sum" if np.any(const) else ""),
                      lambda nm: SumOp(tuple(t.node for t in terms), n, err_rho=rho), out)
    if np.any(const):
        return [ctx.linear(summed, lambda x: x, const, label=node.op_type)]
    return [summed]


@register("Neg")
def _neg(ctx, node, inputs):
    return [_negate(ctx, _only_var(ctx, inputs))]


@register("Mul", "Div")
def _mul(ctx, node, inputs):
    a, b = inputs[0], inputs[1]
    if isinstance(a, Var) and isinstance(b, Var):
        raise ctx.unsupported("the product of two network values is not piecewise linear")
    if node.op_type == "Div" and isinstance(b, Var):
        raise ctx.unsupported("division by a network value is not piecewise linear")
    v, c = (a, b) if isinstance(a, Var) else (b, a)
    c = np.asarray(c, dtype=np.float64)
    if node.op_type == "Div":
        if np.any(c == 0):
            raise ctx.fail("division by a constant that contains zero")
        c = 1.0 / c
    out = _broadcast_shape(v.shape, c.shape)
    r = len(out)
    return [ctx.linear(v, lambda x: align(x, r) * c, 0.0, label=node.op_type)]


@register("MatMul")
def _matmul(ctx, node, inputs):
    a, b = inputs
    if isinstance(a, Var) and isinstance(b, Var):
        raise ctx.unsupported("the product of two network values is not piecewise linear")
    if isinstance(a, Var):
        w = np.asarray(b, dtype=np.float64)
        if len(a.shape) == 1 and w.ndim > 2:  # a vector times a stack of matrices
            lead = (1,) * (w.ndim - 1)
            fn = lambda x: np.matmul(x.reshape((x.shape[0],) + lead + a.shape), w)[..., 0, :]  # noqa: E731
        elif len(a.shape) == 1 or w.ndim == 1:
            fn = lambda x: np.matmul(x, w)  # noqa: E731
        else:
            r = max(len(a.shape), w.ndim)
            fn = lambda x: np.matmul(align(x, r), w)  # noqa: E731
        return [ctx.linear(a, fn, 0.0, label="MatMul")]
    w = np.asarray(a, dtype=np.float64)
    if len(b.shape) == 1:  # the vector as a column, whose unit axis is then dropped
        col = (1,) * max(w.ndim - 2, 0) + b.shape + (1,)
        return [ctx.linear(b, lambda x: np.matmul(w, x.reshape((x.shape[0],) + col))[..., 0],
                           0.0, label="MatMul")]
    r = max(len(b.shape), w.ndim)
    return [ctx.linear(b, lambda x: np.matmul(w, align(x, r)), 0.0, label="MatMul")]


@register("Gemm")
def _gemm(ctx, node, inputs):
    a = attrs(node)
    alpha, beta = float(a.get("alpha", 1.0)), float(a.get("beta", 1.0))
    ta, tb = int(a.get("transA", 0)), int(a.get("transB", 0))
    A, B = inputs[0], inputs[1]
    C = inputs[2] if len(inputs) > 2 else None
    if C is not None and isinstance(C, Var):
        raise ctx.unsupported("a Gemm bias that depends on the network input")
    if isinstance(A, Var) and isinstance(B, Var):
        raise ctx.unsupported("the product of two network values is not piecewise linear")

    def t(x, flag):  # transpose the last two axes of a batched 2-D tensor
        return np.swapaxes(x, -1, -2) if flag else x

    if isinstance(A, Var):
        W = t(np.asarray(B, dtype=np.float64), tb)
        fn = lambda x: alpha * (t(x, ta) @ W)  # noqa: E731
        v = A
    else:
        M = t(np.asarray(A, dtype=np.float64), ta)
        fn = lambda x: alpha * (M @ t(x, tb))  # noqa: E731
        v = B
    bias = 0.0 if C is None else beta * np.asarray(C, dtype=np.float64)
    return [ctx.linear(v, fn, bias, label="Gemm", exact_ok=alpha == 1.0)]


@register("ReduceSum", "ReduceMean")
def _reduce(ctx, node, inputs):
    v = _only_var(ctx, inputs)
    a = attrs(node)
    axes = _axes_arg(ctx, node, inputs)
    r = len(v.shape)
    if axes is None or len(axes) == 0:
        if a.get("noop_with_empty_axes", 0):
            return [v]
        axes = list(range(r))
    ax = tuple(_axis(x, r) + 1 for x in axes)
    keep = bool(a.get("keepdims", 1))
    f = np.sum if node.op_type == "ReduceSum" else np.mean
    return [ctx.linear(v, lambda x: f(x, axis=ax, keepdims=keep), 0.0, label=node.op_type)]


# ------------------------------------------------------------------ layers
def _spatial_attrs(node, v: Var, kernel):
    a = attrs(node)
    nd = len(kernel)
    strides = list(a.get("strides", [1] * nd))
    dil = list(a.get("dilations", [1] * nd))
    auto = a.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    pads = spatial_pads(v.shape[-nd:], kernel, strides, dil, a.get("pads"), auto)
    return strides, dil, pads


@register("Conv")
def _conv(ctx, node, inputs):
    v = _only_var(ctx, inputs)
    W = np.asarray(_const(ctx, inputs[1], "the Conv weight"), dtype=np.float64)
    B = inputs[2] if len(inputs) > 2 else None
    nd = W.ndim - 2
    if nd not in (1, 2):
        raise ctx.unsupported(f"{nd}-D convolution (1-D and 2-D are supported)")
    if len(v.shape) != nd + 2:
        raise ValueError(f"Conv input shape {v.shape} does not fit a {nd}-D kernel")
    group = int(attrs(node).get("group", 1))
    strides, dil, pads = _spatial_attrs(node, v, W.shape[2:])
    N = v.shape[0]

    def fn(x):
        b = x.shape[0]
        y = conv(x.reshape((b * N,) + v.shape[1:]), W, pads, strides, dil, group)
        return y.reshape((b, N) + y.shape[1:])

    bias = 0.0
    if B is not None:
        bvec = np.asarray(_const(ctx, B, "the Conv bias"), dtype=np.float64)
        bias = bvec.reshape((1, -1) + (1,) * nd)
    out = ctx.linear(v, fn, bias, label="Conv")
    if nd == 2 and group == 1 and N == 1 and all(d == 1 for d in dil):
        from .convmap import conv_map
        from .ops import Affine, issparse

        op = ctx.nb.g.nodes[out.node]["op"]
        if isinstance(op, Affine) and issparse(op.W):  # its products as a convolution
            op.conv = conv_map(op.W, W, strides, pads, v.shape[1:], out.shape[1:])
    return [out]


@register("BatchNormalization")
def _batchnorm(ctx, node, inputs):
    v = _only_var(ctx, inputs)
    a = attrs(node)
    if a.get("training_mode", 0):
        raise ctx.unsupported("BatchNormalization in training mode")
    if any(o for o in node.output[1:]):
        raise ctx.unsupported("BatchNormalization's running statistics outputs")
    scale, bias, mean, var = (np.asarray(_const(ctx, x, "BatchNormalization parameters"),
                                         dtype=np.float64) for x in inputs[1:5])
    eps = float(a.get("epsilon", 1e-5))
    s = scale / np.sqrt(var + eps)
    t = bias - mean * s
    if ctx.opset < 9 and a.get("spatial", 1) == 0:  # statistics per entry, not per channel
        shape = tuple(v.shape[1:])
    else:
        shape = (-1,) + (1,) * (len(v.shape) - 2)
    s_b, t_b = s.reshape(shape), t.reshape(shape)
    # run op by op, (x - mean) / sqrt(var + eps) * scale + bias rounds terms that cancel in
    # t = bias - mean s: their size goes into the error bound (times the node's gamma)
    extra = (np.abs(mean * s) + np.abs(bias)).reshape(shape)
    return [ctx.linear(v, lambda x: x * s_b, t_b, label="BatchNormalization", err_e0=extra)]


@register("Relu")
def _relu(ctx, node, inputs):
    v = _only_var(ctx, inputs)
    return [ctx.emit(node.output[0], lambda nm: ReluOp((v.node,), v.size), v.shape)]


def _relu_of(ctx, v: Var, tag: str) -> Var:
    return ctx.emit(ctx.node.output[0] + tag, lambda nm: ReluOp((v.node,), v.size), v.shape)


@register("Abs")
def _abs(ctx, node, inputs):
    """``|x| = relu(x) + relu(-x)``, exact."""
    v = _only_var(ctx, inputs)
    pos = _relu_of(ctx, v, "/pos")
    neg = _relu_of(ctx, _negate(ctx, v), "/neg")
    return [ctx.emit(node.output[0], lambda nm: SumOp((pos.node, neg.node), v.size), v.shape)]


def _clip_bound(ctx, x, what):
    if x is None:
        return None
    c = np.asarray(_const(ctx, x, what), dtype=np.float64)
    if c.size != 1:
        raise ctx.unsupported(f"a non-scalar Clip {what}")
    c = float(c.reshape(-1)[0])
    if not np.isfinite(c):
        if np.isinf(c) and (c < 0) == (what == "min"):
            return None  # min = -inf or max = +inf: no bound on that side
        raise ctx.unsupported(f"a Clip {what} of {c}")
    return c


def _clip_vals(ctx, v: Var, lo: float | None, hi: float | None) -> Var:
    """``clip(x, lo, hi)`` from ReLUs: ``lo + relu(x - lo) - relu(x - hi)`` and its halves."""
    if lo is not None and hi is not None and lo > hi:
        raise ctx.unsupported(f"Clip with min {lo} > max {hi}")
    if lo is None and hi is None:
        return v
    if lo is not None and hi is not None and lo == hi:
        return ctx.linear(v, lambda x: 0.0 * x, lo, label="Clip")
    parts = []
    if lo is not None:  # max(x, lo) = lo + relu(x - lo)
        parts.append(_relu_of(ctx, ctx.linear(v, lambda x: x, -lo, label="Clip"), "/lo"))
    else:  # min(x, hi) = x - relu(x - hi)
        parts.append(v)
    if hi is not None:
        r = _relu_of(ctx, ctx.linear(v, lambda x: x, -hi, label="Clip"), "/hi")
        parts.append(_negate(ctx, r))
    s = ctx.emit(ctx.node.output[0] + "/sum", lambda nm: SumOp(tuple(p.node for p in parts),
                                                               v.size), v.shape)
    return ctx.linear(s, lambda x: x, 0.0 if lo is None else lo, label="Clip")


@register("Clip")
def _clip(ctx, node, inputs):
    v = inputs[0]
    if not isinstance(v, Var):
        raise ctx.unsupported("input 0 must carry the network's values")
    if ctx.opset < 11:
        a = attrs(node)
        lo, hi = a.get("min"), a.get("max")
        lo = None if lo is None else float(lo)
        hi = None if hi is None else float(hi)
    else:
        lo = _clip_bound(ctx, inputs[1] if len(inputs) > 1 else None, "min")
        hi = _clip_bound(ctx, inputs[2] if len(inputs) > 2 else None, "max")
    return [_clip_vals(ctx, v, lo, hi)]


@register("Max", "Min")
def _maxmin(ctx, node, inputs):
    """``max(x, c)`` / ``min(x, c)`` with one scalar constant ``c``: a one-sided Clip."""
    vals = [x for x in inputs if x is not None]
    vars_ = [x for x in vals if isinstance(x, Var)]
    consts = [x for x in vals if not isinstance(x, Var)]
    if len(vars_) != 1 or len(consts) != 1 or np.asarray(consts[0]).size != 1:
        raise ctx.unsupported(f"{node.op_type} is supported only of one network value and "
                              "one scalar constant")
    c = float(np.asarray(consts[0], dtype=np.float64).reshape(-1)[0])
    lo, hi = (c, None) if node.op_type == "Max" else (None, c)
    return [_clip_vals(ctx, vars_[0], lo, hi)]


@register("LeakyRelu")
def _leaky(ctx, node, inputs):
    v = _only_var(ctx, inputs)
    alpha = float(attrs(node).get("alpha", 0.01))
    # leaky(x) = alpha * x + (1 - alpha) * relu(x), exact for every alpha
    r = ctx.emit(node.output[0] + "/relu", lambda nm: ReluOp((v.node,), v.size), v.shape)
    lin = ctx.linear(v, lambda x: alpha * x, 0.0, label="LeakyRelu")
    rel = ctx.linear(r, lambda x: (1.0 - alpha) * x, 0.0, label="LeakyRelu")
    return [ctx.emit(node.output[0], lambda nm: SumOp((lin.node, rel.node), v.size), v.shape)]


def _pool_params(node, v: Var):
    a = attrs(node)
    kernel = list(a["kernel_shape"])
    strides, dil, pads = _spatial_attrs(node, v, kernel)
    return kernel, strides, dil, pads, bool(a.get("ceil_mode", 0))


@register("MaxPool")
def _maxpool(ctx, node, inputs):
    v = _only_var(ctx, inputs)
    if len(node.output) > 1 and node.output[1]:
        raise ctx.unsupported("the MaxPool Indices output")
    if attrs(node).get("storage_order", 0):
        raise ctx.unsupported("MaxPool with storage_order 1")
    kernel, strides, dil, pads, ceil = _pool_params(node, v)
    windows, out_shape = pool_windows(v.shape, kernel, strides, dil, pads, ceil)
    n = windows.shape[0]
    return [ctx.emit(node.output[0], lambda nm: MaxPoolOp((v.node,), n, windows=windows),
                     out_shape)]


def _average_windows(ctx, v: Var, windows: np.ndarray, counts: np.ndarray,
                     out_shape) -> Var:
    import scipy.sparse as sp

    rows = np.repeat(np.arange(windows.shape[0]), windows.shape[1])
    cols = windows.reshape(-1)
    vals = np.repeat(1.0 / counts, windows.shape[1])
    keep = cols >= 0
    W = sp.csr_array((vals[keep], (rows[keep], cols[keep])), shape=(windows.shape[0], v.size))
    return ctx.affine(v, W, np.zeros(windows.shape[0]), out_shape, "AveragePool")


@register("AveragePool")
def _avgpool(ctx, node, inputs):
    v = _only_var(ctx, inputs)
    kernel, strides, dil, pads, ceil = _pool_params(node, v)
    if attrs(node).get("count_include_pad", 0):
        # padding counts, but positions beyond the padded input (ceil mode) do not
        windows, out_shape = pool_windows(v.shape, kernel, strides, dil, pads, ceil, -2)
        counts = (windows != -1).sum(axis=1).astype(np.float64)
    else:
        windows, out_shape = pool_windows(v.shape, kernel, strides, dil, pads, ceil)
        counts = (windows >= 0).sum(axis=1).astype(np.float64)
    return [_average_windows(ctx, v, windows, counts, out_shape)]


@register("GlobalAveragePool")
def _gap(ctx, node, inputs):
    v = _only_var(ctx, inputs)
    nd = len(v.shape) - 2
    spatial = int(np.prod(v.shape[2:], dtype=np.int64))
    idx = np.arange(v.size).reshape(v.shape[0] * v.shape[1], spatial)
    out_shape = tuple(v.shape[:2]) + (1,) * nd
    return [_average_windows(ctx, v, idx, np.full(idx.shape[0], float(spatial)), out_shape)]


@register("Softmax", "LogSoftmax")
def _softmax(ctx, node, inputs):
    """Dropped, and recorded: the network computes the logits (see ``output_transform``)."""
    from .output_transform import OutputTransform, softmax_groups

    v = _only_var(ctx, inputs)
    r = len(v.shape)
    coerced = ctx.opset < 13
    axis = _axis(attrs(node).get("axis", 1 if coerced else -1), r)
    label = node.name or node.output[0]
    t = OutputTransform(label, node.op_type, axis, tuple(v.shape), coerced,
                        softmax_groups(tuple(v.shape), axis, coerced))
    ctx.softmaxed[node.output[0]] = ctx.softmaxed.get(node.input[0], ()) + (t,)
    return [v]


@register("Shape")
def _shape(ctx, node, inputs):
    v = inputs[0]
    a = attrs(node)
    shape = np.asarray(v.shape, dtype=np.int64)
    r = len(v.shape)
    start = a.get("start", 0)
    end = a.get("end", r)
    return [shape[start:end]]


@register("Size")
def _size(ctx, node, inputs):
    return [np.asarray(inputs[0].size, dtype=np.int64)]


@register("Constant")
def _constant(ctx, node, inputs):  # pragma: no cover - Constant has no inputs; folded
    raise AssertionError("Constant nodes are folded")
