"""The ONNX importer on real benchmark networks: verinet's float64 forward pass equals
onnxruntime's on random inputs (the 45 ACAS Xu networks and the VNN-COMP ``test`` folder)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from verinet.errors import ModelLoadError
from verinet.network import Affine, Relu
from verinet.network.onnx_import import load_onnx

ort = pytest.importorskip("onnxruntime")

ACAS_IDS = [(a, b) for a in range(1, 6) for b in range(1, 10)]
N_SAMPLES = 1000
RTOL = 1e-5


def _session(path: Path):
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _ort_outputs(path: Path, xs: np.ndarray) -> np.ndarray:
    """onnxruntime on each sample of ``xs`` (``(n, *input_shape)``), batched when the
    model's leading input dimension is symbolic; returns ``(n, n_out)`` float64."""
    sess = _session(path)
    inp = sess.get_inputs()[0]
    dtype = {"tensor(float)": np.float32, "tensor(double)": np.float64}[inp.type]
    xs = xs.astype(dtype)
    if inp.shape and not isinstance(inp.shape[0], int) and xs.shape[1] == 1:
        y = sess.run(None, {inp.name: xs.reshape(xs.shape[:1] + xs.shape[2:])})[0]
        return np.asarray(y, dtype=np.float64).reshape(len(xs), -1)
    return np.stack([np.asarray(sess.run(None, {inp.name: x})[0], dtype=np.float64).ravel()
                     for x in xs])


def _max_relative_error(path: Path, seed: int, scale: float = 1.25) -> float:
    """Compare on ``N_SAMPLES`` inputs uniform in ``[-scale, scale]``; returns the largest
    error over ``max(1, max|y|)`` and asserts it is within ``RTOL``."""
    net = load_onnx(path)
    rng = np.random.default_rng(seed)
    xs = rng.uniform(-scale, scale, size=(N_SAMPLES, *net.input_shape)).astype(np.float32)
    want = _ort_outputs(path, xs)
    got = net.evaluate(xs.astype(np.float64))
    assert got.shape == want.shape, f"{path.name}: verinet {got.shape}, onnxruntime {want.shape}"
    out_scale = max(1.0, float(np.abs(want).max()))
    err = float(np.abs(got - want).max()) / out_scale
    assert err <= RTOL, f"{path.name}: max error {err:.3g} relative to output scale {out_scale:.3g}"
    return err


@pytest.mark.parametrize("a, b", ACAS_IDS, ids=[f"acasxu_{a}_{b}" for a, b in ACAS_IDS])
def test_acasxu_matches_onnxruntime(benchmarks_dir, a, b):
    path = benchmarks_dir / "acasxu" / f"ACASXU_run2a_{a}_{b}_batch_2000.onnx"
    if not path.is_file():
        pytest.skip(f"benchmark file {path} not found")
    _max_relative_error(path, seed=10 * a + b)


def test_acasxu_structure(benchmarks_dir):
    path = benchmarks_dir / "acasxu" / "ACASXU_run2a_1_1_batch_2000.onnx"
    if not path.is_file():
        pytest.skip(f"benchmark file {path} not found")
    net = load_onnx(path)
    # Sub (input offset) and Flatten fold into the first MatMul + Add
    assert net.is_layered()
    kinds = [type(op) for _, op in list(net.ops())[1:]]
    assert kinds == [Affine, Relu] * 6 + [Affine]
    assert net.relu_count == 300 and net.n_inputs == 5 and net.n_outputs == 5
    assert net.input_shape == (1, 1, 1, 5)
    assert net.meta["opset"] == 8 and net.meta["onnx_input_dtype"] == "float32"


@pytest.mark.parametrize("keep", [0.01, 0.25, 0.5, 0.75, 0.99])
def test_truncated_acasxu_is_a_load_error(benchmarks_dir, tmp_path, keep):
    path = benchmarks_dir / "acasxu" / "ACASXU_run2a_1_1_batch_2000.onnx"
    if not path.is_file():
        pytest.skip(f"benchmark file {path} not found")
    data = path.read_bytes()
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ModelLoadError):
        load_onnx(cut)


def test_vnncomp_test_folder_matches_onnxruntime(benchmarks_dir):
    folder = benchmarks_dir / "test"
    files = sorted(folder.glob("*.onnx"))
    if not files:
        pytest.skip(f"no ONNX files in {folder}")
    for i, path in enumerate(files):
        _max_relative_error(path, seed=100 + i)


def test_vnncomp_test_folder_structure(benchmarks_dir):
    path = benchmarks_dir / "test" / "test_nano.onnx"
    if not path.is_file():
        pytest.skip(f"benchmark file {path} not found")
    net = load_onnx(path)  # y = relu(0.5 x), the weight first in a MatMul without bias
    assert net.input_shape == (1,) and net.n_outputs == 1
    np.testing.assert_allclose(net.evaluate(np.array([[-1.0], [1.0], [2.0]])),
                               [[0.0], [0.5], [1.0]])
