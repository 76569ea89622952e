"""IR rewrites: an equivalent network whose only nonlinearity is ``Relu``.

:func:`maxpool_to_relu` replaces every ``MaxPool`` by ReLUs through the identity
``max(a, b) = a + relu(b - a)``.  A window of ``k`` entries is reduced pairwise, in
``ceil(log2 k)`` stages; each stage is three operations::

    d = Affine(Concat(x, cur))       b - a for every pair (a, b) of the current values
    r = Relu(d)
    cur' = Affine(Concat(cur, r))    a + r for every pair, odd entries carried over

Padding entries (``-1``) are dropped; a window is first filled up to the widest one
by repeating its first real entry (``max(a, a) = a``, so nothing changes).  The last
stage keeps the ``MaxPool``'s node name, so consumers and the output name are
unchanged.  The rewrite is exact in real arithmetic; in float64 ``a + (b - a)`` may
differ from ``b`` by an ulp.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp

from .ir import Network, NetworkBuilder
from .ops import Affine, Concat, MaxPool, Relu

__all__ = ["maxpool_to_relu", "has_maxpool"]


def has_maxpool(net: Network) -> bool:
    """Whether the network has any ``MaxPool`` operation."""
    return any(isinstance(op, MaxPool) for _, op in net.plan)


def _filled_windows(windows: np.ndarray) -> np.ndarray:
    """``(m, k)`` windows without padding: each ``-1`` replaced by the row's first real entry."""
    first = np.take_along_axis(windows, np.argmax(windows >= 0, axis=1)[:, None], axis=1)
    return np.where(windows >= 0, windows, first)


def _selection(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, shape: tuple[int, int]
               ) -> sp.csr_array:
    return sp.csr_array((vals, (rows, cols)), shape=shape)


def _pool_stages(nb: NetworkBuilder, name: str, src: str, n_src: int, op: MaxPool) -> None:
    """Add the ReLU stages computing ``op`` (reading node ``src``) under ``name``."""
    win = _filled_windows(op.windows)
    m, k = win.shape
    cur_name = f"{name}/max0"
    # stage 0: the window entries, laid out window-major: value (i, j) at i * k + j
    W0 = _selection(np.arange(m * k), win.reshape(-1), np.ones(m * k), (m * k, n_src))
    final = name if k == 1 else cur_name
    nb.add(final, Affine((src,), m * k, W=W0, b=np.zeros(m * k), origin="MaxPool select"),
           (m * k,))
    cur, width, stage = final, k, 0
    while width > 1:
        stage += 1
        pairs, odd = width // 2, width % 2
        size = m * width
        i = np.repeat(np.arange(m), pairs)
        p = np.tile(np.arange(pairs), m)
        a_idx = i * width + 2 * p  # within cur
        b_idx = a_idx + 1
        n_d = m * pairs
        rows = np.arange(n_d)
        # d = b - a over Concat(src, cur): cur entries start at column n_src
        Wd = _selection(np.concatenate([rows, rows]),
                        np.concatenate([n_src + b_idx, n_src + a_idx]),
                        np.concatenate([np.ones(n_d), -np.ones(n_d)]), (n_d, n_src + size))
        cat_d = f"{name}/cat{stage}d"
        nb.add(cat_d, Concat((src, cur), n_src + size), (n_src + size,))
        d = f"{name}/diff{stage}"
        nb.add(d, Affine((cat_d,), n_d, W=Wd, b=np.zeros(n_d), origin="MaxPool diff"), (n_d,))
        r = f"{name}/relu{stage}"
        nb.add(r, Relu((d,), n_d), (n_d,))
        # next = a + r per pair, and the odd last entry carried; over Concat(cur, r)
        new_w = pairs + odd
        out_rows = i * new_w + p
        rr = [out_rows, out_rows]
        cc = [a_idx, size + rows]
        vv = [np.ones(n_d), np.ones(n_d)]
        if odd:
            carry_rows = np.arange(m) * new_w + pairs
            rr.append(carry_rows)
            cc.append(np.arange(m) * width + width - 1)
            vv.append(np.ones(m))
        Wn = _selection(np.concatenate(rr), np.concatenate(cc), np.concatenate(vv),
                        (m * new_w, size + n_d))
        cat_n = f"{name}/cat{stage}n"
        nb.add(cat_n, Concat((cur, r), size + n_d), (size + n_d,))
        width = new_w
        nxt = name if width == 1 else f"{name}/max{stage}"
        nb.add(nxt, Affine((cat_n,), m * width, W=Wn, b=np.zeros(m * width),
                           origin="MaxPool combine"), (m * width,))
        cur = nxt


def maxpool_to_relu(net: Network) -> Network:
    """An equivalent network with every ``MaxPool`` rewritten into Affine/Concat/Relu.

    Returns ``net`` itself when it has no ``MaxPool``.  Other operations are copied (same
    names, same weights, shallow copies of the op objects); no simplification is run, so
    node names of the original network keep their meaning.  Node shapes of a rewritten
    ``MaxPool`` keep the original shape; intermediate nodes are flat.
    """
    if not has_maxpool(net):
        return net
    nb = NetworkBuilder()
    nb.add_input(net.input_name, tuple(net.graph.nodes[net.input_name]["shape"]))
    for name, op in net.plan[1:]:
        shape = tuple(net.graph.nodes[name]["shape"])
        if isinstance(op, MaxPool):
            src = op.inputs[0]
            _pool_stages(nb, name, src, net.op(src).size, op)
            nb.g.nodes[name]["shape"] = shape
        else:
            nb.add(name, dataclasses.replace(op, inputs=tuple(op.inputs)), shape)
    meta = dict(net.meta)
    meta["rewritten"] = "maxpool_to_relu"
    return nb.finish(net.output_name, name=net.name, meta=meta, simplify=False)
