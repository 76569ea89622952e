"""A small convolutional regression network and properties on it, for side-by-side runs.

    python scripts/make_convreg.py OUT_DIR

The shared benchmarks have no convolutional *regression* network; this makes one, random
but fixed (seed 0): a 20x20 one-channel input, Conv 3x3 (8 channels) -> Relu -> Conv 3x3
stride 2 (8 channels) -> Relu -> Gemm 32 -> Relu -> Gemm 1, in float32 (3,136 ReLUs).
Properties ``eps_K_F.vnnlib``: an L-infinity box of radius 0.01, 0.02 or 0.03 around a
random point (seed 1), and the bad region ``Y_0 <= t`` with ``t`` a fraction ``F`` (50%
or 85%) of the way from the box's CROWN lower bound to the least output seen on 500 random
corners (of 3,000 drawn): between what the bounds prove and what sampling reaches, so both
answers occur and the expected answer is not known.  Writes ``convreg.onnx``, the
properties and ``instances.csv`` (60 s each).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def network(path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    arrays = {"W1": rng.normal(0, np.sqrt(2 / 9), (8, 1, 3, 3)), "b1": rng.normal(0, .05, 8),
              "W2": rng.normal(0, np.sqrt(2 / 72), (8, 8, 3, 3)), "b2": rng.normal(0, .05, 8),
              "W3": rng.normal(0, np.sqrt(2 / 512), (32, 512)), "b3": rng.normal(0, .05, 32),
              "W4": rng.normal(0, np.sqrt(1 / 32), (1, 32)), "b4": np.zeros(1)}
    nodes = [helper.make_node("Conv", ["X", "W1", "b1"], ["c1"], kernel_shape=[3, 3]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "W2", "b2"], ["c2"], kernel_shape=[3, 3],
                              strides=[2, 2]),
             helper.make_node("Relu", ["c2"], ["r2"]),
             helper.make_node("Flatten", ["r2"], ["f"]),
             helper.make_node("Gemm", ["f", "W3", "b3"], ["g3"], transB=1),
             helper.make_node("Relu", ["g3"], ["r3"]),
             helper.make_node("Gemm", ["r3", "W4", "b4"], ["Y"], transB=1)]
    graph = helper.make_graph(
        nodes, "convreg", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 1, 20, 20])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 1])],
        [numpy_helper.from_array(a.astype(np.float32), k) for k, a in arrays.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))


def properties(out: Path) -> list[str]:
    import onnxruntime as ort

    from verinet import load
    from verinet.bounds import crown_bounds

    net = load(str(out / "convreg.onnx"))
    sess = ort.InferenceSession(str(out / "convreg.onnx"), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1)
    rows = []
    for k in range(6):
        x0, eps = rng.uniform(0, 1, 400), [0.01, 0.02, 0.03][k % 3]
        lo, hi = x0 - eps, x0 + eps
        low = float(crown_bounds(net, lo[None], hi[None], np.array([[1.0]])).out_lower[0, 0])
        xs = np.where(rng.random((3000, 400)) < 0.5, lo, hi)[:500].astype(np.float32)
        seen = min(float(sess.run(None, {"X": x.reshape(1, 1, 20, 20)})[0][0, 0]) for x in xs)
        for f in (0.5, 0.85):
            name = f"eps_{k}_{int(f * 100)}.vnnlib"
            text = [f"(declare-const X_{i} Real)" for i in range(400)]
            text.append("(declare-const Y_0 Real)")
            for i in range(400):
                text += [f"(assert (>= X_{i} {lo[i]:.8f}))", f"(assert (<= X_{i} {hi[i]:.8f}))"]
            text.append(f"(assert (<= Y_0 {low + f * (seen - low):.8f}))")
            (out / name).write_text("\n".join(text) + "\n")
            rows.append(f"convreg.onnx,{name},60")
    return rows


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    network(out / "convreg.onnx")
    (out / "instances.csv").write_text("\n".join(properties(out)) + "\n")
    print(f"wrote {out}/convreg.onnx, 12 properties, instances.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
