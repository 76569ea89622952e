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
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import InputError
from .network.ir import Network
from .result import Counterexample
from .spec.property import Case, Property

__all__ = ["CexChecker", "Replay", "case_margin", "box_margin", "replay", "to_input_precision",
           "read_results_file", "write_results_file"]


def case_margin(case: Case, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per point, how deep ``y`` lies in the case's bad region (``>= 0``: inside; a strict
    row counts only when met strictly, see :meth:`Conjunction.slack`).

    ``x (B, n_in)``, ``y (B, n_out)``; the box is not checked here.  ``+inf`` for a
    conjunction without rows (always bad), ``-inf`` for a case without conjunctions.
    """
    best = np.full(x.shape[0], -np.inf)
    for conj in case.bad:
        if conj.k == 0:
            return np.full(x.shape[0], np.inf)
        best = np.maximum(best, conj.slack(x, y).min(axis=1))  # strict rows: > 0 needed
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
        """onnxruntime's outputs on flat ``x`` (in the file's input dtype), or ``None``."""
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


def box_margin(case: Case, x: np.ndarray) -> float:
    """How deep flat ``x`` lies in ``case.box``: ``min(x - lower, upper - x)`` (``>= 0``: in)."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    return float(np.minimum(x - case.box.lower, case.box.upper - x).min())


@dataclass
class Replay:
    """An independent re-run of one point against a property, for every case.

    ``box_margins[c]`` is :func:`box_margin` for case ``c``; ``margins[c]`` maps each
    implementation that ran (``"float64"``, ``"onnxruntime"``) to :func:`case_margin`
    of its outputs.  ``y`` are the float64 outputs.
    """

    x: np.ndarray
    y: np.ndarray
    box_margins: list[float]
    margins: list[dict[str, float]]

    def valid_case(self) -> int | None:
        """The first case whose box holds ``x`` and whose bad region every run reaches."""
        for c, (bm, ms) in enumerate(zip(self.box_margins, self.margins)):
            if bm >= 0 and all(m >= 0 for m in ms.values()):
                return c
        return None


def replay(checker: CexChecker, x: np.ndarray) -> Replay:
    """Re-run flat ``x`` exactly as given (no rounding into the box) in float64 and,
    for ONNX models, onnxruntime; margins per case, no tolerance."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    y = checker.network.evaluate(x[None])[0]
    y_ort = checker._ort_outputs(x)
    box_margins, margins = [], []
    for case in checker.prop.cases:
        box_margins.append(box_margin(case, x))
        ms = {"float64": float(case_margin(case, x[None], y[None])[0])}
        if y_ort is not None:
            ms["onnxruntime"] = float(case_margin(case, x[None], y_ort[None])[0])
        margins.append(ms)
    return Replay(x, y, box_margins, margins)


_STATUS_WORDS = ("sat", "unsat", "unknown", "timeout", "error")
_TOKEN = re.compile(r"\(|\)|[^\s()]+")
_NAME = re.compile(r"([XY])_(\d+)\Z")


def _values(path: str, named: dict[int, float], letter: str) -> np.ndarray | None:
    """The values of ``letter``_0 .. ``letter``_{n-1} as an array; a gap is an error."""
    if not named:
        return None
    n = max(named) + 1
    missing = [i for i in range(n) if i not in named]
    if missing:
        raise InputError(f"{path}: {letter}_{missing[0]} is missing "
                         f"(the file gives {letter}_{n - 1})")
    return np.array([named[i] for i in range(n)], dtype=np.float64)


def read_results_file(path: str | os.PathLike) -> tuple[str, np.ndarray | None, np.ndarray | None]:
    """Parse a VNN-COMP results file: ``(status, x, y)``.

    ``status`` is one of ``sat``, ``unsat``, ``unknown``, ``timeout``, ``error``; for
    ``sat`` the file continues with ``((X_0 v) ... (Y_0 v))`` (any whitespace and line
    breaks; the outer parentheses are optional) and ``x`` (and ``y``, when ``Y_i``
    entries are present) are float64 arrays; otherwise both are ``None``.

    Raises:
        InputError: the file cannot be read or is malformed (the message names the file).
    """
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the results file ({exc})") from None
    tokens = _TOKEN.findall(text)
    if not tokens:
        raise InputError(f"{path}: empty results file")
    status = tokens[0].lower()
    if status not in _STATUS_WORDS:
        raise InputError(f"{path}: expected a status word ({', '.join(_STATUS_WORDS)}) "
                         f"first, got {tokens[0]!r}")
    rest = tokens[1:]
    if status != "sat":
        if rest:
            raise InputError(f"{path}: unexpected text after {status!r}: {rest[0]!r}")
        return status, None, None
    if len(rest) >= 2 and rest[0] == "(" and rest[1] == "(":
        if rest[-1] != ")":
            raise InputError(f"{path}: the assignment list is not closed by ')'")
        rest = rest[1:-1]
    named: dict[str, dict[int, float]] = {"X": {}, "Y": {}}
    for k in range(0, len(rest), 4):
        entry = rest[k:k + 4]
        if len(entry) != 4 or entry[0] != "(" or entry[3] != ")":
            raise InputError(f"{path}: expected an entry '(X_i value)' or '(Y_i value)', "
                             f"got {' '.join(entry)!r}")
        m = _NAME.match(entry[1])
        if m is None:
            raise InputError(f"{path}: expected a name X_i or Y_i, got {entry[1]!r}")
        try:
            value = float(entry[2])
        except ValueError:
            raise InputError(f"{path}: the value of {entry[1]} ({entry[2]!r}) "
                             "is not a number") from None
        if not np.isfinite(value):
            raise InputError(f"{path}: the value of {entry[1]} must be finite")
        letter, index = m.group(1), int(m.group(2))
        if index in named[letter]:
            raise InputError(f"{path}: {entry[1]} is given twice")
        named[letter][index] = value
    x = _values(path, named["X"], "X")
    if x is None:
        raise InputError(f"{path}: 'sat' but no X_i values")
    return status, x, _values(path, named["Y"], "Y")
