"""The loader's own ONNX reading: the same values as the onnx package, and no ``import onnx``
on the way from a file to an answer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from verinet.network import onnx_proto

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.int32, np.float16,
                                   np.bool_, np.int8, np.uint8])
@pytest.mark.parametrize("raw", [True, False])
@pytest.mark.parametrize("shape", [(), (3,), (2, 3, 1)])
def test_tensors_read_as_numpy_helper_reads_them(dtype, raw, shape):
    rng = np.random.default_rng(0)
    a = (rng.standard_normal(shape) * 100).astype(dtype)
    t = numpy_helper.from_array(a, "t")
    if not raw:  # the typed field instead of raw bytes
        t = helper.make_tensor("t", helper.np_dtype_to_tensor_dtype(a.dtype), shape,
                               a.reshape(-1).tolist())
    got, want = onnx_proto.to_array(t), numpy_helper.to_array(t)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert np.array_equal(got, want)


def test_attributes_read_as_helper_reads_them():
    node = helper.make_node("X", [], ["y"], f=1.5, i=3, s="same_upper", fs=[1.0, 2.5],
                            ins=[1, -2], ss=["a", "b"], t=numpy_helper.from_array(
                                np.arange(4, dtype=np.float32), "c"))
    for a in node.attribute:
        got, want = onnx_proto.attribute_value(a), helper.get_attribute_value(a)
        if isinstance(want, onnx.TensorProto):
            assert got == want
        else:
            assert got == want and type(got) is type(want)


def test_messages_are_the_onnx_packages_own():
    m = onnx_proto.pb().ModelProto()
    assert isinstance(m, onnx.ModelProto) and onnx_proto.type_name(TensorProto.FLOAT) == "FLOAT"


def test_no_onnx_import_from_file_to_answer(tmp_path):
    """Loading an ONNX model (with a Constant node) and verifying a property imports
    neither ``onnx`` nor its ``ml_dtypes`` dependency: they cost more than a small query."""
    nodes = [helper.make_node("Constant", [], ["b"], value=numpy_helper.from_array(
                 np.array([0.5], np.float32), "bv")),
             helper.make_node("MatMul", ["x", "W"], ["m"]),
             helper.make_node("Add", ["m", "b"], ["a"]),
             helper.make_node("Relu", ["a"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [1, 1])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, [1, 2])], [numpy_helper.from_array(
                np.array([[1.0, -1.0]], np.float32), "W")])
    model = tmp_path / "m.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(model))
    prop = tmp_path / "p.vnnlib"
    prop.write_text("(declare-const X_0 Real)\n(declare-const Y_0 Real)\n"
                    "(declare-const Y_1 Real)\n(assert (>= X_0 -1))\n(assert (<= X_0 1))\n"
                    "(assert (>= Y_0 2))\n")
    code = ("import sys\nfrom verinet import load\nfrom verinet.spec import read_vnnlib\n"
            "from verinet.verify import verify\n"
            f"r = verify(load({str(model)!r}), read_vnnlib({str(prop)!r}), timeout=20)\n"
            "print(r.status.value, 'onnx' in sys.modules, 'ml_dtypes' in sys.modules,\n"
            "      'scipy.sparse' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, timeout=120)
    assert out.stdout.split() == ["unsat", "False", "False", "False"], out.stderr[-2000:]
