"""Limits of input splitting and of the LP layer, seen through ``verify``.

* A box whose relevant inputs are all narrower than ``min_width`` goes to the exact engine,
  even when an input the network ignores is still wide.
* Huge boxes and overflowing weights never give a wrong answer nor an internal error.
"""

from __future__ import annotations

import time

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from verinet.config import SearchConfig, VerifierConfig
from verinet.network.onnx_import import from_model
from verinet.result import Status
from verinet.spec import parse_vnnlib
from verinet.verify import verify

STRATEGIES = ("auto", "input", "relu", "smt")


def _dense(layers, dtype=np.float32) -> onnx.ModelProto:
    """``Gemm -> Relu -> ... -> Gemm`` with ``W`` as ``(n_out, n_in)``."""
    nodes, inits, x = [], [], "X"
    for k, (W, b) in enumerate(layers, start=1):
        inits += [numpy_helper.from_array(np.asarray(W, dtype), f"W{k}"),
                  numpy_helper.from_array(np.asarray(b, dtype), f"B{k}")]
        last = k == len(layers)
        y = "Y" if last else f"h{k}"
        nodes.append(helper.make_node("Gemm", [x, f"W{k}", f"B{k}"], [y], name=f"gemm{k}",
                                      transB=1))
        if not last:
            nodes.append(helper.make_node("Relu", [y], [f"r{k}"], name=f"relu{k}"))
            y = f"r{k}"
        x = y
    t = TensorProto.DOUBLE if dtype == np.float64 else TensorProto.FLOAT
    n_in, n_out = np.shape(layers[0][0])[1], np.shape(layers[-1][0])[0]
    graph = helper.make_graph(nodes, "limits", [helper.make_tensor_value_info("X", t, [1, n_in])],
                              [helper.make_tensor_value_info("Y", t, [1, n_out])],
                              initializer=inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m


def _prop(box, n_out: int, bad: str):
    lines = [f"(declare-const X_{i} Real)" for i in range(len(box))]
    lines += [f"(declare-const Y_{j} Real)" for j in range(n_out)]
    for i, (lo, hi) in enumerate(box):
        lines += [f"(assert (>= X_{i} {lo!r}))", f"(assert (<= X_{i} {hi!r}))"]
    lines.append(f"(assert {bad})")
    return parse_vnnlib("\n".join(lines))


def _config(strategy: str) -> VerifierConfig:
    return VerifierConfig(search=SearchConfig(strategy=strategy))


# ------------------------------------------------------------------ task: exhausted boxes

def _irrelevant_input_net():
    """``y = relu(x0) + 0 * x1``: input 1 does not reach the output."""
    return from_model(_dense([(np.array([[1.0, 0.0]]), np.zeros(1)),
                              (np.array([[1.0]]), np.zeros(1))]))


# x0 is already narrower than min_width and so large that float64 bounds cannot prove
# y - x0 >= 1e-12 (their rounding slack is ~1e-9); only the exact engine can.  x1 is wide.
_EXHAUSTED_BOX = [(1e6, 1e6 + 1e-10), (-1e6, 1e6)]


@pytest.mark.parametrize("strategy", ["input", "auto"])
def test_wide_irrelevant_input_does_not_keep_the_box_from_the_exact_engine(strategy):
    net = _irrelevant_input_net()
    prop = _prop(_EXHAUSTED_BOX, 1, "(>= (- Y_0 X_0) 1e-12)")
    t = time.monotonic()
    r = verify(net, prop, timeout=30, config=_config(strategy))
    assert r.status is Status.UNSAT, (r.status, r.reason, r.stats.boxes)
    assert time.monotonic() - t < 20
    assert r.stats.boxes < 1000


def test_narrow_relevant_inputs_are_not_split_when_an_irrelevant_one_is_wide():
    """Fine splitting on x0 only, then the exact engine: the box count stays small."""
    net = _irrelevant_input_net()
    prop = _prop([(1e6, 1e6 + 4e-9), (-1e3, 1e3)], 1, "(>= (- Y_0 X_0) 1e-12)")
    r = verify(net, prop, timeout=30, config=_config("input"))
    assert r.status is Status.UNSAT, (r.status, r.reason, r.stats.boxes)
    assert r.stats.boxes < 1000


@pytest.mark.parametrize("strategy", ["relu", "smt"])
def test_exhausted_box_other_engines(strategy):
    r = verify(_irrelevant_input_net(), _prop(_EXHAUSTED_BOX, 1, "(>= (- Y_0 X_0) 1e-12)"),
               timeout=30, config=_config(strategy))
    assert r.status is Status.UNSAT, (r.status, r.reason)
