"""Convolutions whose products run as convolutions: the same linear map as their sparse
matrix, both ways, and the same bounds and answers."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from verinet.bounds import crown_bounds
from verinet.network import load
from verinet.network.convmap import conv_map
from verinet.network.ops import Affine


def _conv_net(path, c_in, c_out, hw, k, stride, pads, seed=0):
    """Conv (one group) -> Relu -> Flatten -> Gemm to 3 outputs, float32."""
    rng = np.random.default_rng(seed)
    K = rng.normal(0, 1 / np.sqrt(c_in * k * k), (c_out, c_in, k, k)).astype(np.float32)
    ho = (hw + pads[0] + pads[2] - k) // stride + 1
    wo = (hw + pads[1] + pads[3] - k) // stride + 1
    G = rng.normal(0, 0.1, (3, c_out * ho * wo)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "K", "kb"], ["c"], strides=[stride, stride],
                              pads=list(pads)),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Flatten", ["r"], ["f"]),
             helper.make_node("Gemm", ["f", "G", "gb"], ["y"], transB=1)]
    inits = [numpy_helper.from_array(K, "K"),
             numpy_helper.from_array(rng.normal(0, 0.1, c_out).astype(np.float32), "kb"),
             numpy_helper.from_array(G, "G"),
             numpy_helper.from_array(np.zeros(3, np.float32), "gb")]
    g = helper.make_graph(nodes, "conv", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [1, c_in, hw, hw])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, [1, 3])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, str(path))
    return load(str(path))


SHAPES = [(32, 64, 6, 3, 1, (1, 1, 1, 1)), (32, 64, 7, 3, 2, (0, 1, 1, 0)),
          (16, 32, 8, 4, 2, (1, 1, 1, 1))]


@pytest.mark.parametrize("c_in,c_out,hw,k,stride,pads", SHAPES)
def test_products_as_a_convolution_are_the_sparse_products(tmp_path, c_in, c_out, hw, k,
                                                           stride, pads):
    net = _conv_net(tmp_path / "c.onnx", c_in, c_out, hw, k, stride, pads)
    (op,) = [op for _, op in net.plan if isinstance(op, Affine) and op.conv is not None]
    assert op.conv.fast_forward == (c_in * k * k >= 128 and c_out >= 32)
    assert op.conv.fast_backward == (c_in * k * k >= 256 and c_out >= 64)
    rng = np.random.default_rng(1)
    x, g = rng.standard_normal((5, op.n_in)), rng.standard_normal((5, op.size))
    for dt, tol in ((np.float64, 1e-12), (np.float32, 1e-4)):
        cm = op.conv.astype(dt)
        assert np.allclose(cm.forward(x.astype(dt)), (op.W @ x.T).T, atol=tol * 10)
        assert np.allclose(cm.backward(g.astype(dt)), (op.W.T @ g.T).T, atol=tol * 10)
    # the bounds and the outputs do not depend on the form (beyond rounding)
    lo = rng.uniform(0, 1, net.n_inputs)
    X = rng.uniform(0, 1, (4, net.n_inputs))
    b1, y1 = crown_bounds(net, lo[None], lo[None] + 0.01), net.evaluate(X)
    conv, op.conv = op.conv, None
    b2, y2 = crown_bounds(net, lo[None], lo[None] + 0.01), net.evaluate(X)
    op.conv = conv
    for k_ in b1.lower:
        assert np.allclose(b1.lower[k_], b2.lower[k_], rtol=1e-9, atol=1e-9)
        assert np.allclose(b1.upper[k_], b2.upper[k_], rtol=1e-9, atol=1e-9)
    assert np.allclose(y1, y2, rtol=1e-12, atol=1e-12)


def test_a_convolution_with_the_wrong_geometry_keeps_the_sparse_matrix(tmp_path):
    net = _conv_net(tmp_path / "c.onnx", 32, 64, 6, 3, 1, (1, 1, 1, 1))
    (op,) = [op for _, op in net.plan if isinstance(op, Affine) and op.conv is not None]
    cm = op.conv
    assert conv_map(op.W, cm.kernel, (1, 1), (0, 2, 2, 0), cm.in_shape, cm.out_shape) is None
    assert conv_map(op.W, cm.kernel[:, :, ::-1], (1, 1), cm.pads, cm.in_shape,
                    cm.out_shape) is None


def test_small_convolutions_keep_the_sparse_matrix(tmp_path):
    net = _conv_net(tmp_path / "c.onnx", 3, 8, 8, 3, 1, (1, 1, 1, 1))
    assert not [op for _, op in net.plan if isinstance(op, Affine) and op.conv is not None]
