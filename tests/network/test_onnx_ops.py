"""The ONNX importer, operator by operator, against onnxruntime on tiny models.

Every case of :mod:`onnx_cases` is built at each opset where it means something,
imported, and evaluated by verinet (float64) and onnxruntime (float32) on random
inputs; the outputs must agree within 1e-5 of the output scale.  Further tests check
the folding of linear chains, the error messages and the dropped final Softmax.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from onnx_cases import CASES, GraphBuilder, ort_run, sample_inputs

from verinet.errors import ModelLoadError, UnsupportedOperatorError
from verinet.network import Affine, Concat, MaxPool, Relu, Sum, load
from verinet.network.onnx_import import from_model, load_onnx

pytest.importorskip("onnxruntime")

N_SAMPLES = 16
RTOL = 1e-5


def _assert_matches_ort(model: onnx.ModelProto, batched: bool = False, net=None,
                        seed: int = 0) -> np.ndarray:
    """Compare verinet and onnxruntime on random inputs; returns verinet's outputs."""
    net = from_model(model) if net is None else net
    xs = sample_inputs(net.input_shape, N_SAMPLES, seed=seed, scale=2.0)
    want = ort_run(model, xs, batched=batched)
    got = net.evaluate(xs.astype(np.float64))
    assert got.shape == want.shape, f"verinet gives {got.shape}, onnxruntime {want.shape}"
    assert net.n_outputs == want.shape[1]
    scale = max(1.0, float(np.abs(want).max()))
    err = float(np.abs(got - want).max())
    assert err <= RTOL * scale, f"max error {err:.3g} at output scale {scale:.3g}"
    return got


def _kinds(net) -> list[str]:
    return [op.kind for _, op in net.ops()]


PARAMS = [pytest.param(name, opset, id=f"{name}-opset{opset}")
          for name, c in CASES.items() for opset in c.opsets]


@pytest.mark.parametrize("name, opset", PARAMS)
def test_operator_matches_onnxruntime(name, opset):
    c = CASES[name]
    model = c.build(opset)
    onnx.checker.check_model(model)  # the case itself is a valid model at this opset
    _assert_matches_ort(model, batched=c.batched)


def test_load_from_file(tmp_path):
    model = CASES["conv_batchnorm_relu"].build(13)
    path = tmp_path / "conv_bn.onnx"
    onnx.save(model, path)
    for net in (load_onnx(path), load(path)):
        assert net.meta["format"] == "onnx" and net.meta["opset"] == 13
        assert net.name == "conv_bn.onnx"
        _assert_matches_ort(model, net=net)


# ------------------------------------------------------------------ folding
@pytest.mark.parametrize("opset", [8, 13, 18])
@pytest.mark.parametrize("name, kinds", [
    ("conv_batchnorm_relu", ["Input", "Affine", "Relu"]),
    ("gemm_batchnorm", ["Input", "Affine", "Relu"]),
    ("matmul_add_mul_sub", ["Input", "Affine"]),
    ("matmul_add", ["Input", "Affine"]),
    ("arithmetic_with_constants", ["Input", "Affine", "Relu"]),
    ("identity_dropout", ["Input", "Affine", "Relu", "Affine"]),
    ("transpose", ["Input", "Affine", "Relu", "Affine"]),
    ("squeeze_unsqueeze", ["Input", "Relu", "Affine"]),
    ("flatten_axes", ["Input", "Relu"]),
    ("reshape_zero_and_minus_one", ["Input", "Affine"]),
    ("constant_nodes", ["Input", "Affine"]),
    ("conv_auto_pad", ["Input", "Affine"]),
])
def test_linear_chains_fold_into_one_affine(name, kinds, opset):
    net = from_model(CASES[name].build(opset))
    assert _kinds(net) == kinds, net.summary()


def test_folding_keeps_branches_apart():
    net = from_model(CASES["residual_add"].build(13))
    assert _kinds(net).count("Sum") == 1 and _kinds(net).count("Relu") == 2
    net = from_model(CASES["concat_of_branches"].build(13))
    assert "Concat" in _kinds(net)
    net = from_model(CASES["maxpool"].build(13))
    assert _kinds(net).count("MaxPool") == 2


def test_reshapes_cost_nothing():
    g = GraphBuilder((1, 2, 3, 4), 13)
    y = g.op("Relu", g.x)
    y = g.op("Flatten", y)
    y = g.reshape(y, [2, 12])
    y = g.unsqueeze(y, [0])
    y = g.squeeze(y, [0])
    y = g.op("Identity", g.dropout(y))
    net = from_model(g.model(g.op("Relu", y)))
    assert _kinds(net) == ["Input", "Relu", "Relu"]
    assert net.output_shape == (2, 12)


def test_leaky_relu_is_relu_plus_linear():
    net = from_model(CASES["relu_leaky_relu"].build(13))
    kinds = _kinds(net)
    assert kinds.count("Relu") == 5 and kinds.count("Sum") == 4
    assert all(isinstance(op, (Affine, Relu, Sum)) for _, op in list(net.ops())[1:])


def test_symbolic_batch_dimension():
    model = CASES["symbolic_batch"].build(13)
    net = from_model(model)
    assert net.input_shape == (1, 4) and net.output_shape == (1, 3)
    assert net.meta["symbolic_dims"] == [0]
    # an unset dimension (no value, no name) is also a batch dimension
    inp = model.graph.input[0].type.tensor_type.shape.dim[0]
    inp.Clear()
    net = from_model(model)
    assert net.input_shape == (1, 4)
    _assert_matches_ort(model, batched=True, net=net)


def test_shape_chain_folds_to_a_constant():
    net = from_model(CASES["shape_chain_reshape"].build(13))
    assert _kinds(net) == ["Input", "Affine", "Relu", "Affine"]


def test_gradient_through_imported_cnn():
    net = from_model(CASES["symbolic_batch_flatten_cnn"].build(13))
    assert any(isinstance(op, MaxPool) for _, op in net.ops())
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (3, net.n_inputs))
    c = rng.normal(size=net.n_outputs)
    f, g = net.gradient(x, c)
    h = 1e-6
    for k in rng.choice(net.n_inputs, 6, replace=False):
        e = np.zeros(net.n_inputs)
        e[k] = h
        fd = (net.evaluate(x + e) @ c - net.evaluate(x - e) @ c) / (2 * h)
        np.testing.assert_allclose(g[:, k], fd, atol=1e-5)
    np.testing.assert_allclose(f, net.evaluate(x) @ c)


def test_constants_in_a_concat_become_a_bias():
    net = from_model(CASES["concat_inner_axis_with_constant"].build(13))
    assert sum(isinstance(op, Concat) for _, op in net.ops()) == 1
    g = GraphBuilder((1, 3), 13)
    y = g.op("Concat", g.weight(1, 2), g.op("Relu", g.x), g.weight(1, 1), axis=1)
    model = g.model(y)
    net = from_model(model)
    assert _kinds(net) == ["Input", "Relu", "Affine"]
    _assert_matches_ort(model, net=net)


# ------------------------------------------------------------------ errors
def _simple(op_type: str, opset: int = 13, **attrs) -> onnx.ModelProto:
    g = GraphBuilder((1, 3), opset)
    y = g.op(op_type, g.gemm(g.x, 3, 3), **attrs)
    return g.model(g.gemm(y, 3, 2))


@pytest.mark.parametrize("op_type", ["Sigmoid", "Tanh", "Exp", "Sin"])
def test_unsupported_operator_names_node_and_op(op_type):
    model = _simple(op_type)
    node = next(n for n in model.graph.node if n.op_type == op_type)
    with pytest.raises(UnsupportedOperatorError) as info:
        from_model(model, "net.onnx")
    msg = str(info.value)
    assert node.name in msg and op_type in msg and "net.onnx" in msg
    assert "export" in msg  # says what to do
    assert info.value.op_type == op_type and info.value.node_name == node.name


@pytest.mark.parametrize("op_type", ["Mul", "MatMul", "Div"])
def test_product_of_two_branches_is_unsupported(op_type):
    g = GraphBuilder((1, 3), 13)
    a = g.op("Relu", g.gemm(g.x, 3, 3))
    b = g.gemm(g.x, 3, 3)
    if op_type == "MatMul":
        b = g.op("Transpose", b)  # (1, 3) @ (3, 1)
    y = g.op(op_type, a, b)
    with pytest.raises(UnsupportedOperatorError, match=op_type):
        from_model(g.model(y))


def test_non_constant_weight_is_unsupported():
    g = GraphBuilder((1, 1, 4, 4), 13)
    w = g.reshape(g.op("Relu", g.x), [1, 1, 4, 4])
    with pytest.raises(UnsupportedOperatorError, match="Conv"):
        from_model(g.model(g.op("Conv", g.weight(1, 1, 4, 4), w)))


def test_foreign_domain_is_unsupported():
    g = GraphBuilder((1, 3), 13)
    g.nodes.append(helper.make_node("Fancy", [g.x], ["y"], name="fancy", domain="com.x"))
    model = g.model("y")
    model.opset_import.append(helper.make_opsetid("com.x", 1))
    with pytest.raises(UnsupportedOperatorError, match="fancy"):
        from_model(model)


def test_final_softmax_is_dropped_with_a_warning():
    g = GraphBuilder((1, 4), 13)
    logits = g.gemm(g.op("Relu", g.gemm(g.x, 4, 4)), 4, 3)
    with_softmax = g.model(g.op("Softmax", logits, axis=1))
    without = GraphBuilder((1, 4), 13)
    without.nodes, without.inits = list(g.nodes[:-1]), list(g.inits)
    with pytest.warns(UserWarning, match="Softmax"):
        net = from_model(with_softmax)
    xs = sample_inputs((1, 4), 8)
    np.testing.assert_allclose(net.evaluate(xs), ort_run(without.model(logits), xs),
                               rtol=1e-5, atol=1e-5)
    probs = ort_run(with_softmax, xs)
    assert np.array_equal(net.evaluate(xs).argmax(1), probs.argmax(1))


def test_non_final_softmax_is_unsupported():
    g = GraphBuilder((1, 4), 13)
    y = g.op("Softmax", g.gemm(g.x, 4, 4), axis=1)
    with pytest.raises(UnsupportedOperatorError, match="Softmax"):
        from_model(g.model(g.gemm(y, 4, 2)))


def test_random_bytes_are_a_load_error(tmp_path):
    path = tmp_path / "noise.onnx"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ModelLoadError):
        load_onnx(path)


def test_every_truncation_is_a_load_error(tmp_path):
    model = CASES["conv_batchnorm_relu"].build(13)
    data = model.SerializeToString()
    # the cut just before the opset import leaves a model that parses
    opset_at = data.rfind(model.opset_import[0].SerializeToString()) - 2
    path = tmp_path / "cut.onnx"
    for k in sorted({*range(1, len(data), 5), opset_at}):
        path.write_bytes(data[:k])
        with pytest.raises(ModelLoadError):
            load_onnx(path)


def test_model_without_opset_import_is_a_load_error():
    model = CASES["matmul_add"].build(13)
    del model.opset_import[:]
    with pytest.raises(ModelLoadError, match="opset_import"):
        from_model(model, "net.onnx")


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(ModelLoadError, match="no such file"):
        load_onnx(tmp_path / "absent.onnx")
    (tmp_path / "empty.onnx").write_bytes(b"")
    with pytest.raises(ModelLoadError):
        load_onnx(tmp_path / "empty.onnx")


def test_two_inputs_are_a_load_error():
    g = GraphBuilder((1, 3), 13)
    other = helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 3])
    model = g.model(g.op("Add", g.x, "z"), extra_inputs=[other])
    with pytest.raises(ModelLoadError, match="exactly one graph input"):
        from_model(model)


def test_two_outputs_are_a_load_error():
    g = GraphBuilder((1, 3), 13)
    a = g.gemm(g.x, 3, 2)
    b = g.op("Relu", a)
    with pytest.raises(ModelLoadError, match="exactly one graph output"):
        from_model(g.model(b, outputs=[a, b]))


def test_integer_input_is_a_load_error():
    g = GraphBuilder((1, 3), 13)
    model = g.model(g.op("Identity", g.x))
    model.graph.input[0].type.tensor_type.elem_type = TensorProto.INT64
    with pytest.raises(ModelLoadError, match="floating-point"):
        from_model(model)


def test_output_independent_of_input_is_a_load_error():
    g = GraphBuilder((1, 3), 13)
    g.op("Relu", g.x)
    with pytest.raises(ModelLoadError, match="does not depend on the input"):
        from_model(g.model(g.op("Identity", g.weight(3))))


def test_dropout_in_training_mode_is_unsupported():
    g = GraphBuilder((1, 3), 13)
    y = g.op("Dropout", g.x, g.const(np.array(0.5, np.float32)),
             g.const(np.array(True), dtype=np.bool_))
    with pytest.raises(UnsupportedOperatorError, match="training"):
        from_model(g.model(y))


def test_identity_network_keeps_an_output_node():
    g = GraphBuilder((2, 3), 13)
    model = g.model(g.op("Flatten", g.x, axis=0))
    net = from_model(model)
    assert net.output_shape == (1, 6)
    _assert_matches_ort(model, net=net)
