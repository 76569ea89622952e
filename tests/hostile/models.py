"""Small, odd and malformed ONNX models for the hostile-input suite, built with ``onnx.helper``.

Every builder returns an ``onnx.ModelProto`` whose graph input is ``X`` (float32) and whose
graph output is ``Y``; node names are fixed so that the suite can assert that an error
message names the node.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = ["model", "dense", "identity", "softmax_head", "softmax_grouped", "cast_f16",
           "clip_abs", "unary", "two_inputs"]


def model(nodes: Sequence[onnx.NodeProto], inits: Sequence[onnx.TensorProto],
          in_shape: Sequence[int], out_shape: Sequence[int], opset: int = 13,
          in_type: int = TensorProto.FLOAT, out_type: int = TensorProto.FLOAT
          ) -> onnx.ModelProto:
    graph = helper.make_graph(
        list(nodes), "hostile",
        [helper.make_tensor_value_info("X", in_type, list(in_shape))],
        [helper.make_tensor_value_info("Y", out_type, list(out_shape))],
        initializer=list(inits))
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                          producer_name="verinet-tests")
    m.ir_version = 8
    return m


def _f32(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float32)


def dense(layers: Sequence[tuple[np.ndarray, np.ndarray]], tail: Sequence[onnx.NodeProto] = (),
          out_shape: Sequence[int] | None = None, dtype=np.float32) -> onnx.ModelProto:
    """``Gemm -> Relu -> ... -> Gemm`` (``W`` as ``(n_out, n_in)``), then ``tail`` nodes that
    read ``logits`` and write ``Y`` (when ``tail`` is empty the last Gemm writes ``Y``)."""
    nodes, inits = [], []
    x = "X"
    for k, (W, b) in enumerate(layers, start=1):
        inits += [numpy_helper.from_array(np.asarray(W, dtype), f"W{k}"),
                  numpy_helper.from_array(np.asarray(b, dtype), f"B{k}")]
        last = k == len(layers)
        y = ("logits" if tail else "Y") if last else f"h{k}"
        nodes.append(helper.make_node("Gemm", [x, f"W{k}", f"B{k}"], [y], name=f"gemm{k}",
                                      transB=1))
        if not last:
            nodes.append(helper.make_node("Relu", [y], [f"r{k}"], name=f"relu{k}"))
            y = f"r{k}"
        x = y
    nodes += list(tail)
    n_in, n_out = np.shape(layers[0][0])[1], np.shape(layers[-1][0])[0]
    t = TensorProto.DOUBLE if dtype == np.float64 else TensorProto.FLOAT
    return model(nodes, inits, [1, n_in], out_shape or [1, n_out], in_type=t, out_type=t)


def identity(n: int) -> onnx.ModelProto:
    """``Y = X`` through one Gemm with the identity matrix."""
    return dense([(np.eye(n), np.zeros(n))])


def softmax_head(op: str = "Softmax", n: int = 3) -> onnx.ModelProto:
    """``Y = op(X)`` over the last axis, the logits being ``X`` itself (an identity Gemm)."""
    tail = [helper.make_node(op, ["logits"], ["Y"], name="final_softmax", axis=-1)]
    return dense([(np.eye(n), np.zeros(n))], tail)


def softmax_grouped() -> onnx.ModelProto:
    """Logits ``X`` (6 values) reshaped to [1, 2, 3], softmax over axis 1: the groups are the
    pairs ``(Y_j, Y_{j+3})``, not the rows of three."""
    tail = [helper.make_node("Reshape", ["logits", "shape"], ["z"], name="reshape"),
            helper.make_node("Softmax", ["z"], ["Y"], name="softmax_axis1", axis=1)]
    m = dense([(np.eye(6), np.zeros(6))], tail, out_shape=[1, 2, 3])
    m.graph.initializer.append(numpy_helper.from_array(np.array([1, 2, 3], np.int64), "shape"))
    return m


def cast_f16(to: int = TensorProto.FLOAT16) -> onnx.ModelProto:
    """``Y = Relu(Cast<f32>(Cast<to>(X)))`` on one input."""
    nodes = [helper.make_node("Cast", ["X"], ["h"], name="cast_down", to=to),
             helper.make_node("Cast", ["h"], ["c"], name="cast_up", to=TensorProto.FLOAT),
             helper.make_node("Relu", ["c"], ["Y"], name="relu")]
    return model(nodes, [], [1, 1], [1, 1])


def clip_abs(op: str) -> onnx.ModelProto:
    """``Y = [Clip(X_0, -0.5, 0.25), Abs(X_1)]``-style models: ``op`` is Clip or Abs."""
    if op == "Abs":
        nodes = [helper.make_node("Abs", ["X"], ["Y"], name="abs")]
        return model(nodes, [], [1, 2], [1, 2])
    inits = [numpy_helper.from_array(_f32(-0.5), "lo"), numpy_helper.from_array(_f32(0.25), "hi")]
    nodes = [helper.make_node("Clip", ["X", "lo", "hi"], ["Y"], name="clip")]
    return model(nodes, inits, [1, 2], [1, 2])


def unary(op: str, **attrs) -> onnx.ModelProto:
    """``Y = op(X)`` on two inputs (for non-linear operators that must be refused)."""
    return model([helper.make_node(op, ["X"], ["Y"], name=f"the_{op.lower()}", **attrs)], [],
                 [1, 2], [1, 2])


def two_inputs() -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node("Add", ["X", "X2"], ["Y"], name="add")], "two",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 2]),
         helper.make_tensor_value_info("X2", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 2])])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m
