"""Robustness properties: the clipped ball, the default label, ties are violations."""

from __future__ import annotations

import numpy as np
import pytest

from verinet.errors import InputError
from verinet.spec import Box, parse_vnnlib, robustness, write_vnnlib


class _FakeNet:
    """A linear "network" y = W x with ``evaluate``, ``n_inputs`` and ``n_outputs``."""

    def __init__(self, w: np.ndarray) -> None:
        self.w = np.asarray(w, dtype=np.float64)
        self.n_outputs, self.n_inputs = self.w.shape

    def evaluate(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float64).reshape(-1, self.n_inputs) @ self.w.T


def test_ball_and_bad_rows() -> None:
    p = robustness(np.array([[0.5, 0.2]]), 0.1, label=1, n_classes=3)
    assert (p.n_inputs, p.n_outputs) == (2, 3)
    (case,) = p.cases
    assert case.box == Box([0.4, 0.1], [0.6, 0.30000000000000004])
    assert [c.A_out.tolist() for c in case.bad] == [[[-1.0, 1.0, 0.0]], [[0.0, 1.0, -1.0]]]
    assert all(c.b.tolist() == [0.0] and c.A_in is None for c in case.bad)


def test_clipping_with_scalars_and_arrays() -> None:
    p = robustness([0.05, 0.5, 0.98], 0.1, label=0, lower=0.0, upper=[1.0, 0.55, 1.0],
                   n_classes=2)
    box = p.cases[0].box
    np.testing.assert_allclose(box.lower, [0.0, 0.4, 0.88])
    np.testing.assert_allclose(box.upper, [0.15, 0.55, 1.0])
    with pytest.raises(InputError, match="does not meet the input domain at input 0"):
        robustness([2.0, 0.5], 0.1, label=0, lower=0.0, upper=1.0, n_classes=2)
    with pytest.raises(InputError, match="entries"):
        robustness([0.5, 0.5], 0.1, label=0, lower=[0.0, 0.0, 0.0], n_classes=2)


def test_default_label_from_network() -> None:
    net = _FakeNet([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    p = robustness([0.2, 0.9], 0.01, network=net)
    # class 1 wins at x0, so each bad row is y_1 - y_j <= 0
    assert all(c.A_out[0, 1] == 1.0 for c in p.cases[0].bad)
    assert "label=1" in p.name


def test_ties_count_as_violations() -> None:
    p = robustness([0.0], 0.5, label=0, n_classes=3)
    assert p.is_violated_by([0.0], [1.0, 1.0, 0.0])      # tie with class 1
    assert not p.is_violated_by([0.0], [1.0, 0.999, 0.0])
    assert p.is_violated_by([0.0], [0.0, 0.0, 2.0])
    assert not p.is_violated_by([0.6], [0.0, 0.0, 2.0])   # outside the ball
    m = p.margin(np.array([[0.0], [0.0]]), np.array([[1.0, 1.0, 0.0], [3.0, 1.0, 2.0]]))
    assert m.tolist() == [0.0, -1.0]


def test_round_trips_through_vnnlib() -> None:
    p = robustness(np.linspace(0, 1, 6), 0.03, label=2, lower=0.0, upper=1.0, n_classes=4)
    assert parse_vnnlib(write_vnnlib(p)) == p


@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"x0": [0.5], "eps": -0.1, "label": 0, "n_classes": 2}, "eps"),
    ({"x0": [0.5], "eps": float("nan"), "label": 0, "n_classes": 2}, "eps"),
    ({"x0": [0.5], "eps": 0.1, "label": 2, "n_classes": 2}, "label 2"),
    ({"x0": [0.5], "eps": 0.1, "label": -1, "n_classes": 2}, "label -1"),
    ({"x0": [0.5], "eps": 0.1, "label": 0}, "number of classes"),
    ({"x0": [0.5], "eps": 0.1, "n_classes": 2}, "no label"),
    ({"x0": [0.5, 0.1, 0.2], "eps": 0.1, "network": _FakeNet(np.eye(2))}, "x0 has 3"),
    ({"x0": [np.inf], "eps": 0.1, "label": 0, "n_classes": 2}, "finite"),
    ({"x0": [0.5], "eps": 0.1, "label": 0, "n_classes": 1}, "at least 2"),
    ({"x0": [0.5, 0.5], "eps": 0.1, "label": 0, "n_classes": 3,
      "network": _FakeNet(np.eye(2))}, "n_classes=3"),
    ({"x0": [0.5], "eps": 0.1, "label": "cat", "n_classes": 2}, "label 'cat'"),
    ({"x0": [0.5], "eps": 0.1, "label": 0, "n_classes": "ten"}, "integer"),
    ({"x0": ["a"], "eps": 0.1, "label": 0, "n_classes": 2}, "array of numbers"),
    ({"x0": [0.5], "eps": 0.1, "label": 0, "n_classes": 2, "upper": "x"}, "upper"),
])
def test_bad_inputs(kwargs: dict, fragment: str) -> None:
    with pytest.raises(InputError, match=fragment):
        robustness(**kwargs)
