"""Tiny ONNX models built with ``onnx.helper`` for the importer tests.

:class:`GraphBuilder` assembles one model at a given opset and hides the signature
differences between opsets (axes as attribute or input, Slice and Pad attributes,
Dropout's ratio, Split sizes, ...).  ``CASES`` maps a case name to a function that
builds the model for an opset, and the opsets where the case is meaningful; every
case is compared with onnxruntime by ``test_onnx_ops.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = ["OPSETS", "Case", "CASES", "GraphBuilder", "ort_run", "sample_inputs"]

OPSETS = (8, 11, 13, 18)
INT64_MAX = 2**63 - 1


def _ir_version(opset: int) -> int:
    """An IR version that carries ``opset`` (initializers need not be graph inputs)."""
    return 7 if opset <= 12 else 8


class GraphBuilder:
    """Accumulates the nodes and initializers of a one-input, one-output model.

    ``in_shape`` entries may be strings (symbolic dimensions such as ``"N"``).
    Weights are float32, drawn from a generator seeded by ``seed``.
    """

    def __init__(self, in_shape: Sequence[int | str], opset: int, seed: int = 0,
                 in_name: str = "x") -> None:
        self.in_shape = tuple(in_shape)
        self.opset = opset
        self.x = in_name
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.rng = np.random.default_rng(seed)
        self._count = 0

    # ------------------------------------------------------------ names, values
    def _name(self, base: str) -> str:
        self._count += 1
        return f"{base}_{self._count}"

    def const(self, value, dtype=None) -> str:
        """An initializer holding ``value`` (float32 unless ``dtype`` or an integer array)."""
        arr = np.asarray(value)
        if dtype is not None:
            arr = arr.astype(dtype)
        elif arr.dtype.kind == "f":
            arr = arr.astype(np.float32)
        elif arr.dtype.kind in "iu":
            arr = arr.astype(np.int64)
        name = self._name("c")
        self.inits.append(numpy_helper.from_array(arr, name))
        return name

    def weight(self, *shape: int, scale: float = 1.0) -> str:
        return self.const(self.rng.uniform(-scale, scale, size=shape))

    def positive(self, *shape: int) -> str:
        return self.const(self.rng.uniform(0.5, 1.5, size=shape))

    def constant_node(self, value) -> str:
        """A ``Constant`` node (rather than an initializer) holding ``value``."""
        arr = np.asarray(value)
        arr = arr.astype(np.float32) if arr.dtype.kind == "f" else arr.astype(np.int64)
        out = self._name("k")
        self.nodes.append(helper.make_node("Constant", [], [out], name=out,
                                           value=numpy_helper.from_array(arr, out)))
        return out

    # ------------------------------------------------------------------- nodes
    def op(self, op_type: str, *inputs: str, n_out: int = 1, **attrs) -> str:
        """Add a node; returns its output name (a list of names when ``n_out > 1``)."""
        base = self._name(op_type)
        outs = [base] if n_out == 1 else [f"{base}:{i}" for i in range(n_out)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, name=base, **attrs))
        return outs[0] if n_out == 1 else outs  # type: ignore[return-value]

    def with_axes(self, op_type: str, x: str, axes: Sequence[int] | None, since: int,
                  **attrs) -> str:
        """Squeeze, Unsqueeze or a Reduce op: ``axes`` an attribute before opset ``since``."""
        if axes is None:
            return self.op(op_type, x, **attrs)
        if self.opset < since:
            return self.op(op_type, x, axes=list(axes), **attrs)
        return self.op(op_type, x, self.const(np.array(axes, np.int64)), **attrs)

    def squeeze(self, x: str, axes: Sequence[int] | None) -> str:
        return self.with_axes("Squeeze", x, axes, 13)

    def unsqueeze(self, x: str, axes: Sequence[int]) -> str:
        return self.with_axes("Unsqueeze", x, axes, 13)

    def reduce(self, op_type: str, x: str, axes: Sequence[int] | None, keepdims: int) -> str:
        since = 13 if op_type == "ReduceSum" else 18
        return self.with_axes(op_type, x, axes, since, keepdims=keepdims)

    def reshape(self, x: str, shape: Sequence[int], allowzero: int | None = None) -> str:
        extra = {} if allowzero is None else {"allowzero": allowzero}
        return self.op("Reshape", x, self.const(np.array(shape, np.int64)), **extra)

    def slice(self, x: str, starts, ends, axes=None, steps=None) -> str:
        if self.opset < 10:
            assert steps is None, "Slice steps need opset 10"
            extra = {} if axes is None else {"axes": list(axes)}
            return self.op("Slice", x, starts=list(starts), ends=list(ends), **extra)
        ins = [x, self.const(np.array(starts, np.int64)), self.const(np.array(ends, np.int64))]
        if axes is not None or steps is not None:
            ins.append(self.const(np.array(axes if axes is not None
                                           else range(len(starts)), np.int64)))
        if steps is not None:
            ins.append(self.const(np.array(steps, np.int64)))
        return self.op("Slice", *ins)

    def pad(self, x: str, pads: Sequence[int], mode: str = "constant", value: float = 0.0,
            axes: Sequence[int] | None = None) -> str:
        if self.opset < 11:
            assert axes is None
            return self.op("Pad", x, pads=list(pads), mode=mode, value=value)
        ins = [x, self.const(np.array(pads, np.int64))]
        if mode == "constant" or axes is not None:
            ins.append(self.const(np.array(value, np.float32)) if mode == "constant" else "")
        if axes is not None:
            assert self.opset >= 18
            ins.append(self.const(np.array(axes, np.int64)))
        return self.op("Pad", *ins, mode=mode)

    def split(self, x: str, axis: int, sizes: Sequence[int] | None, n_out: int) -> list[str]:
        if sizes is None:
            extra = {"num_outputs": n_out} if self.opset >= 18 else {}
            return self.op("Split", x, n_out=n_out, axis=axis, **extra)  # type: ignore
        if self.opset < 13:
            return self.op("Split", x, n_out=n_out, axis=axis, split=list(sizes))  # type: ignore
        return self.op("Split", x, self.const(np.array(sizes, np.int64)), n_out=n_out,
                       axis=axis)  # type: ignore

    def dropout(self, x: str, ratio: float = 0.3) -> str:
        if self.opset < 12:
            return self.op("Dropout", x, ratio=ratio)
        return self.op("Dropout", x, self.const(np.array(ratio, np.float32)),
                       self.const(np.array(False), dtype=np.bool_))

    def gemm(self, x: str, n_in: int, n_out: int, **attrs) -> str:
        return self.op("Gemm", x, self.weight(n_out, n_in), self.weight(n_out), transB=1,
                       **attrs)

    def conv(self, x: str, c_in: int, c_out: int, kernel: Sequence[int], bias: bool = True,
             group: int = 1, **attrs) -> str:
        w = self.weight(c_out, c_in // group, *kernel)
        ins = [x, w] + ([self.weight(c_out)] if bias else [])
        return self.op("Conv", *ins, group=group, **attrs)

    def batchnorm(self, x: str, c: int) -> str:
        return self.op("BatchNormalization", x, self.positive(c), self.weight(c),
                       self.weight(c), self.positive(c), epsilon=1e-3)

    # ------------------------------------------------------------------- model
    def model(self, out: str, outputs: Sequence[str] | None = None,
              extra_inputs: Sequence[onnx.ValueInfoProto] = (), out_rank: int = 2
              ) -> onnx.ModelProto:
        """The model computing ``out`` (or ``outputs``); ``out_rank`` is declared for an
        output whose shape inference cannot find."""
        inp = helper.make_tensor_value_info(self.x, TensorProto.FLOAT, list(self.in_shape))
        outs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, None)
                for o in (outputs or [out])]
        graph = helper.make_graph(self.nodes, "case", [inp, *extra_inputs], outs,
                                  initializer=self.inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)],
                              producer_name="verinet-tests")
        m.ir_version = _ir_version(self.opset)
        return _with_output_shapes(m, out_rank)


def _with_output_shapes(m: onnx.ModelProto, rank: int) -> onnx.ModelProto:
    """Declare output shapes (the checker wants them): inferred, else ``rank`` unknowns."""
    try:
        inferred = onnx.shape_inference.infer_shapes(m)
    except onnx.shape_inference.InferenceError:
        inferred = m
    known = {vi.name: vi for vi in (*inferred.graph.value_info, *inferred.graph.output)}
    for out in m.graph.output:
        vi = known.get(out.name)
        if vi is not None and vi.type.tensor_type.HasField("shape"):
            out.type.CopyFrom(vi.type)
        else:
            out.type.CopyFrom(helper.make_tensor_type_proto(TensorProto.FLOAT, [None] * rank))
    return m


# ------------------------------------------------------------------ running
def sample_inputs(shape: Sequence[int], n: int, seed: int = 0, scale: float = 1.0
                  ) -> np.ndarray:
    """``n`` float32 samples of per-sample ``shape``, uniform in ``[-scale, scale]``."""
    rng = np.random.default_rng(seed)
    return rng.uniform(-scale, scale, size=(n, *shape)).astype(np.float32)


def ort_run(model: onnx.ModelProto | str, xs: np.ndarray, batched: bool = False) -> np.ndarray:
    """onnxruntime's outputs ``(n, n_out)`` on the samples ``xs`` (``(n, *sample_shape)``).

    With ``batched`` the samples go in one run along the leading (batch) axis, which
    must then be symbolic; otherwise each sample is fed on its own.
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 3
    src = model if isinstance(model, str) else model.SerializeToString()
    sess = ort.InferenceSession(src, opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    if batched:
        assert xs.shape[1] == 1, "a batched run needs a symbolic leading dimension"
        y = sess.run(None, {name: xs.reshape(xs.shape[:1] + xs.shape[2:])})[0]
        return np.asarray(y, dtype=np.float64).reshape(xs.shape[0], -1)
    ys = [np.asarray(sess.run(None, {name: x})[0], dtype=np.float64).reshape(-1) for x in xs]
    return np.stack(ys)


# ------------------------------------------------------------------ the cases
@dataclass(frozen=True)
class Case:
    """A model family: ``build(opset)`` returns the model; run at each of ``opsets``.

    ``batched``: the first input dimension is symbolic and onnxruntime runs all samples
    at once (verinet reads that dimension as 1 and adds its own batch axis).
    """

    name: str
    build: Callable[[int], onnx.ModelProto]
    opsets: tuple[int, ...] = OPSETS
    batched: bool = False


CASES: dict[str, Case] = {}


def case(*opsets: int, batched: bool = False):
    def deco(fn: Callable[[int], onnx.ModelProto]) -> Callable[[int], onnx.ModelProto]:
        name = fn.__name__
        CASES[name] = Case(name, fn, tuple(opsets) or OPSETS, batched)
        return fn
    return deco


def G(shape, opset, seed=0) -> GraphBuilder:  # noqa: N802 - short name for the cases
    return GraphBuilder(shape, opset, seed)


# -- Gemm, MatMul, elementwise arithmetic
@case()
def gemm_trans_b(opset):
    g = G((1, 4), opset)
    return g.model(g.op("Relu", g.gemm(g.x, 4, 3)))


@case()
def gemm_trans_a_alpha_beta(opset):
    g = G((4, 2), opset)
    y = g.op("Gemm", g.x, g.weight(4, 3), g.weight(2, 3), transA=1, alpha=0.5, beta=-2.0)
    return g.model(y)


@case()
def gemm_weight_first(opset):
    g = G((2, 4), opset)  # y = W @ x^T + c
    y = g.op("Gemm", g.weight(3, 4), g.x, g.weight(3, 1), transB=1, alpha=1.5)
    return g.model(y)


@case(11, 13, 18)
def gemm_without_bias(opset):
    g = G((1, 4), opset)
    return g.model(g.op("Gemm", g.x, g.weight(4, 5)))


@case()
def matmul_add(opset):
    g = G((1, 4), opset)
    return g.model(g.op("Add", g.op("MatMul", g.x, g.weight(4, 3)), g.weight(3)))


@case()
def matmul_weight_first(opset):
    g = G((4, 2), opset)
    return g.model(g.op("Add", g.op("MatMul", g.weight(3, 4), g.x), g.weight(3, 1)))


@case()
def matmul_weight_first_vector(opset):
    g = G((4,), opset)
    return g.model(g.op("MatMul", g.weight(3, 4), g.x))


@case()
def matmul_vector_input(opset):
    g = G((4,), opset)
    return g.model(g.op("MatMul", g.x, g.weight(4, 3)))


@case()
def matmul_batched_weight(opset):
    g = G((3, 4), opset)
    return g.model(g.op("MatMul", g.x, g.weight(2, 4, 5)))


@case()
def matmul_vector_and_weight_stack(opset):
    g = G((4,), opset)
    a = g.op("MatMul", g.x, g.weight(2, 4, 3))  # (2, 3)
    b = g.op("MatMul", g.weight(2, 3, 4), g.x)  # (2, 3)
    return g.model(g.op("Add", a, b))


@case()
def matmul_add_mul_sub(opset):
    g = G((1, 4), opset)
    y = g.op("MatMul", g.x, g.weight(4, 3))
    y = g.op("Add", y, g.weight(3))
    y = g.op("Mul", y, g.weight(3))
    return g.model(g.op("Sub", y, g.weight(1, 3)))


@case()
def arithmetic_with_constants(opset):
    g = G((2, 3), opset)
    y = g.op("Sub", g.weight(2, 3), g.x)  # constant first
    y = g.op("Div", y, g.positive(3))
    y = g.op("Mul", g.weight(1), y)  # constant first, broadcast
    y = g.op("Add", y, g.weight(1, 1, 3))  # widens the rank
    y = g.op("Neg", y)
    return g.model(g.op("Relu", y))


@case()
def sum_of_three(opset):
    g = G((1, 3), opset)
    a = g.op("Relu", g.gemm(g.x, 3, 3))
    b = g.gemm(g.x, 3, 3)
    return g.model(g.op("Sum", a, b, g.weight(1, 3)))


@case()
def residual_add(opset):
    g = G((1, 4), opset)
    h = g.op("Relu", g.gemm(g.x, 4, 4))
    h = g.gemm(h, 4, 4)
    return g.model(g.op("Relu", g.op("Add", h, g.x)))


@case()
def sub_of_branches(opset):
    g = G((1, 4), opset)
    a = g.op("Relu", g.gemm(g.x, 4, 3))
    b = g.op("Relu", g.gemm(g.x, 4, 3))
    return g.model(g.op("Sub", a, b))


@case()
def same_value_twice(opset):
    g = G((1, 3), opset)
    h = g.op("Relu", g.gemm(g.x, 3, 3))
    return g.model(g.op("Concat", g.op("Add", h, h), h, axis=1))


@case()
def broadcast_network_values(opset):
    g = G((1, 3), opset)
    a = g.op("Add", g.op("Relu", g.x), g.weight(2, 1, 3))  # (2, 1, 3): copies
    b = g.op("Transpose", g.op("Relu", g.x))  # (3, 1)
    return g.model(g.op("Sub", a, g.op("Mul", b, g.weight(1))))  # (2, 3, 3)


@case()
def concat_same_value_twice(opset):
    g = G((1, 3), opset)
    h = g.op("Relu", g.gemm(g.x, 3, 3))
    return g.model(g.op("Concat", h, h, axis=0))


@case()
def relu_leaky_relu(opset):
    g = G((1, 5), opset)
    y = g.op("LeakyRelu", g.gemm(g.x, 5, 4), alpha=0.2)
    y = g.op("LeakyRelu", g.gemm(y, 4, 4))
    y = g.op("LeakyRelu", g.op("Relu", y), alpha=-0.5)  # any slope is exact
    return g.model(g.op("LeakyRelu", y, alpha=3.0))


# -- reshapes and index maps
@case()
def flatten_axes(opset):
    g = G((1, 2, 3, 2), opset)
    y = g.op("Flatten", g.op("Relu", g.x), axis=2)
    y = g.op("Flatten", y, axis=0)
    return g.model(g.op("Flatten", y))


@case(11, 13, 18)
def flatten_negative_axis(opset):
    g = G((2, 3, 2), opset)
    return g.model(g.op("MatMul", g.op("Flatten", g.x, axis=-1), g.weight(2, 3)))


@case()
def reshape_zero_and_minus_one(opset):
    g = G((1, 2, 6), opset)
    y = g.reshape(g.x, [0, -1, 3])
    return g.model(g.op("MatMul", y, g.weight(3, 2)))


@case(14, 18)
def reshape_allowzero(opset):
    g = G((1, 2, 6), opset)
    return g.model(g.op("MatMul", g.reshape(g.x, [4, 3], allowzero=1), g.weight(3, 2)))


@case()
def transpose(opset):
    g = G((1, 2, 3, 4), opset)
    y = g.op("Transpose", g.x, perm=[0, 3, 1, 2])
    y = g.op("Transpose", g.op("Relu", y))  # default: reverse the axes
    return g.model(g.op("MatMul", y, g.weight(1, 2)))


@case()
def squeeze_unsqueeze(opset):
    g = G((1, 3, 1, 2), opset)
    y = g.squeeze(g.x, [2])
    y = g.unsqueeze(g.op("Relu", y), [0, 3])
    y = g.squeeze(y, None)
    return g.model(g.op("MatMul", y, g.weight(2, 2)))


@case(11, 13, 18)
def squeeze_unsqueeze_negative_axes(opset):
    g = G((1, 3, 1), opset)
    y = g.squeeze(g.x, [-1])
    y = g.unsqueeze(y, [-1, 1])
    return g.model(g.op("Mul", y, g.weight(1, 1, 3, 1)))


@case()
def concat_of_branches(opset):
    g = G((1, 4), opset)
    a = g.op("Relu", g.gemm(g.x, 4, 3))
    b = g.gemm(g.x, 4, 2)
    return g.model(g.gemm(g.op("Concat", a, b, axis=1), 5, 2))


@case()
def concat_inner_axis_with_constant(opset):
    g = G((1, 2, 3), opset)
    a = g.op("Relu", g.x)
    b = g.op("Mul", g.x, g.weight(1, 2, 1))
    y = g.op("Concat", a, g.weight(1, 2, 2), b, axis=2)
    return g.model(g.op("Concat", g.weight(1, 1, 8), y, axis=1))


@case()
def constant_nodes(opset):
    g = G((1, 4), opset)
    w = g.constant_node(g.rng.uniform(-1, 1, (4, 3)))
    shape = g.constant_node(np.array([3, 1], np.int64))
    y = g.op("Add", g.op("MatMul", g.x, w), g.constant_node(np.array([0.5, -1.0, 2.0])))
    return g.model(g.op("Reshape", y, shape))


@case(13, 18)
def constant_value_attributes(opset):
    g = G((1, 3), opset)
    scale = g.op("Constant", value_floats=[0.5, -2.0, 3.0])
    shift = g.op("Constant", value_float=1.25)
    shape = g.op("Constant", value_ints=[3, 1])
    return g.model(g.op("Reshape", g.op("Add", g.op("Mul", g.x, scale), shift), shape))


@case(8, 11, 12, 13, 18)
def identity_dropout(opset):
    g = G((1, 4), opset)
    y = g.op("Identity", g.gemm(g.x, 4, 4))
    return g.model(g.gemm(g.dropout(g.op("Relu", y)), 4, 2))


@case()
def slice_basic(opset):
    g = G((1, 4, 5), opset)
    y = g.slice(g.x, [1, -4], [3, INT64_MAX], axes=[1, 2])
    y = g.slice(y, [0, 0], [1, -1])
    return g.model(g.op("Relu", y))


@case(11, 13, 18)
def slice_steps(opset):
    g = G((1, 6, 7), opset)
    y = g.slice(g.x, [0, -1], [INT64_MAX, -INT64_MAX], axes=[-2, -1], steps=[2, -2])
    y = g.slice(y, [-1], [0], axes=[1], steps=[-1])
    return g.model(y)


@case()
def gather(opset):
    g = G((1, 4, 3), opset)
    a = g.op("Gather", g.x, g.const(np.array([2, 0, 0], np.int64)), axis=1)
    b = g.op("Gather", g.x, g.const(np.array(1, np.int64)), axis=2)  # scalar drops the axis
    return g.model(g.op("Concat", g.op("Flatten", a), g.op("Flatten", b), axis=1))


@case(11, 13, 18)
def gather_negative_indices(opset):
    g = G((1, 5), opset)
    return g.model(g.op("Gather", g.x, g.const(np.array([[-1, 0], [-2, 3]], np.int64)), axis=1))


@case()
def split_equal_and_sizes(opset):
    g = G((1, 6, 2), opset)
    a, b = g.split(g.x, 1, [2, 4], 2)
    c, d = g.split(b, 1, None, 2)
    e = g.op("Relu", a)
    return g.model(g.op("Concat", g.op("Flatten", e), g.op("Flatten", d),
                        g.op("Flatten", c), axis=1))


@case(18)
def split_uneven_num_outputs(opset):
    g = G((1, 7), opset)
    a, b, c = g.split(g.op("Relu", g.x), 1, None, 3)  # sizes 3, 3, 1
    return g.model(g.op("Concat", c, a, g.op("Neg", b), axis=1))


@case()
def expand(opset):
    g = G((1, 3, 1), opset)
    y = g.op("Expand", g.x, g.const(np.array([2, 1, 3, 4], np.int64)))
    return g.model(g.op("Mul", y, g.weight(4)))


@case()
def tile(opset):
    g = G((1, 2, 3), opset)
    return g.model(g.op("Tile", g.op("Relu", g.x), g.const(np.array([2, 1, 3], np.int64))))


@case()
def pad_constant(opset):
    g = G((1, 2, 3), opset)
    return g.model(g.pad(g.x, [0, 1, 2, 0, 2, 0], value=1.5))


@case()
def pad_reflect(opset):
    g = G((1, 1, 4, 5), opset)
    return g.model(g.pad(g.x, [0, 0, 2, 1, 0, 0, 1, 3], mode="reflect"))


@case()
def pad_edge(opset):
    g = G((1, 1, 3, 4), opset)
    return g.model(g.pad(g.op("Relu", g.x), [0, 0, 3, 1, 0, 0, 1, 2], mode="edge"))


@case(18)
def pad_axes(opset):
    g = G((1, 2, 3), opset)
    return g.model(g.pad(g.x, [1, 2, 0, 1], value=-1.0, axes=[2, -2]))


@case()
def reduce_sum_mean(opset):
    g = G((1, 3, 4), opset)
    a = g.reduce("ReduceSum", g.x, [2], keepdims=0)
    b = g.reduce("ReduceMean", g.x, [1, -1], keepdims=1)
    c = g.reduce("ReduceMean", g.op("Relu", g.x), None, keepdims=0)
    y = g.op("Add", g.op("Mul", a, g.weight(3)), g.op("Flatten", b))
    return g.model(g.op("Sub", y, c))


# -- convolution, normalisation, pooling
@case()
def conv_bias_pads(opset):
    g = G((1, 2, 5, 5), opset)
    return g.model(g.op("Relu", g.conv(g.x, 2, 3, [3, 3], pads=[1, 1, 1, 1])))


@case()
def conv_strides_dilations(opset):
    g = G((1, 2, 7, 8), opset)
    y = g.conv(g.x, 2, 2, [3, 2], strides=[2, 1], dilations=[2, 3], pads=[1, 0, 0, 2])
    return g.model(y)


@case()
def conv_groups(opset):
    g = G((1, 4, 5, 5), opset)
    y = g.conv(g.x, 4, 6, [2, 2], group=2, bias=False)
    return g.model(g.conv(g.op("Relu", y), 6, 6, [3, 3], group=6, pads=[1, 1, 1, 1]))


@case()
def conv_auto_pad(opset):
    g = G((1, 1, 5, 6), opset)
    y = g.conv(g.x, 1, 2, [3, 3], auto_pad="SAME_UPPER", strides=[2, 2])
    y = g.conv(y, 2, 2, [2, 2], auto_pad="SAME_LOWER")
    y = g.conv(y, 2, 1, [2, 3], auto_pad="VALID")
    return g.model(y)


@case()
def conv_1d(opset):
    g = G((1, 2, 9), opset)
    y = g.conv(g.x, 2, 3, [3], strides=[2], pads=[1, 2], dilations=[2])
    return g.model(g.op("Relu", y))


@case(8, 9, 11, 13, 14, 15, 18)
def conv_batchnorm_relu(opset):
    g = G((1, 2, 4, 4), opset)
    y = g.batchnorm(g.conv(g.x, 2, 3, [3, 3], pads=[1, 1, 1, 1]), 3)
    return g.model(g.op("Relu", y))


@case()
def gemm_batchnorm(opset):
    g = G((2, 4), opset)
    return g.model(g.op("Relu", g.batchnorm(g.gemm(g.x, 4, 3), 3)))


@case(8)
def batchnorm_not_spatial(opset):
    g = G((1, 1, 3, 3), opset)  # spatial=0: one scale per entry (opsets 7 and 8)
    stats = [g.positive(1, 3, 3), g.weight(1, 3, 3), g.weight(1, 3, 3), g.positive(1, 3, 3)]
    return g.model(g.op("BatchNormalization", g.x, *stats, spatial=0))


@case()
def maxpool(opset):
    g = G((1, 2, 6, 7), opset)
    y = g.op("MaxPool", g.x, kernel_shape=[2, 2], strides=[2, 2])
    z = g.op("MaxPool", g.x, kernel_shape=[3, 2], pads=[1, 0, 1, 1], strides=[1, 2])
    return g.model(g.op("Concat", g.op("Flatten", y), g.op("Flatten", z), axis=1))


@case(11, 13, 18)
def maxpool_ceil_dilations(opset):
    g = G((1, 1, 7, 8), opset)
    y = g.op("MaxPool", g.x, kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)
    z = g.op("MaxPool", g.x, kernel_shape=[2, 3], dilations=[2, 2], strides=[1, 2],
             pads=[1, 1, 0, 1])
    return g.model(g.op("Concat", g.op("Flatten", y), g.op("Flatten", z), axis=1))


@case()
def maxpool_1d(opset):
    g = G((1, 2, 9), opset)
    return g.model(g.op("MaxPool", g.x, kernel_shape=[3], strides=[2], pads=[1, 1]))


@case()
def maxpool_auto_pad(opset):
    g = G((1, 1, 5, 5), opset)
    y = g.op("MaxPool", g.x, kernel_shape=[2, 2], strides=[2, 2], auto_pad="SAME_UPPER")
    return g.model(y)


@case()
def avgpool_pads(opset):
    g = G((1, 2, 5, 6), opset)
    y = g.op("AveragePool", g.x, kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2])
    z = g.op("AveragePool", g.x, kernel_shape=[3, 2], pads=[1, 0, 2, 1],
             count_include_pad=1)
    return g.model(g.op("Concat", g.op("Flatten", y), g.op("Flatten", z), axis=1))


@case(11, 13, 18)
def avgpool_ceil_mode(opset):
    g = G((1, 1, 6, 7), opset)
    y = g.op("AveragePool", g.x, kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)
    z = g.op("AveragePool", g.x, kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 0, 0],
             ceil_mode=1, count_include_pad=1)
    return g.model(g.op("Concat", g.op("Flatten", y), g.op("Flatten", z), axis=1))


@case(11, 13, 18)
def avgpool_ceil_mode_pads(opset):
    g = G((1, 1, 7, 8), opset)
    kw = {"kernel_shape": [3, 3], "strides": [2, 3], "pads": [1, 1, 1, 1], "ceil_mode": 1}
    y = g.op("AveragePool", g.x, **kw)
    z = g.op("AveragePool", g.x, count_include_pad=1, **kw)  # the last window overhangs
    m = g.op("MaxPool", g.x, **kw)
    return g.model(g.op("Concat", *(g.op("Flatten", t) for t in (y, z, m)), axis=1))


@case()
def global_average_pool(opset):
    g = G((1, 3, 4, 5), opset)
    y = g.op("GlobalAveragePool", g.op("Relu", g.conv(g.x, 3, 4, [2, 2])))
    return g.model(g.gemm(g.op("Flatten", y), 4, 2))


# -- symbolic batch and shape arithmetic
@case(batched=True)
def symbolic_batch(opset):
    g = G(("N", 4), opset)
    return g.model(g.gemm(g.op("Relu", g.gemm(g.x, 4, 5)), 5, 3))


@case(batched=True)
def shape_chain_reshape(opset):
    g = G(("N", 1, 4, 4), opset)
    h = g.op("Relu", g.conv(g.x, 1, 2, [3, 3]))
    n = g.op("Gather", g.op("Shape", h), g.const(np.array(0, np.int64)), axis=0)
    target = g.op("Concat", g.unsqueeze(n, [0]), g.const(np.array([-1], np.int64)), axis=0)
    y = g.op("Reshape", h, target)
    return g.model(g.gemm(y, 8, 3))


@case(18, batched=True)
def shape_start_end(opset):
    g = G(("N", 2, 3, 4), opset)
    h = g.op("Relu", g.x)
    tail = g.op("Shape", h, start=-2)  # [3, 4]
    head = g.op("Shape", h, end=1)  # [N]
    target = g.op("Concat", head, g.const(np.array([-1], np.int64)), tail, axis=0)
    return g.model(g.op("MatMul", g.op("Reshape", h, target), g.weight(4, 2)))


@case(batched=True)
def symbolic_batch_flatten_cnn(opset):
    g = G(("batch", 2, 6, 6), opset)
    h = g.op("MaxPool", g.op("Relu", g.conv(g.x, 2, 3, [3, 3], pads=[1, 1, 1, 1])),
             kernel_shape=[2, 2], strides=[2, 2])
    return g.model(g.gemm(g.op("Flatten", h), 27, 4))

