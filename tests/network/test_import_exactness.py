"""The ONNX import is exact or refuses: dropped final Softmax/LogSoftmax and the properties
it allows, casts to narrow types, NaN/Inf weights and overflow, external data, Clip/Abs.

Each test is a regression test for a wrong answer or an unclear failure found by hand."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx_cases import GraphBuilder, ort_run, sample_inputs

from verinet.cli import EXIT_BAD_INPUT, EXIT_BAD_MODEL, EXIT_BAD_PROPERTY, EXIT_OK, main
from verinet.config import SearchConfig, VerifierConfig
from verinet.errors import ModelLoadError, SpecMismatchError, UnsupportedOperatorError
from verinet.network import load
from verinet.network.onnx_import import from_model
from verinet.network.output_transform import (
    SoftmaxPropertyError,
    apply_transforms,
    check_property,
)
from verinet.result import Status
from verinet.spec.vnnlib import parse_vnnlib
from verinet.verify import verify

ROOT = Path(__file__).resolve().parents[2]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def vnnlib(box, rows, n_out):
    """A VNN-LIB text: ``box`` [(lo, hi)] per input, bad region = the AND of ``rows``
    (SMT-LIB atoms over X_i / Y_j)."""
    lines = [f"(declare-const X_{i} Real)" for i in range(len(box))]
    lines += [f"(declare-const Y_{j} Real)" for j in range(n_out)]
    for i, (lo, hi) in enumerate(box):
        lines += [f"(assert (>= X_{i} {lo}))", f"(assert (<= X_{i} {hi}))"]
    lines += [f"(assert {r})" for r in rows]
    return "\n".join(lines) + "\n"


def _model(nodes, inits, in_shape, out_name="y", opset=13, elem=TensorProto.FLOAT):
    graph = helper.make_graph(
        nodes, "t", [helper.make_tensor_value_info("x", elem, list(in_shape))],
        [helper.make_tensor_value_info(out_name, elem, None)], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def softmax_model(op="Softmax", opset=13, W=None, b=None, reshape=None, axis=None,
                  flatten_after=False):
    """x (1, 2) -> Gemm -> [Reshape] -> Softmax/LogSoftmax -> [Flatten]."""
    W = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]) if W is None else np.asarray(W)
    b = np.zeros(W.shape[0]) if b is None else np.asarray(b)
    inits = [numpy_helper.from_array(W.astype(np.float32), "W"),
             numpy_helper.from_array(b.astype(np.float32), "b")]
    nodes = [helper.make_node("Gemm", ["x", "W", "b"], ["z"], name="gemm", transB=1)]
    src = "z"
    if reshape is not None:
        inits.append(numpy_helper.from_array(np.array(reshape, np.int64), "shape"))
        nodes.append(helper.make_node("Reshape", ["z", "shape"], ["zr"], name="reshape"))
        src = "zr"
    extra = {} if axis is None else {"axis": axis}
    out = "s" if flatten_after else "y"
    nodes.append(helper.make_node(op, [src], [out], name="probs", **extra))
    if flatten_after:
        nodes.append(helper.make_node("Flatten", ["s"], ["y"], name="flat"))
    return _model(nodes, inits, (1, 2), opset=opset)


def _load(model, tmp_path, name="m.onnx"):
    path = tmp_path / name
    onnx.save(model, str(path))
    with pytest.warns(UserWarning):
        return load(path), path


# ======================================================================= 1. Softmax
@pytest.mark.parametrize("opset,reshape,axis,op", [
    (13, None, None, "Softmax"), (13, [1, 2, 3], 1, "Softmax"), (13, [1, 2, 3], 2, "Softmax"),
    (11, [1, 2, 3], 1, "Softmax"), (11, [1, 2, 3], 2, "LogSoftmax"),
    (13, [1, 2, 3], 1, "LogSoftmax"), (11, None, None, "LogSoftmax")])
def test_recorded_softmax_groups_reproduce_onnxruntime(opset, reshape, axis, op, tmp_path):
    W = np.random.default_rng(1).uniform(-1, 1, (6 if reshape else 3, 2))
    model = softmax_model(op, opset, W=W, reshape=reshape, axis=axis, flatten_after=True)
    net, _ = _load(model, tmp_path)
    (t,) = net.output_transforms
    assert t.node == "probs" and t.op_type == op
    xs = sample_inputs((1, 2), 16)
    ours = apply_transforms(net.output_transforms, net.evaluate(xs))
    np.testing.assert_allclose(ours, ort_run(model, xs), rtol=1e-5, atol=1e-6)


def _prop(rows, box=((-1, -0.5), (-1, 1)), n_out=3):
    return parse_vnnlib(vnnlib(box, rows, n_out), "p.vnnlib")


# properties on the model z = (x0, x1, 0), Y = softmax(z), x0 in [-1, -0.5]
REFUSED = {
    "threshold": ["(>= Y_0 0.01)"],         # really sat (Y_0 >= 0.09); the logits say unsat
    "sum": ["(>= (+ Y_0 Y_2) 0.5)"],
    "offset": ["(<= (- Y_0 Y_1) 0.06)"],
    "scaled_pair_with_rhs": ["(<= Y_0 (+ Y_2 0.0001))"],
    "input_term": ["(<= Y_0 (+ Y_2 X_0))"],
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_softmax_refuses_rows_the_logits_do_not_decide(name, tmp_path):
    net, _ = _load(softmax_model(), tmp_path)
    prop = _prop(REFUSED[name])
    for strategy in ("input", "relu", "smt"):
        cfg = VerifierConfig(search=SearchConfig(strategy=strategy))
        with pytest.raises(SoftmaxPropertyError, match='row 1: .*"probs"') as e:
            verify(net, prop, timeout=10, config=cfg)
        assert isinstance(e.value, SpecMismatchError)
        assert "logits" in str(e.value) and "without the Softmax" in str(e.value)


def test_softmax_threshold_is_really_sat():
    """The refused threshold property is sat on the real model: refusing it was needed."""
    xs = np.array([[[-1.0, 1.0]]], np.float32)
    y = ort_run(softmax_model(), xs)
    assert y[0, 0] >= 0.01


def test_softmax_pairwise_rows_are_decided_right(tmp_path):
    net, _ = _load(softmax_model(), tmp_path)
    box = ((0.5, 1), (-1, 0))
    sat = _prop(["(>= Y_0 Y_1)"], box)      # z0 >= 0.5 > 0 >= z1: every point is bad
    unsat = _prop(["(> Y_1 Y_0)"], box)     # z1 > z0 never holds there
    for strategy in ("input", "relu", "smt"):
        cfg = VerifierConfig(search=SearchConfig(strategy=strategy))
        r = verify(net, sat, timeout=10, config=cfg)
        assert r.status is Status.SAT
        assert r.counterexample.checks.get("onnxruntime", -1) >= 0
        assert verify(net, unsat, timeout=10, config=cfg).status is Status.UNSAT


def test_softmax_across_groups_is_refused(tmp_path):
    """Softmax over axis 1 of a [1, 2, 3] output: groups {0, 3}, {1, 4}, {2, 5}."""
    W = np.random.default_rng(2).uniform(-1, 1, (6, 2))
    net, _ = _load(softmax_model(W=W, reshape=[1, 2, 3], axis=1, flatten_after=True), tmp_path)
    with pytest.raises(SoftmaxPropertyError, match="row 1"):
        check_property(net.output_transforms, _prop(["(<= Y_0 Y_1)"], n_out=6))
    check_property(net.output_transforms, _prop(["(<= Y_0 Y_3)", "(>= Y_2 Y_5)"], n_out=6))
    # opset 11 coerces to 2-D at axis 1: one softmax over all six entries
    net11, _ = _load(softmax_model(opset=11, W=W, reshape=[1, 2, 3], axis=1), tmp_path)
    check_property(net11.output_transforms, _prop(["(<= Y_0 Y_1)"], n_out=6))


def test_logsoftmax_allows_rows_that_cancel_per_group(tmp_path):
    net, _ = _load(softmax_model("LogSoftmax"), tmp_path)
    check_property(net.output_transforms, _prop(["(<= (- Y_0 Y_1) 0.06)"]))
    with pytest.raises(SoftmaxPropertyError):
        check_property(net.output_transforms, _prop(["(>= Y_0 -0.5)"]))
    # the offset row decided right: Y_0 - Y_1 = x0 - x1 <= -1.5 + 0.06 is sat at x = (-1, 1)
    prop = _prop(["(<= (- Y_0 Y_1) -1.4)"])
    r = verify(net, prop, timeout=10)
    assert r.status is Status.SAT and r.counterexample.checks["onnxruntime"] >= 0
    assert verify(net, _prop(["(<= (- Y_0 Y_1) -2.01)"]), timeout=10).status is Status.UNSAT


def test_softmax_then_a_real_operation_is_refused():
    g = GraphBuilder((1, 4), 13)
    s = g.op("Softmax", g.gemm(g.x, 4, 3), axis=1)
    for tail in ("Relu", "Transpose"):
        g2 = GraphBuilder((1, 4), 13)
        g2.nodes, g2.inits = list(g.nodes), list(g.inits)
        with pytest.raises(UnsupportedOperatorError, match="Softmax"):
            from_model(g2.model(g2.op(tail, s)))


def test_dead_softmax_branch_is_ignored():
    g = GraphBuilder((1, 4), 13)
    z = g.gemm(g.x, 4, 3)
    g.op("Softmax", z, axis=1)  # not used by the output
    net = from_model(g.model(g.op("Relu", z)))
    assert net.output_transforms == ()


def test_cli_softmax_threshold_exit_4_and_pairwise_sat(tmp_path):
    model = tmp_path / "m.onnx"
    onnx.save(softmax_model(), str(model))
    bad = tmp_path / "bad.vnnlib"
    bad.write_text(vnnlib(((-1, -0.5), (-1, 1)), ["(>= Y_1 0.01)"], 3))
    cmd = [sys.executable, "-m", "verinet", "verify", str(model), "--vnnlib", str(bad),
           "--timeout", "10"]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == EXIT_BAD_PROPERTY, p.stderr
    assert '"probs"' in p.stderr and "Traceback" not in p.stderr
    good = tmp_path / "good.vnnlib"
    good.write_text(vnnlib(((0.5, 1), (-1, 0)), ["(>= Y_0 Y_1)"], 3))
    cmd[6] = str(good)
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 10, p.stdout + p.stderr
    assert p.stdout.startswith("sat")


def test_cli_info_and_eval_with_softmax(capsys, tmp_path):
    model = tmp_path / "m.onnx"
    onnx.save(softmax_model(), str(model))
    bad = tmp_path / "bad.vnnlib"
    bad.write_text(vnnlib(((-1, -0.5), (-1, 1)), ["(>= Y_1 0.01)"], 3))
    code, _, err = run(capsys, "info", model, "--vnnlib", bad)
    assert code == EXIT_BAD_PROPERTY and '"probs"' in err
    code, out, _ = run(capsys, "info", model)
    assert code == EXIT_OK and 'dropped final Softmax node "probs"' in out
    code, out, _ = run(capsys, "eval", model, "--input", "1,-1")
    assert code == EXIT_OK
    want = ort_run(softmax_model(), np.array([[[1.0, -1.0]]], np.float32))[0]
    outputs = [float(v) for v in out.split("outputs (3): ")[1].splitlines()[0].split(", ")]
    np.testing.assert_allclose(outputs, want, rtol=1e-6)
    assert "logits (3): 1.0, -1.0, 0.0" in out and "argmax: 0" in out


# ======================================================================= 2. Cast
@pytest.mark.parametrize("to", [TensorProto.FLOAT16, TensorProto.BFLOAT16, TensorProto.INT32])
def test_narrow_cast_is_refused_by_name(to, tmp_path):
    nodes = [helper.make_node("Cast", ["x"], ["h"], name="to_narrow", to=to),
             helper.make_node("Cast", ["h"], ["f"], name="back", to=TensorProto.FLOAT),
             helper.make_node("Relu", ["f"], ["y"], name="relu")]
    path = tmp_path / "cast.onnx"
    onnx.save(_model(nodes, [], (1, 1)), str(path))
    with pytest.raises(UnsupportedOperatorError, match='"to_narrow".*rounds'):
        load(path)


def test_cli_float16_cast_exit_3(capsys, tmp_path):
    """Relu(Cast<f32>(Cast<f16>(x))) is exactly 1.0 on [1.0001, 1.0004]: `unsat` was wrong."""
    nodes = [helper.make_node("Cast", ["x"], ["h"], name="to_half", to=TensorProto.FLOAT16),
             helper.make_node("Cast", ["h"], ["f"], name="back", to=TensorProto.FLOAT),
             helper.make_node("Relu", ["f"], ["y"], name="relu")]
    path = tmp_path / "cast.onnx"
    onnx.save(_model(nodes, [], (1, 1)), str(path))
    prop = tmp_path / "p.vnnlib"
    prop.write_text(vnnlib(((1.0001, 1.0004),), ["(<= Y_0 1.0)"], 1))
    assert ort_run(str(path), np.array([[[1.0002]]], np.float32))[0, 0] == 1.0
    code, _, err = run(capsys, "verify", path, "--vnnlib", prop, "--timeout", "10")
    assert code == EXIT_BAD_MODEL and '"to_half"' in err


def test_float64_cast_is_kept():
    nodes = [helper.make_node("Cast", ["x"], ["h"], name="up", to=TensorProto.DOUBLE),
             helper.make_node("Cast", ["h"], ["f"], name="down", to=TensorProto.FLOAT),
             helper.make_node("Relu", ["f"], ["y"], name="relu")]
    net = from_model(_model(nodes, [], (1, 2)))
    assert np.array_equal(net.evaluate(np.array([[-1.0, 2.0]])), [[0.0, 2.0]])


# ======================================================================= 3. NaN / Inf
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_initializer_is_refused(bad):
    W = np.ones((2, 2), np.float32)
    W[1, 0] = bad
    nodes = [helper.make_node("Gemm", ["x", "W"], ["y"], name="gemm")]
    with pytest.raises(ModelLoadError, match='initializer "W".*non-finite'):
        from_model(_model(nodes, [numpy_helper.from_array(W, "W")], (1, 2)))


def test_non_finite_constant_node_and_folding_are_refused():
    k = numpy_helper.from_array(np.array([1.0, np.nan], np.float32), "k")
    nodes = [helper.make_node("Constant", [], ["c"], name="konst", value=k),
             helper.make_node("Add", ["x", "c"], ["y"], name="add")]
    with pytest.raises(ModelLoadError, match='"konst"'):
        from_model(_model(nodes, [], (1, 2)))
    big = numpy_helper.from_array(np.array([3e38, 3e38], np.float32), "big")
    nodes = [helper.make_node("Mul", ["big", "big"], ["c"], name="square"),
             helper.make_node("Add", ["x", "c"], ["y"], name="add")]
    with pytest.raises(ModelLoadError, match='"square"'):
        from_model(_model(nodes, [big], (1, 2)))


def test_nnet_non_finite_weight_names_the_line(tmp_path):
    text = "1,1,1,1,\n1,1,\n0,\n-1,\n1,\n0,0,\n1,1,\nnan,\n0,\n"
    path = tmp_path / "bad.nnet"
    path.write_text(text)
    with pytest.raises(ModelLoadError, match=r"bad\.nnet:8: .*finite"):
        load(path)


def test_eval_reports_overflow(capsys, tmp_path):
    W = np.full((2, 2), 1e38, np.float32)
    nodes = [helper.make_node("Gemm", ["x", "W"], ["h"], name="gemm"),
             helper.make_node("Gemm", ["h", "W"], ["y"], name="gemm2")]
    path = tmp_path / "big.onnx"
    onnx.save(_model(nodes, [numpy_helper.from_array(W, "W")], (1, 2)), str(path))
    code, out, err = run(capsys, "eval", path, "--input", "1e300,1e300")
    assert code == EXIT_BAD_INPUT
    assert "output is not finite (overflow" in out and "argmax:" not in out
    assert "overflow" in err and "warning" not in err
    code, out, _ = run(capsys, "eval", path, "--input", "0,0")
    assert code == EXIT_OK and "argmax: 0" in out


# ======================================================================= 4. external data
def _external_model(tmp_path):
    W = np.random.default_rng(3).uniform(-1, 1, (3, 2)).astype(np.float32)
    model = _model([helper.make_node("Gemm", ["x", "W"], ["y"], name="gemm", transB=1)],
                   [numpy_helper.from_array(W, "W")], (1, 2))
    folder = tmp_path / "m"
    folder.mkdir()
    onnx.save(model, str(folder / "m.onnx"), save_as_external_data=True,
              all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    return folder / "m.onnx", folder / "weights.bin", W


def test_external_data_loads_relative_to_the_model(tmp_path, monkeypatch):
    path, _, W = _external_model(tmp_path)
    monkeypatch.chdir(tmp_path)  # the cwd is not the model's folder
    net = load(path)
    x = np.array([[0.5, -0.25]])
    np.testing.assert_allclose(net.evaluate(x)[0], W.astype(np.float64) @ x[0], rtol=1e-12)


def test_missing_or_truncated_external_data_is_a_load_error(tmp_path):
    path, data, _ = _external_model(tmp_path)
    blob = data.read_bytes()
    data.write_bytes(blob[:10])
    with pytest.raises(ModelLoadError, match='"W".*weights.bin'):
        load(path)
    data.unlink()
    with pytest.raises(ModelLoadError, match='"W".*weights.bin.*does not exist'):
        load(path)


# ======================================================================= 5. Clip, Abs, Max, Min
def _pl_model(kind, opset):
    g = GraphBuilder((1, 4), opset, seed=5)
    h = g.gemm(g.x, 4, 6)
    if kind == "abs":
        h = g.op("Abs", h)
    elif kind == "clip" and opset < 11:
        h = g.op("Clip", h, min=-0.3, max=0.4)
    elif kind == "clip":
        h = g.op("Clip", h, g.const(np.array(-0.3, np.float32)),
                 g.const(np.array(0.4, np.float32)))
    elif kind == "clip_min_only":
        h = g.op("Clip", h, g.const(np.array(0.1, np.float32))) if opset >= 11 else \
            g.op("Clip", h, min=0.1)
    elif kind == "clip_max_only":
        h = g.op("Clip", h, "", g.const(np.array(0.2, np.float32))) if opset >= 11 else \
            g.op("Clip", h, max=0.2)
    elif kind == "clip_point":
        h = g.op("Clip", h, min=0.25, max=0.25) if opset < 11 else g.op(
            "Clip", h, g.const(np.array(0.25, np.float32)), g.const(np.array(0.25, np.float32)))
    elif kind == "max":
        h = g.op("Max", h, g.const(np.array(0.1, np.float32)))
    elif kind == "min":
        h = g.op("Min", g.const(np.array(-0.2, np.float32)), h)
    return g.model(g.gemm(h, 6, 2))


PL = ["abs", "clip", "clip_min_only", "clip_max_only", "clip_point", "max", "min"]


@pytest.mark.parametrize("opset", [8, 13])
@pytest.mark.parametrize("kind", PL)
def test_piecewise_linear_ops_match_onnxruntime(kind, opset):
    model = _pl_model(kind, opset)
    net = from_model(model)
    xs = sample_inputs((1, 4), 64, seed=7, scale=2.0)
    np.testing.assert_allclose(net.evaluate(xs), ort_run(model, xs), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["abs", "clip", "max"])
def test_piecewise_linear_ops_verify_like_z3(kind, tmp_path):
    model = _pl_model(kind, 13)
    path = tmp_path / "pl.onnx"
    onnx.save(model, str(path))
    net = load(path)
    xs = sample_inputs((1, 4), 2000, seed=8)
    y = net.evaluate(xs)
    d = y[:, 0] - y[:, 1]
    for thr in (float(np.quantile(d, 0.5)), float(d.max()) + 0.05):
        prop = parse_vnnlib(vnnlib([(-1, 1)] * 4, [f"(>= (- Y_0 Y_1) {thr})"], 2))
        answers = {s: verify(net, prop, timeout=20,
                             config=VerifierConfig(search=SearchConfig(strategy=s))).status
                   for s in ("smt", "relu", "input")}
        assert len(set(answers.values())) == 1, answers
        assert answers["smt"] in (Status.SAT, Status.UNSAT)


def test_nonlinear_ops_stay_refused():
    for op in ("Sigmoid", "Tanh", "Exp"):
        g = GraphBuilder((1, 4), 13)
        with pytest.raises(UnsupportedOperatorError, match=op):
            from_model(g.model(g.op(op, g.gemm(g.x, 4, 2))))
