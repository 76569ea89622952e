"""Writer -> reader round trips are exact (bit-identical arrays)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from verinet.spec import Box, Case, Conjunction, Property, parse_vnnlib, write_vnnlib
from verinet.spec.vnnlib import read_vnnlib

_FLOAT = st.floats(allow_nan=False, allow_infinity=False)
_COEF = st.one_of(st.sampled_from([0.0, 0.0, 1.0, -1.0, 0.5]), _FLOAT)


def _bit_equal(p: Property, q: Property) -> bool:
    """Stricter than ``==``: the same float64 bits everywhere (after ``+ 0.0``)."""
    def bits(a: np.ndarray | None) -> bytes | None:
        return None if a is None else (a + 0.0).tobytes()

    if p != q:
        return False
    for cp, cq in zip(p.cases, q.cases, strict=True):
        if bits(cp.box.lower) != bits(cq.box.lower) or bits(cp.box.upper) != bits(cq.box.upper):
            return False
        for a, b in zip(cp.bad, cq.bad, strict=True):
            if (bits(a.A_out), bits(a.b), bits(a.A_in)) != (bits(b.A_out), bits(b.b), bits(b.A_in)):
                return False
    return True


def _is_bound(row: np.ndarray, n_in: int) -> bool:
    """A row the reader turns into a box bound: one input, coefficient +-1, nothing else."""
    nz = np.flatnonzero(row)
    return nz.size == 1 and nz[0] < n_in and abs(row[nz[0]]) == 1.0


@st.composite
def canonical_properties(draw: st.DrawFn) -> Property:
    """Properties in the reader's canonical form: distinct boxes, no empty case, no row
    that is really an input bound."""
    n_in = draw(st.integers(1, 3))
    n_out = draw(st.integers(1, 3))
    cases: list[Case] = []
    seen: set[bytes] = set()
    for _ in range(draw(st.integers(1, 3))):
        ends = draw(st.lists(st.tuples(_FLOAT, _FLOAT), min_size=n_in, max_size=n_in))
        lower = np.array([min(a, b) for a, b in ends]) + 0.0
        upper = np.array([max(a, b) for a, b in ends]) + 0.0
        key = lower.tobytes() + upper.tobytes()
        if key in seen:
            continue
        seen.add(key)
        conjs = []
        for _ in range(draw(st.integers(1, 3))):
            k = draw(st.integers(0, 3))
            rows = draw(st.lists(
                st.lists(_COEF, min_size=n_in + n_out, max_size=n_in + n_out)
                .map(np.array).filter(lambda r: not _is_bound(r, n_in)),
                min_size=k, max_size=k))
            a = np.array(rows).reshape(k, n_in + n_out)
            b = np.array(draw(st.lists(_FLOAT, min_size=k, max_size=k)))
            conjs.append(Conjunction(a[:, n_in:], b, a[:, :n_in]))
        cases.append(Case(Box(lower, upper), tuple(conjs)))
    return Property(tuple(cases), n_in, n_out)


@settings(max_examples=150, deadline=None)
@given(canonical_properties())
def test_write_then_read_is_identity(p: Property) -> None:
    q = parse_vnnlib(write_vnnlib(p))
    assert _bit_equal(q, p), write_vnnlib(p)


TEXTS = [
    "(declare-const X_0 Real)(declare-const Y_0 Real)(declare-const Y_1 Real)"
    "(assert (or (and (>= X_0 -1) (<= X_0 1) (>= Y_0 100)) (and (>= X_0 0) (<= X_0 2)"
    " (<= Y_1 Y_0) (>= Y_1 X_0)) (and (<= X_0 1) (>= X_0 -1) (<= (+ Y_0 (* 3 X_0)) 0.1))))",
    "(declare-const X_0 Real)(declare-const X_1 Real)(declare-const Y_0 Real)"
    "(assert (<= X_0 .3))(assert (>= X_0 -.3))(assert (= X_1 1e-3))(assert (< X_1 Y_0))",
    "(declare-const X_0 Real)(declare-const Y_0 Real)(assert (>= X_0 1))(assert (<= X_0 0))",
    "(declare-const X_0 Real)(declare-const Y_0 Real)(assert (>= X_0 1))(assert (<= X_0 2))",
    "(declare-const X_0 Real)(declare-const Y_0 Real)(assert (and (>= X_0 0.1) (<= X_0 0.7)))"
    "(assert (or (<= Y_0 Y_0) (<= 1 2) (>= (* 0 Y_0) -0.0)))",
]


def test_parse_write_parse_is_stable(tmp_path) -> None:
    for i, text in enumerate(TEXTS):
        p = parse_vnnlib(text)
        written = write_vnnlib(p, tmp_path / f"p{i}.vnnlib")
        assert _bit_equal(parse_vnnlib(written), p), written
        assert read_vnnlib(tmp_path / f"p{i}.vnnlib") == p


def test_empty_property_round_trips() -> None:
    p = Property((), 2, 3, name="nothing\nto see")
    text = write_vnnlib(p)
    assert text.startswith("; nothing\n")
    assert parse_vnnlib(text) == p
    with_empty_case = Property((Case(Box([0.0, 0.0], [1.0, 1.0]), ()),), 2, 3)
    assert parse_vnnlib(write_vnnlib(with_empty_case)) == p
