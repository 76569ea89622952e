"""Confirming counterexamples, and writing them out.

A candidate point becomes a :class:`~verinet.result.Counterexample` only if

1. it lies in one of the property's input boxes (it is first moved onto the grid of
   the model's input precision: a float32 ONNX model receives the float32 point,
   rounded *into* the box, so what is reported is exactly what is checked);
2. the float64 forward pass through verinet's IR puts the output in that case's bad
   region (``A_in x + A_out y <= b`` for every row of some conjunction, no tolerance);
3. for ONNX models, onnxruntime running the original file on that same point (in the
   file's own precision) also puts the output in the bad region, with no tolerance.

A candidate failing any check is rejected (and counted by the caller).

One corner: an input whose interval holds no number of the model's precision (a fixed
input such as ``0.1`` in a float32 model) keeps its float64 value; onnxruntime then sees
that value rounded to float32, at most half a float32 ulp outside the interval.  ``.nnet``
models have no second implementation to replay; only check 2 applies to them, and the
counterexample records which checks ran.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .network.ir import Network
from .result import Counterexample
from .spec.property import Case, Property

__all__ = ["CexChecker", "case_margin", "to_input_precision", "write_results_file"]


def case_margin(case: Case, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per point, how deep ``y`` lies in the case's bad region (``>= 0``: inside).

    ``x (B, n_in)``, ``y (B, n_out)``; the box is not checked here.  ``+inf`` for a
    conjunction without rows (always bad), ``-inf`` for a case without conjunctions.
    """
    best = np.full(x.shape[0], -np.inf)
    for conj in case.bad:
        if conj.k == 0:
            return np.full(x.shape[0], np.inf)
        lhs = y @ conj.A_out.T
        if conj.A_in is not None:
            lhs = lhs + x @ conj.A_in.T
        best = np.maximum(best, (conj.b - lhs).min(axis=1))
    return best


def to_input_precision(x: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                       dtype: str) -> np.ndarray:
    """``x`` rounded to ``dtype`` and kept inside ``[lower, upper]`` (returned as float64).

    Returns a point whose entries are exactly representable in ``dtype``; an entry whose
    box contains no such number keeps the float64 value (the caller's check then
    decides).
    """
    x = np.clip(np.asarray(x, dtype=np.float64), lower, upper)
    if dtype == "float64":
        return x
    t = np.dtype(dtype).type
    xr = x.astype(dtype)
    lo_v = xr.astype(np.float64) < lower
    hi_v = xr.astype(np.float64) > upper
    xr = np.where(lo_v, np.nextafter(xr, t(np.inf)), xr)
    xr = np.where(hi_v, np.nextafter(xr, t(-np.inf)), xr)
    out = xr.astype(np.float64)
    bad = (out < lower) | (out > upper)
    return np.where(bad, x, out)


@dataclass
class CexChecker:
    """Confirms candidates for one (network, property) pair; keeps its onnxruntime session."""

    network: Network
    prop: Property
    use_onnxruntime: bool = True
    rejected: int = 0
    _session: Any = field(default=None, repr=False)

    @property
    def onnx_path(self) -> str | None:
        meta = self.network.meta
        if meta.get("format") == "onnx" and meta.get("path") and os.path.isfile(meta["path"]):
            return str(meta["path"])
        return None

    def _ort_outputs(self, x: np.ndarray) -> np.ndarray | None:
        path = self.onnx_path
        if path is None or not self.use_onnxruntime:
            return None
        import onnxruntime as ort

        if self._session is None:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 1
            opts.inter_op_num_threads = 1
            opts.log_severity_level = 3
            self._session = ort.InferenceSession(path, sess_options=opts,
                                                 providers=["CPUExecutionProvider"])
        meta = self.network.meta
        shape = tuple(meta.get("onnx_input_shape", self.network.input_shape))
        feed = x.reshape(shape).astype(meta.get("onnx_input_dtype", "float32"))
        out = self._session.run(None, {meta["onnx_input"]: feed})[0]
        return np.asarray(out, dtype=np.float64).reshape(-1)

    @property
    def input_dtype(self) -> str:
        return str(self.network.meta.get("onnx_input_dtype", "float64"))

    def confirm(self, x: np.ndarray, source: str = "") -> Counterexample | None:
        """The confirmed counterexample at (or next to) ``x``, or ``None``."""
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        for ci, case in enumerate(self.prop.cases):
            lo, hi = case.box.lower, case.box.upper
            if np.any(x < lo - 1e-9) or np.any(x > hi + 1e-9):
                continue
            xp = to_input_precision(x, lo, hi, self.input_dtype)
            if np.any(xp < lo) or np.any(xp > hi):
                continue
            y = self.network.evaluate(xp[None])[0]
            m64 = float(case_margin(case, xp[None], y[None])[0])
            if not m64 >= 0:
                continue
            checks = {"float64": m64}
            y_ort = self._ort_outputs(xp)
            if y_ort is not None:
                m_ort = float(case_margin(case, xp[None], y_ort[None])[0])
                checks["onnxruntime"] = m_ort
                if not m_ort >= 0:
                    continue
            return Counterexample(x=xp, y=y, margin=min(checks.values()), case=ci,
                                  source=source, checks=checks)
        self.rejected += 1
        return None


def write_results_file(path: str | os.PathLike, text: str) -> None:
    """Write a VNN-COMP results file (see :func:`verinet.result.vnncomp_text`)."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
