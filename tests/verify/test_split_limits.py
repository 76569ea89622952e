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
from verinet.counterexample import case_margin
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
    # real semantics: these instances sit within float32 rounding of their thresholds (the
    # float32 error bound of x0 ~ 1e6 is ~0.3), and test the split limits, not the semantics
    return VerifierConfig(search=SearchConfig(strategy=strategy), semantics="real")


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


# ------------------------------------------------------------------ task: huge numbers

def _identity():
    return from_model(_dense([(np.eye(1), np.zeros(1))]))


def _big32():
    """float32 weights 1e38: every value is ~1e76, beyond HiGHS's limits but finite."""
    return from_model(_dense([(np.full((2, 2), 1e38), np.zeros(2)),
                              (np.full((1, 2), 1e38), np.zeros(1))]))


def _big32_abs():
    """``y = 1e38 relu(1e38 (x0 - x1)) + 1e38 relu(1e38 (x1 - x0))``: ~1e76 |x0 - x1|."""
    return from_model(_dense([(np.array([[1e38, -1e38], [-1e38, 1e38]]), np.zeros(2)),
                              (np.full((1, 2), 1e38), np.zeros(1))]))


def _huge64():
    """float64 weights 1e200: the output overflows to inf in float64."""
    return from_model(_dense([(np.full((2, 2), 1e200), np.zeros(2)),
                              (np.full((1, 2), 1e200), np.zeros(1))], dtype=np.float64))


_UNIT2 = [(0.5, 1.0), (0.5, 1.0)]
HUGE_CASES = {
    "huge-box-unsat": (_identity, [(-1e300, 1e300)], "(>= (- Y_0 X_0) 1.0)", "unsat"),
    "huge-box-sat": (_identity, [(-1e300, 1e300)], "(>= Y_0 0.0)", "sat"),
    "float32-1e38": (_big32, _UNIT2, "(<= Y_0 0.0)", "unsat"),
    "float32-1e38-lp": (_big32_abs, [(0.0, 1.0), (0.0, 1.0)],
                        "(and (<= Y_0 0.0) (>= (- X_0 X_1) 0.5))", "unsat"),
    "float32-1e38-sat": (_big32_abs, [(0.0, 1.0), (0.0, 1.0)],
                         "(and (>= Y_0 1e70) (>= (- X_0 X_1) 0.5))", "sat"),
    "float64-1e200": (_huge64, _UNIT2, "(<= Y_0 0.0)", "unsat"),
}


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("name", sorted(HUGE_CASES))
def test_huge_numbers_never_give_a_wrong_answer_nor_an_error(name, strategy):
    make, box, bad, truth = HUGE_CASES[name]
    net, prop = make(), _prop(box, 1, bad)
    with np.errstate(all="ignore"):
        r = verify(net, prop, timeout=3, config=_config(strategy))
    assert r.status in (Status.UNSAT, Status.SAT, Status.UNKNOWN, Status.TIMEOUT), r
    if r.status is Status.UNSAT:
        assert truth == "unsat", r
    if r.status is Status.SAT:
        assert truth == "sat", r
        cex = r.counterexample
        assert cex is not None and prop.cases[0].box.contains(cex.x).all()
        y = net.evaluate(cex.x[None])
        assert np.isfinite(y).all()
        assert case_margin(prop.cases[0], cex.x[None], y)[0] >= 0


def test_shrink_boxes_never_calls_a_box_empty_on_non_finite_linear_bounds():
    from verinet.search.input_split import CaseRows, shrink_boxes
    from verinet.spec.property import Box, Case, Conjunction

    case = Case(Box(np.zeros(2), np.ones(2)),
                [Conjunction(A_out=np.array([[1.0]]), b=np.array([0.0]))])
    rows = CaseRows.of(case, 2, 1)
    lo, hi = np.zeros((3, 2)), np.ones((3, 2))
    A = np.array([[[np.nan, 1.0]], [[np.inf, 1.0]], [[1e308, 1e308]]])
    c = np.array([[0.0], [0.0], [-1e308]])
    with np.errstate(all="ignore"):
        _, _, empty = shrink_boxes(lo, hi, A, c, rows, np.array([False]))
    assert not empty.any()


def test_overflowing_bounds_carry_no_information():
    from verinet.bounds import crown_bounds
    from verinet.bounds.interval import interval_bounds

    net = _huge64()
    with np.errstate(all="ignore"):
        for b in (crown_bounds(net, np.full(2, 0.5), np.ones(2), np.array([[1.0]])),
                  interval_bounds(net, np.full(2, 0.5), np.ones(2), np.array([[1.0]]))):
            assert not np.isnan(b.out_lower).any() and not np.isnan(b.out_upper).any()
            assert not (b.out_lower == np.inf).any() and not (b.out_upper == -np.inf).any()
            assert not b.infeasible.any()


def test_model_trouble_names_what_highs_refuses():
    from verinet.lp import model_trouble

    assert model_trouble(np.zeros(2), np.ones(2), np.eye(2)) == ""
    assert "1e+20" in model_trouble(np.zeros(1), np.array([1e20]))
    assert "finite" in model_trouble(np.zeros(1), np.array([np.inf]))
    assert "coefficient" in model_trouble(np.zeros(1), np.ones(1), np.array([[1e38]]))


def test_relu_split_without_exact_engine_answers_unknown_on_an_unusable_lp():
    from verinet.counterexample import CexChecker
    from verinet.result import Stats
    from verinet.search.reluplex import relu_split

    net = _identity()
    prop = _prop([(-1e300, 1e300)], 1, "(>= (- Y_0 X_0) 1.0)")
    out = relu_split(net, prop.cases[0], CexChecker(net, prop), time.monotonic() + 10, Stats(),
                     VerifierConfig())
    assert out.status == "unknown" and "LP not usable" in out.reason
