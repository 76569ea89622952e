"""ONNX -> :class:`~verinet.network.ir.Network`.

The importer walks the graph in topological order keeping, for every tensor, either
a constant (a numpy array) or a *variable*: an IR node plus the per-sample shape under
which the tensor sees that node's flat values.  Nodes whose inputs are all constant are
folded by ONNX's reference evaluator (so ``Shape -> Gather -> Unsqueeze -> Concat``
chains become constants).  Every other node goes to the converter registered for its
op type in :mod:`verinet.network.onnx_ops`; an op type with no converter raises
:class:`~verinet.errors.UnsupportedOperatorError` naming the node.

Batch dimensions: the graph input's declared shape is taken as the shape of *one*
sample, with symbolic dimensions (``N``, ``batch``, unset) read as 1.  verinet adds its
own batch axis in front when it evaluates many samples at once.
"""

from __future__ import annotations

import os
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ModelLoadError, UnsupportedOperatorError
from .ir import Network, NetworkBuilder
from .onnx_proto import DOUBLE, FLOAT, FLOAT16, load_model, to_array, type_name
from .ops import UNDERFLOW, Affine, Op, gamma32, issparse

if TYPE_CHECKING:  # the package itself is imported only where it is needed (onnx_proto)
    import onnx

__all__ = ["load_onnx", "from_model", "Var", "Context"]

_FLOAT_TYPES = {FLOAT: "float32", DOUBLE: "float64", FLOAT16: "float16"}
#: unit roundoff of the element types whose execution the error model covers (float16 is not
#: modelled: its range overflows too)
_ROUNDOFF = {FLOAT: 2.0 ** -24, DOUBLE: 2.0 ** -53}


#: roundings an output of these nodes takes beyond its sum of products and bias
_EXTRA_ROUNDINGS = {"BatchNormalization": 5, "Gemm": 2, "ReduceMean": 1, "AveragePool": 1,
                    "GlobalAveragePool": 1}

#: nodes whose output rows are computed exactly in floating point when the row has at most
#: one nonzero weight, that weight is +-1, and the row's constant term is 0: ``x * 1``,
#: ``x * 0``, ``-x`` and sums with zeros round to themselves (Gemm only with alpha = 1)
_EXACT_UNIT_ROWS = {"MatMul", "Gemm", "Conv", "Add", "Sub", "Neg", "Mul", "Div"}


def _unit_rows(W) -> np.ndarray:
    """Rows of ``W`` with no nonzero entry, or exactly one, equal to +-1."""
    if issparse(W):
        W = W.tocsr(copy=True)
        W.eliminate_zeros()
        nnz = np.diff(W.indptr)
        big = np.asarray(abs(W).max(axis=1).todense()).reshape(-1) if W.shape[1] else \
            np.zeros(W.shape[0])
    else:
        W = np.asarray(W)
        nnz = (W != 0).sum(axis=1)
        big = np.abs(W).max(axis=1) if W.shape[1] else np.zeros(W.shape[0])
    return (nnz == 0) | ((nnz == 1) & (big == 1.0))


def _fan_in(W) -> int:
    """The most nonzero entries in a row of ``W``."""
    if issparse(W):
        W = W.tocsr()
        return int(np.diff(W.indptr).max()) if W.shape[0] else 0
    return int((np.asarray(W) != 0).sum(axis=1).max()) if W.shape[0] else 0


@dataclass(frozen=True)
class Var:
    """A tensor that depends on the network input: IR ``node`` seen with per-sample ``shape``."""

    node: str
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


Value = Var | np.ndarray


class Context:
    """What a converter sees: the node's inputs, attributes, opset and emit helpers."""

    def __init__(self, builder: NetworkBuilder, path: str, opset: int, graph_outputs: set[str]):
        self.nb = builder
        self.path = path
        self.opset = opset
        self.graph_outputs = graph_outputs
        self._names: set[str] = set()
        self.node: onnx.NodeProto | None = None
        #: unit roundoff of the model's float type (None: its execution is not modelled)
        self.roundoff: float | None = 2.0 ** -24
        #: tensor name -> the dropped Softmax/LogSoftmax transforms its values went through
        self.softmaxed: dict[str, tuple[Any, ...]] = {}

    # -- errors -------------------------------------------------------------
    def unsupported(self, detail: str) -> UnsupportedOperatorError:
        n = self.node
        assert n is not None
        return UnsupportedOperatorError(n.op_type, n.name or n.output[0], detail, self.path)

    def fail(self, detail: str) -> ModelLoadError:
        n = self.node
        assert n is not None
        return ModelLoadError(f'{self.path}: node "{n.name or n.output[0]}" ({n.op_type}): '
                              f"{detail}")

    # -- names --------------------------------------------------------------
    def fresh(self, base: str) -> str:
        name, k = base, 1
        while name in self._names:
            k += 1
            name = f"{base}#{k}"
        self._names.add(name)
        return name

    # -- emitting IR nodes ----------------------------------------------------
    def emit(self, base: str, op_factory: Callable[[str], Op], shape: tuple[int, ...]) -> Var:
        name = self.fresh(base)
        self.nb.add(name, op_factory(name), tuple(shape))
        return Var(name, tuple(shape))

    def affine(self, var: Var, W, b: np.ndarray, out_shape: tuple[int, ...],
               label: str = "", err_e0: np.ndarray | None = None,
               exact_ok: bool = True) -> Var:
        """Emit ``y = W x + b`` on ``var`` (``W``: (n_out, n_in) dense or sparse).

        The map stands for one ONNX node run in float32: each output a sum of at most
        ``k`` products and a bias, so within ``gamma32(k + 2) (|W| |x| + |b|)`` (plus
        ``err_e0`` when given, for nodes with more roundings, and ``k + 2`` times the
        largest underflow error of one rounding, IEEE gradual underflow).  A bias node
        (Add, Sub) after an affine node counts that node's ``k`` too: onnxruntime may fuse
        the two into one sum.  Rows that copy an input (weight +-1, no constant, see
        ``_EXACT_UNIT_ROWS``; ``exact_ok=False`` when the node scales its product) carry no
        error.
        """
        n_out = int(np.prod(out_shape, dtype=np.int64))
        b = np.asarray(b, dtype=np.float64).reshape(-1)
        if b.size == 1 and n_out != 1:
            b = np.full(n_out, float(b[0]))
        assert W.shape == (n_out, var.size), f"affine W {W.shape}, want {(n_out, var.size)}"
        node = self.node
        origin = label or (node.op_type if node is not None else "")
        base = node.output[0] if node is not None else "affine"
        if self.roundoff is None:
            return self.emit(base, lambda nm: Affine((var.node,), n_out, W=W, b=b,
                                                     origin=origin), out_shape)
        k = _fan_in(W) + _EXTRA_ROUNDINGS.get(label, 0)
        prev = self.nb.g.nodes[var.node]["op"]
        if label in ("Add", "Sub") and isinstance(prev, Affine):
            k += _fan_in(prev.W)
        rho = gamma32(k + 2, self.roundoff)
        e0 = rho * np.abs(b) + (k + 2) * UNDERFLOW[self.roundoff]
        if err_e0 is not None:
            e0 = e0 + rho * np.abs(err_e0)
        M = None
        if exact_ok and label in _EXACT_UNIT_ROWS:
            exact = _unit_rows(W) & (b == 0) & (err_e0 is None or ~np.any(err_e0 != 0))
            if exact.all():
                return self.emit(base, lambda nm: Affine((var.node,), n_out, W=W, b=b,
                                                         origin=origin), out_shape)
            if exact.any():
                keep = (~exact).astype(np.float64)
                if issparse(W):
                    import scipy.sparse as sp  # loaded already: W is sparse

                    M = sp.csr_array(sp.diags(keep) @ abs(W))
                else:
                    M = np.abs(W) * keep[:, None]
                e0 = e0 * keep
        return self.emit(base, lambda nm: Affine((var.node,), n_out, W=W, b=b, origin=origin,
                                                 err_rho=rho, err_M=M, err_e0=e0), out_shape)

    def linear(self, var: Var, fn: Callable[[np.ndarray], np.ndarray],
               bias: np.ndarray | float = 0.0, label: str = "",
               err_e0: np.ndarray | None = None, exact_ok: bool = True) -> Var:
        """Emit the affine map ``fn(x) + bias``; ``fn`` must be linear on batched tensors.

        ``fn`` maps a batch ``(B, *var.shape)`` to ``(B, *out_shape)``; its matrix is
        read off by applying it to unit vectors in chunks (exact: each entry is a
        single product).  ``bias`` broadcasts against the per-sample output.
        """
        W, out_shape = probe_linear(fn, var.shape)
        bias_arr = np.broadcast_to(np.asarray(bias, dtype=np.float64), out_shape)
        if err_e0 is not None:
            err_e0 = np.broadcast_to(err_e0, out_shape).reshape(-1)
        return self.affine(var, W, bias_arr.reshape(-1), out_shape, label, err_e0, exact_ok)

    def index_map(self, var: Var, fn: Callable[[np.ndarray], np.ndarray],
                  fill: np.ndarray | float = 0.0, label: str = "") -> Var:
        """Emit an operator that only moves, copies or pads entries.

        ``fn`` is applied once to the tensor of 1-based entry numbers (as float64,
        batch 1); an output entry ``k > 0`` copies input entry ``k - 1`` and an entry
        ``0`` takes ``fill`` (broadcast over the output).  A pure reshape costs nothing:
        the variable is re-labelled with the new shape.
        """
        src = np.arange(1, var.size + 1, dtype=np.float64).reshape((1,) + var.shape)
        out = fn(src)
        out_shape = tuple(int(d) for d in out.shape[1:])
        r = out.reshape(-1).astype(np.int64)
        n_out = r.size
        fill_arr = np.broadcast_to(np.asarray(fill, dtype=np.float64), out_shape).reshape(-1)
        bias = np.where(r == 0, fill_arr, 0.0)
        if n_out == var.size and np.array_equal(r, np.arange(1, n_out + 1)):
            return Var(var.node, out_shape)
        import scipy.sparse as sp

        rows = np.nonzero(r > 0)[0]
        W = sp.csr_array((np.ones(rows.size), (rows, r[rows] - 1)), shape=(n_out, var.size))
        return self.affine(var, W, bias, out_shape, label)


def probe_linear(fn: Callable[[np.ndarray], np.ndarray], in_shape: tuple[int, ...]
                 ) -> tuple[Any, tuple[int, ...]]:
    """The matrix of a linear map on per-sample tensors, and its output shape."""
    n = int(np.prod(in_shape, dtype=np.int64))
    probe0 = fn(np.zeros((1,) + in_shape))
    out_shape = tuple(int(d) for d in probe0.shape[1:])
    n_out = int(np.prod(out_shape, dtype=np.int64))
    chunk = int(max(1, min(n, 4_000_000 // max(n_out, 1), 4_000_000 // max(n, 1))))
    rows, cols, vals = [], [], []
    for start in range(0, n, chunk):
        k = min(chunk, n - start)
        E = np.zeros((k, n))
        E[np.arange(k), start + np.arange(k)] = 1.0
        Y = np.asarray(fn(E.reshape((k,) + in_shape)), dtype=np.float64).reshape(k, n_out)
        i, o = np.nonzero(Y)
        rows.append(o)
        cols.append(start + i)
        vals.append(Y[i, o])
    r = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    v = np.concatenate(vals) if vals else np.zeros(0)
    if n_out * n <= 250_000 or v.size > 0.25 * n_out * n:
        W = np.zeros((n_out, n))
        W[r, c] = v  # each (row, column) occurs once
        return W, out_shape
    import scipy.sparse as sp

    return sp.csr_array((v, (r, c)), shape=(n_out, n)), out_shape


# ------------------------------------------------------------------ loading
def load_onnx(path: str | os.PathLike) -> Network:
    """Read an ONNX file into a :class:`Network`.

    Raises:
        ModelLoadError: the file is missing, unreadable or structurally unusable.
        UnsupportedOperatorError: a node verinet cannot encode exactly.
    """
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise ModelLoadError(f"{p}: no such file; check the path to the model")
    try:
        model = load_model(p)
    except Exception as e:  # protobuf raises a variety of decode errors
        raise ModelLoadError(f"{p}: not a readable ONNX model ({type(e).__name__}: {e}); "
                             "check that the file is a complete .onnx export") from None
    _load_external(model, p)
    if not model.graph.node and not model.graph.output:
        raise ModelLoadError(f"{p}: not a readable ONNX model (empty graph); "
                             "check that the file is a complete .onnx export")
    return from_model(model, p)


def _uses_external(graph) -> bool:
    """Whether a tensor of the graph (initializers, node attributes, subgraphs) keeps its
    data in an external file."""
    for t in graph.initializer:
        if t.data_location == 1:
            return True
    for node in graph.node:
        for a in node.attribute:
            if (a.HasField("t") and a.t.data_location == 1) or any(
                    x.data_location == 1 for x in a.tensors):
                return True
            if (a.HasField("g") and _uses_external(a.g)) or any(
                    _uses_external(x) for x in a.graphs):
                return True
    return False


def _load_external(model: onnx.ModelProto, path: str) -> None:
    """Read tensors stored as external data (relative to the model's folder), one by one,
    so that a missing or short file is reported with the tensor and the file named."""
    if not _uses_external(model.graph):
        return
    import onnx
    from onnx import numpy_helper
    from onnx.external_data_helper import (
        ExternalDataInfo,
        _get_all_tensors,
        load_external_data_for_tensor,
        uses_external_data,
    )

    base = os.path.dirname(os.path.abspath(path))
    for t in _get_all_tensors(model):
        if not uses_external_data(t):
            continue
        info = ExternalDataInfo(t)
        where = os.path.join(base, info.location)
        if not os.path.isfile(where):
            raise ModelLoadError(f'{path}: tensor "{t.name}" is stored in the external file '
                                 f'"{info.location}", which does not exist next to the model; '
                                 "copy it there")
        try:
            load_external_data_for_tensor(t, base)
            numpy_helper.to_array(t)
        except Exception as e:
            raise ModelLoadError(f'{path}: tensor "{t.name}" cannot be read from the external '
                                 f'file "{info.location}" ({type(e).__name__}: {e}); the file '
                                 "is truncated or does not belong to this model") from None
        t.data_location = onnx.TensorProto.DEFAULT
        del t.external_data[:]


def _check_finite(value: np.ndarray, what: str, path: str) -> None:
    """Refuse NaN or +-Inf in a weight (``what`` names the initializer or node)."""
    a = np.asarray(value)
    if a.dtype.kind in "fc" and not np.all(np.isfinite(a)):
        k = int(np.flatnonzero(~np.isfinite(a.reshape(-1)))[0])
        raise ModelLoadError(f"{path}: {what} holds a non-finite value "
                             f"({a.reshape(-1)[k]!r} at flat index {k}); verinet needs finite "
                             "weights: fix or retrain the model")


def _opset(model: onnx.ModelProto, path: str) -> int:
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return int(imp.version)
    raise ModelLoadError(f"{path}: the model imports no version of the standard ONNX operator "
                         "set (opset_import); check that the file is a complete .onnx export")


def _input_shape(vi: onnx.ValueInfoProto, path: str) -> tuple[tuple[int, ...], list[int]]:
    t = vi.type.tensor_type
    if not t.HasField("shape"):
        raise ModelLoadError(f'{path}: input "{vi.name}" has no declared shape; '
                             "re-export the model with a static input shape")
    shape, symbolic = [], []
    for i, d in enumerate(t.shape.dim):
        if d.HasField("dim_value") and d.dim_value > 0:
            shape.append(int(d.dim_value))
        else:
            shape.append(1)
            symbolic.append(i)
    return tuple(shape), symbolic


def _toposort(nodes: list[onnx.NodeProto], known: set[str], path: str) -> list[onnx.NodeProto]:
    produced_by: dict[str, int] = {}
    for i, n in enumerate(nodes):
        for o in n.output:
            if o:
                produced_by[o] = i
    deps = [{produced_by[s] for s in n.input if s and s in produced_by} for n in nodes]
    users: dict[int, list[int]] = {i: [] for i in range(len(nodes))}
    for i, d in enumerate(deps):
        for j in d:
            users[j].append(i)
    indeg = [len(d) for d in deps]
    queue = deque(i for i, k in enumerate(indeg) if k == 0)
    order = []
    while queue:
        i = queue.popleft()
        order.append(i)
        for u in users[i]:
            indeg[u] -= 1
            if indeg[u] == 0:
                queue.append(u)
    if len(order) != len(nodes):
        raise ModelLoadError(f"{path}: the graph has a cycle; ONNX graphs must be acyclic")
    for i in order:
        for s in nodes[i].input:
            if s and s not in known and s not in produced_by:
                n = nodes[i]
                raise ModelLoadError(f'{path}: node "{n.name or n.output[0]}" ({n.op_type}) '
                                     f'reads "{s}", which no node, input or initializer defines')
    return [nodes[i] for i in order]


def _fold_constant(node: onnx.NodeProto, inputs: list[np.ndarray | None], opset: int
                   ) -> list[np.ndarray]:
    """Evaluate a node whose inputs are all constant with ONNX's reference evaluator (a
    ``Constant`` holding a tensor is read directly)."""
    if node.op_type == "Constant" and len(node.attribute) == 1 and \
            node.attribute[0].name == "value":
        return [to_array(node.attribute[0].t)]
    import onnx
    from onnx import helper
    from onnx.reference import ReferenceEvaluator

    names = [s for s in node.input if s]
    ins = [helper.make_tensor_value_info(s, onnx.TensorProto.UNDEFINED, None) for s in names]
    outs = [helper.make_tensor_value_info(s, onnx.TensorProto.UNDEFINED, None)
            for s in node.output if s]
    g = helper.make_graph([node], "fold", ins, outs)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    feeds = {s: v for s, v in zip(node.input, inputs) if s}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = ReferenceEvaluator(m).run(None, feeds)
    return [np.asarray(r) for r in res]


#: ops that only relabel a tensor's shape (flat order unchanged): allowed after a Softmax
_RELABELS = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout", "Cast"}


def _after_softmax(ctx: Context, node: onnx.NodeProto) -> tuple[Any, ...]:
    """The dropped transforms ``node``'s data input went through; refuse a real use of them.

    A Softmax/LogSoftmax is dropped (the network computes the logits), which is right only
    if nothing but reshapes follows it up to the graph output.
    """
    seen = [s for s in node.input if s in ctx.softmaxed]
    if not seen:
        return ()
    if node.op_type in ("Shape", "Size", "Softmax", "LogSoftmax"):
        return ()
    if node.op_type in _RELABELS and node.input[0] in ctx.softmaxed and len(seen) == 1:
        return ctx.softmaxed[node.input[0]]
    t = ctx.softmaxed[seen[0]][-1]
    raise ctx.unsupported(f'it reads the output of {t.op_type} node "{t.node}"; verinet '
                          f"supports {t.op_type} only as the last operation (followed by "
                          "reshapes only); export the model without it (up to the logits)")


def from_model(model: onnx.ModelProto, path: str = "<model>") -> Network:
    """Convert an in-memory ONNX model (see :func:`load_onnx`)."""
    from .onnx_ops import CONVERTERS

    graph = model.graph
    opset = _opset(model, path)
    env: dict[str, Value] = {}
    for init in graph.initializer:
        try:
            env[init.name] = to_array(init)
        except Exception as e:
            raise ModelLoadError(f'{path}: initializer "{init.name}" cannot be read ({e}); '
                                 "weights stored as external data must be loaded with the file "
                                 "(verinet.load reads them from the model's folder)") from None
        _check_finite(env[init.name], f'initializer "{init.name}"', path)
    var_inputs = [vi for vi in graph.input if vi.name not in env]
    if len(var_inputs) != 1:
        names = ", ".join(vi.name for vi in var_inputs) or "none"
        raise ModelLoadError(f"{path}: verinet needs exactly one graph input, found "
                             f"{len(var_inputs)} ({names})")
    if len(graph.output) != 1:
        names = ", ".join(o.name for o in graph.output)
        raise ModelLoadError(f"{path}: verinet needs exactly one graph output, found "
                             f"{len(graph.output)} ({names}); export the model with one output")
    vin = var_inputs[0]
    elem = vin.type.tensor_type.elem_type
    if elem not in _FLOAT_TYPES:
        raise ModelLoadError(f'{path}: input "{vin.name}" has element type '
                             f"{type_name(elem)}; verinet needs a "
                             "floating-point input")
    in_shape, symbolic = _input_shape(vin, path)
    out_name = graph.output[0].name

    nb = NetworkBuilder()
    ctx = Context(nb, path, opset, {out_name})
    ctx.roundoff = _ROUNDOFF.get(elem)
    in_node = ctx.fresh(vin.name)
    nb.add_input(in_node, in_shape)
    env[vin.name] = Var(in_node, in_shape)

    nodes = _toposort(list(graph.node), set(env), path)
    for node in nodes:
        ctx.node = node
        if node.domain not in ("", "ai.onnx"):
            raise ctx.unsupported(f'operators of domain "{node.domain}" are not supported')
        inputs = [env[s] if s else None for s in node.input]
        after = _after_softmax(ctx, node)
        if all(not isinstance(v, Var) for v in inputs):
            try:
                outs: list[Value] = list(_fold_constant(node, inputs, opset))
            except Exception as e:
                raise ctx.fail(f"constant folding failed ({type(e).__name__}: {e})") from None
            for o, val in zip(node.output, outs):
                _check_finite(val, f'node "{node.name or o}" ({node.op_type}) output "{o}"',
                              path)
        else:
            conv = CONVERTERS.get(node.op_type)
            if conv is None:
                raise ctx.unsupported("this operator is not supported")
            try:
                outs = conv(ctx, node, inputs)
            except (ModelLoadError, UnsupportedOperatorError):
                raise
            except (ValueError, IndexError, KeyError, TypeError, AssertionError) as e:
                raise ctx.fail(f"cannot convert ({type(e).__name__}: {e}); check the node's "
                               "attributes and input shapes") from None
        for name, val in zip(node.output, outs):
            if name:
                env[name] = val
        if after and node.op_type in _RELABELS:
            ctx.softmaxed[node.output[0]] = after
    ctx.node = None

    if out_name not in env:
        raise ModelLoadError(f'{path}: graph output "{out_name}" is not produced by any node')
    out = env[out_name]
    if not isinstance(out, Var):
        raise ModelLoadError(f'{path}: graph output "{out_name}" does not depend on the input')
    if out.node == in_node:  # the network is the identity (after reshapes)
        out = ctx.affine(out, np.eye(out.size), np.zeros(out.size), out.shape, "Identity")
    nb.g.nodes[out.node]["shape"] = out.shape
    transforms = ctx.softmaxed.get(out_name, ())
    for t in transforms:
        warnings.warn(f'{path}: dropped the final {t.op_type} node "{t.node}"; verinet '
                      "computes its input (the logits) and accepts only properties that compare "
                      "two outputs of one softmax group (Y_i <= Y_j)", stacklevel=2)
    meta = {
        "format": "onnx",
        "path": path,
        "opset": opset,
        "onnx_input": vin.name,
        "onnx_output": out_name,
        "onnx_input_dtype": _FLOAT_TYPES[elem],
        "float_model": ctx.roundoff is not None,
        "onnx_input_shape": in_shape,
        "symbolic_dims": symbolic,
    }
    return nb.finish(out.node, name=os.path.basename(path), meta=meta,
                     output_transforms=transforms)
