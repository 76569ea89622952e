"""The operations of verinet's network IR.

Every value in the IR is a *flat* float64 vector per sample: a node of (per-sample)
shape ``S`` is carried as an array of shape ``(B, prod(S))`` in C order, where ``B``
is the batch of samples evaluated together.  Reshapes, flattens, transposes,
slices and the like are therefore not operations of their own: they are index maps,
folded into the neighbouring :class:`Affine` at import time.

The IR has six kinds of operation, and every engine (evaluation, gradients, bounds,
LP encoding, z3) handles exactly these:

========== ==================================================================
``Input``   the network input, ``n`` entries
``Affine``  ``y = W x + b``; ``W`` is a dense ``(m, n)`` array or a scipy
            CSR sparse array (convolutions, index maps)
``Relu``    ``y = max(x, 0)`` element-wise
``Sum``     ``y = x_1 + ... + x_k`` (residual connections), equal sizes
``Concat``  ``y = [x_1; ...; x_k]``, the flat concatenation in input order
``MaxPool`` ``y_i = max_j x[windows[i, j]]``; index ``-1`` marks padding
========== ==================================================================
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

__all__ = ["Op", "Input", "Affine", "Relu", "Sum", "Concat", "MaxPool", "Matrix", "matvec_batch",
           "issparse", "gamma32", "UNDERFLOW"]

#: a weight matrix: a dense array or a scipy CSR sparse array
Matrix = "np.ndarray | scipy.sparse.csr_array"


def issparse(W) -> bool:
    """Whether ``W`` is a scipy sparse array, without importing scipy: a network with no
    sparse map (every fully-connected one) never loads ``scipy.sparse``, a tenth of a
    second of start-up."""
    sp = sys.modules.get("scipy.sparse")
    return sp is not None and sp.issparse(W)


def matvec_batch(W: Matrix, x: np.ndarray) -> np.ndarray:
    """``x @ W.T`` for a batch ``x`` of shape ``(B, n)``; returns ``(B, m)`` dense.  ``W``
    may be a :class:`~verinet.network.convmap.ConvMap` (``Affine.linear``)."""
    if issparse(W):
        return np.asarray((W @ x.T).T)
    if not isinstance(W, np.ndarray):
        return W.forward(x)
    return x @ W.T


def vecmat_batch(g: np.ndarray, W: Matrix) -> np.ndarray:
    """``g @ W`` for ``g`` of shape ``(B, m)``; returns ``(B, n)`` dense."""
    if issparse(W):
        return np.asarray((W.T @ g.T).T)
    if not isinstance(W, np.ndarray):
        return W.backward(g)
    return g @ W


@dataclass(eq=False)
class Op:
    """Base of IR operations.  ``inputs`` names the producing nodes, in order."""

    inputs: tuple[str, ...]
    size: int  # number of output entries per sample
    kind: ClassVar[str] = "Op"

    def forward(self, *xs: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, g: np.ndarray, xs: tuple[np.ndarray, ...], y: np.ndarray
                 ) -> tuple[np.ndarray, ...]:  # pragma: no cover - abstract
        """Vector-Jacobian product: given ``g = dL/dy`` return ``dL/dx_i`` for each input."""
        raise NotImplementedError

    def describe(self) -> str:
        return self.kind


@dataclass(eq=False)
class Input(Op):
    kind: ClassVar[str] = "Input"

    def forward(self, *xs: np.ndarray) -> np.ndarray:
        raise AssertionError("Input has no forward rule; the network feeds it")


def gamma32(n: int, u: float = 2.0 ** -24) -> float:
    """A bound on the relative error of a sum of ``n`` terms (products or not) in floating
    point with unit roundoff ``u`` (float32: ``2^-24``), in any order, with or without fused
    multiply-adds: ``n u / (1 - n u)``, padded up for the float64 arithmetic that uses it."""
    return 1.01 * n * u / (1.0 - n * u)


#: Absolute error of one rounding that underflows, by unit roundoff: IEEE gradual underflow
#: loses at most half the smallest subnormal (float32 ``2^-150``, float64 ``2^-1075``); one
#: subnormal spacing is allowed.  Flush-to-zero/denormals-are-zero (not onnxruntime's default:
#: the session option ``session.set_denormal_as_zero``) is outside the model.
UNDERFLOW = {2.0 ** -24: 2.0 ** -149, 2.0 ** -53: 2.0 ** -1074}


@dataclass(eq=False)
class Affine(Op):
    """``y = W x + b`` with ``W`` of shape ``(size, n_in)``.

    ``err_rho``, ``err_M``, ``err_e0``: how far the source operators, run in float32, may
    land from ``W x + b``: per entry at most ``err_rho * (M @ |x|) + err_e0`` with ``M`` =
    ``err_M`` (``|W|`` when ``None``) and ``|x|`` any bound on the input's magnitude (see
    :meth:`float_error`).  ``err_rho == 0``: exact (index maps, verinet's own rewrites).
    """

    W: Matrix = field(default=None)  # type: ignore[assignment]
    b: np.ndarray = field(default=None)  # type: ignore[assignment]
    origin: str = ""  # the source operators folded into this map, for display
    err_rho: float = 0.0
    err_M: Matrix | None = None
    err_e0: np.ndarray | None = None
    conv: object = None  # a ConvMap of ``W`` when ``W`` is a convolution worth it
    kind: ClassVar[str] = "Affine"

    def linear(self, dtype=None):
        """``W`` for products (:func:`matvec_batch`, :func:`vecmat_batch`): its
        :class:`~verinet.network.convmap.ConvMap` when it has one, in ``dtype`` if given."""
        if self.conv is not None:
            return self.conv if dtype is None else self.conv.astype(dtype)
        return self.W if dtype is None else self.W.astype(dtype)

    @property
    def has_error(self) -> bool:
        return self.err_rho > 0 or self.err_e0 is not None

    def error_matrix(self) -> Matrix:
        """``M`` of the error bound (``|W|`` unless the map was folded)."""
        if self.err_M is not None:
            return self.err_M
        if getattr(self, "_absW", None) is None:
            self._absW = abs(self.W)
        return self._absW

    def float_error(self, mag: np.ndarray) -> np.ndarray:
        """``(B, size)``: the float32 evaluation error bound for inputs with ``|x| <= mag``
        (``(B, n_in)``), rounded up; zeros for an exact map."""
        out = np.zeros((mag.shape[0], self.size))
        if self.err_rho > 0:
            with np.errstate(over="ignore", invalid="ignore"):
                out = self.err_rho * matvec_batch(self.error_matrix(), mag) * (1 + 1e-12)
        if self.err_e0 is not None:
            out = out + self.err_e0
        return np.where(np.isnan(out), np.inf, out)

    def __post_init__(self) -> None:
        assert self.W.ndim == 2, f"Affine weight must be 2-D, got shape {self.W.shape}"
        assert self.W.shape[0] == self.size == self.b.shape[0], (
            f"Affine shapes disagree: W {self.W.shape}, b {self.b.shape}, size {self.size}")

    @property
    def n_in(self) -> int:
        return int(self.W.shape[1])

    @property
    def is_sparse(self) -> bool:
        return issparse(self.W)

    def dense_W(self) -> np.ndarray:
        return self.W.toarray() if issparse(self.W) else self.W

    def forward(self, *xs: np.ndarray) -> np.ndarray:
        return matvec_batch(self.linear(), xs[0]) + self.b

    def backward(self, g, xs, y):
        return (vecmat_batch(g, self.linear()),)

    def describe(self) -> str:
        store = f"sparse, {self.W.nnz} nonzeros" if self.is_sparse else "dense"
        if self.conv is not None:
            store += ", products as a convolution"
        src = f" from {self.origin}" if self.origin else ""
        return f"Affine {self.n_in} -> {self.size} ({store}){src}"


@dataclass(eq=False)
class Relu(Op):
    kind: ClassVar[str] = "Relu"

    def forward(self, *xs: np.ndarray) -> np.ndarray:
        return np.maximum(xs[0], 0.0)

    def backward(self, g, xs, y):
        return (g * (xs[0] > 0),)

    def describe(self) -> str:
        return f"Relu ({self.size})"


@dataclass(eq=False)
class Sum(Op):
    """``y = x_1 + ... + x_k``; run in float32 it lands within ``err_rho * sum |x_i|``."""

    err_rho: float = 0.0
    kind: ClassVar[str] = "Sum"

    def forward(self, *xs: np.ndarray) -> np.ndarray:
        out = xs[0].copy()
        for x in xs[1:]:
            out += x
        return out

    def backward(self, g, xs, y):
        return tuple(g for _ in xs)

    def describe(self) -> str:
        return f"Sum of {len(self.inputs)} ({self.size})"


@dataclass(eq=False)
class Concat(Op):
    kind: ClassVar[str] = "Concat"

    def forward(self, *xs: np.ndarray) -> np.ndarray:
        return np.concatenate(xs, axis=1)

    def backward(self, g, xs, y):
        cuts = np.cumsum([x.shape[1] for x in xs])[:-1]
        return tuple(np.split(g, cuts, axis=1))

    def describe(self) -> str:
        return f"Concat of {len(self.inputs)} ({self.size})"


@dataclass(eq=False)
class MaxPool(Op):
    """``y_i = max_j x[windows[i, j]]``; entries ``-1`` in ``windows`` are padding (ignored)."""

    windows: np.ndarray = field(default=None)  # type: ignore[assignment]
    kind: ClassVar[str] = "MaxPool"

    def __post_init__(self) -> None:
        assert self.windows.ndim == 2 and self.windows.shape[0] == self.size, (
            f"MaxPool windows must be ({self.size}, k), got {self.windows.shape}")
        assert (self.windows >= 0).any(axis=1).all(), "every MaxPool window needs a real entry"

    def _padded(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = x.shape[1]
        xp = np.concatenate([x, np.full((x.shape[0], 1), -np.inf)], axis=1)
        idx = np.where(self.windows < 0, n, self.windows)
        return xp, idx

    def forward(self, *xs: np.ndarray) -> np.ndarray:
        xp, idx = self._padded(xs[0])
        return xp[:, idx].max(axis=2)

    def backward(self, g, xs, y):
        x = xs[0]
        xp, idx = self._padded(x)
        arg = xp[:, idx].argmax(axis=2)  # (B, m)
        src = idx[np.arange(idx.shape[0])[None, :], arg]  # (B, m)
        gx = np.zeros((x.shape[0], x.shape[1] + 1))
        rows = np.broadcast_to(np.arange(x.shape[0])[:, None], src.shape)
        np.add.at(gx, (rows, src), g)
        return (gx[:, :-1],)

    def describe(self) -> str:
        return f"MaxPool {self.windows.shape[1]}-window ({self.size})"
