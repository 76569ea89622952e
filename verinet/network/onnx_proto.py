"""ONNX messages without ``import onnx``.

Importing the ``onnx`` package costs most of a second (its ``ml_dtypes`` dependency alone
about 0.6 s), more than verifying a small network.  The loader needs only the generated
protobuf schema, ``onnx/onnx_ml_pb2.py``, which depends on nothing but the protobuf
runtime: it is loaded here on its own (0.05 s), or taken from ``onnx`` when that is already
imported.  The message classes are the protobuf runtime's, one per message type, so the
objects are the ones ``onnx`` itself would build and can be handed to it.

Tensors of the element types weights come in (float32, float64, int64, int32) and
attributes are read here; anything rarer (float16, bool, strings, tensors kept in external
files) goes to ``onnx.numpy_helper`` / ``onnx.helper``, imported then.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType
from typing import Any

import numpy as np

__all__ = ["pb", "load_model", "to_array", "attribute_value", "type_name", "FLOAT",
           "FLOAT16", "DOUBLE"]

_NAME = "_verinet_onnx_ml_pb2"

FLOAT, FLOAT16, DOUBLE, INT32, INT64 = 1, 10, 11, 6, 7  # TensorProto.DataType values


def pb() -> ModuleType:
    """The module of the ONNX message classes (``ModelProto``, ``TensorProto``, ...)."""
    mod = sys.modules.get(_NAME)
    if mod is not None:
        return mod
    if "onnx.onnx_ml_pb2" in sys.modules:
        mod = sys.modules["onnx.onnx_ml_pb2"]
    else:
        spec = importlib.util.find_spec("onnx")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("the onnx package is not installed")
        path = f"{list(spec.submodule_search_locations)[0]}/onnx_ml_pb2.py"
        mspec = importlib.util.spec_from_file_location(_NAME, path)
        if mspec is None or mspec.loader is None:
            raise ImportError(f"cannot load {path}")
        mod = importlib.util.module_from_spec(mspec)
        mspec.loader.exec_module(mod)
    sys.modules[_NAME] = mod
    return mod


def load_model(path: str) -> Any:
    """Parse an ONNX file (external data left unread) into a ``ModelProto``."""
    model = pb().ModelProto()
    with open(path, "rb") as f:
        model.ParseFromString(f.read())
    return model


# element type -> (numpy dtype, the typed field holding the values when not raw)
_FAST = {FLOAT: ("<f4", "float_data"), DOUBLE: ("<f8", "double_data"),
         INT64: ("<i8", "int64_data"), INT32: ("<i4", "int32_data")}


def to_array(t: Any) -> np.ndarray:
    """A ``TensorProto``'s value, as ``onnx.numpy_helper.to_array`` gives it."""
    fast = _FAST.get(t.data_type)
    if fast is None or t.data_location == 1 or t.HasField("segment"):
        from onnx import numpy_helper

        return numpy_helper.to_array(t)
    dtype, field = fast
    shape = tuple(int(d) for d in t.dims)
    if t.raw_data:
        a = np.frombuffer(t.raw_data, dtype=dtype).copy()
    else:
        a = np.asarray(getattr(t, field), dtype=dtype)
    return a.astype(dtype[1:], copy=False).reshape(shape)


# AttributeProto.AttributeType -> the field holding the value (repeated ones as lists)
_ATTR = {1: "f", 2: "i", 3: "s", 4: "t", 5: "g", 11: "sparse_tensor", 13: "tp"}
_ATTRS = {6: "floats", 7: "ints", 8: "strings", 9: "tensors", 10: "graphs",
          12: "sparse_tensors", 14: "type_protos"}


def attribute_value(a: Any) -> Any:
    """An ``AttributeProto``'s value, as ``onnx.helper.get_attribute_value`` gives it."""
    if a.type in _ATTR:
        return getattr(a, _ATTR[a.type])
    if a.type in _ATTRS:
        return list(getattr(a, _ATTRS[a.type]))
    from onnx import helper

    return helper.get_attribute_value(a)


def type_name(elem: int) -> str:
    """The name of a ``TensorProto.DataType`` value (``"FLOAT"``, ...)."""
    try:
        return pb().TensorProto.DataType.Name(elem)
    except ValueError:
        return str(elem)
