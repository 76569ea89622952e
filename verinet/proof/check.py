"""An independent checker of verinet ``unsat`` certificates (format: docs/proof.md).

``python -m verinet.proof.check MODEL.onnx PROPERTY.vnnlib PROOF.json[.gz]`` (also
``verinet check-proof``) prints ``VALID`` with counts by leaf kind and exits 0, or the
first failing node and why and exits 10; 20 when every checked part holds but some leaves
are marked unchecked (a z3 leaf, or one the producer could not express); 5 when a file
cannot be read or is outside what the checker accepts.

It shares no code with the search: it reads the ONNX graph (a chain of MatMul, Gemm,
Conv, AveragePool, MaxPool, Add, Sub, Mul, Relu, Pad, Transpose, Flatten, Reshape,
Identity, Squeeze, Unsqueeze nodes) and the VNN-LIB 1.0 property itself (numbers as exact
decimals, DNF grouped by input box), recomputes every bound with its own DeepPoly
back-substitution, checks that the split tree covers each box, and checks each Farkas leaf
over LP rows it builds itself from its own bounds.

What it trusts: the Python interpreter and ``fractions``; numpy's float64 arithmetic
being IEEE 754 round-to-nearest (every float sum, product and dot product is covered by
an a-priori error bound of the ``gamma_n = n u / (1 - n u)`` kind, then rounded outward);
the ``onnx`` package's generated protobuf schema (``onnx_ml_pb2``, loaded on its own) and
the protobuf runtime that parses the file.  The semantics checked is the certificate's:
``float32`` (the network as it runs in IEEE float32, gradual underflow: each affine node's
outputs within ``gamma_k (|W| |x| + |b|) + k 2^-149`` of the exact value, and exact where a
row copies an input with weight +-1 and no constant, see :func:`read_model`) or ``real``
(the real-valued function of its weights).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import sys
from fractions import Fraction

import numpy as np
import scipy.sparse as sp

FORMAT = "verinet-proof/1"
U = 2.0 ** -53  # float64 unit roundoff
EXIT_VALID, EXIT_INVALID, EXIT_INCOMPLETE, EXIT_ERROR = 0, 10, 20, 5


class ProofError(Exception):
    """The certificate does not prove the property: ``where`` names the node."""

    def __init__(self, where: str, why: str):
        super().__init__(f"{where}: {why}")
        self.where, self.why = where, why

    def __reduce__(self):  # picklable, for the producer's worker processes
        return (ProofError, (self.where, self.why))


class CheckInputError(Exception):
    """A file cannot be read or is outside what the checker accepts."""


def gamma(n: int) -> float:
    """A bound on the relative error of a float64 sum of ``n`` products, padded."""
    return 1.01 * (n + 2) * U / (1.0 - (n + 2) * U)


def down(a):
    return np.nextafter(a, -np.inf)


def up(a):
    return np.nextafter(a, np.inf)


# ----------------------------------------------------------------------------- the model
_FLOAT, _DOUBLE, _INT64 = 1, 11, 7  # TensorProto.DataType
_DTYPES = {_FLOAT: ("<f4", "float_data"), _DOUBLE: ("<f8", "double_data"),
           _INT64: ("<i8", "int64_data")}


def _onnx_proto():
    """``ModelProto`` from the onnx package's generated protobuf schema, loaded on its own
    (``onnx/onnx_ml_pb2.py`` needs only the protobuf runtime; importing ``onnx`` itself
    costs most of a second)."""
    import importlib.util

    name = "_verinet_check_onnx_ml_pb2"
    if name not in sys.modules:
        spec = importlib.util.find_spec("onnx")
        if spec is None or not spec.submodule_search_locations:
            raise CheckInputError("the onnx package is not installed")
        path = f"{list(spec.submodule_search_locations)[0]}/onnx_ml_pb2.py"
        if "onnx.onnx_ml_pb2" in sys.modules:  # already loaded: reuse it
            sys.modules[name] = sys.modules["onnx.onnx_ml_pb2"]
        else:
            mspec = importlib.util.spec_from_file_location(name, path)
            mod = importlib.util.module_from_spec(mspec)
            mspec.loader.exec_module(mod)
            sys.modules[name] = mod
    return sys.modules[name].ModelProto


def _tensor(t, path: str) -> np.ndarray:
    """A float32/float64/int64 tensor as float64 (float32 values are exact in float64)."""
    if t.data_type not in _DTYPES:
        raise CheckInputError(f"{path}: tensor {t.name!r} of element type {t.data_type}: only "
                              "float32, float64 and int64 constants are accepted")
    if t.data_location == 1 or t.external_data:
        raise CheckInputError(f"{path}: tensor {t.name!r} keeps its data outside the file")
    dt, field = _DTYPES[t.data_type]
    shape = tuple(int(d) for d in t.dims)
    if t.raw_data:
        a = np.frombuffer(t.raw_data, dtype=dt)
    else:
        a = np.asarray(getattr(t, field), dtype=dt)
    if a.size != int(np.prod(shape, dtype=np.int64)):
        raise CheckInputError(f"{path}: tensor {t.name!r} holds {a.size} values for shape "
                              f"{list(shape)}")
    return a.reshape(shape).astype(np.float64)


def _attribute(a):
    """The value of a FLOAT, INT, STRING, INTS or FLOATS attribute (others: None)."""
    return {1: lambda: a.f, 2: lambda: a.i, 3: lambda: a.s.decode("utf-8", "replace"),
            6: lambda: list(a.floats), 7: lambda: list(a.ints)}.get(a.type, lambda: None)()


def read_model(path: str) -> tuple[int, list, str]:
    """``(n_inputs, ops, digest)``; ops are ``("mat", W, b, rho, ftz, rep)``, ``("diag", d,
    b, rho, ftz, rep)`` (float64 arrays holding the file's float32 values exactly, except
    AveragePool's ``1/count``), ``("relu",)`` or ``("pool", win, 0, 0, 0, 0)`` (MaxPool:
    output ``i`` is the max of entries ``win[i]``, see :func:`_pool_windows`), in a chain;
    Transpose, Pad, Conv and AveragePool become ``"mat"`` ops on the row-major flattened
    tensor.  Run in the file's float type, an affine op's output lands within
    ``rho (|W| |x| + |b|) + ftz`` of ``W x + b`` (see :func:`float_error`; ``rho`` and
    ``ftz`` per output); ``rho`` is None for float types not modelled (float16).  ``rep``
    bounds the relative error of weights that are not the file's own numbers (``1/count``,
    rounded), in every semantics."""
    model = _onnx_proto()()
    try:
        with open(path, "rb") as f:
            model.ParseFromString(f.read())
    except Exception as e:  # noqa: BLE001 - any reader failure is an input error
        raise CheckInputError(f"{path}: not a readable ONNX model ({e})") from None
    g = model.graph
    inits = {t.name: _tensor(t, path) for t in g.initializer}
    for node in g.node:
        if node.op_type == "Constant":
            inits[node.output[0]] = _tensor(node.attribute[0].t, path)
    inputs = [i for i in g.input if i.name not in inits]
    if len(inputs) != 1 or len(g.output) != 1:
        raise CheckInputError(f"{path}: needs exactly one input and one output")
    dims = [d.dim_value or 1 for d in inputs[0].type.tensor_type.shape.dim]
    u = {_FLOAT: 2.0 ** -24, _DOUBLE: 2.0 ** -53}.get(inputs[0].type.tensor_type.elem_type)

    eta = {2.0 ** -24: 2.0 ** -149, 2.0 ** -53: 2.0 ** -1074}.get(u)  # one underflow

    def lin(kind, W, b, k):
        """An affine op whose outputs are sums of ``k`` terms and roundings in all; a row
        with no constant and at most one nonzero weight, +-1, is exact (``x * 1``, ``x *
        0``, sums with zeros)."""
        if u is None:
            return (kind, W, b, None, 0.0, 0.0)
        nz = W != 0 if kind == "mat" else (W != 0)[:, None]
        big = np.abs(W).max(axis=1) if kind == "mat" else np.abs(W)
        inexact = ~(((nz.sum(axis=1) == 0) | ((nz.sum(axis=1) == 1) & (big == 1.0))) &
                    (b == 0))
        return (kind, W, b, inexact * (k * u / (1 - k * u)), inexact * (k * eta), 0.0)

    def fan_in():  # terms of the op before, which onnxruntime may fuse with a bias
        if ops and ops[-1][0] == "mat":
            return int((ops[-1][1] != 0).sum(axis=1).max())
        return 1 if ops and ops[-1][0] == "diag" else 0
    n = int(np.prod(dims))
    cur, size, ops, shape = inputs[0].name, n, [], tuple(dims)
    pending, pend_n = None, n  # an index map (Transpose, Pad) not yet folded into a matrix

    def mat(W, b, k, rep=0.0):
        """Append ``W x + b``, folding a pending index map into its columns (exact: each
        entry of the product is one weight)."""
        nonlocal pending
        if pending is not None:
            ok = pending >= 0
            W2 = np.zeros((W.shape[0], pend_n))
            W2[:, pending[ok]] = W[:, ok]
            W, pending = W2, None
        o = lin("mat", W, b, k)
        ops.append(o if not rep else o[:5] + (rep,))

    def flush():
        """Before a ReLU, a constant operand or the end: fold a pending index map into the
        rows of the matrix before it (its error bounds move with the rows), or keep it as a
        0/1 matrix of its own."""
        nonlocal pending, pend_n
        if pending is None:
            pend_n = size
            return
        ok, src = pending >= 0, pending
        if ops and ops[-1][0] == "mat":
            kind, W, b, rho, ftz, rp = ops[-1]

            def rows(a):
                a = np.broadcast_to(a, (W.shape[0],) + np.shape(a)[1:]) if np.ndim(a) else a
                if not np.ndim(a):
                    return a
                out = np.zeros((src.size,) + a.shape[1:])
                out[ok] = a[src[ok]]
                return out
            ops[-1] = (kind, rows(W), rows(b), None if rho is None else rows(rho), rows(ftz), rp)
        else:
            ops.append(lin("mat", _gather(src, pend_n), np.zeros(src.size), 0))
        pending, pend_n = None, size
    for node in g.node:
        if node.op_type == "Constant":
            continue
        where = f"{path}: node {node.name or node.op_type} ({node.op_type})"
        data = [x for x in node.input if x != cur and x]
        if cur not in node.input:
            raise CheckInputError(f"{where}: the graph is not a chain")
        attrs = {a.name: _attribute(a) for a in node.attribute}
        op = node.op_type
        if any(d not in inits for d in data):
            raise CheckInputError(f"{where}: only constant operands besides the chain's value")
        if op in ("Flatten", "Reshape", "Identity", "Squeeze", "Unsqueeze"):
            shape = _new_shape(op, shape, attrs, [inits[d] for d in data], where)
        elif op == "Relu":
            flush()
            ops.append(("relu",))
        elif op in ("Transpose", "Pad"):
            src, shape = _gather_op(op, shape, attrs, [inits[d] for d in data], where)
            pending = src if pending is None else np.where(src >= 0, pending[src], -1)
            size = src.size
        elif op == "MaxPool":
            if len([o for o in node.output if o]) != 1 or attrs.get("storage_order"):
                raise CheckInputError(f"{where}: only MaxPool without the Indices output")
            flush()
            win, shape = _pool_windows(shape, attrs, where)
            size = win.shape[0]
            ops.append(("pool", win, np.zeros(size), 0.0, 0.0, 0.0))  # a max is exact
        elif op in ("Conv", "AveragePool"):
            W, b, shape, k = _window_op(op, shape, attrs, [inits[d] for d in data], where)
            size = W.shape[0]
            mat(W, b, k, 2.0 ** -52 if op == "AveragePool" else 0.0)  # 1/count is rounded
        elif op in ("MatMul", "Gemm"):
            if node.input[0] != cur:
                raise CheckInputError(f"{where}: only x @ W with constant W")
            if int(np.prod(shape[:-1])) != 1:
                raise CheckInputError(f"{where}: only a single row times W (input shape "
                                      f"{list(shape)})")
            W = inits[node.input[1]]
            if op == "Gemm":
                if attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0 or \
                        attrs.get("beta", 1.0) != 1.0:
                    raise CheckInputError(f"{where}: only transA=0, alpha=beta=1")
                W = W if attrs.get("transB", 0) else W.T
            else:
                W = W.T
            if W.ndim != 2 or W.shape[1] != size:
                raise CheckInputError(f"{where}: weight shape {W.shape} does not fit {size}")
            b = inits[node.input[2]].reshape(-1) if len(node.input) > 2 else np.zeros(W.shape[0])
            size = W.shape[0]
            shape = tuple(shape[:-1]) + (size,)
            k = int((W != 0).sum(axis=1).max()) + 2 + (2 if op == "Gemm" else 0)
            mat(np.ascontiguousarray(W), np.broadcast_to(b, (size,)).copy(), k)
        elif op in ("Add", "Sub", "Mul"):
            if len(data) != 1 or data[0] not in inits:
                raise CheckInputError(f"{where}: only with one constant operand")
            flush()
            c = inits[data[0]]
            try:
                if np.broadcast_shapes(c.shape, shape) != tuple(shape):
                    raise ValueError
                c = np.broadcast_to(c, shape).reshape(-1).copy()
            except ValueError:
                raise CheckInputError(f"{where}: constant of shape {list(c.shape)} for a value "
                                      f"of shape {list(shape)}") from None
            first = node.input[0] == cur
            if op == "Add":
                ops.append(lin("diag", np.ones(size), c, 3 + fan_in()))
            elif op == "Sub":
                ops.append(lin("diag", np.ones(size), -c, 3 + fan_in()) if first else
                           lin("diag", -np.ones(size), c, 3 + fan_in()))
            else:
                ops.append(lin("diag", c, np.zeros(size), 3))
        else:
            raise CheckInputError(f"{where}: operator not accepted by the checker")
        cur = node.output[0]
    flush()
    if cur != g.output[0].name:
        raise CheckInputError(f"{path}: the output is not the end of the chain")
    h = hashlib.sha256(f"n={n}".encode())
    for o in ops:
        h.update(o[0].encode())
        for a in o[1:3]:
            h.update(np.ascontiguousarray(a, dtype="<f8").tobytes())
    return n, ops, h.hexdigest()


def _ints(v, default):
    return [int(x) for x in (default if v is None else v)]


def _new_shape(op, shape, attrs, consts, where):
    """The shape after a node that keeps the row-major order of the entries."""
    size = int(np.prod(shape))
    if op == "Identity":
        return shape
    if op == "Flatten":
        ax = int(attrs["axis"]) if attrs.get("axis") is not None else 1
        ax = ax + len(shape) if ax < 0 else ax
        return (int(np.prod(shape[:ax])), int(np.prod(shape[ax:])))
    if op == "Reshape":
        if not consts:
            raise CheckInputError(f"{where}: Reshape needs a constant shape")
        new = [int(d) for d in consts[0].reshape(-1)]
        new = [shape[i] if d == 0 and not attrs.get("allowzero") else d
               for i, d in enumerate(new)]
        if new.count(-1) == 1:
            rest = int(np.prod([d for d in new if d != -1]))
            new[new.index(-1)] = size // rest if rest else 0
    else:  # Squeeze / Unsqueeze
        axes = consts[0].reshape(-1) if consts else attrs.get("axes")
        if op == "Squeeze":
            r = len(shape)
            drop = {int(a) % r for a in axes} if axes is not None else \
                {i for i, d in enumerate(shape) if d == 1}
            new = [d for i, d in enumerate(shape) if i not in drop]
        else:
            new = list(shape)
            r = len(shape) + len(axes)
            for a in sorted(int(a) % r for a in axes):
                new.insert(a, 1)
    if int(np.prod(new)) != size or min(new, default=1) < 0:
        raise CheckInputError(f"{where}: shape {new} does not fit {size} entries")
    return tuple(new)


def _gather(src, n_cols):
    """The 0/1 matrix whose row ``i`` picks entry ``src[i]`` (none where ``src[i] < 0``)."""
    W = np.zeros((src.size, n_cols))
    ok = src >= 0
    W[np.flatnonzero(ok), src[ok]] = 1.0
    return W


def _gather_op(op, shape, attrs, consts, where):
    """``(src, out_shape)`` of Transpose or Pad: output entry ``i`` is input entry
    ``src[i]``, or 0 where ``src[i] < 0``."""
    size = int(np.prod(shape))
    idx = np.arange(size).reshape(shape)
    if op == "Transpose":
        perm = _ints(attrs.get("perm"), range(len(shape))[::-1])
        out = idx.transpose(perm)
        return out.reshape(-1), out.shape
    if len(shape) != 4:
        raise CheckInputError(f"{where}: only 2-D images (N, C, H, W), got {list(shape)}")
    if op == "Pad":
        pads = consts[0].reshape(-1) if consts else attrs.get("pads")
        value = float(consts[1].reshape(-1)[0]) if len(consts) > 1 else attrs.get("value", 0.0)
        if (attrs.get("mode") not in (None, "constant") or value != 0.0 or pads is None
                or len(pads) != 8 or min(pads) < 0):
            raise CheckInputError(f"{where}: only constant zero padding of 4-D tensors")
        p = [int(v) for v in pads]
        out = np.pad(idx, [(p[i], p[i + 4]) for i in range(4)], constant_values=-1)
        return out.reshape(-1), out.shape
    raise CheckInputError(f"{where}: not an index map")


def _image(shape, attrs, where):
    """``(N, C, H, W)`` of the input of a window operator (Conv, pools) with explicit pads."""
    if len(shape) != 4:
        raise CheckInputError(f"{where}: only 2-D images (N, C, H, W), got {list(shape)}")
    if attrs.get("auto_pad") not in (None, "NOTSET") or attrs.get("ceil_mode"):
        raise CheckInputError(f"{where}: only explicit pads (auto_pad NOTSET, ceil_mode 0)")
    return shape


def _grid(H, Wd, attrs, M, kh, kw, where):
    """A 2-D sliding window's index grids, each ``(M, Ho, Wo, kh, kw)``: the output
    channel ``oc``, the kernel offsets ``ky``/``kx``, the input position ``iy``/``ix`` read,
    whether it lies ``inside`` the image (not padding), and the output's row-major index
    ``row``; then ``Ho``, ``Wo``."""
    sh, sw = _ints(attrs.get("strides"), [1, 1])
    dh, dw = _ints(attrs.get("dilations"), [1, 1])
    pt, pl, pb, pr = _ints(attrs.get("pads"), [0, 0, 0, 0])
    Ho = (H + pt + pb - dh * (kh - 1) - 1) // sh + 1
    Wo = (Wd + pl + pr - dw * (kw - 1) - 1) // sw + 1
    if Ho < 1 or Wo < 1:
        raise CheckInputError(f"{where}: empty output")
    oc, oy, ox, ky, kx = np.meshgrid(np.arange(M), np.arange(Ho), np.arange(Wo),
                                     np.arange(kh), np.arange(kw), indexing="ij")
    iy, ix = oy * sh - pt + ky * dh, ox * sw - pl + kx * dw
    inside = (iy >= 0) & (iy < H) & (ix >= 0) & (ix < Wd)
    return oc, ky, kx, iy, ix, inside, (oc * Ho + oy) * Wo + ox, Ho, Wo


def _pool_windows(shape, attrs, where):
    """``(win, out_shape)`` of MaxPool: output ``i`` is the max of input entries
    ``win[i, j]`` (``-1``: padding, never the max)."""
    N, C, H, Wd = _image(shape, attrs, where)
    kh, kw = _ints(attrs.get("kernel_shape"), [])
    if N != 1 or max(_ints(attrs.get("pads"), [0, 0, 0, 0])) >= min(kh, kw):
        raise CheckInputError(f"{where}: pads, kernel and shape {list(shape)} do not fit")
    c, _, _, iy, ix, inside, _, Ho, Wo = _grid(H, Wd, attrs, C, kh, kw, where)
    win = np.where(inside, (c * H + iy) * Wd + ix, -1).reshape(C * Ho * Wo, kh * kw)
    if not (win >= 0).any(axis=1).all():
        raise CheckInputError(f"{where}: a window holds padding only")
    return win, (1, C, Ho, Wo)


def _in_windows(win, v):
    """``v`` ``(B, n)`` gathered per window: ``(B, m, k)``, padding read as ``-inf``."""
    return np.where(win < 0, -np.inf, v[:, np.maximum(win, 0)])


def pool_relax(win, zl, zu):
    """The MaxPool relaxation on input bounds ``zl``/``zu`` ``(B, n)``: per output ``(B, m)``
    the entry ``src`` with the largest lower bound (``y >= x_src``), whether it dominates
    (its lower bound at least every other entry's upper bound: ``y = x_src``), and ``umax``
    (``y <= umax``), the largest upper bound."""
    gl, gu = _in_windows(win, zl), _in_windows(win, zu)  # (B, m, k)
    a = gl.argmax(axis=2)
    src = win[np.arange(win.shape[0])[None, :], a]
    best = np.take_along_axis(gl, a[..., None], axis=2)[..., 0]
    rest = gu.copy()
    np.put_along_axis(rest, a[..., None], -np.inf, axis=2)
    return src, best >= rest.max(axis=2), gu.max(axis=2)


def _window_op(op, shape, attrs, consts, where):
    """``(W, b, out_shape, k)`` of Conv or AveragePool on a tensor of ``shape`` (``k``:
    terms and roundings of each output in float arithmetic)."""
    size = int(np.prod(shape))
    N, C, H, Wd = _image(shape, attrs, where)
    if op == "Conv":
        if not consts or consts[0].ndim != 4:
            raise CheckInputError(f"{where}: needs a constant 4-D weight")
        w = consts[0]
        M, Cg, kh, kw = w.shape
        group = int(attrs.get("group") or 1)
        if N != 1 or Cg * group != C or M % group:
            raise CheckInputError(f"{where}: weight {list(w.shape)} does not fit {list(shape)}")
    else:
        kh, kw = _ints(attrs.get("kernel_shape"), [])
        M = C
    oc, ky, kx, iy, ix, inside, row, Ho, Wo = _grid(H, Wd, attrs, M, kh, kw, where)
    Wm = np.zeros((M * Ho * Wo, size))
    if op == "AveragePool":
        cnt = np.full(row.shape, kh * kw) if attrs.get("count_include_pad") else \
            np.broadcast_to(inside.sum(axis=(3, 4), keepdims=True), row.shape)
        col = (oc * H + np.clip(iy, 0, H - 1)) * Wd + np.clip(ix, 0, Wd - 1)
        np.add.at(Wm, (row[inside], col[inside]), 1.0 / cnt[inside])
        return Wm, np.zeros(Wm.shape[0]), (1, M, Ho, Wo), kh * kw + 3
    Mg = M // group
    b = consts[1].reshape(-1) if len(consts) > 1 else np.zeros(M)
    for ic in range(Cg):
        c_in = (oc // Mg) * Cg + ic
        col = (c_in * H + np.clip(iy, 0, H - 1)) * Wd + np.clip(ix, 0, Wd - 1)
        np.add.at(Wm, (row[inside], col[inside]), w[oc, ic, ky, kx][inside])
    return Wm, np.repeat(b, Ho * Wo), (1, M, Ho, Wo), Cg * kh * kw + 2


def semantic_ops(ops: list, semantics: str) -> list:
    """The ops with the error bounds the semantics asks for (none for ``"real"``)."""
    if semantics == "real":
        return [o if o[0] == "relu" else (o[0], o[1], o[2], 0.0, 0.0, o[5]) for o in ops]
    if semantics != "float32":
        raise ProofError("header", f"unknown semantics {semantics!r}")
    if any(o[0] != "relu" and o[3] is None for o in ops):
        raise ProofError("header", "float32 semantics for a model whose float type (float16) "
                                   "the checker does not model")
    return ops


def float_error(op, mag, s=None):
    """``(B, size)``: how far the op's float output may land from ``W x + b`` for inputs
    with ``|x| <= mag`` (rounded up); 0 in the real semantics.  ``s``: ``|W| mag``, if
    known."""
    if not np.any(op[3]) and not np.any(op[4]) and not op[5]:
        return 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        if s is None:
            s = np.abs(op[1]) * mag if op[0] == "diag" else mag @ np.abs(op[1]).T
        e = up(((op[3] + op[5]) * (s + np.abs(op[2])) + op[4]) * (1 + 1e-12))
    return np.where(np.isnan(e), np.inf, e)


def n_outputs(n_in: int, ops: list) -> int:
    size = n_in
    for o in ops:
        if o[0] in ("mat", "pool"):
            size = o[1].shape[0]
    return size


# -------------------------------------------------------------------------- the property
_TOK = re.compile(r"\(|\)|;[^\n]*|[^\s();]+")


def read_property(path: str, n_in: int, n_out: int) -> tuple[list, str]:
    """Groups ``(lo, hi, terms)`` of the DNF by input box (first appearance order), and a
    digest.  ``lo``/``hi``: Fractions per input; a term is a list of rows ``(a_x, a_y, d)``
    meaning ``a_x . x + a_y . y <= d`` (Fractions; strict rows read as non-strict, which only
    enlarges the bad region)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise CheckInputError(f"{path}: {e}") from None
    toks = [t for t in _TOK.findall(text) if not t.startswith(";")]
    stack: list[list] = [[]]
    for t in toks:
        if t == "(":
            stack.append([])
        elif t == ")":
            if len(stack) < 2:
                raise CheckInputError(f"{path}: unbalanced ')'")
            e = stack.pop()
            stack[-1].append(e)
        else:
            stack[-1].append(t)
    if len(stack) != 1:
        raise CheckInputError(f"{path}: unbalanced '('")
    dnf: list[list] = [[]]
    for form in stack[0]:
        if not isinstance(form, list) or not form:
            raise CheckInputError(f"{path}: stray token {form!r}")
        if form[0] == "assert":
            part = _formula(form[1], path, n_in, n_out)
            dnf = [a + b for a in dnf for b in part]
            if len(dnf) > 100_000:
                raise CheckInputError(f"{path}: more than 100000 disjuncts")
    groups: dict = {}
    for conj in dnf:
        lo, hi, rows = [None] * n_in, [None] * n_in, []
        for ax, ay, d in conj:
            nz = [i for i, v in ax.items() if v]
            if len(nz) == 1 and not any(ay.values()):
                i, c = nz[0], ax[nz[0]]
                if c > 0:
                    hi[i] = d / c if hi[i] is None else min(hi[i], d / c)
                else:
                    lo[i] = d / c if lo[i] is None else max(lo[i], d / c)
            else:
                rows.append(([ax.get(i, Fraction(0)) for i in range(n_in)],
                             [ay.get(j, Fraction(0)) for j in range(n_out)], d))
        if any(v is None for v in lo + hi):
            raise CheckInputError(f"{path}: an input is unbounded in some disjunct")
        if any(a > b for a, b in zip(lo, hi)):
            continue  # an empty box holds no counterexample
        groups.setdefault((tuple(lo), tuple(hi)), []).append(rows)
    h = hashlib.sha256()
    out = []
    for (lo, hi), terms in groups.items():
        h.update(repr((lo, hi, terms)).encode())
        out.append((list(lo), list(hi), terms))
    return out, h.hexdigest()


def _formula(f, path, n_in, n_out) -> list[list]:
    if not isinstance(f, list) or not f:
        raise CheckInputError(f"{path}: bad formula {f!r}")
    if f[0] == "and":
        res: list[list] = [[]]
        for g in f[1:]:
            part = _formula(g, path, n_in, n_out)
            res = [a + b for a in res for b in part]
        return res
    if f[0] == "or":
        return [c for g in f[1:] for c in _formula(g, path, n_in, n_out)]
    if f[0] in ("<=", "<", ">=", ">", "=") and len(f) == 3:
        lx, ly, lc = _term(f[1], path, n_in, n_out)
        rx, ry, rc = _term(f[2], path, n_in, n_out)
        ax, ay = _lin(lx, rx, -1), _lin(ly, ry, -1)
        le = (ax, ay, rc - lc)  # lhs - rhs <= 0
        ge = ({i: -a for i, a in ax.items()}, {j: -a for j, a in ay.items()}, lc - rc)
        return [[le]] if f[0] in ("<=", "<") else [[ge]] if f[0] in (">=", ">") else [[le, ge]]
    raise CheckInputError(f"{path}: formula {f[0]!r} not accepted")


def _lin(a: dict, b: dict, s) -> dict:
    """``a + s b`` for sparse coefficient maps."""
    out = dict(a)
    for i, v in b.items():
        out[i] = out.get(i, Fraction(0)) + s * v
    return out


def _term(t, path, n_in, n_out):
    """A linear term as ``(coef over X, coef over Y, constant)``: Fractions, the coefficients
    as maps index -> Fraction."""
    if isinstance(t, str):
        m = re.fullmatch(r"([XY])_(\d+)", t)
        if m:
            i = int(m.group(2))
            if i >= (n_in if m.group(1) == "X" else n_out):
                raise CheckInputError(f"{path}: {t} is beyond the network's size")
            return ({i: Fraction(1)}, {}, Fraction(0)) if m.group(1) == "X" else \
                ({}, {i: Fraction(1)}, Fraction(0))
        try:
            return {}, {}, Fraction(t)
        except ValueError:
            raise CheckInputError(f"{path}: bad term {t!r}") from None
    parts = [_term(a, path, n_in, n_out) for a in t[1:]]
    if t[0] == "+" or (t[0] == "-" and len(parts) > 1):
        sx, sy, sc = parts[0]
        for p in parts[1:]:
            s = 1 if t[0] == "+" else -1
            sx, sy, sc = _lin(sx, p[0], s), _lin(sy, p[1], s), sc + s * p[2]
        return sx, sy, sc
    if t[0] == "-" and len(parts) == 1:
        p = parts[0]
        return {i: -a for i, a in p[0].items()}, {j: -a for j, a in p[1].items()}, -p[2]
    if t[0] == "*" and len(parts) == 2:
        (ax, ay, ac), (bx, by, bc) = parts
        if any(ax.values()) or any(ay.values()):
            (ax, ay, ac), (bx, by, bc) = (bx, by, bc), (ax, ay, ac)
        if any(ax.values()) or any(ay.values()):
            raise CheckInputError(f"{path}: product of two variables")
        return ({i: ac * v for i, v in bx.items()}, {j: ac * v for j, v in by.items()},
                ac * bc)
    raise CheckInputError(f"{path}: term {t[0]!r} not accepted")


def exact_float(v: Fraction, what: str) -> float:
    f = float(v)
    if Fraction(f) != v:
        raise CheckInputError(f"{what}: coefficient {v} is not a float64 value")
    return f


def ceil_float(v: Fraction) -> float:
    """The least float64 >= ``v``."""
    f = float(v)
    return f if Fraction(f) >= v else float(up(f))


def floor_float(v: Fraction) -> float:
    f = float(v)
    return f if Fraction(f) <= v else float(down(f))


# ------------------------------------------------------------------------------ bounds
def bounds(ops, lo, hi, rows, phases=None, prior=None):
    """DeepPoly over ``B`` boxes ``lo``/``hi`` ``(B, n)``.

    ``rows = (Cy (R, n_out), Cx (R, n))``; ``phases``: relu op index -> int8 ``(B, size)``
    (+1 active, -1 inactive, 0 free); ``prior``: op index -> ``(l, u)`` known to hold.
    Returns ``(L, U, infeasible (B,), lb (B, R), A (B, R, n), off (B, R))`` with node
    bounds ``L[k]``, ``U[k]`` (k = 0 the input, k = i + 1 the output of ``ops[i]``), sound
    lower bounds ``lb`` of the rows, and ``row(x) >= A x + off`` on each box.
    """
    phases, prior = phases or {}, prior or {}
    B = lo.shape[0]
    L, U_ = [lo], [hi]
    # per node: the float error bound D of the op producing it, and V, what back-
    # substitution charges per unit of |Lam| on an affine op's output (the rounding of
    # Lam . b and Lam @ W, and D)
    D, V = [0.0], [None]
    infeasible = np.zeros(B, dtype=bool)
    for i, op in enumerate(ops):
        pl, pu = L[-1], U_[-1]
        if op[0] == "relu":
            l, u = np.maximum(pl, 0.0), np.maximum(pu, 0.0)
            D.append(0.0)
            V.append(None)
        elif op[0] == "pool":  # max of the window's bounds (a float max is exact)
            l, u = _in_windows(op[1], pl).max(axis=2), _in_windows(op[1], pu).max(axis=2)
            D.append(0.0)
            V.append(None)
        else:
            mag = np.maximum(np.abs(pl), np.abs(pu))
            with np.errstate(over="ignore", invalid="ignore"):
                s = np.abs(op[1]) * mag if op[0] == "diag" else mag @ np.abs(op[1]).T
                D.append(float_error(op, mag, s))
                # (a diagonal op's products: |Lam W| <= (1 + u) |Lam| |W|, rounded once)
                V.append(gamma(op[2].size) * np.abs(op[2]) + D[-1] * (1 + 1e-12) +
                         (U * 3 if op[0] == "diag" else gamma(op[1].shape[0])) * s)
            l, u = _interval(op, pl, pu, s)
            l, u = down(l - D[-1]), up(u + D[-1])
            last = i + 1 == len(ops)
            # (before the first ReLU, with one matrix at most, the interval bounds are the
            # tightest already: a diagonal op maps a box onto a box)
            exact = all(o[0] in ("mat", "diag") for o in ops[:i + 1]) and \
                sum(o[0] == "mat" for o in ops[:i + 1]) <= 1
            every = last or ops[i + 1][0] == "pool"
            if not exact and (every or ops[i + 1][0] == "relu"):
                # back-substitute the output, a MaxPool's input and, before a ReLU, the
                # entries not proved inactive in some box (an inactive entry is 0 whatever
                # its bounds; an active one's bounds tighten the interval bounds further on)
                idx = np.arange(l.shape[1]) if every else np.flatnonzero((u > 0).any(axis=0))
                m, k = l.shape[1], idx.size
                if k:
                    E = np.zeros((2 * k, m))
                    E[np.arange(k), idx], E[k + np.arange(k), idx] = 1.0, -1.0
                    val, _, _ = _backsub_chunked(ops, i + 1, E, L, U_, lo, hi, phases, V)
                    # each box keeps only its own entries' refinements, so that a box's
                    # bounds do not depend on the boxes it is batched with
                    use = np.ones((l.shape[0], k), dtype=bool) if every else u[:, idx] > 0
                    l, u = l.copy(), u.copy()
                    l[:, idx] = np.where(use, np.maximum(l[:, idx], val[:, :k]), l[:, idx])
                    u[:, idx] = np.where(use, np.minimum(u[:, idx], -val[:, k:]), u[:, idx])
        if i + 1 in prior:
            l, u = np.maximum(l, prior[i + 1][0]), np.minimum(u, prior[i + 1][1])
        if i + 1 < len(ops) and ops[i + 1][0] == "relu" and i + 1 in phases:
            ph = phases[i + 1]
            l, u = np.where(ph > 0, np.maximum(l, 0.0), l), np.where(ph < 0, np.minimum(u, 0.0), u)
        l = np.where(np.isnan(l), -np.inf, l)
        u = np.where(np.isnan(u), np.inf, u)
        infeasible |= (l > u).any(axis=1)
        L.append(l)
        U_.append(u)
    Cy, Cx = rows
    K = len(ops)
    val, A, off = _backsub_chunked(ops, K, Cy, L, U_, lo, hi, phases, V)
    xin, xe = _box_min(Cx, lo, hi)
    ilo, ie = _box_min(Cy, L[K], U_[K])
    with np.errstate(invalid="ignore", over="ignore"):
        lb = np.maximum(sub_down(val + xin, xe), sub_down(ilo + xin, ie + xe))
        A = A + Cx[None]
        off = sub_down(off, 2 * U * np.einsum("brn,bn->br", np.abs(A),
                                              np.maximum(np.abs(lo), np.abs(hi))))
    lb = np.where(np.isnan(lb), -np.inf, lb)
    return L, U_, infeasible, lb, A, off


def sub_down(a, e):
    """A float at most ``a - e`` where ``a`` was computed with one more rounding."""
    return down(a - e - gamma(2) * np.abs(a))


def _interval(op, l, u, s):
    """Interval bounds of ``W x + b`` for ``l <= x <= u`` (``s``: ``|W| max(|l|, |u|)``)."""
    W, b = op[1], op[2]
    if op[0] == "diag":
        lo_, hi_ = np.minimum(W * l, W * u), np.maximum(W * l, W * u)
        e = U * (s + np.abs(b)) * 4
        return down(lo_ + b - e), up(hi_ + b + e)
    Wp, Wn = np.maximum(W, 0.0), np.minimum(W, 0.0)
    with np.errstate(invalid="ignore", over="ignore"):
        e = gamma(W.shape[1] + 1) * (s + np.abs(b))
        lo_ = l @ Wp.T + u @ Wn.T + b - e
        hi_ = u @ Wp.T + l @ Wn.T + b + e
    return down(lo_), up(hi_)


def _box_min(C, lo, hi):
    """``(min over the box of C x, its error bound)``, ``C`` ``(R, n)`` or ``(B, R, n)``."""
    Cb = np.broadcast_to(C, (lo.shape[0],) + C.shape[-2:])
    with np.errstate(invalid="ignore", over="ignore"):
        t = np.where(Cb > 0, Cb * lo[:, None, :], Cb * hi[:, None, :])
        t = np.where(Cb == 0, 0.0, t)
        return t.sum(axis=2), gamma(lo.shape[1] + 1) * np.abs(t).sum(axis=2)


def _bmv(X, v):
    """``X[b] @ v[b]`` for ``X`` ``(B, R, n)`` and ``v`` ``(B, n)``."""
    return np.matmul(X, v[:, :, None])[..., 0]


_LIMIT = 2_000_000  # entries of one (boxes, rows, width) array in a back-substitution


def _backsub_chunked(ops, k, C, L, U_, lo, hi, phases, V):
    """:func:`_backsub` of the rows ``C`` ``(R, size)`` on every box, in chunks of boxes
    and rows small enough for memory; the results are the same as in one call."""
    B, R = lo.shape[0], C.shape[0]
    width = max(x.shape[1] for x in L[:k + 1])
    bc = max(1, min(B, _LIMIT // max(1, R * width)))
    rc = R if bc > 1 else max(1, min(R, _LIMIT // width))
    if bc >= B and rc >= R:
        return _backsub(ops, k, np.broadcast_to(C, (B,) + C.shape), L, U_, lo, hi, phases, V)
    parts = []
    for b0 in range(0, B, bc):
        sl = slice(b0, b0 + bc)
        Ls, Us = [x[sl] for x in L[:k + 1]], [x[sl] for x in U_[:k + 1]]
        ph = {j: p[sl] for j, p in phases.items()}
        Vs = [v if v is None or np.ndim(v) < 2 else v[sl] for v in V]
        nb = Ls[0].shape[0]
        rows = [_backsub(ops, k, np.broadcast_to(C[r0:r0 + rc], (nb,) + C[r0:r0 + rc].shape),
                         Ls, Us, lo[sl], hi[sl], ph, Vs) for r0 in range(0, R, rc)]
        parts.append(tuple(np.concatenate(z, axis=1) for z in zip(*rows)))
    return tuple(np.concatenate(z, axis=0) for z in zip(*parts))


def _backsub(ops, k, Lam, L, U_, lo, hi, phases, V):
    """Lower bounds of ``Lam . node_k`` over each box: ``(val, A, off)``, with
    ``Lam . node_k >= A x + off`` on the box (error terms included in ``off``; ``V[j]``:
    what an affine op's step costs per unit of ``|Lam|`` on node ``j``, its float error
    ``D`` (``Lam . node >= Lam . (W x + b) - |Lam| . D``) and the step's own roundings).

    Error terms linear in ``|Lam|`` are gathered in ``carry`` (``err += |Lam| . carry``)
    and paid with the next pass over ``|Lam|``."""
    const = np.zeros(Lam.shape[:2])
    err = np.zeros(Lam.shape[:2])
    carry = None
    with np.errstate(invalid="ignore", over="ignore"):
        for j in range(k - 1, -1, -1):
            op = ops[j]
            if carry is not None and op[0] != "mat":
                err, carry = err + _bmv(np.abs(Lam), carry), None
            if op[0] == "relu":
                zl, zu = L[j], U_[j]
                ph = phases.get(j)
                act = zl >= 0
                ina = zu <= 0
                if ph is not None:
                    act, ina = act | (ph > 0), ina | (ph < 0)
                uns = ~(act | ina)
                # slopes: 1 when active, 0 when inactive; for an unstable entry the lower
                # relaxation (alpha) where Lam >= 0, the upper one (s, the chord through
                # (zl, 0)) where Lam < 0 (only the entries unstable in some box are visited)
                new = Lam * act[:, None, :]
                cols = np.flatnonzero(uns.any(axis=0))
                if cols.size:
                    zl_c, zu_c, un_c = zl[:, cols], zu[:, cols], uns[:, cols]
                    alpha = np.where(un_c, (zu_c > -zl_c).astype(float), act[:, cols])
                    s = np.where(un_c, zu_c / np.where(un_c, zu_c - zl_c, 1.0) * (1 + 8 * U),
                                 act[:, cols])
                    Lc = Lam[:, :, cols]
                    new[:, :, cols] = Lc * np.where(Lc >= 0, alpha[:, None, :], s[:, None, :])
                    # the chord's constant, sum over Lam < 0 of Lam s (-zl): terms of one
                    # sign, so |sum| is the sum of their sizes; two roundings each, and
                    # the sum's
                    cterm = _bmv(np.minimum(Lc, 0.0), np.where(un_c, s * -zl_c, 0.0))
                    const = const + cterm
                    g = gamma(Lam.shape[2] + 2)
                    err = err + g * np.abs(cterm) * (1 + 2 * g)
                # |new| . carry: the roundings of the products (node j feeds ops[j])
                carry = U * 2 * np.maximum(np.abs(zl), np.abs(zu))
                Lam = new
            elif op[0] == "pool":
                # y >= x_src where Lam >= 0 or where x_src dominates (then y = x_src); else
                # y <= umax, a constant
                src, dom, umax = pool_relax(op[1], L[j], U_[j])
                coef = np.where((Lam >= 0) | dom[:, None, :], Lam, 0.0)
                rest = Lam - coef  # exact
                t = np.where(rest != 0, rest * umax[:, None, :], 0.0)  # (0 where umax = inf)
                const = const + t.sum(axis=2)
                err = err + gamma(umax.shape[1] + 2) * np.abs(t).sum(axis=2)
                new = np.zeros((Lam.shape[0], L[j].shape[1], Lam.shape[1]))
                bi = np.broadcast_to(np.arange(Lam.shape[0])[:, None], src.shape)
                np.add.at(new, (bi, src), coef.transpose(0, 2, 1))  # a few terms per entry
                err = err + gamma(op[1].shape[1]) * _bmv(
                    np.abs(coef), np.take_along_axis(np.maximum(np.abs(L[j]), np.abs(U_[j])),
                                                     src, axis=1))
                Lam = new.transpose(0, 2, 1)
            else:
                W, b = op[1], op[2]
                const = const + Lam @ b
                new = Lam * W if op[0] == "diag" else Lam @ W
                # one pass over |Lam| for V (the rounding of Lam . b and of the products,
                # (|Lam| |W|) . mag = |Lam| . (|W| mag), the op's float error) and what
                # the step before left
                vec = V[j + 1] if carry is None else V[j + 1] + carry
                vec = np.broadcast_to(vec, Lam.shape[::2])
                err = err + _bmv(np.abs(Lam), vec) + U * np.abs(const)
                carry = None
                Lam = new
        if carry is not None:
            err = err + _bmv(np.abs(Lam), carry)
        t, te = _box_min(Lam, lo, hi)
        tot = err * (1 + 1e-6) + te + gamma(2) * np.abs(t + const)
        val = down(t + const - tot)
        off = down(const - err * (1 + 1e-6))
    val = np.where(np.isfinite(val), val, -np.inf)
    return val, Lam, off


# --------------------------------------------------------------------------------- shrink
def shrink(A, off, d_hi, closed, lo, hi, sweeps=2):
    """The box holding every counterexample of the open terms (``None``: none left).

    ``A``/``off``/``d_hi``: per term, ``(R_j, n)``, ``(R_j,)``, ``(R_j,)``; a counterexample
    of term ``j`` has ``A x + off <= row(x) <= d <= d_hi``.  Interval propagation, every
    derived bound rounded outward."""
    out_lo, out_hi = None, None
    for Aj, oj, dj, cj in zip(A, off, d_hi, closed):
        if cj:
            continue
        l, h = lo.copy(), hi.copy()
        rhs = up(dj - oj + U * 4 * (np.abs(dj) + np.abs(oj)))
        empty = False
        with np.errstate(all="ignore"):
            for _ in range(sweeps):
                for r in range(Aj.shape[0]):
                    a = Aj[r]
                    if not (np.isfinite(a).all() and np.isfinite(rhs[r])):
                        continue
                    mins = np.where(a > 0, a * l, a * h)
                    mins = np.where(a == 0, 0.0, mins)
                    tot = mins.sum()
                    e = gamma(a.size + 2) * (np.abs(mins).sum() + abs(rhs[r]))
                    for i in np.flatnonzero(a):
                        num = rhs[r] - (tot - mins[i]) + e + 2 * U * abs(mins[i])
                        bnd = num / a[i]
                        if not np.isfinite(bnd):
                            continue
                        if a[i] > 0:
                            h[i] = min(h[i], float(up(bnd + 2 * U * abs(bnd))))
                        else:
                            l[i] = max(l[i], float(down(bnd - 2 * U * abs(bnd))))
                if (l > h).any():
                    empty = True
                    break
        if empty:
            continue
        out_lo = l if out_lo is None else np.minimum(out_lo, l)
        out_hi = h if out_hi is None else np.maximum(out_hi, h)
    return None if out_lo is None else (out_lo, out_hi)


# ------------------------------------------------------------------------------ LP rows
class NodeLP:
    """The LP of one node: rows ``lo <= A v <= hi`` over the columns ``col_lo <= v <= col_hi``.

    ``A`` (CSR) holds every coefficient exactly except the ``u - l`` of chord rows (exact in
    ``chord``: row -> ``(l, u)``); ``hi`` of a chord row is ``-u l`` rounded up and ``hi`` of a
    property row its bound rounded up (exact in ``exact_hi``: row -> Fraction)."""

    def __init__(self, A, lo, hi, col_lo, col_hi, chord, exact_hi, layout=()):
        self.A, self.lo, self.hi = A, lo, hi
        self.col_lo, self.col_hi = col_lo, col_hi
        self.chord, self.exact_hi = chord, exact_hi
        #: per block of rows, in order: ("affine", first row, count), ("relu", first row,
        #: active mask, unstable mask, first pre column, first post column) or ("term",
        #: first row, count); for a producer
        #: that maps its own LP's rows onto these (not used by the check itself)
        self.layout = layout


def lp_rows(ops, L, U_, phases, term) -> NodeLP:
    """The LP of a node from its bounds (``L``, ``U_``: per node, 1-D), phases and one term.

    Columns: node 0 (the input), then the output of every op, in order.  Rows, in order:
    for every op, per output entry: an affine op's equality ``v_out - W v_in = b``; a ReLU
    neuron's ``post - pre = 0`` when active (``l >= 0`` or fixed +1), ``post - pre >= 0``
    and the chord ``(u - l) post - u pre <= -u l`` when unstable, nothing when inactive
    (``u <= 0`` or fixed -1: its column bounds say it); then the term's rows
    ``a_x . x + a_y . y <= d``."""
    offs = np.cumsum([0] + [x.size for x in L])
    r_, c_, v_, lo_, hi_ = [], [], [], [], []
    chord, exact_hi = {}, {}
    n_rows = 0
    layout = []

    def block(rows, cols, vals, lo, hi):
        nonlocal n_rows
        r_.append(rows + n_rows)
        c_.append(cols)
        v_.append(vals)
        lo_.append(lo)
        hi_.append(hi)
        n_rows += lo.size

    for i, op in enumerate(ops):
        src, dst = np.arange(offs[i], offs[i + 1]), np.arange(offs[i + 1], offs[i + 2])
        m = dst.size
        if op[0] == "relu":
            zl, zu, ph = L[i], U_[i], phases.get(i)
            act, ina = zl >= 0, zu <= 0
            if ph is not None:
                act, ina = act | (ph > 0), ina | (ph < 0)
            uns = ~(act | ina)
            eq = act & ~ina
            # rows per neuron: 1 (active), 2 (unstable), 0; numbered neuron by neuron
            cnt = eq.astype(int) + 2 * uns
            first = np.concatenate([[0], np.cumsum(cnt)[:-1]])
            k_eq, k_un = np.flatnonzero(eq), np.flatnonzero(uns)
            rows = np.concatenate([first[k_eq], first[k_un], first[k_un] + 1])
            lo = np.zeros(rows.size)
            hi = np.zeros(rows.size)
            hi[k_eq.size:k_eq.size + k_un.size] = np.inf
            lo[k_eq.size + k_un.size:] = -np.inf
            l_u, u_u = zl[k_un], zu[k_un]
            hi[k_eq.size + k_un.size:] = up(-u_u * l_u * (1 + 4 * U))
            order = np.argsort(rows, kind="stable")
            blo, bhi = lo[order], hi[order]
            base = n_rows
            layout.append(("relu", base, eq, uns, int(offs[i]), int(offs[i + 1])))
            for k, r in zip(k_un, first[k_un] + 1):
                chord[base + int(r)] = (float(zl[k]), float(zu[k]))
            kk = np.concatenate([k_eq, k_un, k_un])
            post_c = np.concatenate([np.ones(k_eq.size + k_un.size), u_u - l_u])
            pre_c = np.concatenate([-np.ones(k_eq.size + k_un.size), -u_u])
            block(np.concatenate([rows, rows]), np.concatenate([dst[kk], src[kk]]),
                  np.concatenate([post_c, pre_c]), np.zeros(0), np.zeros(0))
            lo_[-1], hi_[-1] = blo, bhi
            n_rows += blo.size
            continue
        if op[0] == "pool":
            # per window entry j: y - x_j >= 0; = 0 for the dominating entry, if any
            win = op[1]
            src_k, dom, _ = pool_relax(win, L[i][None], U_[i][None])
            ii, jj = np.nonzero(win >= 0)
            hi = np.where(dom[0][ii] & (win[ii, jj] == src_k[0][ii]), 0.0, np.inf)
            r = np.arange(ii.size)
            layout.append(("pool", n_rows, ii.size))
            block(np.concatenate([r, r]), np.concatenate([dst[ii], src[win[ii, jj]]]),
                  np.concatenate([np.ones(ii.size), -np.ones(ii.size)]), np.zeros(ii.size), hi)
            continue
        W, b = op[1], op[2]
        d = float_error(op, np.maximum(np.abs(L[i]), np.abs(U_[i]))[None])
        d = d[0] if not np.isscalar(d) else np.zeros(m)
        if op[0] == "diag":
            rr, cc, vv = np.arange(m), src, -W
        else:
            rr, cc = np.nonzero(W)
            cc, vv = src[cc], -W[rr, cc]
        layout.append(("affine", n_rows, m))
        block(np.concatenate([np.arange(m), rr]), np.concatenate([dst, cc]),
              np.concatenate([np.ones(m), vv]), down(b - d) if d.any() else b.copy(),
              up(b + d) if d.any() else b.copy())
    y0 = offs[len(ops)]
    layout.append(("term", n_rows, len(term)))
    for ax, ay, d in term:
        cx = [(i, v) for i, v in enumerate(ax) if v] + [(int(y0 + j), v)
                                                         for j, v in enumerate(ay) if v]
        exact_hi[n_rows] = d
        block(np.zeros(len(cx), dtype=int), np.array([c for c, _ in cx], dtype=int),
              np.array([exact_float(v, "property") for _, v in cx]), np.array([-np.inf]),
              np.array([ceil_float(d)]))
    A = sp.csr_matrix((np.concatenate(v_), (np.concatenate(r_), np.concatenate(c_))),
                      shape=(n_rows, int(offs[-1])))
    return NodeLP(A, np.concatenate(lo_), np.concatenate(hi_), np.concatenate(L),
                  np.concatenate(U_), chord, exact_hi, tuple(layout))


def farkas(lp: NodeLP, idx, y) -> tuple[bool, str]:
    """Do multipliers ``y`` on rows ``idx`` prove the node's LP infeasible?

    Every feasible ``v`` has ``sum_r y_r (A_r v) <= beta`` (``y_r > 0`` takes the row's upper
    side, ``y_r < 0`` its lower side); if the minimum of the left side over the column box
    exceeds ``beta``, nothing is feasible.  A float64 test with error bounds decides when
    its margin is wide; exact rationals otherwise."""
    m = lp.lo.size
    if (lp.col_lo > lp.col_hi).any():
        return True, "empty column box"
    if not (np.isfinite(lp.col_lo).all() and np.isfinite(lp.col_hi).all()):
        return False, "a column bound is not finite"
    idx = np.asarray(idx, dtype=np.int64)
    if len(idx) != len(y) or ((idx < 0) | (idx >= m)).any() or np.unique(idx).size != idx.size:
        return False, "multipliers name rows the LP does not have (or twice)"
    yv = np.zeros(m)
    yv[idx] = y
    side = np.where(yv > 0, lp.hi, np.where(yv < 0, lp.lo, 0.0))
    if not np.isfinite(side).all():
        return False, f"row {int(np.flatnonzero(~np.isfinite(side))[0])}: multiplier of the " \
                      "wrong sign"
    beta = float(yv @ side)
    beta_err = gamma(m) * float(np.abs(yv) @ np.abs(side))
    g = lp.A.T @ yv
    eg = gamma(m) * (abs(lp.A).T @ np.abs(yv))
    mag = np.maximum(np.abs(lp.col_lo), np.abs(lp.col_hi))
    t = np.where(g > 0, g * lp.col_lo, g * lp.col_hi)
    mn = float(t.sum())
    err = float(eg @ mag) + gamma(m + mag.size) * (float(np.abs(t).sum()) + abs(mn) + abs(beta)) \
        + beta_err
    if mn - beta > err:
        return True, "float"
    if mn - beta < -err:
        return False, f"the combination is not contradictory ({mn:.6g} <= {beta:.6g})"
    # exact: every coefficient and bound read as a rational number
    A = lp.A.tocsr()
    ge: dict[int, Fraction] = {}
    be = Fraction(0)
    for r in idx[np.asarray(y) != 0]:
        fy = Fraction(float(yv[r]))
        cols = A.indices[A.indptr[r]:A.indptr[r + 1]]
        vals = [Fraction(float(v)) for v in A.data[A.indptr[r]:A.indptr[r + 1]]]
        if int(r) in lp.chord:
            l, u = lp.chord[int(r)]
            exact = {int(cols[0]): Fraction(u) - Fraction(l), int(cols[1]): -Fraction(u)}
            vals = [exact[int(c)] for c in cols]
            bound = -Fraction(u) * Fraction(l)
        elif int(r) in lp.exact_hi and yv[r] > 0:
            bound = lp.exact_hi[int(r)]
        else:
            bound = Fraction(float(side[r]))
        for c, v in zip(cols, vals):
            ge[int(c)] = ge.get(int(c), Fraction(0)) + fy * v
        be += fy * bound
    me = sum((v * Fraction(float(lp.col_lo[c] if v > 0 else lp.col_hi[c]))
              for c, v in ge.items()), Fraction(0))
    if me > be:
        return True, "exact"
    return False, f"the combination is not contradictory ({float(me):.6g} <= {float(be):.6g})"


# -------------------------------------------------------------------------------- the walk
def root_boxes(groups):
    """Per group, the float64 box the certificate's tree must cover (rounded outward)."""
    return [(np.array([floor_float(v) for v in lo]), np.array([ceil_float(v) for v in hi]))
            for lo, hi, _ in groups]


def group_rows(terms, n_in, n_out):
    """Stacked rows of a group's terms: ``Cy``, ``Cx``, ``d_hi``, term index per row."""
    Cy, Cx, d, tj = [], [], [], []
    for j, term in enumerate(terms):
        for ax, ay, dd in term:
            Cx.append([exact_float(v, "property") for v in ax])
            Cy.append([exact_float(v, "property") for v in ay])
            d.append(ceil_float(dd))
            tj.append(j)
    return (np.array(Cy).reshape(-1, n_out), np.array(Cx).reshape(-1, n_in), np.array(d),
            np.array(tj, dtype=int))


class Checker:
    """Walks a certificate over one model and property (see :func:`check`)."""

    BATCH = 256

    def __init__(self, n_in, ops, groups):
        self.n_in, self.ops, self.groups = n_in, ops, groups
        self.n_out = n_outputs(n_in, ops)
        self.relu_ops = [i for i, o in enumerate(ops) if o[0] == "relu"]
        self.counts = {"bound": 0, "farkas": 0, "unchecked": 0, "nodes": 0}
        self.unchecked: list[str] = []
        self.on_lp_leaf = None  # producer hook: NodeLP -> (rows, multipliers) or None
        # producer hook: (kind, node, lo, hi) -> True when it rewrote the failing node in place
        # (kind "box": a bound leaf, "shrink": a shrink, "phase": a phase bound leaf)
        self.repair = None

    def run(self, trees):
        if len(trees) != len(self.groups):
            raise ProofError("root", f"{len(trees)} trees for {len(self.groups)} input boxes")
        for g, ((lo, hi), (_, _, terms), tree) in enumerate(
                zip(root_boxes(self.groups), self.groups, trees)):
            self.walk_boxes(f"group {g}", tree, lo, hi, terms)

    def walk_boxes(self, where, tree, lo, hi, terms):
        Cy, Cx, d_hi, tj = group_rows(terms, self.n_in, self.n_out)
        level = [(where, tree, lo, hi, None)]
        self.pending: list[list] = [[] for _ in terms]  # hand-offs, walked per term at the end
        while level:
            nxt = []
            # a split node is only expanded (its bounds would rarely close it: the search
            # split it because its own did not); every other node gets its bounds
            level, splits = _part(level, lambda item: _kind(item[1]) == "s")
            for w, node, nlo, nhi, plb in splits:
                self.counts["nodes"] += 1
                nxt += self.split_node(w, node, nlo, nhi, plb)
            for s in range(0, len(level), self.BATCH):
                part = level[s:s + self.BATCH]
                blo = np.stack([p[2] for p in part])
                bhi = np.stack([p[3] for p in part])
                L, U_, inf, lb, A, off = bounds(self.ops, blo, bhi, (Cy, Cx))
                for b, (w, node, nlo, nhi, plb) in enumerate(part):
                    self.counts["nodes"] += 1
                    lbs = lb[b] if plb is None else np.maximum(lb[b], plb)
                    closed = np.array([inf[b] or bool((lbs[tj == j] > d_hi[tj == j]).any())
                                       for j in range(len(terms))])
                    nxt += self.box_node(w, node, nlo, nhi, lbs, closed, A[b], off[b],
                                         d_hi, tj, terms, [x[b:b + 1] for x in L],
                                         [x[b:b + 1] for x in U_])
            level = nxt
        for j, items in enumerate(self.pending):
            if items:
                self.walk_phases(items, terms[j])

    def box_node(self, w, node, lo, hi, lbs, closed, A, off, d_hi, tj, terms, L, U_):
        if closed.all():
            self.counts["bound"] += 1
            return []
        kind = node.get("t") if isinstance(node, dict) else None
        if kind in ("b", "k"):
            sh = shrink([A[tj == j] for j in range(len(terms))],
                        [off[tj == j] for j in range(len(terms))],
                        [d_hi[tj == j] for j in range(len(terms))], closed, lo, hi)
            if sh is None:
                self.counts["bound"] += 1
                return []
            if kind == "b":
                if self.repair is not None and self.repair("box", node, lo, hi):
                    return [(w, node, lo, hi, lbs)]
                bad = [j for j in range(len(terms)) if not closed[j]]
                raise ProofError(w, f"bound leaf not closed: term {bad[0]}, best row margin "
                                    f"{float(np.max(lbs[tj == bad[0]] - d_hi[tj == bad[0]])):.3g}")
            clo, chi = _hexes(node.get("lo"), w, lo.size), _hexes(node.get("hi"), w, lo.size)
            if (sh[0] < clo).any() or (sh[1] > chi).any():
                if self.repair is not None and self.repair("shrink", node, lo, hi):
                    return [(w, node, lo, hi, lbs)]
                raise ProofError(w, "shrunk box does not contain every remaining counterexample")
            return [(w + ".k", node.get("c"), np.maximum(lo, clo), np.minimum(hi, chi), lbs)]
        if kind == "s":
            return self.split_node(w, node, lo, hi, lbs)
        if kind == "h":
            c = node.get("c")
            if not isinstance(c, list) or len(c) != len(terms):
                raise ProofError(w, "a hand-off needs one phase tree per term")
            for j, sub in enumerate(c):
                if not closed[j]:
                    self.pending[j].append((f"{w}.h{j}", sub, {}, (L, U_), lbs[tj == j], lo, hi))
            return []
        if kind == "z":
            self.counts["unchecked"] += 1
            self.unchecked.append(f"{w}: {node.get('why', 'unchecked')}")
            return []
        raise ProofError(w, f"unknown node {str(node)[:60]!r}")

    def split_node(self, w, node, lo, hi, lbs):
        """The two children of an input split ``[dim, v]``: ``x_dim <= v`` and ``>= v``."""
        dim, v = node.get("d"), _hex(node.get("v"), w)
        if not isinstance(dim, int) or not 0 <= dim < lo.size or not lo[dim] <= v <= hi[dim]:
            raise ProofError(w, f"split {dim!r} at {v!r} is not inside the box")
        c = node.get("c")
        if not isinstance(c, list) or len(c) != 2:
            raise ProofError(w, "a split needs two children")
        h1, l2 = hi.copy(), lo.copy()
        h1[dim], l2[dim] = v, v
        return [(w + ".0", c[0], lo, h1, lbs), (w + ".1", c[1], l2, hi, lbs)]

    def walk_phases(self, level, term):
        """The phase trees of hand-offs of one term, all boxes batched together; items
        ``(where, node, phases, (L, U) prior, row lower bounds, lo, hi)``."""
        Cy, Cx, d_hi, _ = group_rows([term], self.n_in, self.n_out)
        L0 = level[0][3][0]
        # a root's bounds are its hand-off box's, computed already (no phase is fixed yet)
        roots, level = level, []
        for w, node, phases, prior, p, lo, hi in roots:
            self.counts["nodes"] += 1
            level += [c + (lo, hi) for c in self.phase_node(w, node, phases, prior[0],
                                                            prior[1], p, term)]
        while level:
            nxt = []
            # (a phase split's bounds are computed: they are its children's prior bounds,
            # and the LPs of Farkas leaves below are built from them)
            for s in range(0, len(level), self.BATCH):
                part = level[s:s + self.BATCH]
                ph = {i: np.stack([p[2].get(i, np.zeros(L0[i].shape[1], dtype=np.int8))
                                   for p in part]) for i in self.relu_ops}
                prior = {k: (np.concatenate([p[3][0][k] for p in part]),
                             np.concatenate([p[3][1][k] for p in part]))
                         for k in range(1, len(self.ops) + 1)}
                L, U_, inf, lb, _, _ = bounds(self.ops, np.stack([p[5] for p in part]),
                                              np.stack([p[6] for p in part]), (Cy, Cx), ph, prior)
                for b, (w, node, phases, _, p, lo, hi) in enumerate(part):
                    self.counts["nodes"] += 1
                    lbs = np.maximum(lb[b], p)
                    Lb, Ub = [x[b:b + 1] for x in L], [x[b:b + 1] for x in U_]
                    if inf[b] or (lbs > d_hi).any():
                        self.counts["bound"] += 1
                        continue
                    nxt += [c + (lo, hi) for c in self.phase_node(w, node, phases, Lb, Ub, lbs,
                                                                  term)]
            level = nxt

    def phase_node(self, w, node, phases, L, U_, lbs, term):
        kind = node.get("t") if isinstance(node, dict) else None
        if kind == "r":
            li, k, c = node.get("l"), node.get("i"), node.get("c")
            if not (isinstance(li, int) and 0 <= li < len(self.relu_ops)):
                raise ProofError(w, f"no ReLU layer {li!r}")
            op = self.relu_ops[li]
            size = L[op].shape[1]
            if not (isinstance(k, int) and 0 <= k < size) or (
                    op in phases and phases[op][k] != 0):
                raise ProofError(w, f"neuron {k!r} of layer {li} is not a free neuron")
            if not isinstance(c, list) or len(c) != 2:
                raise ProofError(w, "a phase split needs two children")
            out = []
            for sign, child, tag in ((1, c[0], ".a"), (-1, c[1], ".i")):
                p2 = {i: v.copy() for i, v in phases.items()}
                p2.setdefault(op, np.zeros(size, dtype=np.int8))[k] = sign
                out.append((w + tag, child, p2, (L, U_), lbs))
            return out
        if kind == "f":
            lp = lp_rows(self.ops, [x[0] for x in L], [x[0] for x in U_], phases, term)
            if self.on_lp_leaf is not None and "y" not in node:
                got = self.on_lp_leaf(lp)
                if got is None:
                    node.clear()
                    node.update({"t": "z", "why": "no Farkas multipliers on the checker's LP"})
                    return self.phase_node(w, node, phases, L, U_, lbs, term)
                node["r"], node["y"] = [int(i) for i in got[0]], [float(v).hex() for v in got[1]]
            idx = node.get("r", [])
            y = [_hex(v, w) for v in node.get("y", [])]
            ok, why = farkas(lp, idx, y)
            if not ok:
                raise ProofError(w, f"Farkas leaf rejected: {why}")
            self.counts["farkas"] += 1
            return []
        if kind == "z":
            self.counts["unchecked"] += 1
            self.unchecked.append(f"{w}: {node.get('why', 'unchecked')}")
            return []
        if kind == "b":
            if self.repair is not None and self.repair("phase", node, None, None):
                return [(w, node, phases, (L, U_), lbs)]
            raise ProofError(w, "phase bound leaf not closed")
        raise ProofError(w, f"unknown node {str(node)[:60]!r}")


def _kind(node):
    return node.get("t") if isinstance(node, dict) else None


def _part(items, pred):
    """``(items where pred is false, items where it is true)``, in order."""
    yes = [x for x in items if pred(x)]
    return [x for x in items if not pred(x)], yes


def _hex(v, where) -> float:
    try:
        f = float.fromhex(v)
    except (TypeError, ValueError):
        raise ProofError(where, f"{v!r} is not a float in hex") from None
    if not np.isfinite(f):
        raise ProofError(where, f"{v!r} is not finite")
    return f


def _hexes(vs, where, n) -> np.ndarray:
    if not isinstance(vs, list) or len(vs) != n:
        raise ProofError(where, f"a box needs {n} values")
    return np.array([_hex(v, where) for v in vs])


def load_proof(path: str) -> dict:
    try:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt") as f:
            return json.load(f)
    except (OSError, ValueError, EOFError) as e:
        raise CheckInputError(f"{path}: not a readable certificate ({e})") from None


def check(model_path: str, prop_path: str, proof: dict) -> Checker:
    """Check ``proof`` for the model and property; raises :class:`ProofError` at the first
    failing node (the header included), returns the :class:`Checker` with its counts."""
    n_in, ops, mdig = read_model(model_path)
    groups, pdig = read_property(prop_path, n_in, n_outputs(n_in, ops))
    if not isinstance(proof, dict) or proof.get("format") != FORMAT:
        raise ProofError("header", f"not a {FORMAT} certificate")
    ops = semantic_ops(ops, proof.get("semantics"))
    if proof.get("model") != mdig:
        raise ProofError("header", "the certificate is for other weights (model digest differs)")
    if proof.get("property") != pdig:
        raise ProofError("header", "the certificate is for another property (digest differs)")
    c = Checker(n_in, ops, groups)
    c.run(proof.get("groups"))
    return c


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 3:
        print("usage: check-proof MODEL.onnx PROPERTY.vnnlib PROOF.json[.gz]", file=sys.stderr)
        return EXIT_ERROR
    try:
        c = check(argv[0], argv[1], load_proof(argv[2]))
    except CheckInputError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except ProofError as e:
        print(f"INVALID: {e}")
        return EXIT_INVALID
    counts = ", ".join(f"{k} {v}" for k, v in c.counts.items())
    if c.counts["unchecked"]:
        print(f"INCOMPLETE: {c.counts['unchecked']} leaves unchecked ({counts}); first: "
              f"{c.unchecked[0]}")
        return EXIT_INCOMPLETE
    print(f"VALID ({counts})")
    return EXIT_VALID


if __name__ == "__main__":
    sys.exit(main())
