"""Network IR and importers (ONNX, ``.nnet``)."""

from __future__ import annotations

import os

from ..errors import ModelLoadError
from .ir import Network, NetworkBuilder
from .ops import Affine, Concat, Input, MaxPool, Op, Relu, Sum

__all__ = ["Network", "NetworkBuilder", "Op", "Input", "Affine", "Relu", "Sum", "Concat",
           "MaxPool", "load"]


def load(path: str | os.PathLike) -> Network:
    """Load a network from an ``.onnx`` or ``.nnet`` file (chosen by the file's suffix)."""
    p = os.fspath(path)
    if not os.path.exists(p):
        raise ModelLoadError(f"{p}: no such file; check the path to the model")
    if os.path.isdir(p):
        raise ModelLoadError(f"{p}: is a directory, not a model file")
    low = p.lower()
    if low.endswith(".nnet"):
        from .nnet_import import load_nnet
        return load_nnet(p)
    if low.endswith(".onnx"):
        from .onnx_import import load_onnx
        return load_onnx(p)
    raise ModelLoadError(
        f"{p}: unknown model format; verinet reads ONNX (.onnx) and Reluplex's .nnet files")
