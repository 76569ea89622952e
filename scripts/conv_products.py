"""Convolutions as sparse matrices or as convolutions: the products the bounds pay, timed.

    python scripts/conv_products.py MODEL.onnx [MODEL.onnx ...] [--rows 2048] [--out FILE.md]

verinet imports a Conv layer as a scipy CSR matrix (one entry per weight use).  The bounds
multiply it by many vectors at once: forward (``W @ X``, the points and the ascent's
passes) and transposed (``L @ W``, back-substitution).  For every Conv node of each model
this times both products for ``--rows`` vectors, in float64 (the sound bounds) and float32
(the guidance), as CSR and as a convolution written with numpy (im2col by strided views,
then one GEMM; col2im by a strided add per kernel offset), BLAS on one thread as in
``verify``; the two give the same values (checked).  Median of 5 runs each.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np


def _conv_nodes(path: str):
    import onnx
    from onnx import numpy_helper, shape_inference

    model = shape_inference.infer_shapes(onnx.load(path))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(model.graph.value_info) + list(model.graph.input)}
    for node in model.graph.node:
        if node.op_type != "Conv" or node.input[1] not in inits:
            continue
        a = {x.name: onnx.helper.get_attribute_value(x) for x in node.attribute}
        K = inits[node.input[1]].astype(np.float64)
        if K.ndim != 4 or a.get("group", 1) != 1 or any(d != 1 for d in a.get("dilations", [1, 1])):
            continue
        ishape = shapes.get(node.input[0])
        if not ishape or len(ishape) != 4:
            continue
        yield node.name or node.output[0], K, list(a.get("strides", [1, 1])), \
            list(a.get("pads", [0, 0, 0, 0])), tuple(ishape[1:])


class Conv:
    """A 2-D convolution (no groups, no dilation) on flat C-order vectors."""

    def __init__(self, K: np.ndarray, strides, pads, ishape):
        self.K, self.s, self.p, self.ishape = K, strides, pads, ishape
        C, H, W = ishape
        kh, kw = K.shape[2:]
        self.oshape = (K.shape[0], (H + pads[0] + pads[2] - kh) // strides[0] + 1,
                       (W + pads[1] + pads[3] - kw) // strides[1] + 1)

    def astype(self, dt):
        return Conv(self.K.astype(dt), self.s, self.p, self.ishape)

    def forward(self, x: np.ndarray) -> np.ndarray:
        from numpy.lib.stride_tricks import sliding_window_view

        B = x.shape[0]
        p, s = self.p, self.s
        xi = np.pad(x.reshape((B,) + self.ishape), ((0, 0), (0, 0), (p[0], p[2]), (p[1], p[3])))
        v = sliding_window_view(xi, self.K.shape[2:], axis=(2, 3))[:, :, ::s[0], ::s[1]]
        y = np.tensordot(v, self.K, axes=([1, 4, 5], [1, 2, 3]))  # B Ho Wo Co
        return y.transpose(0, 3, 1, 2).reshape(B, -1)

    def backward(self, g: np.ndarray) -> np.ndarray:
        B = g.shape[0]
        (C, H, W), (Co, Ho, Wo), p, s = self.ishape, self.oshape, self.p, self.s
        kh, kw = self.K.shape[2:]
        cols = np.tensordot(g.reshape(B, Co, Ho, Wo), self.K, axes=([1], [0]))
        out = np.zeros((B, C, H + p[0] + p[2], W + p[1] + p[3]), g.dtype)
        for i in range(kh):
            for j in range(kw):
                out[:, :, i:i + s[0] * (Ho - 1) + 1:s[0], j:j + s[1] * (Wo - 1) + 1:s[1]] += \
                    cols[..., i, j].transpose(0, 3, 1, 2)
        return out[:, :, p[0]:p[0] + H, p[1]:p[1] + W].reshape(B, -1)

    def csr(self):
        import scipy.sparse as sp

        n = int(np.prod(self.ishape))
        cols = []
        for s0 in range(0, n, 512):
            E = np.zeros((min(512, n - s0), n))
            E[np.arange(E.shape[0]), s0 + np.arange(E.shape[0])] = 1.0
            cols.append(sp.csr_array(self.forward(E)))
        return sp.vstack(cols).T.tocsr()


def _time(fn, reps: int = 5) -> float:
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def main() -> int:
    from threadpoolctl import threadpool_limits

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--rows", type=int, default=2048)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    lines = ["| model | Conv | in -> out | float | forward CSR | forward conv | "
             "transposed CSR | transposed conv |", "|---|---|---|---|---|---|---|---|"]
    rng = np.random.default_rng(0)
    with threadpool_limits(limits=1, user_api="blas"):
        for path in args.models:
            for name, K, s, p, ishape in _conv_nodes(path):
                conv = Conv(K, s, p, ishape)
                W = conv.csr()
                m, n = W.shape
                for dt in (np.float64, np.float32):
                    Wd, cd = W.astype(dt), conv.astype(dt)
                    X = rng.standard_normal((args.rows, n)).astype(dt)
                    G = rng.standard_normal((args.rows, m)).astype(dt)
                    tol = 1e-9 if dt == np.float64 else 1e-3
                    f1, f2 = (Wd @ X.T).T, cd.forward(X)
                    b1, b2 = (Wd.T @ G.T).T, cd.backward(G)
                    assert np.allclose(f1, f2, atol=tol * np.abs(f1).max()), name
                    assert np.allclose(b1, b2, atol=tol * np.abs(b1).max()), name
                    t = [_time(lambda W=Wd, X=X: (W @ X.T).T),
                         _time(lambda c=cd, X=X: c.forward(X)),
                         _time(lambda W=Wd, G=G: (W.T @ G.T).T),
                         _time(lambda c=cd, G=G: c.backward(G))]
                    lines.append(f"| {Path(path).stem} | {name} | {n} -> {m} | "
                                 f"{np.dtype(dt).name} | " +
                                 " | ".join(f"{x * 1000:.0f} ms" for x in t) + " |")
                    print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
