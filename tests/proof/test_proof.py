"""Certificates: the search writes them, the independent checker accepts them, and rejects
every tampered one (a split moved, a child dropped, a multiplier changed, one weight moved
by one ulp, a property constant changed, a certificate attached to a ``sat`` property)."""

from __future__ import annotations

import ast
import copy
import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from verinet import load
from verinet.config import SearchConfig, VerifierConfig
from verinet.proof import check as C
from verinet.proof.produce import ProofLog, write_proof
from verinet.result import Status
from verinet.spec.vnnlib import read_vnnlib
from verinet.verify import verify

REPO = Path(__file__).resolve().parents[2]
ACASLIKE = REPO / "benchmarks" / "acaslike"


def _prove(model: Path, prop: Path, out: Path, config: VerifierConfig | None = None) -> dict:
    net, spec = load(str(model)), read_vnnlib(str(prop))
    log = ProofLog()
    r = verify(net, spec, timeout=60, config=config, proof=log)
    assert r.status is Status.UNSAT
    write_proof(log, str(model), str(prop), str(out), r.semantics)
    opener = gzip.open if str(out).endswith(".gz") else open
    with opener(out, "rt") as f:
        return json.load(f)


def _nodes(tree, kind):
    """Every node of ``kind`` in a certificate tree (depth first)."""
    stack, out = [tree], []
    while stack:
        n = stack.pop()
        if isinstance(n, dict):
            if n.get("t") == kind:
                out.append(n)
            c = n.get("c")
            stack.extend(c if isinstance(c, list) else [c] if c is not None else [])
    return out


def _rejected(model, prop, proof) -> str:
    with pytest.raises(C.ProofError) as e:
        C.check(str(model), str(prop), proof)
    return str(e.value)


@pytest.fixture(scope="module")
def split_proof(tmp_path_factory):
    """acaslike_3 p1 with hand-offs every 2 splits: input splits, shrinks, bound leaves,
    ReLU splits and Farkas leaves in one certificate."""
    out = tmp_path_factory.mktemp("proof") / "p.json.gz"
    cfg = VerifierConfig(search=SearchConfig(box_solver_depth=2))
    model, prop = ACASLIKE / "acaslike_3.onnx", ACASLIKE / "prop_3_p1.vnnlib"
    return model, prop, _prove(model, prop, out, cfg), out


def test_valid_certificate_is_accepted_with_every_leaf_kind(split_proof):
    model, prop, proof, out = split_proof
    c = C.check(str(model), str(prop), proof)
    assert c.counts["farkas"] > 0 and c.counts["bound"] > 0 and c.counts["unchecked"] == 0
    tree = proof["groups"][0]
    assert _nodes(tree, "s") and _nodes(tree, "h") and _nodes(tree, "r")
    # the command line: VALID, exit 0
    run = subprocess.run([sys.executable, "-m", "verinet", "check-proof", str(model), str(prop),
                          str(out)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith("VALID (") and "farkas" in run.stdout


@pytest.mark.parametrize("strategy", ["input", "relu"])
@pytest.mark.parametrize("name", ["1_p1", "2_p3", "3_p1", "3_p2"])
def test_certificates_of_the_shipped_suite(tmp_path, strategy, name):
    model = ACASLIKE / f"acaslike_{name[0]}.onnx"
    prop = ACASLIKE / f"prop_{name}.vnnlib"
    cfg = VerifierConfig(search=SearchConfig(strategy=strategy))
    proof = _prove(model, prop, tmp_path / "p.json", cfg)
    assert C.check(str(model), str(prop), proof).counts["unchecked"] == 0


def test_moved_split_value_is_rejected(split_proof):
    model, prop, proof, _ = split_proof
    bad = copy.deepcopy(proof)
    node = _nodes(bad["groups"][0], "s")[0]
    lo, _ = C.root_boxes(C.read_property(str(prop), 5, 5)[0])[0]
    node["v"] = float(lo[node["d"]]).hex()  # one child is now the whole (shrunk) box
    assert "not closed" in _rejected(model, prop, bad) or "shrunk box" in _rejected(
        model, prop, bad)
    node["v"] = 1e6.hex()
    assert "not inside the box" in _rejected(model, prop, bad)


def test_dropped_child_is_rejected(split_proof):
    model, prop, proof, _ = split_proof
    bad = copy.deepcopy(proof)
    _nodes(bad["groups"][0], "s")[0]["c"].pop()
    assert "two children" in _rejected(model, prop, bad)
    bad = copy.deepcopy(proof)
    split = _nodes(bad["groups"][0], "s")[0]
    split.clear()
    split["t"] = "b"  # claim the box closes by bounds alone: the search had to split it
    assert "not closed" in _rejected(model, prop, bad)


def test_changed_multiplier_is_rejected(split_proof):
    model, prop, proof, _ = split_proof
    leaves = [n for n in _nodes(proof["groups"][0], "f") if len(n["y"]) > 1]
    assert leaves
    for i in range(len(leaves)):
        bad = copy.deepcopy(proof)
        leaf = [n for n in _nodes(bad["groups"][0], "f") if len(n["y"]) > 1][i]
        y = np.array([float.fromhex(v) for v in leaf["y"]])
        k = int(np.argmax(np.abs(y)))
        leaf["y"][k] = float(-y[k]).hex()  # the largest multiplier, sign flipped
        assert "Farkas leaf rejected" in _rejected(model, prop, bad)
        bad = copy.deepcopy(proof)
        leaf = [n for n in _nodes(bad["groups"][0], "f") if len(n["y"]) > 1][i]
        leaf["r"][k] = leaf["r"][k] + 100000  # a row the LP does not have
        assert "rows the LP does not have" in _rejected(model, prop, bad)


def test_weight_moved_by_one_ulp_is_rejected(split_proof, tmp_path):
    model, prop, proof, _ = split_proof
    m = onnx.load(str(model))
    t = m.graph.initializer[0]
    w = numpy_helper.to_array(t).copy()
    w.flat[0] = np.nextafter(w.flat[0], np.float32(np.inf))
    t.CopyFrom(numpy_helper.from_array(w, t.name))
    onnx.save(m, str(tmp_path / "m.onnx"))
    assert "other weights" in _rejected(tmp_path / "m.onnx", prop, proof)


def test_changed_property_constant_is_rejected(split_proof, tmp_path):
    model, prop, proof, _ = split_proof
    text = prop.read_text()
    import re

    nums = list(re.finditer(r"(?<![\w.])-?\d+\.\d+", text))
    n = nums[-1]
    changed = text[:n.start()] + repr(float(n.group()) + 1e-3) + text[n.end():]
    (tmp_path / "p.vnnlib").write_text(changed)
    assert "another property" in _rejected(model, tmp_path / "p.vnnlib", proof)


def test_certificate_for_a_sat_property_is_rejected_even_with_a_forged_header(split_proof):
    model, _, proof, _ = split_proof
    sat_prop = ACASLIKE / "prop_3_p4.vnnlib"  # expected sat
    assert "another property" in _rejected(model, sat_prop, proof)
    forged = copy.deepcopy(proof)
    n_in, ops, _ = C.read_model(str(model))
    forged["property"] = C.read_property(str(sat_prop), n_in, C.n_outputs(n_in, ops))[1]
    msg = _rejected(model, sat_prop, forged)
    assert any(w in msg for w in ("not closed", "shrunk box", "Farkas leaf rejected", "trees"))


def test_hand_tampered_file_gives_a_clear_message(split_proof, tmp_path):
    model, prop, proof, _ = split_proof
    bad = copy.deepcopy(proof)
    _nodes(bad["groups"][0], "s")[0]["d"] = 99
    (tmp_path / "t.json").write_text(json.dumps(bad))
    run = subprocess.run([sys.executable, "-m", "verinet.proof.check", str(model), str(prop),
                          str(tmp_path / "t.json")], capture_output=True, text=True)
    assert run.returncode == C.EXIT_INVALID
    assert run.stdout.startswith("INVALID: group 0") and "split 99" in run.stdout
    (tmp_path / "junk.json").write_text("{not json")
    run = subprocess.run([sys.executable, "-m", "verinet.proof.check", str(model), str(prop),
                          str(tmp_path / "junk.json")], capture_output=True, text=True)
    assert run.returncode == C.EXIT_ERROR and "not a readable certificate" in run.stderr


def test_unchecked_leaves_are_counted_and_not_valid(split_proof, tmp_path):
    model, prop, proof, _ = split_proof
    bad = copy.deepcopy(proof)
    leaf = _nodes(bad["groups"][0], "f")[0]
    leaf.clear()
    leaf.update(t="z", why="exact engine (z3)")
    (tmp_path / "z.json").write_text(json.dumps(bad))
    run = subprocess.run([sys.executable, "-m", "verinet.proof.check", str(model), str(prop),
                          str(tmp_path / "z.json")], capture_output=True, text=True)
    assert run.returncode == C.EXIT_INCOMPLETE and run.stdout.startswith("INCOMPLETE: 1 ")


def test_checker_imports_nothing_from_the_search():
    """The checker's own imports: the standard library, numpy and scipy.sparse (the ONNX
    schema is loaded from the onnx package's files, not imported through verinet)."""
    tree = ast.parse((REPO / "verinet" / "proof" / "check.py").read_text())
    mods = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            mods |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"relative import of {node.module}"
            mods.add(node.module.split(".")[0])
    assert mods <= {"__future__", "gzip", "hashlib", "json", "re", "sys", "fractions", "numpy",
                    "scipy", "importlib"}, mods


# ------------------------------------------------------------------ random networks
def _random_onnx(rng, path: Path, widths: list[int]) -> None:
    nodes, inits, cur = [], [], "x"
    for k in range(len(widths) - 1):
        W = (rng.standard_normal((widths[k], widths[k + 1])) / np.sqrt(widths[k])).astype(
            np.float32)
        b = (0.3 * rng.standard_normal(widths[k + 1])).astype(np.float32)
        inits += [numpy_helper.from_array(W, f"W{k}"), numpy_helper.from_array(b, f"b{k}")]
        nodes.append(helper.make_node("MatMul", [cur, f"W{k}"], [f"m{k}"]))
        nodes.append(helper.make_node("Add", [f"m{k}", f"b{k}"], [f"a{k}"]))
        cur = f"a{k}"
        if k < len(widths) - 2:
            nodes.append(helper.make_node("Relu", [cur], [f"r{k}"]))
            cur = f"r{k}"
    g = helper.make_graph(nodes, "rand", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [1, widths[0]])], [helper.make_tensor_value_info(
            cur, TensorProto.FLOAT, [1, widths[-1]])], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))


def _forward(ops, x, keep=False):
    v, out = x, [x]
    for o in ops:
        if o[0] == "pool":
            v = np.where(o[1] < 0, -np.inf, v[:, np.maximum(o[1], 0)]).max(axis=2)
        else:
            v = np.maximum(v, 0) if o[0] == "relu" else v * o[1] + o[2] if o[0] == "diag" \
                else v @ o[1].T + o[2]
        out.append(v)
    return out if keep else v


@pytest.mark.parametrize("seed", range(6))
def test_random_networks_certified_and_checker_bounds_sound(tmp_path, seed):
    rng = np.random.default_rng(seed)
    n_in = int(rng.integers(2, 5))
    model = tmp_path / "r.onnx"
    _random_onnx(rng, model, [n_in, 12, 10, 3])
    n, ops, _ = C.read_model(str(model))
    corners = np.array(np.meshgrid(*[[-1.0, 1.0]] * n_in)).reshape(n_in, -1).T
    x = np.concatenate([rng.uniform(-1, 1, (20000, n_in)), corners])
    y = _forward(ops, x)
    # the checker's bounds hold on sampled points of random sub-boxes
    for _ in range(5):
        c, r = rng.uniform(-1, 1, n_in), rng.uniform(0.01, 1, n_in)
        lo, hi = c - r, c + r
        pts = lo + (hi - lo) * rng.random((2000, n_in))
        Cy = rng.standard_normal((4, 3))
        _, _, _, lb, A, off = C.bounds(ops, lo[None], hi[None], (Cy, np.zeros((4, n_in))))
        vals = _forward(ops, pts) @ Cy.T
        assert (vals >= lb[0]).all()
        assert (vals >= pts @ A[0].T + off[0] - 1e-12).all()
    # a property just above the sampled maximum of Y_0 - Y_1: unsat unless sampling missed
    # a threshold half way between the sampled maximum of Y_0 - Y_1 and the checker's upper
    # bound over the box: unsat, as sampling is dense, and not closed at the root
    d = y[:, 0] - y[:, 1]
    ub = -C.bounds(ops, -np.ones((1, n_in)), np.ones((1, n_in)),
                   (np.array([[-1.0, 1.0, 0.0]]), np.zeros((1, n_in))))[3][0, 0]
    margin = float(d.max() + 0.5 * (ub - d.max()))
    prop = tmp_path / "r.vnnlib"
    lines = [f"(declare-const X_{i} Real)" for i in range(n_in)]
    lines += [f"(declare-const Y_{j} Real)" for j in range(3)]
    for i in range(n_in):
        lines += [f"(assert (>= X_{i} -1.0))", f"(assert (<= X_{i} 1.0))"]
    lines += [f"(assert (>= (- Y_0 Y_1) {margin!r}))"]
    prop.write_text("\n".join(lines) + "\n")
    net, spec = load(str(model)), read_vnnlib(str(prop))
    for strategy in ("input", "relu"):
        log = ProofLog()
        r = verify(net, spec, timeout=30,
                   config=VerifierConfig(search=SearchConfig(strategy=strategy)), proof=log)
        assert r.status is Status.UNSAT, r  # the margin is above the sampled maximum
        s = write_proof(log, str(model), str(prop), str(tmp_path / "p.json"), r.semantics)
        assert not s.unchecked and s.nodes >= 1
        assert C.main([str(model), str(prop), str(tmp_path / "p.json")]) == 0


def test_acasxu_certificate(benchmarks_dir, tmp_path):
    folder = benchmarks_dir / "acasxu"
    model, prop = folder / "ACASXU_run2a_1_1_batch_2000.onnx", folder / "prop_3.vnnlib"
    if not model.exists():
        pytest.skip(f"{model} not found")
    proof = _prove(model, prop, tmp_path / "p.json.gz")
    c = C.check(str(model), str(prop), proof)
    assert c.counts["bound"] > 100 and c.counts["unchecked"] == 0


def test_checker_reads_tensors_in_either_protobuf_form(tmp_path):
    """The checker's own tensor reader: ``raw_data`` and ``float_data`` give the same model
    (and digest) as the onnx package reads; an external-data tensor is refused clearly."""
    rng = np.random.default_rng(3)
    _random_onnx(rng, tmp_path / "raw.onnx", [3, 4, 2])
    m = onnx.load(str(tmp_path / "raw.onnx"))
    for t in m.graph.initializer:
        a = numpy_helper.to_array(t)
        t.CopyFrom(helper.make_tensor(t.name, TensorProto.FLOAT, a.shape, a.reshape(-1).tolist()))
        assert not t.raw_data and t.float_data
    onnx.save(m, str(tmp_path / "list.onnx"))
    n1, ops1, d1 = C.read_model(str(tmp_path / "raw.onnx"))
    n2, ops2, d2 = C.read_model(str(tmp_path / "list.onnx"))
    assert (n1, d1) == (n2, d2)
    ref = onnx.load(str(tmp_path / "raw.onnx"))
    W0 = numpy_helper.to_array(ref.graph.initializer[0]).astype(np.float64)
    assert np.array_equal(ops1[0][1], W0.T) and np.array_equal(ops2[0][1], W0.T)
    onnx.save(ref, str(tmp_path / "ext.onnx"), save_as_external_data=True,
              all_tensors_to_one_file=True, location="w.bin", size_threshold=0)
    with pytest.raises(C.CheckInputError, match="outside the file"):
        C.read_model(str(tmp_path / "ext.onnx"))


# ------------------------------------------------------------------ convolutional networks
def _random_cnn(rng, path: Path) -> None:
    """NHWC input -> Transpose -> Conv (stride 2, pads) -> Relu -> Pad -> AveragePool ->
    Conv (2 groups, dilation 2) -> Relu -> Flatten -> Gemm: every layout operator the
    checker folds, and both window operators."""
    f = np.float32
    w1 = (rng.standard_normal((4, 2, 3, 3)) / 3).astype(f)
    w2 = (rng.standard_normal((4, 2, 2, 2)) / 2).astype(f)
    inits = [numpy_helper.from_array(w1, "w1"),
             numpy_helper.from_array((0.1 * rng.standard_normal(4)).astype(f), "b1"),
             numpy_helper.from_array(np.array([0, 0, 1, 0, 0, 0, 0, 1], np.int64), "pads"),
             numpy_helper.from_array(w2, "w2"),
             numpy_helper.from_array(rng.standard_normal((3, 4)).astype(f), "W3"),
             numpy_helper.from_array(np.zeros(3, f), "b3")]
    nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[0, 3, 1, 2]),
             helper.make_node("Conv", ["t", "w1", "b1"], ["c1"], strides=[2, 2],
                              pads=[1, 0, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Pad", ["r1", "pads"], ["p"]),
             helper.make_node("AveragePool", ["p"], ["a"], kernel_shape=[2, 2], strides=[1, 1]),
             helper.make_node("Conv", ["a", "w2"], ["c2"], group=2, dilations=[2, 2]),
             helper.make_node("Relu", ["c2"], ["r2"]),
             helper.make_node("Flatten", ["r2"], ["fl"]),
             helper.make_node("Gemm", ["fl", "W3", "b3"], ["y"], transB=1)]
    g = helper.make_graph(nodes, "cnn", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [1, 6, 6, 2])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, [1, 3])], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))


@pytest.mark.parametrize("seed", range(3))
def test_convolutional_network_read_bounded_and_certified(tmp_path, seed):
    ort = pytest.importorskip("onnxruntime")
    rng = np.random.default_rng(seed)
    model = tmp_path / "cnn.onnx"
    _random_cnn(rng, model)
    n, ops, _ = C.read_model(str(model))
    assert n == 72 and [o[0] for o in ops] == ["mat", "relu", "mat", "mat", "relu", "mat"]
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    x = rng.uniform(-1, 1, (300, 1, 6, 6, 2)).astype(np.float32)
    y = np.concatenate([sess.run(None, {"x": p})[0] for p in x])
    assert np.abs(_forward(ops, x.reshape(300, -1).astype(np.float64)) - y).max() < 1e-5
    # bounds over a box hold on its points (onnxruntime's, float32 semantics)
    c = rng.uniform(-1, 1, n)
    lo, hi = c - 0.05, c + 0.05
    pts = (lo + (hi - lo) * rng.random((400, n))).astype(np.float32)
    ys = np.concatenate([sess.run(None, {"x": p.reshape(1, 6, 6, 2)})[0] for p in pts])
    Cy = rng.standard_normal((4, 3))
    _, _, _, lb, _, _ = C.bounds(ops, lo[None], hi[None], (Cy, np.zeros((4, n))))
    assert (ys.astype(np.float64) @ Cy.T >= lb[0]).all()
    # a property around c just above the checker's own upper bound of Y_0 - Y_1: unsat,
    # and certified whatever the search's bounds do
    ub = _certify_above_checker_bound(tmp_path, model, ops, lo, hi)
    assert (ys[:, 0] - ys[:, 1]).max() <= ub


def _certify_above_checker_bound(tmp_path, model, ops, lo, hi) -> float:
    """Write ``Y_0 - Y_1 >= (the checker's upper bound of it on the box, plus a little)``,
    prove it ``unsat`` by ReLU splitting, and check that its certificate is accepted with no
    unchecked leaf; the checker's upper bound."""
    n = lo.size
    ub = -C.bounds(ops, lo[None], hi[None], (np.array([[-1.0, 1.0, 0.0]]),
                                               np.zeros((1, n))))[3][0, 0]
    margin = float(ub + 1e-3 * (1 + abs(ub)))
    prop = tmp_path / "above.vnnlib"
    lines = [f"(declare-const X_{i} Real)" for i in range(n)]
    lines += [f"(declare-const Y_{j} Real)" for j in range(3)]
    for i in range(n):
        lines += [f"(assert (>= X_{i} {float(lo[i])!r}))",
                  f"(assert (<= X_{i} {float(hi[i])!r}))"]
    lines += [f"(assert (>= (- Y_0 Y_1) {margin!r}))"]
    prop.write_text("\n".join(lines) + "\n")
    net, spec = load(str(model)), read_vnnlib(str(prop))
    log = ProofLog()
    r = verify(net, spec, timeout=60, config=VerifierConfig(
        search=SearchConfig(strategy="relu")), proof=log)
    assert r.status is Status.UNSAT, r
    s = write_proof(log, str(model), str(prop), str(tmp_path / "p.json"), r.semantics)
    assert not s.unchecked
    assert C.main([str(model), str(prop), str(tmp_path / "p.json")]) == 0
    return ub


def _maxpool_cnn(rng, path: Path) -> None:
    """Conv -> Relu -> MaxPool (3x3, stride 2, padded: windows overlap and hold padding) ->
    Conv -> MaxPool (2x2, straight after an affine op) -> Flatten -> Gemm."""
    f = np.float32
    inits = [numpy_helper.from_array((rng.standard_normal((3, 1, 3, 3)) / 2).astype(f), "w1"),
             numpy_helper.from_array((0.1 * rng.standard_normal(3)).astype(f), "b1"),
             numpy_helper.from_array((rng.standard_normal((4, 3, 2, 2)) / 2).astype(f), "w2"),
             numpy_helper.from_array(rng.standard_normal((3, 4)).astype(f), "W3"),
             numpy_helper.from_array(np.zeros(3, f), "b3")]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("MaxPool", ["r1"], ["m1"], kernel_shape=[3, 3], strides=[2, 2],
                              pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["m1", "w2"], ["c2"]),
             helper.make_node("MaxPool", ["c2"], ["m2"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["m2"], ["fl"]),
             helper.make_node("Gemm", ["fl", "W3", "b3"], ["y"], transB=1)]
    g = helper.make_graph(nodes, "mp", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [1, 1, 7, 7])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, [1, 3])], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))


@pytest.mark.parametrize("seed", range(3))
def test_maxpool_read_bounded_and_its_lp_rows_hold(tmp_path, seed):
    """The checker's MaxPool: its model matches onnxruntime, its bounds hold on
    onnxruntime's outputs, and the LP rows of a box hold on the box's points."""
    ort = pytest.importorskip("onnxruntime")
    rng = np.random.default_rng(seed)
    model = tmp_path / "mp.onnx"
    _maxpool_cnn(rng, model)
    n, ops, _ = C.read_model(str(model))
    assert n == 49 and [o[0] for o in ops] == ["mat", "relu", "pool", "mat", "pool", "mat"]
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    c = rng.uniform(-1, 1, n)
    lo, hi = c - 0.1, c + 0.1
    pts = (lo + (hi - lo) * rng.random((400, n))).astype(np.float32)
    ys = np.concatenate([sess.run(None, {"x": p.reshape(1, 1, 7, 7)})[0] for p in pts])
    vals = _forward(ops, pts.astype(np.float64), keep=True)
    assert np.abs(vals[-1] - ys).max() < 1e-5
    Cy = rng.standard_normal((4, 3))
    L, U_, _, lb, _, _ = C.bounds(ops, lo[None], hi[None], (Cy, np.zeros((4, n))))
    assert (ys.astype(np.float64) @ Cy.T >= lb[0]).all()
    for v, l, u in zip(vals, L, U_):
        assert (v >= l - 1e-5).all() and (v <= u + 1e-5).all()
    # the pool blocks of the LP (y - x_j >= 0, = 0 where one entry dominates) hold on
    # every point; rows are exact, so no tolerance
    lp = C.lp_rows(ops, [x[0] for x in L], [x[0] for x in U_], {}, [])
    v = np.concatenate(vals, axis=1)
    Av = (lp.A @ v.T).T
    blocks = [e for e in lp.layout if e[0] == "pool"]
    assert len(blocks) == 2
    for _, base, cnt in blocks:
        sl = slice(base, base + cnt)
        assert (Av[:, sl] >= lp.lo[sl]).all() and (Av[:, sl] <= lp.hi[sl]).all()
    # with a box so small that every window has one dominating entry, equality rows appear
    tiny = C.bounds(ops, c[None] - 1e-6, c[None] + 1e-6, (Cy, np.zeros((4, n))))
    lp2 = C.lp_rows(ops, [x[0] for x in tiny[0]], [x[0] for x in tiny[1]], {}, [])
    assert (lp2.hi == 0).sum() > 0


def test_maxpool_certificate_checked(tmp_path):
    """An ``unsat`` on a MaxPool network gets a certificate the checker accepts."""
    rng = np.random.default_rng(7)
    model = tmp_path / "mp.onnx"
    _maxpool_cnn(rng, model)
    n, ops, _ = C.read_model(str(model))
    c = rng.uniform(-1, 1, n)
    _certify_above_checker_bound(tmp_path, model, ops, c - 0.01, c + 0.01)


def test_certificate_completed_by_worker_processes_checks_the_same(tmp_path, monkeypatch):
    """A tree cut below its top input splits and completed in two worker processes gives a
    certificate the checker accepts, with the counts of the one-process completion."""
    import verinet.proof.produce as P

    model, prop = ACASLIKE / "acaslike_3.onnx", ACASLIKE / "prop_3_p1.vnnlib"
    net, spec = load(str(model)), read_vnnlib(str(prop))
    logs = [ProofLog(), ProofLog()]
    for log in logs:
        assert verify(net, spec, timeout=60, proof=log).status is Status.UNSAT
    monkeypatch.setattr(P, "PARALLEL_NODES", 1)
    one = write_proof(logs[0], str(model), str(prop), str(tmp_path / "1.json"), workers=1)
    two = write_proof(logs[1], str(model), str(prop), str(tmp_path / "2.json"), workers=2)
    assert one.leaves == two.leaves and not two.unchecked
    for name in ("1.json", "2.json"):
        assert C.main([str(model), str(prop), str(tmp_path / name)]) == 0
    assert json.loads((tmp_path / "1.json").read_text()) == \
        json.loads((tmp_path / "2.json").read_text())


def test_certificate_completed_here_when_workers_cannot_start(tmp_path, monkeypatch, capsys):
    import concurrent.futures

    import verinet.proof.produce as P

    def no_pool(*args, **kwargs):
        raise OSError("no processes here")

    model, prop = ACASLIKE / "acaslike_3.onnx", ACASLIKE / "prop_3_p1.vnnlib"
    log = ProofLog()
    assert verify(load(str(model)), read_vnnlib(str(prop)), timeout=60,
                  proof=log).status is Status.UNSAT
    monkeypatch.setattr(P, "PARALLEL_NODES", 1)
    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", no_pool)
    s = write_proof(log, str(model), str(prop), str(tmp_path / "p.json"), workers=2)
    assert not s.unchecked and "one process" in capsys.readouterr().err
    assert C.main([str(model), str(prop), str(tmp_path / "p.json")]) == 0


def test_proof_errors_cross_process_boundaries():
    import pickle

    e = pickle.loads(pickle.dumps(C.ProofError("group 0.1", "bound leaf not closed")))
    assert isinstance(e, C.ProofError) and str(e) == "group 0.1: bound leaf not closed"
