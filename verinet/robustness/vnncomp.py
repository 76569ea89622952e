"""Centre points and radii of VNN-COMP L-infinity robustness properties.

A VNN-COMP robustness property is the ball ``[c - eps, c + eps]`` around an image ``c``,
clipped to the input domain, with the bad region "some class ``j`` scores at least the
label's".  :func:`recover` reads one back: the radius is the half-width of the inputs the
clipping did not touch, the centre of a clipped input is its unclipped end moved inward
by the radius, and the label is the class every row compares against.  The result is
checked: the ball rebuilt from ``(c, eps)`` must equal the file's box to ``TOL`` (``1e-6``:
generators often compute the bounds in float32), else the property is not such a ball
and is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError

__all__ = ["Recovered", "recover", "points_from_folder", "TOL"]

#: How far the file's bounds may be from the rebuilt ball (float32 rounding of the bounds).
TOL = 1e-6


@dataclass(frozen=True)
class Recovered:
    centre: np.ndarray
    eps: float
    label: int
    path: str


def recover(path: str, lower: float = 0.0, upper: float = 1.0) -> Recovered:
    """The centre, radius and label of the robustness property in ``path``."""
    from ..spec import read_vnnlib

    prop = read_vnnlib(path)
    if len(prop.cases) != 1:
        raise InputError(f"{path}: {len(prop.cases)} input boxes; a robustness property has "
                         "one")
    case = prop.cases[0]
    lo, hi = case.box.lower, case.box.upper
    labels = set()
    for conj in case.bad:
        if conj.k != 1 or conj.A_in is not None:
            raise InputError(f"{path}: not a robustness property (each disjunct must be one "
                             "output comparison)")
        row = conj.A_out[0]
        pos, neg = np.flatnonzero(row > 0), np.flatnonzero(row < 0)
        if len(pos) != 1 or len(neg) != 1 or conj.b[0] != 0:
            raise InputError(f"{path}: not a robustness property (rows must read "
                             "Y_j >= Y_label)")
        labels.add(int(pos[0]))
    if len(labels) != 1:
        raise InputError(f"{path}: the rows compare against {len(labels)} classes, not one")
    tol = 1e-12
    free = (lo > lower + tol) & (hi < upper - tol)
    if not np.any(free):
        raise InputError(f"{path}: every input is clipped to the domain; the radius cannot "
                         "be read off")
    half = (hi - lo)[free] / 2
    eps = float(np.median(half))
    if np.max(np.abs(half - eps)) > TOL:
        raise InputError(f"{path}: the box is not a ball (half-widths from "
                         f"{half.min():g} to {half.max():g})")
    c = np.where(free, (lo + hi) / 2,
                 np.where(lo <= lower + tol, hi - eps, lo + eps))
    c = np.clip(c, lower, upper)
    rebuilt_lo, rebuilt_hi = np.maximum(c - eps, lower), np.minimum(c + eps, upper)
    if np.max(np.abs(rebuilt_lo - lo)) > TOL or np.max(np.abs(rebuilt_hi - hi)) > TOL:
        raise InputError(f"{path}: the box is not a ball clipped to [{lower}, {upper}]")
    return Recovered(c, eps, labels.pop(), str(path))


def points_from_folder(folder: str, onnx: str | None = None, lower: float = 0.0,
                       upper: float = 1.0) -> tuple[np.ndarray, np.ndarray, list[float],
                                                     list[tuple[int, float, str]]]:
    """Every robustness instance of a VNN-COMP folder (``instances.csv``), optionally only
    those on model ``onnx``: the distinct centres ``x``, their labels ``y``, the radii, and
    ``(point index, eps, vnnlib)`` per instance."""
    import csv

    base = Path(folder)
    with open(base / "instances.csv", newline="") as f:
        rows = [r for r in csv.reader(f) if r]
    xs: list[np.ndarray] = []
    ys: list[int] = []
    where: list[tuple[int, float, str]] = []
    for r in rows:
        if onnx is not None and Path(r[0].strip()).name != Path(onnx).name:
            continue
        rec = recover(str(base / r[1].strip()), lower, upper)
        k = next((i for i, (xc, yc) in enumerate(zip(xs, ys))
                  if yc == rec.label and np.allclose(xc, rec.centre, atol=TOL)), None)
        if k is None:
            xs.append(rec.centre)
            ys.append(rec.label)
            k = len(xs) - 1
        where.append((k, rec.eps, r[1].strip()))
    if not xs:
        raise InputError(f"{folder}: no robustness instance found")
    radii = sorted({round(e, 6) for _, e, _ in where})
    where = [(k, round(e, 6), v) for k, e, v in where]
    return np.array(xs), np.array(ys, dtype=np.int64), radii, where
