"""What the benchmark generators share: small ONNX models built with ``onnx.helper``,
and writing (or ``--check``-ing) the generated files.

Used by ``make_demo.py`` and ``make_acaslike.py`` (both run with this folder on
``sys.path``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = ["dense_relu_model", "write_or_check"]


def dense_relu_model(layers: list[tuple[np.ndarray, np.ndarray]], graph_name: str,
                     producer: str, opset: int, ir_version: int) -> onnx.ModelProto:
    """``Gemm -> Relu -> ... -> Gemm`` on an input of shape ``[1, n_in]``.

    ``layers`` holds ``(W, b)`` pairs with ``W`` of shape ``(n_out, n_in)`` (``transB=1``).
    """
    nodes, inits = [], []
    x = "input"
    for k, (W, b) in enumerate(layers, start=1):
        w_name, b_name = f"W{k}", f"B{k}"
        inits += [numpy_helper.from_array(W, w_name), numpy_helper.from_array(b, b_name)]
        last = k == len(layers)
        y = "output" if last else f"gemm{k}"
        nodes.append(helper.make_node("Gemm", [x, w_name, b_name], [y], name=f"Gemm_{k}",
                                      transB=1))
        if not last:
            nodes.append(helper.make_node("Relu", [y], [f"relu{k}"], name=f"Relu_{k}"))
            y = f"relu{k}"
        x = y
    n_in, n_out = layers[0][0].shape[1], layers[-1][0].shape[0]
    graph = helper.make_graph(
        nodes, graph_name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, n_in])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, n_out])],
        inits)
    model = helper.make_model(graph, producer_name=producer,
                              opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = ir_version
    onnx.checker.check_model(model)
    return model


def write_or_check(generated: dict[str, bytes], out: Path, check: bool, label: str,
                   script: str) -> int:
    """Write ``generated`` (file name -> bytes) into ``out``, or with ``check`` compare them
    with the files there; returns the exit code (1 when some file is stale)."""
    if check:
        stale = [name for name, data in generated.items()
                 if not (out / name).is_file() or (out / name).read_bytes() != data]
        for name in stale:
            print(f"{out / name}: differs from the generated file", file=sys.stderr)
        print(f"{label} files are up to date" if not stale else f"run {script}")
        return 1 if stale else 0
    out.mkdir(parents=True, exist_ok=True)
    for name, data in generated.items():
        (out / name).write_bytes(data)
        print(f"wrote {out / name} ({len(data)} bytes)")
    return 0
