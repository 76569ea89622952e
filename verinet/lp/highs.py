"""HiGHS adapter over ``highspy``: one warm-started model, statuses and infinities translated here.

Lifecycle for a branch-and-bound search: build one :class:`HighsLP` per query, then per
subproblem change column bounds (:meth:`HighsLP.set_col_bounds`), push rows
(:meth:`HighsLP.add_rows`), change the objective, :meth:`HighsLP.solve`, and pop rows on
backtracking (:meth:`HighsLP.truncate_rows`).  The ``highspy.Highs`` instance and its simplex
basis live across all of these, so each re-solve starts from the previous basis.

HiGHS facts this adapter relies on (highspy 1.16):

* ``time_limit`` is compared with the *cumulative* run time of a ``Highs`` object, so a
  per-solve limit is set as ``getRunTime() + limit`` before every ``run()``.
* A bound ``>= infinite_bound`` (1e20) is infinite to HiGHS, and ``addRows`` rejects a finite
  bound beyond it; row bounds are translated in :func:`_to_highs_bounds`, column bounds must
  stay below it.
* Crossed column bounds are accepted and reported infeasible *without* a ray; :meth:`solve`
  settles that case itself.
* With a valid basis HiGHS skips presolve; when presolve does detect infeasibility
  ``getDualRayExist`` is false and ``getDualRay`` computes a ray on demand.
* ``highspy.Highs()`` prints a banner on the first construction in a process, before any
  option can be set; :func:`_new_highs` keeps it off stdout.
"""

from __future__ import annotations

import time
from typing import Any

import highspy
import numpy as np
import scipy.sparse as sp

from verinet.config import LPConfig
from verinet.errors import SolverError
from verinet.lp.base import (
    LPResult,
    LPStatus,
    RowSystem,
    Sense,
    check_farkas,
    check_primal,
    objective_bound,
)
from verinet.quiet import stdout_silenced as _stdout_silenced

__all__ = ["HighsLP", "model_trouble"]

_MS = highspy.HighsModelStatus

#: HiGHS model status -> LPStatus.  Anything not listed here is ``UNKNOWN``.
#: ``kUnboundedOrInfeasible`` is ``UNKNOWN``: it settles neither question (and with finite
#: column bounds an LP cannot be unbounded, so it signals numerical trouble).
_STATUS: dict[highspy.HighsModelStatus, LPStatus] = {
    _MS.kOptimal: LPStatus.OPTIMAL,
    _MS.kInfeasible: LPStatus.INFEASIBLE,
    _MS.kUnbounded: LPStatus.UNBOUNDED,
    _MS.kUnboundedOrInfeasible: LPStatus.UNKNOWN,
    _MS.kTimeLimit: LPStatus.UNKNOWN,
    _MS.kIterationLimit: LPStatus.UNKNOWN,
    _MS.kUnknown: LPStatus.UNKNOWN,
}

_SIMPLEX_STRATEGY = {"choose": 0, "dual": 1, "primal": 4}
_SENSE = {"min": highspy.ObjSense.kMinimize, "max": highspy.ObjSense.kMaximize}
_HIGHS_ERROR = highspy.HighsStatus.kError
_INFINITE_BOUND = 1e20  # HiGHS's default ``infinite_bound`` option: larger bounds are infinite
_LARGE_MATRIX_VALUE = 1e15  # HiGHS's default ``large_matrix_value``: addRows refuses larger


def model_trouble(col_lower: np.ndarray, col_upper: np.ndarray,
                  *matrices: np.ndarray | sp.spmatrix | sp.sparray) -> str:
    """Why a model with these column bounds and row coefficients cannot go to HiGHS.

    Returns ``""`` when :class:`HighsLP` takes it (finite column bounds below HiGHS's
    infinity 1e20, finite coefficients below its ``large_matrix_value`` 1e15), else a short
    reason; callers treat such a model as undecided instead of solving it.
    """
    lo = np.asarray(col_lower, dtype=np.float64)
    hi = np.asarray(col_upper, dtype=np.float64)
    if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
        return "LP not usable: a column bound is not finite (overflow or no information)"
    if not ((np.abs(lo) < _INFINITE_BOUND).all() and (np.abs(hi) < _INFINITE_BOUND).all()):
        return f"LP not usable: a column bound reaches {_INFINITE_BOUND:g} (HiGHS's infinity)"
    for M in matrices:
        data = M.data if sp.issparse(M) else np.asarray(M)
        if not np.isfinite(data).all():
            return "LP not usable: a coefficient is not finite"
        if data.size and np.abs(data).max() >= _LARGE_MATRIX_VALUE:
            return f"LP not usable: a coefficient reaches {_LARGE_MATRIX_VALUE:g} (HiGHS's limit)"
    return ""


def _new_highs(config: LPConfig) -> highspy.Highs:
    """A fresh ``Highs`` with every option of ``config`` applied, printing nothing."""
    if config.output_flag:
        highs = highspy.Highs()
    else:
        with _stdout_silenced():
            highs = highspy.Highs()
            _check(highs.setOptionValue("output_flag", False), "set option output_flag")
    options: dict[str, bool | int | float | str] = {
        "output_flag": config.output_flag,
        "log_to_console": config.output_flag,
        "solver": "simplex",
        "simplex_strategy": _SIMPLEX_STRATEGY[config.simplex_strategy],
        "presolve": config.presolve,
        "threads": config.threads,
        "primal_feasibility_tolerance": config.primal_feasibility_tolerance,
        "dual_feasibility_tolerance": config.dual_feasibility_tolerance,
    }
    for name, value in options.items():
        _check(highs.setOptionValue(name, value), f"set option {name}={value!r}")
    return highs


def _check(status: highspy.HighsStatus, what: str) -> None:
    if status == _HIGHS_ERROR:
        raise SolverError(f"HiGHS: {what} failed ({status.name})")


def _to_highs_bounds(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The one place infinities cross the boundary.

    Returns ``(ours, theirs)``: our float64 copy with every ``|v| >= infinite_bound`` as
    ``-inf``/``inf`` (what HiGHS will take them to mean), and the array to hand to HiGHS with
    those entries as ``-kHighsInf``/``kHighsInf``.
    """
    ours = np.array(values, dtype=np.float64)
    assert not np.any(np.isnan(ours)), "bounds must not be NaN"
    big = np.abs(ours) >= _INFINITE_BOUND
    ours[big] = np.copysign(np.inf, ours[big])
    theirs = np.where(big, np.copysign(highspy.kHighsInf, ours), ours)
    return ours, theirs


class _RowStack:
    """Rows ``L <= A x <= U`` kept as growing CSR arrays, mirroring the HiGHS model.

    Our own float64 copy serves the re-checks and the certificates; the scipy matrices are
    rebuilt lazily after a push or pop.
    """

    def __init__(self, n_cols: int):
        self.n_cols = n_cols
        self.n_rows = 0
        self.indptr = np.zeros(1, dtype=np.int64)
        self.indices = np.zeros(0, dtype=np.int32)
        self.data = np.zeros(0, dtype=np.float64)
        self.lower = np.zeros(0, dtype=np.float64)
        self.upper = np.zeros(0, dtype=np.float64)
        self._cache: RowSystem | None = None

    def push(self, block: sp.csr_matrix, lower: np.ndarray, upper: np.ndarray) -> None:
        nnz = int(self.indptr[-1])
        self.indptr = np.concatenate([self.indptr, nnz + block.indptr[1:].astype(np.int64)])
        self.indices = np.concatenate([self.indices[:nnz], block.indices.astype(np.int32)])
        self.data = np.concatenate([self.data[:nnz], block.data])
        self.lower = np.concatenate([self.lower, lower])
        self.upper = np.concatenate([self.upper, upper])
        self.n_rows += block.shape[0]
        self._cache = None

    def truncate(self, n_rows: int) -> None:
        nnz = int(self.indptr[n_rows])
        self.indptr = self.indptr[: n_rows + 1]
        self.indices, self.data = self.indices[:nnz], self.data[:nnz]
        self.lower, self.upper = self.lower[:n_rows], self.upper[:n_rows]
        self.n_rows = n_rows
        self._cache = None

    def system(self) -> RowSystem:
        """The rows as a :class:`RowSystem` (``A`` of shape ``(n_rows, n_cols)``)."""
        if self._cache is None:
            shape = (self.n_rows, self.n_cols)
            a = sp.csr_matrix((self.data, self.indices, self.indptr), shape=shape)
            self._cache = RowSystem(a, self.lower, self.upper)
        return self._cache


class HighsLP:
    """One LP over ``n_cols`` bounded columns, solved and re-solved warm by HiGHS.

    Columns must have finite bounds (below 1e20 in magnitude): then the LP can never be
    unbounded, and any float ray or dual vector, read exactly, yields a rigorous certificate
    (infeasibility, or a bound on the objective) by weak duality over the column box, which is
    what UNSAT certificates are built from.

    Rows form a stack: :meth:`add_rows` appends and returns the new indices, and
    :meth:`truncate_rows` pops back to a previous :attr:`n_rows`.  HiGHS renumbers rows on
    deletion, so deleting from the middle is not offered; deleting only from the end keeps
    every surviving row's index fixed, which is what a depth-first search needs::

        mark = lp.n_rows
        lp.add_rows(split_rows, lo, hi)   # branch
        ...
        lp.truncate_rows(mark)            # backtrack
    """

    def __init__(
        self,
        n_cols: int,
        col_lower: np.ndarray,
        col_upper: np.ndarray,
        config: LPConfig | None = None,
    ):
        self.config = config if config is not None else LPConfig()
        lower = np.array(col_lower, dtype=np.float64).reshape(-1)
        upper = np.array(col_upper, dtype=np.float64).reshape(-1)
        assert lower.shape == upper.shape == (n_cols,), (
            f"column bounds: expected shape ({n_cols},), got {lower.shape} and {upper.shape}"
        )
        _assert_finite_cols(lower, upper)
        self._n_cols = n_cols
        self._col_lower = lower
        self._col_upper = upper
        self._cost = np.zeros(n_cols)
        self._sense: Sense = "min"
        self._all_cols = np.arange(n_cols, dtype=np.int32)
        self._rows = _RowStack(n_cols)
        self._highs = _new_highs(self.config)
        no_entries = np.zeros(0, dtype=np.int32)
        _check(
            self._highs.addCols(
                n_cols, self._cost, lower, upper, 0, no_entries, no_entries, np.zeros(0)
            ),
            "addCols",
        )

    # -- model edits ---------------------------------------------------------------------------

    @property
    def n_cols(self) -> int:
        return self._n_cols

    @property
    def n_rows(self) -> int:
        return self._rows.n_rows

    @property
    def col_lower(self) -> np.ndarray:
        """Current column lower bounds, shape ``(n,)`` (a copy)."""
        return self._col_lower.copy()

    @property
    def col_upper(self) -> np.ndarray:
        """Current column upper bounds, shape ``(n,)`` (a copy)."""
        return self._col_upper.copy()

    def rows(self) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        """``(A, row_lower, row_upper)`` as they stand (copies), for certificates."""
        rows = self._rows.system()
        return rows.A.copy(), rows.lower.copy(), rows.upper.copy()

    def add_rows(
        self, A: np.ndarray | sp.spmatrix | sp.sparray, lower: np.ndarray, upper: np.ndarray
    ) -> np.ndarray:
        """Append rows ``lower <= A @ x <= upper``; ``A`` is ``(k, n)`` dense or sparse.

        Use ``-inf``/``inf`` for one-sided rows.  Returns the new row indices ``(k,)``.
        """
        block = sp.csr_matrix(A, dtype=np.float64)
        block.sum_duplicates()
        k = block.shape[0]
        assert block.shape[1] == self._n_cols, (
            f"rows: expected {self._n_cols} columns, got shape {block.shape}"
        )
        assert np.all(np.isfinite(block.data)), "row coefficients must be finite"
        lo, lo_highs = _to_highs_bounds(np.reshape(lower, -1))
        hi, hi_highs = _to_highs_bounds(np.reshape(upper, -1))
        assert lo.shape == hi.shape == (k,), (
            f"row bounds: expected shape ({k},), got {lo.shape} and {hi.shape}"
        )
        assert np.all(lo <= hi), "row bounds must satisfy lower <= upper"
        start = self._rows.n_rows
        status = self._highs.addRows(
            k,
            lo_highs,
            hi_highs,
            block.nnz,
            block.indptr.astype(np.int32),
            block.indices.astype(np.int32),
            block.data,
        )
        _check(status, "addRows")
        self._rows.push(block, lo, hi)
        return np.arange(start, start + k)

    def truncate_rows(self, n_rows: int) -> None:
        """Delete every row with index ``>= n_rows`` (pop the row stack back to ``n_rows``)."""
        m = self._rows.n_rows
        assert 0 <= n_rows <= m, f"truncate_rows: expected 0 <= n_rows <= {m}, got {n_rows}"
        if n_rows == m:
            return
        doomed = np.arange(n_rows, m, dtype=np.int32)
        _check(self._highs.deleteRows(doomed.size, doomed), "deleteRows")
        self._rows.truncate(n_rows)

    def set_col_bounds(self, idx: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> None:
        """Set ``col_lower[idx] = lower``, ``col_upper[idx] = upper`` (finite, vectorised).

        Crossed bounds (lower > upper) are allowed: :meth:`solve` then reports ``INFEASIBLE``
        (an empty box needs no ray).
        """
        cols = np.asarray(idx, dtype=np.int32).reshape(-1)
        lo = np.broadcast_to(np.asarray(lower, dtype=np.float64), cols.shape)
        hi = np.broadcast_to(np.asarray(upper, dtype=np.float64), cols.shape)
        assert cols.size == 0 or (cols.min() >= 0 and cols.max() < self._n_cols), (
            f"column indices must lie in [0, {self._n_cols})"
        )
        _assert_finite_cols(lo, hi, allow_crossed=True)
        _check(self._highs.changeColsBounds(cols.size, cols, lo, hi), "changeColsBounds")
        self._col_lower[cols] = lo
        self._col_upper[cols] = hi

    def set_objective(self, c: np.ndarray, sense: Sense = "min") -> None:
        """Objective ``c . x`` (``c`` of shape ``(n,)``), minimised or maximised."""
        cost = np.array(c, dtype=np.float64).reshape(-1)
        assert cost.shape == (self._n_cols,), (
            f"objective: expected shape ({self._n_cols},), got {cost.shape}"
        )
        assert np.all(np.isfinite(cost)), "objective coefficients must be finite"
        if sense not in _SENSE:
            raise ValueError(f"sense must be 'min' or 'max', got {sense!r}")
        _check(self._highs.changeColsCost(self._n_cols, self._all_cols, cost), "changeColsCost")
        _check(self._highs.changeObjectiveSense(_SENSE[sense]), "changeObjectiveSense")
        self._cost = cost
        self._sense = sense

    # -- solving -------------------------------------------------------------------------------

    def solve(self, time_limit: float | None = None) -> LPResult:
        """Solve from the current basis; ``time_limit`` (seconds) overrides the config's."""
        if np.any(self._col_lower > self._col_upper):
            return LPResult(
                status=LPStatus.INFEASIBLE,
                ray=np.zeros(self.n_rows),
                ray_checked=True,
                checked=True,
                raw_status="Infeasible (crossed column bounds, found before solving)",
            )
        highs = self._highs
        limit = time_limit if time_limit is not None else self.config.time_limit
        deadline = highspy.kHighsInf if limit is None else highs.getRunTime() + limit
        _check(highs.setOptionValue("time_limit", float(deadline)), "set option time_limit")
        start = time.perf_counter()
        run_status = highs.run()
        elapsed = time.perf_counter() - start
        model_status = highs.getModelStatus()
        status = _STATUS.get(model_status, LPStatus.UNKNOWN)
        if run_status == _HIGHS_ERROR:
            status = LPStatus.UNKNOWN
        raw = highs.modelStatusToString(model_status)
        iterations = int(highs.getInfo().simplex_iteration_count)
        common = {"iterations": iterations, "time": elapsed, "raw_status": raw}
        if status is LPStatus.OPTIMAL:
            return self._optimal_result(common)
        if status is LPStatus.INFEASIBLE:
            return self._infeasible_result(common)
        return LPResult(status=status, **common)

    def _optimal_result(self, common: dict[str, Any]) -> LPResult:
        solution = self._highs.getSolution()
        x = np.array(solution.col_value, dtype=np.float64)
        rows, cols = self._rows.system(), (self._col_lower, self._col_upper)
        ok, row_values = check_primal(rows, *cols, x, self.config.check_tolerance)
        if not ok:
            raw = f"{common['raw_status']} (rejected: solution fails the re-check)"
            common = {**common, "raw_status": raw}
            return LPResult(status=LPStatus.UNKNOWN, x=x, row_values=row_values, **common)
        duals = np.array(solution.row_dual, dtype=np.float64) if solution.dual_valid else None
        bound = None
        if duals is not None and duals.shape == (self.n_rows,):
            tol = self.config.certificate_tolerance
            bound = objective_bound(rows, *cols, self._cost, duals, self._sense, tol)
        return LPResult(
            status=LPStatus.OPTIMAL,
            objective=float(self._cost @ x),
            x=x,
            row_values=row_values,
            duals=duals,
            objective_bound=bound,
            checked=True,
            **common,
        )

    def _infeasible_result(self, common: dict[str, Any]) -> LPResult:
        status, has_ray, ray = self._highs.getDualRay()
        if status == _HIGHS_ERROR or not has_ray:
            return LPResult(status=LPStatus.INFEASIBLE, **common)
        rows, cols = self._rows.system(), (self._col_lower, self._col_upper)
        tol = self.config.certificate_tolerance
        ok, y = check_farkas(rows, *cols, np.array(ray, dtype=np.float64), tol)
        return LPResult(status=LPStatus.INFEASIBLE, ray=y, ray_checked=ok, checked=ok, **common)


def _assert_finite_cols(lower: np.ndarray, upper: np.ndarray, allow_crossed: bool = False) -> None:
    assert np.all(np.isfinite(lower)) and np.all(np.isfinite(upper)), (
        "column bounds must be finite (certificates rely on a bounded box)"
    )
    assert np.all(np.abs(lower) < _INFINITE_BOUND) and np.all(np.abs(upper) < _INFINITE_BOUND), (
        f"column bounds must be below {_INFINITE_BOUND:g} in magnitude (HiGHS's infinity)"
    )
    assert allow_crossed or np.all(lower <= upper), "column bounds must satisfy lower <= upper"
