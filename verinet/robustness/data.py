"""Reading a data set of points and labels.

Formats, chosen by the file's suffix:

- ``.npz`` with an array ``x`` (points, one per leading index, any trailing shape) and,
  optionally, ``y`` (integer labels);
- ``.npy`` holding the points; labels from ``labels`` (a ``.npy`` file, or a text/CSV
  file of integers, one per line or comma-separated);
- ``.csv``: one point per row, comma-separated numbers; a header row is allowed, and a
  column named ``label`` (or ``y``) holds the labels.

Without labels, each point's label is the model's own clean prediction (so no point is
``misclassified``).  Every error is an :class:`~verinet.errors.InputError` naming the
file and what is wrong.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..errors import InputError

__all__ = ["load_points"]


def _read_labels(path: str) -> np.ndarray:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{path}: no such labels file")
    if p.suffix == ".npy":
        try:
            arr = np.load(p, allow_pickle=False)
        except (ValueError, OSError) as e:
            raise InputError(f"{path}: not a readable .npy file ({e})") from None
    else:
        text = p.read_text(encoding="utf-8", errors="replace").replace(",", " ").split()
        try:
            arr = np.array([float(t) for t in text])
        except ValueError as e:
            raise InputError(f"{path}: labels must be integers ({e})") from None
    return arr.reshape(-1)


def _read_csv(p: Path) -> tuple[np.ndarray, np.ndarray | None]:
    with open(p, newline="", encoding="utf-8", errors="replace") as f:
        rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    if not rows:
        raise InputError(f"{p}: the CSV file holds no rows")
    header = None
    try:
        [float(c) for c in rows[0]]
    except ValueError:
        header, rows = [c.strip().lower() for c in rows[0]], rows[1:]
    label_col = None
    if header is not None:
        label_col = next((i for i, h in enumerate(header) if h in ("label", "y")), None)
    width = len(rows[0]) if rows else 0
    data = []
    for k, r in enumerate(rows, start=2 if header else 1):
        if len(r) != width:
            raise InputError(f"{p}:{k}: {len(r)} columns, expected {width}")
        try:
            data.append([float(c) for c in r])
        except ValueError as e:
            raise InputError(f"{p}:{k}: not a number ({e})") from None
    arr = np.array(data, dtype=np.float64).reshape(len(data), width)
    if label_col is None:
        return arr, None
    return np.delete(arr, label_col, axis=1), arr[:, label_col]


def load_points(path: str, labels: str | None = None
                ) -> tuple[np.ndarray, np.ndarray | None]:
    """``(x, y)``: points ``(N, ...)`` as float64 and integer labels ``(N,)`` or ``None``."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{path}: no such data file")
    y = None
    if p.suffix == ".npz":
        try:
            with np.load(p, allow_pickle=False) as z:
                if "x" not in z:
                    raise InputError(f"{path}: the .npz file has no array 'x' (found: "
                                     f"{', '.join(z.files) or 'none'})")
                x = np.asarray(z["x"])
                y = np.asarray(z["y"]) if "y" in z else None
        except (ValueError, OSError) as e:
            raise InputError(f"{path}: not a readable .npz file ({e})") from None
    elif p.suffix == ".npy":
        try:
            x = np.load(p, allow_pickle=False)
        except (ValueError, OSError) as e:
            raise InputError(f"{path}: not a readable .npy file ({e})") from None
    elif p.suffix == ".csv":
        x, y = _read_csv(p)
    else:
        raise InputError(f"{path}: unknown data format {p.suffix!r}; use .npz (x, y), .npy "
                         "(with --labels) or .csv")
    if labels is not None:
        y = _read_labels(labels)
    try:
        x = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{path}: the points are not numbers") from None
    if x.ndim < 1 or x.shape[0] == 0:
        raise InputError(f"{path}: no points")
    if x.ndim == 1:
        x = x[:, None]
    bad = np.flatnonzero(~np.all(np.isfinite(x.reshape(x.shape[0], -1)), axis=1))
    if bad.size:
        raise InputError(f"{path}: point {int(bad[0])} holds NaN or infinity "
                         f"({bad.size} point(s) in all)")
    if y is not None:
        src = labels or path
        y = np.asarray(y).reshape(-1)
        if y.shape[0] != x.shape[0]:
            raise InputError(f"{src}: {y.shape[0]} labels for {x.shape[0]} points")
        yf = y.astype(np.float64)
        if not np.all(np.isfinite(yf)) or np.any(yf != np.round(yf)) or np.any(yf < 0):
            raise InputError(f"{src}: labels must be non-negative integers")
        y = yf.astype(np.int64)
    return x, y
