"""Input splitting pieces: box shrinking keeps every counterexample, candidates stay inside."""

from __future__ import annotations

import numpy as np
import pytest

from verinet.search.input_split import CaseRows, _candidates, shrink_boxes
from verinet.spec.property import Box, Case, Conjunction


def _rows(k_per_conj: list[int], n_out: int, n_in: int, rng) -> tuple[Case, CaseRows]:
    conjs = tuple(Conjunction(A_out=rng.normal(size=(k, n_out)), b=rng.normal(size=k))
                  for k in k_per_conj)
    case = Case(Box(-np.ones(n_in), np.ones(n_in)), conjs)
    return case, CaseRows.of(case, n_in, n_out)


@pytest.mark.parametrize("seed", range(20))
def test_shrink_never_cuts_off_a_point_of_the_linear_region(seed):
    rng = np.random.default_rng(seed)
    n, B = int(rng.integers(1, 6)), 16
    case, rows = _rows([int(rng.integers(1, 4)) for _ in range(int(rng.integers(1, 3)))],
                       3, n, rng)
    K = rows.b.size
    lo = rng.uniform(-1, 0, size=(B, n))
    hi = lo + rng.uniform(0, 1, size=(B, n)) * (rng.random((B, n)) > 0.1)  # some flat dims
    A = rng.normal(size=(B, K, n))
    c = rng.normal(size=(B, K))
    always_bad = np.zeros(rows.n_conj, dtype=bool)
    slo, shi, empty = shrink_boxes(lo, hi, A, c, rows, always_bad)
    assert np.all(slo >= lo) and np.all(shi <= hi)
    pts = lo[:, None, :] + (hi - lo)[:, None, :] * rng.random((B, 4000, n))
    lin = np.einsum("bkn,bsn->bsk", A, pts) + c[:, None, :]  # (B, S, K)
    for j in range(rows.n_conj):
        sel = rows.conj == j
        inside = (lin[:, :, sel] <= rows.b[sel]).all(axis=2)  # points meeting conjunction j
        for b in range(B):
            p = pts[b][inside[b]]
            if p.size:
                assert not empty[b]
                assert np.all(p >= slo[b]) and np.all(p <= shi[b])


def test_shrink_closes_an_impossible_conjunction():
    case, rows = _rows([1], 1, 2, np.random.default_rng(0))
    rows.b[:] = -10.0
    A = np.ones((1, 1, 2))  # x0 + x1 <= -10 on [-1, 1]^2: impossible
    slo, shi, empty = shrink_boxes(-np.ones((1, 2)), np.ones((1, 2)), A, np.zeros((1, 1)),
                                   rows, np.zeros(1, dtype=bool))
    assert empty[0]


def test_candidates_lie_in_their_boxes():
    rng = np.random.default_rng(1)
    case, rows = _rows([2, 3], 4, 3, rng)
    B, K = 10, rows.b.size
    lo = rng.uniform(-1, 0, (B, 3))
    hi = lo + rng.uniform(0, 1, (B, 3))
    A, c = rng.normal(size=(B, K, 3)), rng.normal(size=(B, K))
    pts = _candidates(lo, hi, A, c, rng.normal(size=(B, K)), rows,
                      np.ones((B, rows.n_conj), dtype=bool))
    assert pts.shape == (3 * B, 3)
    box_lo, box_hi = np.tile(lo, (3, 1)), np.tile(hi, (3, 1))
    assert np.all(pts >= box_lo) and np.all(pts <= box_hi)
