"""Build the digits robustness benchmark in ``benchmarks/digits/``.

A fully connected ReLU classifier (64-32-16-10) on scikit-learn's bundled 8x8 digits
(pixel values scaled to [0, 1]), trained deterministically with plain numpy (Adam on the
softmax cross-entropy, fixed seed, float64), exported as ONNX (Gemm + Relu, float32
weights, input ``[1, 64]``), plus L-infinity robustness properties around the first
correctly classified test images at a few radii::

    benchmarks/digits/digits.onnx                  the classifier
    benchmarks/digits/img{i}_eps{e}.vnnlib         "the class changes on the ball"
    benchmarks/digits/instances.csv                onnx,vnnlib,timeout_seconds (no header)
    benchmarks/digits/README.md                    data, training and accuracy

scikit-learn is needed only here, for the dataset (the ``dev`` extra).  The script is
deterministic: running it again writes identical bytes.

Usage::

    python scripts/make_digits.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from verinet.network.onnx_import import load_onnx  # noqa: E402
from verinet.spec.robustness import robustness  # noqa: E402
from verinet.spec.vnnlib import write_vnnlib  # noqa: E402

SEED = 20240612
LAYERS = (64, 32, 16, 10)
EPOCHS = 60
BATCH = 32
LR = 3e-3
N_TEST = 397
IMAGES = 5
EPSILONS = (0.02, 0.03, 0.04, 0.05, 0.1)
TIMEOUT_SECONDS = 60
OUT = ROOT / "benchmarks" / "digits"


def load_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = d.data.astype(np.float64) / 16.0
    y = d.target.astype(np.int64)
    order = np.random.default_rng(SEED).permutation(len(y))
    x, y = x[order], y[order]
    return x[N_TEST:], y[N_TEST:], x[:N_TEST], y[:N_TEST]


def forward(params: list[tuple[np.ndarray, np.ndarray]], x: np.ndarray) -> list[np.ndarray]:
    acts = [x]
    for i, (W, b) in enumerate(params):
        z = acts[-1] @ W.T + b
        acts.append(np.maximum(z, 0.0) if i < len(params) - 1 else z)
    return acts


def train(x: np.ndarray, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(SEED)
    params = [(rng.standard_normal((o, i)) * np.sqrt(2.0 / i), np.zeros(o))
              for i, o in zip(LAYERS[:-1], LAYERS[1:])]
    m = [(np.zeros_like(W), np.zeros_like(b)) for W, b in params]
    v = [(np.zeros_like(W), np.zeros_like(b)) for W, b in params]
    step = 0
    for _ in range(EPOCHS):
        order = rng.permutation(len(y))
        for s in range(0, len(y), BATCH):
            idx = order[s:s + BATCH]
            acts = forward(params, x[idx])
            logits = acts[-1]
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            g = p
            g[np.arange(len(idx)), y[idx]] -= 1.0
            g /= len(idx)
            step += 1
            for li in range(len(params) - 1, -1, -1):
                W, b = params[li]
                gW, gb = g.T @ acts[li], g.sum(axis=0)
                if li > 0:
                    g = (g @ W) * (acts[li] > 0)
                for k, (grad, par) in enumerate(((gW, W), (gb, b))):
                    mk = 0.9 * m[li][k] + 0.1 * grad
                    vk = 0.999 * v[li][k] + 0.001 * grad * grad
                    m[li] = (mk, m[li][1]) if k == 0 else (m[li][0], mk)
                    v[li] = (vk, v[li][1]) if k == 0 else (v[li][0], vk)
                    par -= LR * (mk / (1 - 0.9 ** step)) / (np.sqrt(vk / (1 - 0.999 ** step))
                                                            + 1e-8)
    return params


def to_onnx(params: list[tuple[np.ndarray, np.ndarray]]) -> onnx.ModelProto:
    nodes, inits = [], []
    prev = "input"
    for i, (W, b) in enumerate(params):
        inits += [numpy_helper.from_array(W.astype(np.float32), f"W{i}"),
                  numpy_helper.from_array(b.astype(np.float32), f"b{i}")]
        out = "output" if i == len(params) - 1 else f"z{i}"
        nodes.append(helper.make_node("Gemm", [prev, f"W{i}", f"b{i}"], [out], name=f"Gemm_{i}",
                                      transB=1))
        if i < len(params) - 1:
            nodes.append(helper.make_node("Relu", [out], [f"h{i}"], name=f"Relu_{i}"))
            prev = f"h{i}"
    graph = helper.make_graph(
        nodes, "digits",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, LAYERS[0]])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, LAYERS[-1]])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="verinet make_digits.py")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main() -> int:
    x_tr, y_tr, x_te, y_te = load_data()
    params = train(x_tr, y_tr)
    OUT.mkdir(parents=True, exist_ok=True)
    onnx_path = OUT / "digits.onnx"
    onnx.save(to_onnx(params), onnx_path)
    net = load_onnx(onnx_path)  # the float32 weights, as verified
    acc_tr = float((net.evaluate(x_tr).argmax(axis=1) == y_tr).mean())
    pred = net.evaluate(x_te).argmax(axis=1)
    acc_te = float((pred == y_te).mean())
    rows = []
    chosen = [int(i) for i in np.flatnonzero(pred == y_te)[:IMAGES]]
    for i in chosen:
        for eps in EPSILONS:
            prop = robustness(x_te[i], eps, int(y_te[i]), lower=0.0, upper=1.0,
                              network=net)
            name = f"img{i}_eps{eps:g}.vnnlib"
            write_vnnlib(prop, OUT / name)
            rows.append(f"digits.onnx,{name},{TIMEOUT_SECONDS}")
    (OUT / "instances.csv").write_text("\n".join(rows) + "\n")
    (OUT / "README.md").write_text(
        "# digits\n\n"
        "A 64-32-16-10 ReLU classifier on scikit-learn's 8x8 digits (pixels / 16, in [0, 1]),\n"
        f"trained by `scripts/make_digits.py` (numpy Adam, {EPOCHS} epochs, seed {SEED}).\n"
        f"Train accuracy {acc_tr:.4f}, test accuracy {acc_te:.4f} on {N_TEST} held-out images.\n\n"
        f"Properties: L-infinity robustness around test images {chosen} at eps {EPSILONS}\n"
        "(bad region: some other class scores at least the true class), clipped to [0, 1].\n")
    print(f"train accuracy {acc_tr:.4f}, test accuracy {acc_te:.4f}; images {chosen}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
