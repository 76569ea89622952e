"""The Property data model: validation, equality, membership and margin."""

from __future__ import annotations

import numpy as np
import pytest

from verinet.errors import InputError, SpecMismatchError, VerinetError
from verinet.spec import Box, Case, Conjunction, Property


def _two_case_property() -> Property:
    """Inputs x in R^2, outputs y in R^2.

    Case 0 (x in [0,1]^2): bad if y0 >= 1, or (y1 <= y0 and x0 + y1 <= 0.5).
    Case 1 (x in [2,3] x [0,1]): bad if y1 <= -1.
    """
    c0a = Conjunction(np.array([[-1.0, 0.0]]), np.array([-1.0]))
    c0b = Conjunction(np.array([[-1.0, 1.0], [0.0, 1.0]]), np.array([0.0, 0.5]),
                      np.array([[0.0, 0.0], [1.0, 0.0]]))
    c1 = Conjunction(np.array([[0.0, 1.0]]), np.array([-1.0]))
    return Property(
        (Case(Box([0.0, 0.0], [1.0, 1.0]), (c0a, c0b)),
         Case(Box([2.0, 0.0], [3.0, 1.0]), (c1,))),
        n_inputs=2, n_outputs=2, name="two-case")


def test_box_validates() -> None:
    with pytest.raises(InputError, match="empty box"):
        Box([0.0, 1.0], [1.0, 0.5])
    with pytest.raises(InputError, match="finite"):
        Box([0.0], [np.inf])
    with pytest.raises(InputError, match="differ in size"):
        Box([0.0], [1.0, 2.0])
    with pytest.raises(VerinetError):
        Box([[0.0]], [[1.0]])


def test_arrays_are_float64_readonly_copies() -> None:
    lo = np.array([0, 1])
    box = Box(lo, [2, 3])
    lo[0] = 5
    assert box.lower.dtype == np.float64 and box.lower[0] == 0.0
    with pytest.raises(ValueError):
        box.lower[0] = 1.0


def test_conjunction_shapes_and_canonical_a_in() -> None:
    with pytest.raises(InputError, match="rows"):
        Conjunction(np.zeros((2, 3)), np.zeros(1))
    with pytest.raises(InputError, match="rows"):
        Conjunction(np.zeros((1, 3)), np.zeros(1), np.zeros((2, 2)))
    assert Conjunction(np.ones((1, 3)), np.zeros(1), np.zeros((1, 2))).A_in is None
    empty = Conjunction(np.zeros((0, 3)), np.zeros(0))
    assert empty.k == 0


def test_property_checks_sizes() -> None:
    conj = Conjunction(np.zeros((1, 2)), np.zeros(1))
    with pytest.raises(InputError, match="box"):
        Property((Case(Box([0.0], [1.0]), (conj,)),), n_inputs=2, n_outputs=2)
    with pytest.raises(InputError, match="A_out"):
        Property((Case(Box([0.0], [1.0]), (conj,)),), n_inputs=1, n_outputs=3)


def test_equality_compares_values_not_identity() -> None:
    p, q = _two_case_property(), _two_case_property()
    assert p == q and p is not q
    assert p == Property(q.cases, 2, 2, name="another name")  # the name is only a label
    r = Property(q.cases[:1], 2, 2)
    assert p != r
    c = Conjunction(np.array([[1.0, 0.0]]), np.array([1.0]))
    assert c != Conjunction(np.array([[1.0, 0.0]]), np.array([1.0]), np.array([[1.0, 0.0]]))
    assert Box([0.0], [1.0]) == Box([0.0], [1.0]) != Box([0.0], [2.0])
    assert p != "not a property"


def test_check_fits() -> None:
    p = _two_case_property()
    p.check_fits(2, 2)
    with pytest.raises(SpecMismatchError) as info:
        p.check_fits(5, 2, where="net.onnx")
    msg = str(info.value)
    assert "two-case" in msg and "net.onnx" in msg and "2 inputs" in msg and "5 inputs" in msg
    with pytest.raises(SpecMismatchError, match="1 outputs"):
        p.check_fits(2, 1)


@pytest.mark.parametrize(("x", "y", "bad"), [
    ([0.5, 0.5], [1.0, 5.0], True),      # y0 >= 1, on the boundary
    ([0.5, 0.5], [0.99, 5.0], False),
    ([0.2, 0.5], [0.4, 0.3], True),      # y1 <= y0 and x0 + y1 = 0.5
    ([0.3, 0.5], [0.4, 0.3], False),     # x0 + y1 = 0.6 > 0.5
    ([1.5, 0.5], [9.0, -9.0], False),    # x in no box
    ([2.5, 0.5], [0.0, -1.0], True),
    ([2.5, 0.5], [5.0, 0.0], False),     # case 1 ignores y0
])
def test_is_violated_by_and_margin_agree(x: list, y: list, bad: bool) -> None:
    p = _two_case_property()
    assert p.is_violated_by(np.array(x), np.array(y)) is bad
    m = p.margin(np.array([x]), np.array([y]))
    assert m.shape == (1,)
    assert bool(m[0] >= 0) is bad


def test_margin_values() -> None:
    p = _two_case_property()
    x = np.array([[0.5, 0.5], [0.2, 0.5], [1.5, 0.5], [2.5, 0.5]])
    y = np.array([[0.5, 5.0], [0.4, 0.3], [0.0, 0.0], [0.0, -3.0]])
    m = p.margin(x, y)
    # row 0: case 0: y0 >= 1 -> -0.5; second conj min(0.5 - 5.0, 0.5 - 0.5 - 5.0) -> -0.5
    # row 1: max(-0.6, min(0.1, 0.5 - 0.5)) = 0.0;  row 2: no box;  row 3: -1 + 3 = 2
    np.testing.assert_allclose(m, [-0.5, 0.0, -np.inf, 2.0])


def test_tolerance_and_trivial_conjunction() -> None:
    p = _two_case_property()
    assert not p.is_violated_by([1.0 + 1e-12, 0.5], [1.0, 0.0])
    assert p.is_violated_by([1.0 + 1e-12, 0.5], [1.0, 0.0], tol=1e-9)
    assert p.is_violated_by([0.5, 0.5], [1.0 - 1e-12, 0.0], tol=1e-9)
    always = Property((Case(Box([0.0], [1.0]), (Conjunction(np.zeros((0, 1)), np.zeros(0)),)),),
                      1, 1)
    assert always.is_violated_by([0.5], [123.0])
    assert always.margin(np.array([[0.5], [2.0]]), np.zeros((2, 1))).tolist() == [np.inf, -np.inf]
    never = Property((), 1, 1)
    assert not never.is_violated_by([0.5], [0.0])
    with pytest.raises(InputError):
        p.margin(np.zeros((3, 2)), np.zeros((2, 2)))


def test_describe_is_one_line() -> None:
    text = _two_case_property().describe()
    assert "\n" not in text
    assert "two-case" in text and "2 input box" in text and "3 conjunction" in text
