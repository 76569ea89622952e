"""Numpy implementations of ONNX tensor operations on *batched* per-sample tensors.

The ONNX importer evaluates linear operators on a batch of probe tensors to read
off their matrices exactly (each probe is a unit vector, so every entry of the
result is one product of a weight with 1 or 0).  Arrays here carry one extra
leading axis, the probe batch; ``shape`` arguments are per-sample shapes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["align", "conv", "pool_windows", "spatial_pads", "reshape_target"]


def align(x: np.ndarray, rank: int) -> np.ndarray:
    """Insert unit axes after the batch axis so the per-sample rank becomes ``rank``."""
    extra = rank - (x.ndim - 1)
    assert extra >= 0, f"cannot align rank {x.ndim - 1} to {rank}"
    return x.reshape((x.shape[0],) + (1,) * extra + x.shape[1:])


def spatial_pads(in_spatial: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                 dilations: Sequence[int], pads: Sequence[int] | None, auto_pad: str
                 ) -> list[int]:
    """ONNX ``pads`` (all begins, then all ends) after resolving ``auto_pad``."""
    nd = len(in_spatial)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        out = []
        begins, ends = [], []
        for i in range(nd):
            eff = (kernel[i] - 1) * dilations[i] + 1
            o = -(-in_spatial[i] // strides[i])
            total = max((o - 1) * strides[i] + eff - in_spatial[i], 0)
            small = total // 2
            big = total - small
            begins.append(small if auto_pad == "SAME_UPPER" else big)
            ends.append(big if auto_pad == "SAME_UPPER" else small)
            out.append(o)
        return begins + ends
    if auto_pad == "VALID":
        return [0] * (2 * nd)
    return list(pads) if pads is not None else [0] * (2 * nd)


def _windows(xp: np.ndarray, kernel, strides, dilations, out_sizes) -> np.ndarray:
    """Sliding windows over the trailing ``nd`` axes: ``(..., *out, *kernel)``."""
    nd = len(kernel)
    eff = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    axes = tuple(range(xp.ndim - nd, xp.ndim))
    win = sliding_window_view(xp, eff, axis=axes)
    sl = (Ellipsis,) + tuple(slice(0, o * s, s) for o, s in zip(out_sizes, strides)) + tuple(
        slice(None, None, d) for d in dilations)
    return win[sl]


def conv(x: np.ndarray, w: np.ndarray, pads: Sequence[int], strides: Sequence[int],
         dilations: Sequence[int], group: int) -> np.ndarray:
    """Cross-correlation as ONNX ``Conv`` without bias.

    ``x``: ``(B, C, *spatial)``; ``w``: ``(M, C // group, *kernel)``; 1 or 2 spatial dims.
    """
    nd = w.ndim - 2
    kernel = w.shape[2:]
    xp = np.pad(x, [(0, 0), (0, 0)] + [(pads[i], pads[i + nd]) for i in range(nd)])
    out = [(xp.shape[2 + i] - ((kernel[i] - 1) * dilations[i] + 1)) // strides[i] + 1
           for i in range(nd)]
    win = _windows(xp, kernel, strides, dilations, out)  # (B, C, *out, *kernel)
    B, C = x.shape[:2]
    M = w.shape[0]
    win = win.reshape((B, group, C // group) + win.shape[2:])
    wg = w.reshape((group, M // group) + w.shape[1:])
    if nd == 1:
        y = np.einsum("bgcxi,gmci->bgmx", win, wg, optimize=True)
    else:
        y = np.einsum("bgcxyij,gmcij->bgmxy", win, wg, optimize=True)
    return y.reshape((B, M) + tuple(out))


def pool_out_size(n: int, k: int, s: int, d: int, pb: int, pe: int, ceil_mode: bool) -> int:
    eff = (k - 1) * d + 1
    span = n + pb + pe - eff
    o = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (o - 1) * s >= n + pb:
        o -= 1  # the last window must start inside the input or its leading padding
    return max(o, 0)


def pool_windows(shape: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                 dilations: Sequence[int], pads: Sequence[int], ceil_mode: bool,
                 pad_index: int = -1) -> tuple[np.ndarray, tuple[int, ...]]:
    """Flat input indices of each pooling window, negative for padding.

    ``shape`` is the per-sample input shape ``(..., *spatial)``; returns
    ``(windows (n_out, prod(kernel)), out_shape)``.  Entries in the explicit
    ``pads`` read ``pad_index``; entries beyond them (the overhang of the last
    window in ceil mode) read ``-1``.
    """
    nd = len(kernel)
    spatial = shape[-nd:]
    idx = np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)
    out = [pool_out_size(spatial[i], kernel[i], strides[i], dilations[i], pads[i],
                         pads[i + nd], ceil_mode) for i in range(nd)]
    extra = []
    for i in range(nd):
        eff = (kernel[i] - 1) * dilations[i] + 1
        need = (out[i] - 1) * strides[i] + eff - (spatial[i] + pads[i] + pads[i + nd])
        extra.append(max(need, 0))
    lead = [(0, 0)] * (len(shape) - nd)
    xp = np.pad(idx, lead + [(pads[i], pads[i + nd]) for i in range(nd)],
                constant_values=pad_index)
    xp = np.pad(xp, lead + [(0, extra[i]) for i in range(nd)], constant_values=-1)
    win = _windows(xp, kernel, strides, dilations, out)
    out_shape = tuple(shape[:-nd]) + tuple(out)
    return win.reshape(int(np.prod(out_shape)), -1), out_shape


def reshape_target(in_shape: Sequence[int], target: Sequence[int], allowzero: bool
                   ) -> tuple[int, ...]:
    """ONNX ``Reshape`` target shape with ``0`` (copy) and ``-1`` (infer) resolved."""
    out = []
    for i, t in enumerate(int(v) for v in target):
        if t == 0 and not allowzero:
            out.append(int(in_shape[i]))
        else:
            out.append(t)
    if out.count(-1) > 1:
        raise ValueError(f"at most one -1 allowed in a reshape target, got {list(target)}")
    total = int(np.prod(in_shape))
    if -1 in out:
        known = int(np.prod([v for v in out if v != -1]))
        if known == 0 or total % known:
            raise ValueError(f"cannot reshape {tuple(in_shape)} to {list(target)}")
        out[out.index(-1)] = total // known
    if int(np.prod(out)) != total:
        raise ValueError(f"cannot reshape {tuple(in_shape)} ({total} entries) to {out}")
    return tuple(out)
