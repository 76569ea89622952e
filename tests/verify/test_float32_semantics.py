"""``unsat`` about the network as it runs in float32 (the default), ``--semantics real`` apart.

The network ``y = Relu(1e4 x + 0.3) - Relu(1e4 x)`` is ``0.3`` for every ``x`` in ``[0, 1]``
over the reals, but in float32 each Gemm output rounds to a multiple of ``2^-10`` near ``1e4``,
so onnxruntime returns values about ``5e-5`` away from ``0.3``.  ``y >= 0.30004`` is then
``unsat`` for the real-valued function and ``sat`` for the network as it runs: no engine may
answer ``unsat`` under the default semantics; every engine answers ``unsat`` when the margin
is well beyond the a-priori error bound (about ``1.3e-2`` here: ``gamma_5`` of ``2e4``).
"""

from __future__ import annotations

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


def _model() -> onnx.ModelProto:
    W1 = np.array([[1e4], [1e4]], np.float32)
    b1 = np.array([0.3, 0.0], np.float32)
    W2 = np.array([[1.0, -1.0]], np.float32)
    inits = [numpy_helper.from_array(W1, "W1"), numpy_helper.from_array(b1, "B1"),
             numpy_helper.from_array(W2, "W2"),
             numpy_helper.from_array(np.zeros(1, np.float32), "B2")]
    nodes = [helper.make_node("Gemm", ["X", "W1", "B1"], ["h"], name="gemm1", transB=1),
             helper.make_node("Relu", ["h"], ["r"], name="relu1"),
             helper.make_node("Gemm", ["r", "W2", "B2"], ["Y"], name="gemm2", transB=1)]
    g = helper.make_graph(nodes, "rounding", [helper.make_tensor_value_info("X", TensorProto.FLOAT,
                                                                          [1, 1])],
                          [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 1])],
                          initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m


def _prop(bad: str):
    return parse_vnnlib("(declare-const X_0 Real)\n(declare-const Y_0 Real)\n"
                        "(assert (>= X_0 0.0))\n(assert (<= X_0 1.0))\n"
                        f"(assert {bad})\n")


def _run(strategy: str, bad: str, semantics: str, timeout: float = 20.0):
    net = from_model(_model(), "rounding.onnx")
    cfg = VerifierConfig(search=SearchConfig(strategy=strategy), semantics=semantics)
    return verify(net, _prop(bad), config=cfg, timeout=timeout)


def test_float32_execution_really_reaches_the_bad_region():
    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(_model().SerializeToString(), providers=["CPUExecutionProvider"])
    xs = np.linspace(0.0, 0.2, 8001, dtype=np.float32).reshape(-1, 1, 1)
    ys = np.array([sess.run(None, {"X": x})[0].item() for x in xs])
    assert ys.max() >= 0.30004  # the float32 network reaches the bad region...
    assert ys.max() < 0.3001  # ...but only by its rounding


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_rounding_dependent_property_is_not_unsat_in_float32(strategy):
    r = _run(strategy, "(>= Y_0 0.30004)", "float32", timeout=3.0)
    assert r.status != Status.UNSAT, r.reason
    assert r.semantics == "float32"


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_rounding_dependent_property_is_unsat_for_the_reals(strategy):
    r = _run(strategy, "(>= Y_0 0.30004)", "real")
    assert r.status == Status.UNSAT, r.reason
    assert r.semantics == "real"


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_wide_margin_is_unsat_in_float32_by_every_engine(strategy):
    r = _run(strategy, "(>= Y_0 0.4)", "float32")
    assert r.status == Status.UNSAT, r.reason
    assert r.semantics == "float32"


def test_copies_are_exact_in_float32():
    """``Y = X`` through an identity Gemm rounds to itself: strict comparisons with the
    input, and with the box's own corner, stay ``unsat``."""
    W = numpy_helper.from_array(np.eye(1, dtype=np.float32), "W")
    B = numpy_helper.from_array(np.zeros(1, np.float32), "B")
    g = helper.make_graph([helper.make_node("Gemm", ["X", "W", "B"], ["Y"], transB=1)], "id",
                          [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 1])],
                          [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 1])],
                          initializer=[W, B])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    net = from_model(m, "id.onnx")
    for bad in ("(< Y_0 X_0)", "(> Y_0 1.0)"):
        r = verify(net, _prop(bad), timeout=20)
        assert r.status == Status.UNSAT, (bad, r.reason)
