"""A convolution kept as a convolution beside its sparse matrix, for the products that pay.

An ONNX ``Conv`` is imported as an :class:`~verinet.network.ops.Affine` with a scipy CSR
matrix: one entry per use of a weight.  For a convolution with many channels the same
products are cheaper as dense GEMMs over patches (im2col by strided views): the forward
product ``W x`` for many ``x`` at once, and the transposed one ``g W`` (back-substitution:
a GEMM, then one strided add per kernel offset).  :class:`ConvMap` holds both forms and
takes, per direction, the one measured cheaper for its shape (``scripts/conv_products.py``,
2,048 vectors, BLAS on one thread, this 2-core machine):

- marabou-cifar10's ``cifar10_large`` second convolution (32 -> 64 channels, 3x3, 7,200 ->
  2,304 entries): forward 195 ms against 619 ms as CSR (float64), transposed 425 ms
  against 618 ms; in float32 121 against 304 ms and 291 against 308 ms;
- oval21's ``cifar_wide_kw`` second convolution (16 -> 32 channels, 4x4): forward 147
  against 270 ms, transposed 337 against 256 ms (CSR cheaper);
- convolutions with few input channels x kernel entries (< 128) or few output channels:
  CSR as cheap or cheaper both ways.

Hence the rule: forward as a convolution when ``C_in kh kw >= 128`` and ``C_out >= 32``;
transposed when ``C_in kh kw >= 256`` and ``C_out >= 64``; CSR otherwise.  Both forms are
the same linear map (checked on random vectors when the map is made; a mismatch keeps CSR
alone); a sum of products in another order is covered by the rounding margins of the
bounds, which allow any order of at most the row's number of terms.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["ConvMap", "conv_map"]

#: the forward / transposed products go through the convolution from these sizes on
FORWARD_MIN = (128, 32)
TRANSPOSED_MIN = (256, 64)


@dataclass(eq=False)
class ConvMap:
    """A 2-D convolution (one group, no dilation) on flat C-order vectors, with its CSR
    matrix ``csr`` (``(m, n)``).  ``forward(x)``: ``x @ W.T`` for ``x`` ``(B, n)``;
    ``backward(g)``: ``g @ W`` for ``g`` ``(B, m)``."""

    csr: object
    kernel: np.ndarray  # (C_out, C_in, kh, kw)
    strides: tuple[int, int]
    pads: tuple[int, int, int, int]  # top, left, bottom, right
    in_shape: tuple[int, int, int]  # (C_in, H, W)
    out_shape: tuple[int, int, int]  # (C_out, Ho, Wo)
    fast_forward: bool = False
    fast_backward: bool = False
    _typed: dict = field(default_factory=dict, repr=False)

    @property
    def shape(self) -> tuple[int, int]:
        return self.csr.shape

    @property
    def nnz(self) -> int:
        return int(self.csr.nnz)

    def astype(self, dtype) -> ConvMap:
        """The same map in ``dtype`` (cached)."""
        dt = np.dtype(dtype)
        if dt == self.kernel.dtype:
            return self
        got = self._typed.get(dt)
        if got is None:
            got = self._typed[dt] = ConvMap(self.csr.astype(dt), self.kernel.astype(dt),
                                            self.strides, self.pads, self.in_shape,
                                            self.out_shape, self.fast_forward,
                                            self.fast_backward)
        return got

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not self.fast_forward:
            return np.asarray((self.csr @ x.T).T)
        from numpy.lib.stride_tricks import sliding_window_view

        B = x.shape[0]
        (t, lft, bot, rgt), (sh, sw) = self.pads, self.strides
        xi = x.reshape((B,) + self.in_shape).astype(self.kernel.dtype, copy=False)
        if any(self.pads):
            xi = np.pad(xi, ((0, 0), (0, 0), (t, bot), (lft, rgt)))
        _, Ho, Wo = self.out_shape
        v = sliding_window_view(xi, self.kernel.shape[2:], axis=(2, 3))
        v = v[:, :, :sh * (Ho - 1) + 1:sh, :sw * (Wo - 1) + 1:sw]  # (B, C, Ho, Wo, kh, kw)
        y = np.tensordot(v, self.kernel, axes=([1, 4, 5], [1, 2, 3]))  # (B, Ho, Wo, Co)
        return np.ascontiguousarray(y.transpose(0, 3, 1, 2)).reshape(B, -1)

    def backward(self, g: np.ndarray) -> np.ndarray:
        if not self.fast_backward:
            return np.asarray((self.csr.T @ g.T).T)
        B = g.shape[0]
        (C, H, W), (Co, Ho, Wo) = self.in_shape, self.out_shape
        (t, lft, bot, rgt), (sh, sw) = self.pads, self.strides
        kh, kw = self.kernel.shape[2:]
        cols = np.tensordot(g.reshape(B, Co, Ho, Wo).astype(self.kernel.dtype, copy=False),
                            self.kernel, axes=([1], [0]))  # (B, Ho, Wo, C, kh, kw)
        out = np.zeros((B, C, H + t + bot, W + lft + rgt), dtype=cols.dtype)
        for i in range(kh):
            for j in range(kw):
                out[:, :, i:i + sh * (Ho - 1) + 1:sh, j:j + sw * (Wo - 1) + 1:sw] += \
                    cols[:, :, :, :, i, j].transpose(0, 3, 1, 2)
        return np.ascontiguousarray(out[:, :, t:t + H, lft:lft + W]).reshape(B, -1)


def conv_map(csr, kernel: np.ndarray, strides, pads, in_shape, out_shape) -> ConvMap | None:
    """A :class:`ConvMap` for a convolution whose CSR matrix is ``csr``, when some product
    is cheaper as a convolution (see the module docstring) and both forms agree on random
    vectors; else None (CSR alone)."""
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 4 or len(in_shape) != 3 or len(out_shape) != 3:
        return None
    patch, c_out = int(np.prod(kernel.shape[1:])), int(kernel.shape[0])
    fwd = patch >= FORWARD_MIN[0] and c_out >= FORWARD_MIN[1]
    bwd = patch >= TRANSPOSED_MIN[0] and c_out >= TRANSPOSED_MIN[1]
    if not (fwd or bwd):
        return None
    cm = ConvMap(csr, kernel, tuple(int(s) for s in strides), tuple(int(p) for p in pads),
                 tuple(int(d) for d in in_shape), tuple(int(d) for d in out_shape),
                 True, True)
    rng = np.random.default_rng(0)
    m, n = csr.shape
    x, g = rng.standard_normal((2, n)), rng.standard_normal((2, m))
    ref_f, ref_b = np.asarray((csr @ x.T).T), np.asarray((csr.T @ g.T).T)
    try:
        ok = (np.allclose(cm.forward(x), ref_f, rtol=1e-9, atol=1e-9 * np.abs(ref_f).max())
              and np.allclose(cm.backward(g), ref_b, rtol=1e-9,
                              atol=1e-9 * np.abs(ref_b).max()))
    except ValueError:
        ok = False
    if not ok:
        return None
    cm.fast_forward, cm.fast_backward = fwd, bwd
    return cm
