"""Interval bounds of ONNX graphs contain every value the graph takes on the box.

Random graphs of the operators the interval engine covers, built in float64, are run by
onnxruntime at random points of random boxes; every output must lie inside the bounds.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from verinet.errors import UnsupportedOperatorError
from verinet.network.onnx_interval import INTERVAL_OPS, IntervalGraph
from verinet.search.graph_split import conjunction_closed
from verinet.spec.property import Conjunction

N = 3
UNARY = ["Sigmoid", "Tanh", "Relu", "Abs", "Neg", "Floor", "Ceil", "Exp", "LeakyRelu",
         "Softmax", "Square", "Cube", "Recip", "CastInt", "Step", "Clip", "Sqrt"]
BINARY = ["Add", "Sub", "Mul", "Div", "Max", "Min", "MatMul", "Pow2x", "Less", "Equal"]


class Builder:
    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.nodes: list = []
        self.inits: list = []
        self.k = 0

    def name(self) -> str:
        self.k += 1
        return f"t{self.k}"

    def const(self, value) -> str:
        n = self.name()
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=np.float64), n))
        return n

    def node(self, op: str, ins: list[str], **attrs) -> str:
        out = self.name()
        self.nodes.append(helper.make_node(op, ins, [out], **attrs))
        return out

    def unary(self, op: str, a: str) -> str:
        if op == "Exp":
            return self.node("Exp", [self.node("Tanh", [a])])  # keep magnitudes tame
        if op == "LeakyRelu":
            return self.node("LeakyRelu", [a], alpha=0.1)
        if op == "Softmax":
            return self.node("Softmax", [a], axis=-1)
        if op == "Square":
            return self.node("Pow", [a, self.const(2.0)])
        if op == "Cube":
            return self.node("Pow", [a, self.const(3.0)])
        if op == "Recip":
            return self.node("Div", [self.const(1.0), self.node("Add", [self.node("Abs", [a]),
                                                                      self.const(0.5)])])
        if op == "CastInt":
            i = self.node("Cast", [a], to=TensorProto.INT64)
            return self.node("Cast", [i], to=TensorProto.DOUBLE)
        if op == "Step":
            c = self.node("Greater", [a, self.const(self.rng.normal(scale=0.5))])
            return self.node("Where", [c, a, self.const(self.rng.normal())])
        if op == "Clip":
            return self.node("Clip", [a, self.const(-0.5), self.const(0.7)])
        if op == "Sqrt":
            return self.node("Sqrt", [self.node("Abs", [a])])
        return self.node(op, [a])

    def binary(self, op: str, a: str, b: str) -> str:
        if op == "MatMul":
            w = self.const(self.rng.normal(size=(N, N)))
            return self.node("Add", [self.node("MatMul", [a, w]), b])
        if op in ("Less", "Equal"):  # a comparison of two varying values, as 0/1 floats
            r = self.node("Floor", [b]) if op == "Equal" else b
            c = self.node(op, [self.node("Floor", [a]) if op == "Equal" else a, r])
            return self.node("Cast", [c], to=TensorProto.DOUBLE)
        if op == "Pow2x":
            return self.node("Pow", [self.const(2.0), self.node("Tanh", [a])])
        return self.node(op, [a, b])


def random_model(seed: int) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    b = Builder(rng)
    vals = [b.node("MatMul", ["x", b.const(rng.normal(size=(N, N)))])]
    for _ in range(int(rng.integers(2, 6))):
        if rng.random() < 0.6:
            vals.append(b.unary(str(rng.choice(UNARY)), vals[int(rng.integers(len(vals)))]))
        else:
            i, j = rng.integers(len(vals), size=2)
            vals.append(b.binary(str(rng.choice(BINARY)), vals[int(i)], vals[int(j)]))
    b.nodes.append(helper.make_node("Identity", [vals[-1]], ["y"]))
    g = helper.make_graph(b.nodes, "g",
                          [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [N])],
                          [helper.make_tensor_value_info("y", TensorProto.DOUBLE, [N])],
                          initializer=b.inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


@pytest.mark.parametrize("seed", range(80))
def test_bounds_contain_onnxruntime_values(seed):
    model = random_model(seed)
    graph = IntervalGraph(model, f"random{seed}")
    opts = ort.SessionOptions()  # no fusions: onnxruntime's Relu+Clip fusion rejects float64
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), sess_options=opts,
                                providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1000 + seed)
    for _ in range(3):
        c = rng.normal(size=N)
        r = rng.uniform(0, 1.0, size=N) * rng.choice([1e-6, 0.1, 1.0])
        lo, hi = graph.evaluate(c - r, c + r)
        assert lo.shape == hi.shape == (N,)
        assert not np.any(np.isnan(lo)) and not np.any(np.isnan(hi))
        pts = rng.uniform(c - r, c + r, size=(50, N))
        pts = np.vstack([pts, c - r, c + r, c])
        for x in pts:
            y = sess.run(None, {"x": x})[0]
            fin = np.isfinite(y)
            tol = 1e-9 * (1 + np.abs(np.where(fin, y, 0)))
            assert np.all(~fin | ((y >= lo - tol) & (y <= hi + tol))), (x, y, lo, hi)


def test_point_boxes_are_tight_for_exact_operators():
    model = random_model(3)
    graph = IntervalGraph(model)
    x = np.array([0.25, -0.5, 1.0])
    lo, hi = graph.evaluate(x, x)
    assert np.all(hi - lo <= 1e-9 * (1 + np.abs(lo)))


def softmax_model() -> onnx.ModelProto:
    nodes = [helper.make_node("Softmax", ["x"], ["s"], axis=-1),
             helper.make_node("Reshape", ["s", "shape"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                     [2, 2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
                          initializer=[numpy_helper.from_array(np.array([4], np.int64),
                                                               "shape")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def test_softmax_groups_and_their_sum():
    graph = IntervalGraph(softmax_model())
    lo, hi = -10 * np.ones(4), 10 * np.ones(4)
    groups = graph.softmax_groups(lo, hi)
    assert groups.tolist() == [0, 0, 1, 1]
    ylo, yhi = graph.evaluate(lo, hi)
    # y0 + y1 > 1.01 cannot hold (the group sums to 1); intervals alone cannot tell
    conj = Conjunction(np.array([[-1.0, -1.0, 0, 0]]), np.array([-1.01]))
    assert not conjunction_closed(conj, lo, hi, ylo, yhi)
    assert conjunction_closed(conj, lo, hi, ylo, yhi, groups)
    # y0 + y2 (two groups) > 1.01 can hold
    conj = Conjunction(np.array([[-1.0, 0, -1.0, 0]]), np.array([-1.01]))
    assert not conjunction_closed(conj, lo, hi, ylo, yhi, groups)
    # y0 + y1 < 0.99 cannot hold either
    conj = Conjunction(np.array([[1.0, 1.0, 0, 0]]), np.array([0.99]), strict=[True])
    assert conjunction_closed(conj, lo, hi, ylo, yhi, groups)


def test_a_group_cut_by_slicing_is_not_reported():
    m = softmax_model()
    m.graph.node.append(helper.make_node("Slice", ["y", "s0", "e0"], ["z"]))
    m.graph.initializer.extend([numpy_helper.from_array(np.array([1], np.int64), "s0"),
                                numpy_helper.from_array(np.array([4], np.int64), "e0")])
    m.graph.output[0].name = "z"
    graph = IntervalGraph(m)
    assert graph.softmax_groups(np.zeros(4), np.ones(4)).tolist() == [-1, 1, 1]


def test_operator_without_a_rule_is_refused_by_name():
    assert "Erf" not in INTERVAL_OPS
    nodes = [helper.make_node("Erf", ["x"], ["y"], name="e1")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                     [2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    with pytest.raises(UnsupportedOperatorError, match=r'node "e1" \(Erf\)'):
        IntervalGraph(helper.make_model(g), "m.onnx")


def test_strict_rows_and_exact_single_terms():
    lo, hi = np.zeros(1), np.ones(1)
    ylo, yhi = np.array([0.0]), np.array([1.0])
    # y > 1 is impossible when y <= 1 exactly; y >= 1 is not
    assert conjunction_closed(Conjunction(np.array([[-1.0]]), np.array([-1.0]),
                                          strict=[True]), lo, hi, ylo, yhi)
    assert not conjunction_closed(Conjunction(np.array([[-1.0]]), np.array([-1.0])),
                                  lo, hi, ylo, yhi)
    # with unbounded outputs nothing closes
    assert not conjunction_closed(Conjunction(np.array([[1.0]]), np.array([-5.0])),
                                  lo, hi, np.array([-np.inf]), np.array([np.inf]))
