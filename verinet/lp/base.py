"""The LP interface: statuses, results, the backend protocol and backend-free certificate checks.

The model every backend solves::

    minimise or maximise  c . x
    subject to            row_lower <= A @ x <= row_upper     (A: (m, n); -inf/inf if one-sided)
                          col_lower <=   x   <= col_upper     (finite)

Ray and dual sign convention (the one HiGHS uses, and the one every check here assumes): a row
multiplier ``y_i > 0`` pairs with the row's *lower* bound, ``y_i < 0`` with its *upper* bound.
So for any ``x`` meeting the rows, ``y . (A @ x) >= sum_i (y_i * L_i if y_i > 0 else y_i * U_i)``.

Nothing here knows about networks.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import numpy as np
import scipy.sparse as sp

__all__ = [
    "LPStatus",
    "LPResult",
    "LPBackend",
    "Sense",
    "RowSystem",
    "check_primal",
    "check_farkas",
    "objective_bound",
]

Sense = Literal["min", "max"]

_EPS = float(np.finfo(np.float64).eps)


class LPStatus(enum.Enum):
    """Outcome of one solve.  Only ``OPTIMAL`` and ``INFEASIBLE`` are clean answers."""

    OPTIMAL = "optimal"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    UNKNOWN = "unknown"  # time/iteration limit, numerical trouble, failed re-check, ...


@dataclass(frozen=True, eq=False)
class LPResult:
    """Everything one solve tells the caller.

    * ``objective``: optimal value in the requested sense (``OPTIMAL`` only).
    * ``x``: primal column values, shape ``(n,)``; ``row_values``: ``A @ x`` recomputed in
      float64, shape ``(m,)``; ``duals``: row duals in the solver's sign convention for the
      requested sense, shape ``(m,)`` (``OPTIMAL`` only).
    * ``objective_bound``: a bound on the optimum proved from the row duals and the finite
      column bounds (a lower bound for ``min``, an upper bound for ``max``), rounded outward by
      the certificate tolerance; ``None`` when no duals are available.  Sound to prune on even
      where ``objective`` is a float64 approximation.
    * ``ray``: a Farkas ray ``y`` of shape ``(m,)`` (``INFEASIBLE`` only, when the solver gives
      one), oriented as in the module docstring; ``ray_checked`` says it passed
      :func:`check_farkas`.  ``INFEASIBLE`` with ``ray_checked=False`` is the solver's word only.
    * ``checked``: the re-check of this answer passed (for ``OPTIMAL``: the point meets the rows
      and column bounds; for ``INFEASIBLE``: same as ``ray_checked``).
    * ``raw_status``: the backend's own status text, for messages.
    * ``iterations``: simplex iterations of this solve; ``time``: wall seconds of this solve.
    """

    status: LPStatus
    objective: float | None = None
    x: np.ndarray | None = None
    row_values: np.ndarray | None = None
    duals: np.ndarray | None = None
    objective_bound: float | None = None
    ray: np.ndarray | None = None
    ray_checked: bool = False
    checked: bool = False
    iterations: int = 0
    time: float = 0.0
    raw_status: str = ""


@runtime_checkable
class LPBackend(Protocol):
    """The operations the search needs from an LP solver, all warm-start friendly.

    Rows follow one numbering rule: a row keeps the index :meth:`add_rows` returned until
    :meth:`truncate_rows` removes it; rows are only ever removed from the end (a stack).
    """

    @property
    def n_cols(self) -> int: ...

    @property
    def n_rows(self) -> int: ...

    def add_rows(
        self, A: np.ndarray | sp.spmatrix | sp.sparray, lower: np.ndarray, upper: np.ndarray
    ) -> np.ndarray: ...

    def truncate_rows(self, n_rows: int) -> None: ...

    def set_col_bounds(self, idx: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> None: ...

    def set_objective(self, c: np.ndarray, sense: Sense = "min") -> None: ...

    def solve(self, time_limit: float | None = None) -> LPResult: ...


# ---------------------------------------------------------------------------------------------
# Backend-free checks, all in float64.


@dataclass(frozen=True, eq=False)
class RowSystem:
    """Rows ``lower <= A @ x <= upper``: ``A`` CSR ``(m, n)``, bounds ``(m,)`` with -inf/inf.

    ``abs_A`` and the transposes are built once here, since every check needs them.
    """

    A: sp.csr_matrix
    lower: np.ndarray
    upper: np.ndarray
    abs_A: sp.csr_matrix = field(init=False)
    A_T: sp.csc_matrix = field(init=False)
    abs_A_T: sp.csc_matrix = field(init=False)

    def __post_init__(self) -> None:
        m = self.A.shape[0]
        assert self.lower.shape == self.upper.shape == (m,), (
            f"row bounds: expected shape ({m},), got {self.lower.shape} and {self.upper.shape}"
        )
        abs_a = abs(self.A)
        object.__setattr__(self, "abs_A", abs_a)
        object.__setattr__(self, "A_T", self.A.T)
        object.__setattr__(self, "abs_A_T", abs_a.T)


def check_primal(
    rows: RowSystem, col_lower: np.ndarray, col_upper: np.ndarray, x: np.ndarray, tol: float
) -> tuple[bool, np.ndarray]:
    """Re-check a claimed solution ``x`` of shape ``(n,)``; return ``(ok, A @ x)``.

    Row ``i`` may be violated by ``tol * max(1, |a_i| . |x|)``; a column bound ``b`` by
    ``tol * max(1, |b|)``.  A non-finite ``x`` fails.
    """
    m = rows.A.shape[0]
    if x.shape != col_lower.shape or not np.isfinite(x).all():
        return False, np.full(m, np.nan)
    col_ok = (x >= col_lower - tol * np.maximum(1.0, np.abs(col_lower))).all() and (
        x <= col_upper + tol * np.maximum(1.0, np.abs(col_upper))
    ).all()
    row_values = np.asarray(rows.A @ x, dtype=np.float64)
    if m == 0:
        return bool(col_ok), row_values
    row_tol = tol * np.maximum(1.0, rows.abs_A @ np.abs(x))
    row_ok = (row_values >= rows.lower - row_tol).all() and (
        row_values <= rows.upper + row_tol
    ).all()
    return bool(col_ok and row_ok), row_values


def _slack(rows: RowSystem, rel_tol: float) -> float:
    """Relative slack covering float64 rounding in the certificate sums, plus ``rel_tol``.

    Each quantity is a chain of at most ``m + n + 2`` products and sums, so its rounding error
    is at most ``gamma_k * scale`` with ``gamma_k ~ k * eps / 2``; we take four times that.
    """
    m, n = rows.A.shape
    return rel_tol + 2.0 * (m + n + 4) * _EPS


def _usable_multipliers(y: np.ndarray, rows: RowSystem) -> np.ndarray:
    """Zero the entries of ``y`` whose paired row bound is infinite (any ``y`` is a valid
    multiplier vector, so dropping entries never makes a certificate unsound)."""
    y = np.where(np.isfinite(y), y, 0.0)
    unusable = ((y > 0) & ~np.isfinite(rows.lower)) | ((y < 0) & ~np.isfinite(rows.upper))
    return np.where(unusable, 0.0, y)


def _row_implied_min(y: np.ndarray, rows: RowSystem) -> np.ndarray:
    """Per row, the lower bound on ``y_i * (a_i . x)`` that the row implies (``y`` cleaned)."""
    paired = np.where(y > 0, rows.lower, np.where(y < 0, rows.upper, 0.0))
    return np.where(y != 0, y * paired, 0.0)


def check_farkas(
    rows: RowSystem,
    col_lower: np.ndarray,
    col_upper: np.ndarray,
    ray: np.ndarray,
    rel_tol: float,
) -> tuple[bool, np.ndarray]:
    """Check that ``ray`` proves ``{x : rows hold, col_lower <= x <= col_upper}`` empty.

    With ``y`` the ray (tried as given, then negated; entries paired with infinite bounds
    zeroed): every ``x`` meeting the rows has ``y . A x >= r := sum_i y_i * (L_i or U_i)``,
    while every ``x`` in the (finite) column box has ``y . A x <= b := max_box (A^T y) . x``.
    ``r - b > slack * scale`` (``scale`` = sum of absolute values of all terms; ``slack`` =
    ``rel_tol`` + a bound on float64 rounding, see :func:`_slack`) proves infeasibility.  An
    empty column box (some lower > upper) is infeasible by itself, with ``y = 0``.  Returns
    ``(ok, y)``, ``y`` oriented and cleaned when ``ok``.
    """
    m = rows.A.shape[0]
    if (col_lower > col_upper).any():
        return True, np.zeros(m)
    if ray.shape != (m,) or m == 0:
        return False, np.zeros(m)
    x_abs = np.maximum(np.abs(col_lower), np.abs(col_upper))
    slack = _slack(rows, rel_tol)
    for sign in (1.0, -1.0):
        y = _usable_multipliers(sign * ray, rows)
        if not y.any():
            continue
        terms = _row_implied_min(y, rows)
        row_min = float(terms.sum())
        g = np.asarray(rows.A_T @ y, dtype=np.float64)
        box_max = float(np.where(g > 0, g * col_upper, g * col_lower).sum())
        scale = float(np.abs(terms).sum()) + float(np.abs(y) @ (rows.abs_A @ x_abs))
        if np.isfinite(row_min) and np.isfinite(box_max) and row_min - box_max > slack * scale:
            return True, y
    return False, np.asarray(ray, dtype=np.float64)


def objective_bound(
    rows: RowSystem,
    col_lower: np.ndarray,
    col_upper: np.ndarray,
    c: np.ndarray,
    duals: np.ndarray,
    sense: Sense,
    rel_tol: float,
) -> float:
    """Bound the optimum of ``c . x`` from row duals: weak duality over the finite column box.

    For ``min``, with ``y`` the duals (entries paired with infinite bounds zeroed), every
    feasible ``x`` has ``c . x = y . A x + (c - A^T y) . x >= r(y) + min_box (c - A^T y) . x``.
    For ``max`` the same is applied to ``-c`` with ``-duals`` (HiGHS reports duals in the
    requested sense).  The float64 result is moved outward by ``slack * scale`` as in
    :func:`check_farkas`.  Returns a
    lower bound for ``min``, an upper bound for ``max``; ``-inf``/``inf`` when nothing is proved.
    Any ``duals`` give a valid bound; good duals give a tight one.
    """
    sign = 1.0 if sense == "min" else -1.0
    y = _usable_multipliers(sign * duals, rows)
    cc = sign * c
    x_abs = np.maximum(np.abs(col_lower), np.abs(col_upper))
    terms = _row_implied_min(y, rows)
    d = cc - np.asarray(rows.A_T @ y, dtype=np.float64)
    box_min = float(np.where(d > 0, d * col_lower, d * col_upper).sum())
    bound = float(terms.sum()) + box_min
    scale = float(np.abs(terms).sum()) + float((np.abs(cc) + rows.abs_A_T @ np.abs(y)) @ x_abs)
    bound -= _slack(rows, rel_tol) * scale
    if not np.isfinite(bound):
        bound = -np.inf
    return sign * bound
