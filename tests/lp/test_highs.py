"""The HiGHS adapter: optima, infeasibility certificates, warm starts, the row stack, re-checks."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linprog

from verinet.lp import HighsLP, LPBackend, LPStatus, RowSystem, check_farkas
from verinet.lp import highs as highs_module

INF = np.inf


def _random_lp(
    n: int, m: int, seed: int, box: float = 2.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A feasible random LP: rows ``A x <= b`` with slack at a random interior point."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, n))
    x0 = rng.uniform(-box / 2, box / 2, n)
    b = a @ x0 + rng.uniform(0.0, 1.0, m)
    c = rng.standard_normal(n)
    return a, b, c, np.full(n, -box), np.full(n, box)


def _build(a, b, c, lo, hi, config=None) -> HighsLP:
    lp = HighsLP(a.shape[1], lo, hi, config)
    lp.add_rows(a, np.full(a.shape[0], -INF), b)
    lp.set_objective(c)
    return lp


def _assert_farkas_certificate(lp: HighsLP, ray: np.ndarray) -> None:
    """Re-derive the certificate by hand: row-implied min of y.Ax exceeds its box max."""
    a, lower, upper = lp.rows()
    row_min = sum(y * (lower[i] if y > 0 else upper[i]) for i, y in enumerate(ray) if y != 0)
    g = a.T @ ray
    box_max = float(np.sum(np.where(g > 0, g * lp.col_upper, g * lp.col_lower)))
    assert row_min > box_max


# -- tiny hand-checked LPs ---------------------------------------------------------------------


def test_tiny_min_and_max() -> None:
    # x, y in [0, 4]; x + 2y >= 2; x - y <= 1.
    lp = HighsLP(2, [0.0, 0.0], [4.0, 4.0])
    assert isinstance(lp, LPBackend)
    rows = lp.add_rows(np.array([[1.0, 2.0], [1.0, -1.0]]), [2.0, -INF], [INF, 1.0])
    assert list(rows) == [0, 1]

    lp.set_objective(np.array([1.0, 1.0]), sense="min")  # optimum (0, 1), value 1
    res = lp.solve()
    assert res.status is LPStatus.OPTIMAL and res.checked
    assert res.objective == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose(res.x, [0.0, 1.0], atol=1e-9)
    np.testing.assert_allclose(res.row_values, [2.0, -1.0], atol=1e-9)
    assert res.objective_bound <= res.objective
    assert res.objective_bound == pytest.approx(1.0, abs=1e-6)

    lp.set_objective(np.array([1.0, -1.0]), sense="max")  # x - y <= 1 binds: value 1
    res = lp.solve()
    assert res.status is LPStatus.OPTIMAL and res.checked
    assert res.objective == pytest.approx(1.0, abs=1e-9)
    assert res.objective_bound >= res.objective
    assert res.objective_bound == pytest.approx(1.0, abs=1e-6)

    lp.set_objective(np.array([1.0, 1.0]), sense="max")  # the corner (4, 4): value 8
    res = lp.solve()
    assert res.objective == pytest.approx(8.0, abs=1e-9)
    np.testing.assert_allclose(res.x, [4.0, 4.0], atol=1e-9)


def test_sparse_rows_accepted() -> None:
    lp = HighsLP(3, np.zeros(3), np.ones(3))
    lp.add_rows(sp.csr_matrix(np.array([[1.0, 1.0, 1.0]])), [-INF], [2.5])
    lp.set_objective(np.array([1.0, 2.0, 3.0]), sense="max")  # x2 = x1 = 1, x0 = 0.5
    res = lp.solve()
    assert res.objective == pytest.approx(5.5, abs=1e-9)


# -- infeasibility -----------------------------------------------------------------------------


def test_infeasible_rows_give_a_checked_ray() -> None:
    # x0 + x1 >= 5 and x0 + x1 <= 3.
    lp = HighsLP(3, -10 * np.ones(3), 10 * np.ones(3))
    lp.add_rows(np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]]), [5.0, -INF], [INF, 3.0])
    res = lp.solve()
    assert res.status is LPStatus.INFEASIBLE
    assert res.ray is not None and res.ray_checked and res.checked
    _assert_farkas_certificate(lp, res.ray)


def test_bound_change_makes_rows_infeasible() -> None:
    a, b, c, lo, hi = _random_lp(20, 15, seed=3)
    lp = _build(a, b, c, lo, hi)
    assert lp.solve().status is LPStatus.OPTIMAL
    # x0 + x1 >= 3, then shrink the box so that it cannot hold: needs the column bounds.
    lp.add_rows(np.eye(20)[:1] + np.eye(20)[1:2], [3.0], [INF])
    assert lp.solve().status is LPStatus.OPTIMAL
    lp.set_col_bounds(np.array([0, 1]), np.array([-1.0, -1.0]), np.array([1.0, 1.4]))
    res = lp.solve()
    assert res.status is LPStatus.INFEASIBLE and res.ray_checked
    _assert_farkas_certificate(lp, res.ray)
    # Back to the original box: feasible again, same model object.
    lp.set_col_bounds(np.array([0, 1]), lo[:2], hi[:2])
    assert lp.solve().status is LPStatus.OPTIMAL


def test_crossed_column_bounds_are_infeasible() -> None:
    lp = HighsLP(2, [0.0, 0.0], [1.0, 1.0])
    lp.add_rows(np.array([[1.0, 1.0]]), [-INF], [1.5])
    lp.set_col_bounds(np.array([1]), np.array([0.8]), np.array([0.7]))
    res = lp.solve()
    assert res.status is LPStatus.INFEASIBLE and res.ray_checked


def test_farkas_check_rejects_a_wrong_ray() -> None:
    lp = HighsLP(2, [0.0, 0.0], [1.0, 1.0])
    lp.add_rows(np.array([[1.0, 1.0], [1.0, 0.0]]), [1.5, -INF], [INF, 0.2])
    res = lp.solve()
    assert res.status is LPStatus.INFEASIBLE and res.ray_checked
    args = (RowSystem(*lp.rows()), lp.col_lower, lp.col_upper)
    assert check_farkas(*args, res.ray, 1e-9)[0]
    assert not check_farkas(*args, np.array([1.0, 0.0]), 1e-9)[0]  # x0 + x1 >= 1.5 alone
    assert not check_farkas(*args, np.zeros(2), 1e-9)[0]


# -- warm start, row stack, time limit ---------------------------------------------------------


def test_warm_start_takes_far_fewer_iterations() -> None:
    a, b, c, lo, hi = _random_lp(200, 150, seed=1)
    lp = _build(a, b, c, lo, hi)
    cold = lp.solve()
    assert cold.status is LPStatus.OPTIMAL
    j = int(np.argmax(np.abs(cold.x) < 1.9))  # a column strictly inside its box
    new_lo = lo.copy()
    new_lo[j] = cold.x[j] + 0.1
    lp.set_col_bounds(np.array([j]), new_lo[j : j + 1], hi[j : j + 1])
    warm = lp.solve()
    fresh = _build(a, b, c, new_lo, hi).solve()
    assert warm.status is fresh.status is LPStatus.OPTIMAL
    assert warm.objective == pytest.approx(fresh.objective, abs=1e-7)
    assert cold.iterations > 50
    assert warm.iterations * 5 < fresh.iterations


def test_truncate_rows_matches_a_fresh_model() -> None:
    a, b, c, lo, hi = _random_lp(30, 20, seed=7)
    lp = _build(a, b, c, lo, hi)
    base = lp.solve()
    rng = np.random.default_rng(8)
    for depth in range(3):  # push a few levels of rows, solving at each
        extra = rng.standard_normal((2, 30))
        lp.add_rows(extra, np.full(2, -INF), extra @ base.x - 0.05 * (depth + 1))
        lp.solve()
    assert lp.n_rows == 26
    lp.truncate_rows(22)
    res = lp.solve()
    a_now, lower, upper = lp.rows()
    fresh = HighsLP(30, lo, hi)
    fresh.add_rows(a_now, lower, upper)
    fresh.set_objective(c)
    assert res.status is LPStatus.OPTIMAL
    assert res.objective == pytest.approx(fresh.solve().objective, abs=1e-7)
    lp.truncate_rows(20)
    assert lp.solve().objective == pytest.approx(base.objective, abs=1e-7)


def test_time_limit_is_per_solve() -> None:
    a, b, c, lo, hi = _random_lp(200, 150, seed=2)
    lp = _build(a, b, c, lo, hi)
    hit = lp.solve(time_limit=1e-7)
    assert hit.status is LPStatus.UNKNOWN and not hit.checked
    assert "time" in hit.raw_status.lower()
    for _ in range(3):  # HiGHS's own clock is cumulative; ours must not be
        res = lp.solve(time_limit=5.0)
        assert res.status is LPStatus.OPTIMAL


# -- agreement with scipy, and the re-check ----------------------------------------------------


@pytest.mark.parametrize("seed", range(8))
def test_random_lps_agree_with_linprog(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    n, m = int(rng.integers(2, 25)), int(rng.integers(1, 20))
    a, b, c, lo, hi = _random_lp(n, m, seed=seed, box=float(rng.uniform(0.5, 5.0)))
    # Make some rows two-sided and some equalities, to exercise every kind of row.
    row_lo = np.where(rng.random(m) < 0.3, b - rng.uniform(0.5, 3.0, m), -INF)
    sense = "max" if seed % 2 else "min"
    lp = HighsLP(n, lo, hi)
    lp.add_rows(a, row_lo, b)
    lp.set_objective(c, sense=sense)
    res = lp.solve()
    sign = -1.0 if sense == "max" else 1.0
    finite_lo = np.isfinite(row_lo)
    ref = linprog(
        sign * c,
        A_ub=np.vstack([a, -a[finite_lo]]),
        b_ub=np.concatenate([b, -row_lo[finite_lo]]),
        bounds=list(zip(lo, hi, strict=True)),
        method="highs",
    )
    if ref.status == 2:
        assert res.status is LPStatus.INFEASIBLE
        return
    assert ref.status == 0
    assert res.status is LPStatus.OPTIMAL and res.checked
    assert res.objective == pytest.approx(sign * ref.fun, abs=1e-7)
    if sense == "min":
        assert res.objective_bound <= res.objective + 1e-12
    else:
        assert res.objective_bound >= res.objective - 1e-12


def _linprog_reference(lp: HighsLP, c: np.ndarray, sense: str):
    a, lower, upper = lp.rows()
    a = a.toarray()
    sign = -1.0 if sense == "max" else 1.0
    has_lo, has_hi = np.isfinite(lower), np.isfinite(upper)
    ref = linprog(
        sign * c,
        A_ub=np.vstack([a[has_hi], -a[has_lo]]),
        b_ub=np.concatenate([upper[has_hi], -lower[has_lo]]),
        bounds=list(zip(lp.col_lower, lp.col_upper, strict=True)),
        method="highs",
    )
    return ref.status, (sign * ref.fun if ref.status == 0 else None)


def test_depth_first_walk_agrees_with_fresh_solves() -> None:
    """Push and pop rows, move bounds and objectives on one warm model, as a search would."""
    n = 12
    a, b, c, lo, hi = _random_lp(n, 8, seed=11)
    lp = _build(a, b, c, lo, hi)
    rng = np.random.default_rng(12)
    marks: list[int] = []
    sense = "min"
    for _step in range(40):
        move = rng.integers(4)
        if move == 0:  # branch: push one or two rows
            marks.append(lp.n_rows)
            k = int(rng.integers(1, 3))
            rows = rng.standard_normal((k, n))
            lp.add_rows(rows, np.full(k, -INF), rng.uniform(-1.0, 2.0, k))
        elif move == 1 and marks:  # backtrack
            lp.truncate_rows(marks.pop())
        elif move == 2:  # tighten or relax a few column bounds
            idx = rng.choice(n, size=3, replace=False)
            new_lo = rng.uniform(-2.0, 0.0, 3)
            lp.set_col_bounds(idx, new_lo, new_lo + rng.uniform(0.1, 3.0, 3))
        else:
            c = rng.standard_normal(n)
            sense = "max" if rng.random() < 0.5 else "min"
            lp.set_objective(c, sense=sense)
        res = lp.solve()
        ref_status, ref_value = _linprog_reference(lp, c, sense)
        if ref_status == 2:
            assert res.status is LPStatus.INFEASIBLE and res.ray_checked
        else:
            assert ref_status == 0
            assert res.status is LPStatus.OPTIMAL and res.checked
            assert res.objective == pytest.approx(ref_value, abs=1e-7)


def test_corrupted_solution_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    a, b, c, lo, hi = _random_lp(10, 8, seed=5)
    lp = _build(a, b, c, lo, hi)
    assert lp.solve().status is LPStatus.OPTIMAL
    real = lp._highs.getSolution

    def corrupted():
        solution = real()
        solution.col_value = [v + 0.5 for v in solution.col_value]
        return solution

    monkeypatch.setattr(lp._highs, "getSolution", corrupted)
    res = lp.solve()
    assert res.status is LPStatus.UNKNOWN and not res.checked
    assert "re-check" in res.raw_status


def test_unrecognised_status_is_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    lp = HighsLP(1, [0.0], [1.0])
    assert lp.solve().status is LPStatus.OPTIMAL
    monkeypatch.setattr(highs_module, "_STATUS", {})
    assert lp.solve().status is LPStatus.UNKNOWN


# -- boundary details --------------------------------------------------------------------------


def test_huge_row_bounds_mean_infinity() -> None:
    lp = HighsLP(1, [0.0], [1.0])
    lp.add_rows(np.array([[1.0]]), [-1e30], [1e25])  # HiGHS rejects finite bounds past 1e20
    _, lower, upper = lp.rows()
    assert lower[0] == -INF and upper[0] == INF
    assert lp.solve().status is LPStatus.OPTIMAL


def test_infinite_column_bounds_are_refused() -> None:
    with pytest.raises(AssertionError, match="finite"):
        HighsLP(2, [0.0, -INF], [1.0, 1.0])


def test_nothing_is_printed() -> None:
    # A fresh process: HiGHS prints its banner only on the first construction in a process.
    script = (
        "import numpy as np\n"
        "from verinet.lp import HighsLP\n"
        "lp = HighsLP(2, [0.0, 0.0], [1.0, 1.0])\n"
        "lp.add_rows(np.ones((1, 2)), [-np.inf], [1.5])\n"
        "lp.set_objective(np.ones(2), 'max')\n"
        "lp.solve()\n"
        "lp.add_rows(np.ones((1, 2)), [3.0], [np.inf])\n"
        "lp.solve()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout == "" and done.stderr == ""

