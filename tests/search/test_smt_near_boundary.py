"""The z3 engine on bad regions that are barely reached: ``sat`` must still come back.

Each instance is a small random ReLU chain saved as a float32 ONNX model (so that the
checker replays candidates on the float32 input grid and in onnxruntime) and one output
row whose threshold lies a relative ``rel`` above the row's exact minimum over the box
(found by z3's optimiser).  The bad region is then a sliver around the minimiser: z3's
vertex solutions sit on its boundary, and the retry margins ``1e-12 .. 1e-4`` either
leave the sliver (the strengthened query is ``unsat``) or give a point that the float32
rounding pushes out.  The other engines answer ``sat`` on every one of them.
"""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import onnx
import pytest
import z3
from onnx import TensorProto, helper, numpy_helper

from verinet import load
from verinet.config import AttackConfig, SearchConfig, VerifierConfig
from verinet.network.ir import Network
from verinet.network.ops import Affine
from verinet.search.smt import encode_case
from verinet.spec.property import Box, Case, Conjunction, Property
from verinet.verify import verify

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "soundness"))
from random_nets import random_box, random_network  # noqa: E402


def to_onnx_f32(net: Network) -> onnx.ModelProto:
    """``net`` (a chain of Affine and Relu nodes) as a float32 Gemm/Relu ONNX model."""
    nodes, inits, prev = [], [], "X"
    for k, (name, op) in enumerate(net.plan[1:]):
        out = "Y" if name == net.output_name else f"t{k}"
        if isinstance(op, Affine):
            inits += [numpy_helper.from_array(np.asarray(op.W, np.float32), f"W{k}"),
                      numpy_helper.from_array(np.asarray(op.b, np.float32), f"B{k}")]
            nodes.append(helper.make_node("Gemm", [prev, f"W{k}", f"B{k}"], [out], transB=1))
        else:
            nodes.append(helper.make_node("Relu", [prev], [out]))
        prev = out
    graph = helper.make_graph(
        nodes, "sliver", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, net.n_inputs])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, net.n_outputs])],
        initializer=inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m


def exact_min(net: Network, box: Box, a: np.ndarray) -> Fraction:
    """The exact minimum of ``a . y`` over the box (real arithmetic on the weights)."""
    enc = encode_case(net, box.lower, box.upper)
    opt = z3.Optimize(ctx=enc.ctx)
    opt.add(*enc.constraints)
    e = enc.linear(a, enc.y)
    opt.minimize(e)
    assert opt.check() == z3.sat
    v = opt.model().eval(e)
    return Fraction(v.numerator_as_long(), v.denominator_as_long())


def sliver_instance(seed: int, rel: float, folder: Path | None) -> tuple[Network, Property]:
    """A 2-5 input, 3-14 ReLU network and a one-row bad region ``rel`` deep at most.

    With ``folder`` the network goes through a float32 ONNX file (and is replayed in
    onnxruntime); without, it stays a float64 network.
    """
    rng = np.random.default_rng(seed)
    n_in = int(rng.integers(2, 6))
    widths = [int(rng.integers(3, 8)) for _ in range(int(rng.integers(1, 3)))]
    n_out = int(rng.integers(1, 4))
    net = random_network(rng, n_in, widths, n_out, name=f"sliver-{seed}")
    box = random_box(rng, n_in)
    a = rng.normal(0.0, 1.0, n_out)
    if folder is not None:
        path = folder / f"sliver-{seed}.onnx"
        onnx.save(to_onnx_f32(net), path)
        net = load(path)
    m = exact_min(net.real(), box, a)  # the real minimum (no float32 allowance)
    y = net.evaluate((0.5 * (box.lower + box.upper))[None])[0]
    scale = max(1.0, abs(float(m)) + float(np.abs(a) @ np.abs(y)))
    b = float(m + Fraction(rel) * Fraction(scale))
    case = Case(box, (Conjunction(a[None], np.array([b])),))
    return net, Property((case,), n_in, n_out, name=f"sliver-{seed}")


def _config(strategy: str) -> VerifierConfig:
    return VerifierConfig(search=SearchConfig(strategy=strategy),
                          attack=AttackConfig(enabled=False))


# (seed, rel, float32 ONNX): instances where z3's retry ladder alone answered unknown
SLIVERS = [(0, 3e-13, False), (12, 3e-13, False), (0, 3e-7, True), (2, 3e-9, True),
           (2, 3e-7, True), (3, 3e-7, True), (5, 3e-7, True), (10, 3e-7, True),
           (12, 3e-7, True)]


@pytest.mark.parametrize(("seed", "rel", "f32"), SLIVERS)
def test_smt_finds_barely_reached_regions(seed, rel, f32, tmp_path):
    net, prop = sliver_instance(seed, rel, tmp_path if f32 else None)
    assert verify(net, prop, 10.0, _config("relu")).status.value == "sat"
    res = verify(net, prop, 10.0, _config("smt"))
    assert res.status.value == "sat", res.reason
    cex = res.counterexample
    assert cex.source.startswith("z3")
    assert prop.cases[0].box.contains(cex.x)
    assert min(cex.checks.values()) >= 0
    assert ("onnxruntime" in cex.checks) == f32
    y = net.evaluate(cex.x[None])
    assert prop.margin(cex.x[None], y)[0] >= 0
