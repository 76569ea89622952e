"""The ``.nnet`` importer: exact evaluation, the two unit modes, located errors, and
agreement with the ONNX twins of the 45 ACAS Xu networks."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verinet.errors import InputError, ModelLoadError
from verinet.network import Affine, Relu, load
from verinet.network.nnet_import import load_nnet

ACAS_IDS = [(a, b) for a in range(1, 6) for b in range(1, 10)]


def _benchmarks_dir() -> Path:
    env = os.environ.get("VERINET_BENCHMARKS")
    default = Path(__file__).resolve().parents[2].parent / "shared" / "benchmarks"
    root = Path(env) if env else default
    if not root.is_dir():
        pytest.skip(f"benchmark folder {root} not found (set VERINET_BENCHMARKS to its location)")
    return root


def _acas_pair(a: int, b: int) -> tuple[Path, Path]:
    root = _benchmarks_dir()
    nnet = root / "acasxu-nnet" / f"ACASXU_experimental_v2a_{a}_{b}.nnet"
    onnx_file = root / "acasxu" / f"ACASXU_run2a_{a}_{b}_batch_2000.onnx"
    for f in (nnet, onnx_file):
        if not f.is_file():
            pytest.skip(f"benchmark file {f} not found")
    return nnet, onnx_file


# --------------------------------------------------------------- writing small files
def _row(values) -> str:
    return ",".join(repr(float(v)) for v in values) + ","


def _nnet_text(weights, biases, lo, hi, mean, rng) -> str:
    """The ``.nnet`` text of a network (``weights[k]`` is ``(n_out, n_in)``)."""
    sizes = [weights[0].shape[1]] + [W.shape[0] for W in weights]
    lines = [
        "// a small network for the tests",
        "// second comment line",
        f"{len(weights)},{sizes[0]},{sizes[-1]},{max(sizes)},",
        ",".join(map(str, sizes)) + ",",
        "0,",
        _row(lo),
        _row(hi),
        _row(mean),
        _row(rng),
    ]
    for W, b in zip(weights, biases, strict=True):
        lines += [_row(r) for r in W]
        lines += [_row([v]) for v in b]
    return "\n".join(lines) + "\n"


def _reference(weights, biases, x):
    """Float64 forward pass: ReLU after every layer but the last."""
    h = x
    for k, (W, b) in enumerate(zip(weights, biases, strict=True)):
        h = h @ W.T + b
        if k < len(weights) - 1:
            h = np.maximum(h, 0.0)
    return h


def _toy(seed: int = 0, sizes=(3, 4, 4, 2)):
    g = np.random.default_rng(seed)
    weights = [g.normal(size=(sizes[k + 1], sizes[k])) for k in range(len(sizes) - 1)]
    biases = [g.normal(size=sizes[k + 1]) for k in range(len(sizes) - 1)]
    n = sizes[0]
    lo = -g.uniform(1, 5, size=n)
    hi = g.uniform(1, 5, size=n)
    mean = g.normal(size=n + 1)
    rng = g.uniform(0.5, 10, size=n + 1)
    return weights, biases, lo, hi, mean, rng


@pytest.fixture
def toy_file(tmp_path):
    weights, biases, lo, hi, mean, rng = _toy()
    p = tmp_path / "toy.nnet"
    p.write_text(_nnet_text(weights, biases, lo, hi, mean, rng))
    return p, (weights, biases, lo, hi, mean, rng)


# ------------------------------------------------------------------ small networks
def test_toy_structure_and_meta(toy_file):
    path, (weights, biases, lo, hi, mean, rng) = toy_file
    net = load_nnet(path)
    assert net.name == "toy.nnet"
    assert net.input_shape == (3,) and net.output_shape == (2,)
    assert net.is_layered()
    names = [n for n, _ in net.ops()][1:]
    assert names == ["layer1", "relu1", "layer2", "relu2", "layer3"]
    assert isinstance(net.op("layer2"), Affine) and isinstance(net.op("relu1"), Relu)
    m = net.meta
    assert m["format"] == "nnet" and m["units"] == "normalized" and m["path"] == str(path)
    norm = m["normalization"]
    np.testing.assert_array_equal(norm["input_min"], lo)
    np.testing.assert_array_equal(norm["input_max"], hi)
    np.testing.assert_array_equal(norm["input_mean"], mean[:3])
    np.testing.assert_array_equal(norm["input_range"], rng[:3])
    assert norm["output_mean"] == mean[3] and norm["output_range"] == rng[3]
    assert isinstance(norm["output_mean"], float) and isinstance(norm["output_range"], float)
    for key in ("input_min", "input_max", "input_mean", "input_range"):
        assert norm[key].dtype == np.float64
    dlo, dhi = norm["input_domain"]
    np.testing.assert_allclose(dlo, (lo - mean[:3]) / rng[:3], rtol=1e-15)
    np.testing.assert_allclose(dhi, (hi - mean[:3]) / rng[:3], rtol=1e-15)


def test_toy_evaluates_like_the_file(toy_file):
    path, (weights, biases, *_rest) = toy_file
    net = load_nnet(path)
    x = np.random.default_rng(1).normal(size=(200, 3))
    np.testing.assert_allclose(net.evaluate(x), _reference(weights, biases, x),
                               rtol=1e-12, atol=1e-12)


def test_load_dispatches_nnet(toy_file):
    path, _ = toy_file
    net = load(path)
    assert net.meta["format"] == "nnet" and net.meta["units"] == "normalized"


def test_unknown_units_rejected(toy_file):
    path, _ = toy_file
    with pytest.raises(InputError, match="units"):
        load_nnet(path, units="meters")


def _check_raw_against_normalized(path, x_raw, tol=1e-9):
    norm = load_nnet(path)
    raw = load_nnet(path, units="raw")
    c = norm.meta["normalization"]
    assert raw.meta["units"] == "raw"
    lo, hi = raw.meta["normalization"]["input_domain"]
    np.testing.assert_array_equal(lo, c["input_min"])
    np.testing.assert_array_equal(hi, c["input_max"])
    y_norm = norm.evaluate((x_raw - c["input_mean"]) / c["input_range"])
    want = y_norm * c["output_range"] + c["output_mean"]
    got = raw.evaluate(x_raw)
    scale = max(1.0, float(np.max(np.abs(want))))
    assert np.max(np.abs(got - want)) <= tol * scale
    return raw


def test_raw_units_toy(toy_file):
    path, (_w, _b, lo, hi, *_rest) = toy_file
    x = np.random.default_rng(2).uniform(lo - 1, hi + 1, size=(300, 3))
    raw = _check_raw_against_normalized(path, x)
    names = [n for n, _ in raw.ops()][1:]
    assert names == ["layer1", "relu1", "layer2", "relu2", "layer3"]


def test_single_layer_network(tmp_path):
    weights, biases, lo, hi, mean, rng = _toy(3, sizes=(4, 3))
    p = tmp_path / "linear.nnet"
    p.write_text(_nnet_text(weights, biases, lo, hi, mean, rng))
    net = load_nnet(p)
    assert [n for n, _ in net.ops()][1:] == ["layer1"]
    x = np.random.default_rng(4).normal(size=(50, 4))
    np.testing.assert_allclose(net.evaluate(x), _reference(weights, biases, x), rtol=1e-12)
    _check_raw_against_normalized(p, x * 3)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1),
       sizes=st.lists(st.integers(1, 6), min_size=2, max_size=5))
def test_random_networks_round_trip(tmp_path_factory, seed, sizes):
    weights, biases, lo, hi, mean, rng = _toy(seed, sizes=tuple(sizes))
    p = tmp_path_factory.mktemp("rt") / "net.nnet"
    p.write_text(_nnet_text(weights, biases, lo, hi, mean, rng))
    x = np.random.default_rng(seed).normal(size=(20, sizes[0]))
    net = load_nnet(p)
    np.testing.assert_allclose(net.evaluate(x), _reference(weights, biases, x),
                               rtol=1e-12, atol=1e-12)
    _check_raw_against_normalized(p, x * 4)


# ------------------------------------------------------------------ malformed files
def _toy_lines() -> list[str]:
    weights, biases, lo, hi, mean, rng = _toy()
    return _nnet_text(weights, biases, lo, hi, mean, rng).splitlines()


def _set(i: int, text: str):
    def edit(lines):
        lines[i] = text
        return lines
    return edit


def _replace_token(i: int, j: int, text: str):
    def edit(lines):
        toks = lines[i].rstrip(",").split(",")
        toks[j] = text
        lines[i] = ",".join(toks) + ","
        return lines
    return edit


# toy layout (1-based lines): 1-2 comments, 3 header, 4 sizes, 5 flag, 6 min, 7 max,
# 8 means, 9 ranges, 10-13 layer 1 weights (4 x 3), 14-17 biases, 18-21 layer 2 weights,
# 22-25 biases, 26-27 layer 3 weights (2 x 4), 28-29 biases.
MALFORMED = {
    "truncated": (lambda ls: ls[:20], 21, "ends early"),
    "truncated in the header": (lambda ls: ls[:5], 6, "input minimums"),
    "short weight row": (_replace_token(11, 2, ""), 12, "expected 3 values, found 2"),
    "long weight row": (_set(11, "1,2,3,4,"), 12, "expected 3 values, found 4"),
    "two biases on a line": (_set(14, "1.0,2.0,"), 15, "expected 1 value, found 2"),
    "non-numeric weight": (_replace_token(19, 1, "abc"), 20, "'abc'"),
    "nan bias": (_set(27, "nan,"), 28, "finite"),
    "non-integer header": (_set(2, "3,3.5,2,4,"), 3, "whole number"),
    "short header": (_set(2, "3,3,2,"), 3, "expected 4 values"),
    "wrong number of layer sizes": (_set(3, "3,4,2,"), 4, "expected 4 values"),
    "sizes disagree with header": (_set(3, "3,4,4,3,"), 4, "outputSize"),
    "maxLayerSize too small": (_set(2, "3,3,2,2,"), 3, "maxLayerSize"),
    "zero layer size": (_set(3, "3,0,4,2,"), 4, ">= 1"),
    "missing legacy flag": (lambda ls: ls[:4] + ls[5:], 5, "legacy flag"),
    "short minimums": (_set(5, "0,0,"), 6, "input minimums"),
    "minimum above maximum": (_set(5, "9,9,9,"), 6, "exceeds maximum"),
    "short means": (_set(7, "0,0,0,"), 8, "means"),
    "zero range": (_replace_token(8, 1, "0.0"), 9, "range 1 is zero"),
    "extra data": (lambda ls: ls + ["1.0,"], 30, "after the last layer"),
    "comment inside": (lambda ls: ls[:12] + ["// late"] + ls[12:], 13, "comment"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_file_located_error(tmp_path, case):
    edit, line, fragment = MALFORMED[case]
    lines = edit(_toy_lines())
    p = tmp_path / "bad_case.nnet"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(ModelLoadError) as info:
        load_nnet(p)
    msg = str(info.value)
    assert f"bad_case.nnet:{line}:" in msg, msg
    assert fragment in msg, msg


def test_toy_layout_is_as_documented():
    lines = _toy_lines()
    assert len(lines) == 29
    assert lines[2].startswith("3,3,2,") and lines[9].count(",") == 3


def test_blank_lines_and_whitespace_are_tolerated(tmp_path, toy_file):
    path, (weights, biases, *_rest) = toy_file
    lines = path.read_text().splitlines()
    lines = lines[:5] + [""] + [ln.replace(",", ", ") + "  " for ln in lines[5:]]
    p = tmp_path / "spaced.nnet"
    p.write_text("\n".join(lines) + "\n")
    x = np.random.default_rng(5).normal(size=(10, 3))
    np.testing.assert_allclose(load_nnet(p).evaluate(x), _reference(weights, biases, x),
                               rtol=1e-12)


@pytest.mark.parametrize("text", ["", "// only a comment\n", "\n\n"])
def test_empty_file(tmp_path, text):
    p = tmp_path / "empty.nnet"
    p.write_text(text)
    with pytest.raises(ModelLoadError, match="empty.nnet: no data"):
        load_nnet(p)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ModelLoadError, match="nowhere.nnet: no such file"):
        load_nnet(tmp_path / "nowhere.nnet")
    d = tmp_path / "folder.nnet"
    d.mkdir()
    with pytest.raises(ModelLoadError, match="folder.nnet"):
        load_nnet(d)


def test_binary_garbage(tmp_path):
    p = tmp_path / "garbage.nnet"
    p.write_bytes(b"7,5,5,50,\n\xff\xfe\x00\x01,\n")
    with pytest.raises(ModelLoadError, match="garbage.nnet:2:"):
        load_nnet(p)


# ------------------------------------------------------------------ ACAS Xu twins
N_SAMPLES = 1000


def _acas_inputs(net, n: int, seed: int) -> np.ndarray:
    """Uniform in the normalised input domain widened by 10% of its width on each side."""
    lo, hi = net.meta["normalization"]["input_domain"]
    w = hi - lo
    g = np.random.default_rng(seed)
    return g.uniform(lo - 0.1 * w, hi + 0.1 * w, size=(n, lo.size))


def _run_onnx(onnx_file: Path, x: np.ndarray) -> np.ndarray:
    ort = pytest.importorskip("onnxruntime")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(onnx_file), opts, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    shape = [d if isinstance(d, int) else 1 for d in inp.shape]
    assert int(np.prod(shape)) == x.shape[1], f"ONNX input shape {inp.shape}"
    xf = x.astype(np.float32)
    if isinstance(inp.shape[0], str) or inp.shape[0] is None:  # symbolic batch: one call
        return sess.run(None, {inp.name: xf.reshape(-1, *shape[1:])})[0].reshape(len(x), -1)
    return np.concatenate([
        sess.run(None, {inp.name: xi.reshape(shape)})[0].reshape(1, -1) for xi in xf])


@pytest.mark.parametrize("a,b", ACAS_IDS, ids=[f"{a}_{b}" for a, b in ACAS_IDS])
def test_acasxu_matches_onnx_twin(a, b):
    nnet, onnx_file = _acas_pair(a, b)
    net = load_nnet(nnet)
    assert net.input_shape == (5,) and net.output_shape == (5,)
    assert net.relu_count == 300
    x = _acas_inputs(net, N_SAMPLES, seed=100 * a + b)
    ours = net.evaluate(x)
    theirs = _run_onnx(onnx_file, x).astype(np.float64)
    scale = max(1.0, float(np.max(np.abs(theirs))))
    err = float(np.max(np.abs(ours - theirs)))
    assert err <= 1e-5 * scale, f"{nnet.name}: max error {err:.3g} at output scale {scale:.3g}"


@pytest.mark.parametrize("a,b", [(1, 1), (3, 3), (5, 9)])
def test_acasxu_raw_units(a, b):
    nnet, _ = _acas_pair(a, b)
    c = load_nnet(nnet).meta["normalization"]
    lo, hi = c["input_min"], c["input_max"]
    x = np.random.default_rng(a * 10 + b).uniform(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo),
                                                   size=(500, 5))
    _check_raw_against_normalized(nnet, x)
