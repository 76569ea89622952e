"""Falsification strategies and ``falsify``: points stay in the box, only confirmed points leave."""

from __future__ import annotations

import time

import numpy as np
import pytest

from verinet.counterexample import CexChecker, case_margin
from verinet.falsify import STRATEGIES, Effort, falsify
from verinet.network import Affine, NetworkBuilder, Relu
from verinet.result import Stats
from verinet.spec import Box, Case, Conjunction, Property

EFFORT = Effort(samples=64, restarts=8, steps=20)


def _diff_net():
    """y0 = relu(x0 - x1), y1 = relu(x1 - x0) on two inputs."""
    nb = NetworkBuilder()
    nb.add_input("x", (2,))
    nb.add("h", Affine(("x",), 2, W=np.array([[1.0, -1.0], [-1.0, 1.0]]), b=np.zeros(2)), (2,))
    nb.add("y", Relu(("h",), 2), (2,))
    return nb.finish("y", name="diff")


def _prop(threshold: float) -> Property:
    """Box [-1, 1] x [-0.5, 1]; bad region y0 >= threshold (reached only when threshold <= 1.5,
    near the corner x = (1, -0.5))."""
    box = Box(np.array([-1.0, -0.5]), np.array([1.0, 1.0]))
    return Property((Case(box, (Conjunction(np.array([[-1.0, 0.0]]), np.array([-threshold])),)),),
                    n_inputs=2, n_outputs=2)


def _deadline() -> float:
    return time.monotonic() + 10.0


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_strategy_returns_points_in_the_box(name):
    net, prop = _diff_net(), _prop(1.4)
    case = prop.cases[0]
    pts = STRATEGIES[name](net, case, np.random.default_rng(1), _deadline(), EFFORT)
    assert pts.ndim == 2 and pts.shape[1] == 2 and pts.shape[0] >= 1
    assert np.all(case.box.contains(pts))
    marg = case_margin(case, pts, net.evaluate(pts))
    assert np.all(np.diff(marg) <= 0), "points must come best first"


def test_pgd_finds_the_adversarial_corner():
    net, prop = _diff_net(), _prop(1.45)  # bad only where x0 - x1 >= 1.45
    case = prop.cases[0]
    pts = STRATEGIES["pgd"](net, case, np.random.default_rng(0), _deadline(), EFFORT)
    best = pts[:1]
    assert case_margin(case, best, net.evaluate(best))[0] >= 0


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_falsify_confirms_what_it_returns(name):
    net, prop = _diff_net(), _prop(1.2)
    checker = CexChecker(net, prop)
    cex = falsify(net, prop, checker, np.random.default_rng(0), _deadline(), (name,),
                  effort=Effort(samples=512, restarts=16))
    assert cex is not None
    assert prop.cases[0].box.contains(cex.x)
    assert cex.margin >= 0
    assert case_margin(prop.cases[0], cex.x[None], net.evaluate(cex.x[None]))[0] >= 0


def test_falsify_never_returns_a_rejected_point(monkeypatch):
    net, prop = _diff_net(), _prop(1.2)
    checker = CexChecker(net, prop)
    seen = []

    def reject(x, source=""):
        seen.append(source)
        return None

    monkeypatch.setattr(checker, "confirm", reject)
    stats = Stats()
    cex = falsify(net, prop, checker, np.random.default_rng(0), _deadline(),
                  tuple(STRATEGIES), stats, effort=EFFORT)
    assert cex is None
    assert seen and stats.rejected == len(seen)
    assert stats.candidates > 0


def test_nothing_to_find_gives_none():
    net, prop = _diff_net(), _prop(1.6)  # x0 - x1 <= 1.5 on the box
    checker = CexChecker(net, prop)
    stats = Stats()
    assert falsify(net, prop, checker, np.random.default_rng(0), _deadline(),
                   tuple(STRATEGIES), stats, effort=EFFORT) is None
    assert stats.rejected == 0


def test_unknown_strategy_is_refused():
    from verinet.errors import InputError

    net, prop = _diff_net(), _prop(1.2)
    with pytest.raises(InputError, match="nosuch"):
        falsify(net, prop, CexChecker(net, prop), np.random.default_rng(0), _deadline(),
                ("nosuch",))
