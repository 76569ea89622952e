"""VNN-LIB reader: every language feature and the DNF / grouping semantics."""

from __future__ import annotations

import numpy as np
import pytest

from verinet.errors import SpecParseError
from verinet.spec import Box, Case, Conjunction, Property, parse_vnnlib, read_vnnlib


def _decl(n_in: int, n_out: int) -> str:
    xs = "".join(f"(declare-const X_{i} Real)\n" for i in range(n_in))
    ys = "".join(f"(declare-const Y_{j} Real)\n" for j in range(n_out))
    return xs + ys


_BOX1 = "(assert (>= X_0 -1))\n(assert (<= X_0 1))\n"


def _only_case(p: Property) -> Case:
    assert len(p.cases) == 1
    return p.cases[0]


def test_standard_layout() -> None:
    p = parse_vnnlib(_decl(2, 2) + """
        (assert (<= X_0 0.5)) (assert (>= X_0 -0.5))
        (assert (<= X_1 2)) (assert (>= X_1 1))
        (assert (>= Y_0 3.5))
        (assert (<= Y_1 Y_0))
    """)
    assert (p.n_inputs, p.n_outputs) == (2, 2)
    case = _only_case(p)
    assert case.box == Box([-0.5, 1.0], [0.5, 2.0])
    assert case.bad == (Conjunction(np.array([[-1.0, 0.0], [-1.0, 1.0]]), np.array([-3.5, 0.0])),)


@pytest.mark.parametrize(("text", "value"), [
    ("-1", -1.0), (".5", 0.5), ("1e-3", 1e-3), ("-6.0E+2", -600.0), ("+3", 3.0),
    ("3.", 3.0), ("0.1", 0.1), ("(- 2.5)", -2.5), ("1e300", 1e300),
])
def test_number_notations(text: str, value: float) -> None:
    p = parse_vnnlib(_decl(1, 1) + _BOX1 + f"(assert (<= Y_0 {text}))")
    assert _only_case(p).bad[0].b.tolist() == [value]


def test_number_on_either_side_and_strict_comparisons() -> None:
    forms = ["(<= X_0 0.5)", "(>= 0.5 X_0)", "(< X_0 0.5)", "(> 0.5 X_0)"]
    for form in forms:
        p = parse_vnnlib(_decl(1, 1) + f"(assert (>= X_0 0)) (assert {form}) (assert (<= Y_0 0))")
        assert _only_case(p).box == Box([0.0], [0.5]), form
    lower = ["(>= X_0 -0.5)", "(<= -0.5 X_0)", "(> X_0 -0.5)", "(< -0.5 X_0)"]
    for form in lower:
        p = parse_vnnlib(_decl(1, 1) + f"(assert (<= X_0 1)) (assert {form}) (assert (<= Y_0 0))")
        assert _only_case(p).box == Box([-0.5], [1.0]), form


def test_equality_gives_two_rows_or_a_point_box() -> None:
    p = parse_vnnlib(_decl(2, 2) + "(assert (= X_0 0.25)) (assert (>= X_1 0)) (assert (<= X_1 1))"
                     "(assert (= Y_0 Y_1))")
    case = _only_case(p)
    assert case.box == Box([0.25, 0.0], [0.25, 1.0])
    assert case.bad[0] == Conjunction(np.array([[1.0, -1.0], [-1.0, 1.0]]), np.zeros(2))


def test_comments_and_tight_spacing() -> None:
    text = (";; header\n(declare-const X_0 Real);trailing\n(declare-const Y_0 Real)\n"
            "(assert(and(>= X_0 -1)(<= X_0 1)));; inline ; comment\n"
            "(assert(<= Y_0 2))")
    case = _only_case(parse_vnnlib(text))
    assert case.box == Box([-1.0], [1.0])
    assert case.bad[0].b.tolist() == [2.0]


def test_tightest_bound_wins() -> None:
    p = parse_vnnlib(_decl(1, 1) + "(assert (<= X_0 3)) (assert (<= X_0 1)) (assert (<= X_0 2))"
                     "(assert (>= X_0 -5)) (assert (>= X_0 -1)) (assert (<= Y_0 0))")
    assert _only_case(p).box == Box([-1.0], [1.0])


def test_input_rows_and_mixed_rows_go_to_a_in() -> None:
    p = parse_vnnlib(_decl(2, 1) + "(assert (and (>= X_0 0) (<= X_0 1) (>= X_1 0) (<= X_1 1)))"
                     "(assert (<= X_0 X_1)) (assert (>= Y_0 X_1))")
    conj = _only_case(p).bad[0]
    np.testing.assert_array_equal(conj.A_in, [[1.0, -1.0], [0.0, 1.0]])
    np.testing.assert_array_equal(conj.A_out, [[0.0], [-1.0]])
    np.testing.assert_array_equal(conj.b, [0.0, 0.0])


def test_linear_terms() -> None:
    p = parse_vnnlib(_decl(1, 2) + _BOX1 + "(assert (<= (+ (* 2 Y_0) (- Y_1) 1) (* Y_1 0.5)))")
    conj = _only_case(p).bad[0]
    np.testing.assert_array_equal(conj.A_out, [[2.0, -1.5]])
    assert conj.b.tolist() == [-1.0]
    with pytest.raises(SpecParseError, match="nonlinear"):
        parse_vnnlib(_decl(1, 2) + _BOX1 + "(assert (<= (* Y_0 Y_1) 0))")


def test_box_inside_or_without_top_level_box() -> None:
    p = parse_vnnlib(_decl(1, 1) + "(assert (or (and (>= X_0 -1) (<= X_0 1) (>= Y_0 100))))")
    case = _only_case(p)
    assert case.box == Box([-1.0], [1.0])
    assert case.bad == (Conjunction(np.array([[-1.0]]), np.array([-100.0])),)


def test_dnf_cross_product_in_text_order() -> None:
    p = parse_vnnlib(_decl(1, 3) + _BOX1 + "(assert (or (<= Y_0 0) (<= Y_1 0)))"
                     "(assert (or (<= Y_2 0) (and (<= Y_0 1) (<= Y_1 1))))")
    case = _only_case(p)
    rows = [c.A_out.tolist() for c in case.bad]
    assert rows == [
        [[1, 0, 0], [0, 0, 1]],
        [[1, 0, 0], [1, 0, 0], [0, 1, 0]],
        [[0, 1, 0], [0, 0, 1]],
        [[0, 1, 0], [1, 0, 0], [0, 1, 0]],
    ]


def test_nested_or_inside_and_distributes() -> None:
    p = parse_vnnlib(_decl(1, 2) + "(assert (and (or (>= X_0 0) (>= X_0 -1)) (<= X_0 1)"
                     " (or (<= Y_0 0) (<= Y_1 0))))")
    assert [c.box for c in p.cases] == [Box([0.0], [1.0]), Box([-1.0], [1.0])]
    assert all(len(c.bad) == 2 for c in p.cases)


def test_grouping_by_identical_box_keeps_first_seen_order() -> None:
    p = parse_vnnlib(_decl(1, 1) + """
        (assert (or
            (and (>= X_0 0) (<= X_0 1) (<= Y_0 1))
            (and (>= X_0 -1) (<= X_0 0) (<= Y_0 2))
            (and (<= X_0 1) (>= X_0 0) (<= Y_0 3))))""")
    assert [c.box for c in p.cases] == [Box([0.0], [1.0]), Box([-1.0], [0.0])]
    assert [[c.b[0] for c in case.bad] for case in p.cases] == [[1.0, 3.0], [2.0]]


def test_empty_boxes_are_dropped() -> None:
    p = parse_vnnlib(_decl(1, 1) + """
        (assert (or (and (>= X_0 2) (<= X_0 1) (<= Y_0 0))
                    (and (>= X_0 0) (<= X_0 1) (<= Y_0 5))))""")
    assert _only_case(p).bad[0].b.tolist() == [5.0]
    none = parse_vnnlib(_decl(1, 1) + "(assert (>= X_0 1)) (assert (<= X_0 0)) (assert (<= Y_0 0))")
    assert none.cases == () and none.n_inputs == 1
    assert not none.is_violated_by([0.5], [-1.0])


def test_missing_bound_is_an_error_naming_the_variable() -> None:
    with pytest.raises(SpecParseError, match="X_1 has no lower bound"):
        parse_vnnlib(_decl(2, 1) + _BOX1 + "(assert (<= X_1 1)) (assert (<= Y_0 0))")
    with pytest.raises(SpecParseError, match="X_0 has no upper bound"):
        parse_vnnlib(_decl(1, 1) + "(assert (or (and (>= X_0 0) (<= X_0 1)) (>= X_0 0)))")


def test_assert_without_output_constraint_is_always_bad() -> None:
    p = parse_vnnlib(_decl(1, 1) + _BOX1)
    assert _only_case(p).bad[0].k == 0
    assert p.is_violated_by([0.0], [1e9])


def test_boilerplate_commands_are_ignored() -> None:
    p = parse_vnnlib("(set-logic QF_LRA)\n" + _decl(1, 1) + _BOX1 + "(assert (<= Y_0 0))\n"
                     "(check-sat)\n(get-model)\n(exit)\n")
    assert len(p.cases) == 1


def test_read_vnnlib_names_the_property_after_the_file(tmp_path) -> None:
    f = tmp_path / "p.vnnlib"
    f.write_text(_decl(1, 1) + _BOX1 + "(assert (<= Y_0 0))")
    assert read_vnnlib(f).name == str(f)
    bom = tmp_path / "bom.vnnlib"
    bom.write_bytes(b"\xef\xbb\xbf" + f.read_bytes().replace(b"\n", b"\r\n"))
    assert read_vnnlib(bom) == read_vnnlib(f)
    with pytest.raises(SpecParseError, match="cannot read"):
        read_vnnlib(tmp_path / "missing.vnnlib")
