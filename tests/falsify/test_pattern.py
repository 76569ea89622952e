"""The linear program of an activation pattern: its affine forms are the network's on the
pattern's region, and it reaches slivers of the bad region that gradient steps miss."""

from __future__ import annotations

import numpy as np
import pytest

from tests.bounds.test_bounds import NETS
from verinet.counterexample import CexChecker, case_margin
from verinet.falsify import Effort, falsify
from verinet.falsify.pattern import _forms, pattern_points
from verinet.falsify.pgd import pgd_case
from verinet.result import Stats
from verinet.spec.property import Box, Case, Conjunction, Property


@pytest.mark.parametrize("name", sorted(NETS))
def test_affine_forms_are_the_network_on_the_pattern(name):
    """At the point, and at nearby points with the same pattern (the half-spaces hold),
    ``M x + d`` is the network's output (Relu, Sum, Concat, MaxPool, sparse maps)."""
    net = NETS[name]()
    rng = np.random.default_rng(1)
    for _ in range(5):
        x = rng.uniform(-1, 1, net.n_inputs)
        (M, d), G, h = _forms(net, x)
        assert np.allclose(M @ x + d, net.evaluate(x[None])[0], atol=1e-9)
        assert (G @ x <= h + 1e-9).all()
        for _ in range(20):
            z = x + rng.normal(0, 1e-3, x.shape)
            if (G @ z <= h).all():
                assert np.allclose(M @ z + d, net.evaluate(z[None])[0], atol=1e-9)


def _sliver(net, x0, r):
    """Bad: every output within ``r`` of its value at ``x0`` (a sliver when ``r`` is
    small), over the box ``[-1, 1]``."""
    y0 = net.evaluate(x0[None])[0]
    k = y0.size
    A = np.vstack([np.eye(k), -np.eye(k)])
    b = np.concatenate([y0 + r, -(y0 - r)])
    n = net.n_inputs
    return Case(Box(-np.ones(n), np.ones(n)), (Conjunction(A, b),))


@pytest.mark.parametrize("name", ["deep", "wide", "dag", "dag2"])
def test_a_sliver_is_found_from_nearby_points(name):
    net = NETS[name]()
    rng = np.random.default_rng(2)
    x0 = rng.uniform(-0.8, 0.8, net.n_inputs)
    case = _sliver(net, x0, 1e-7)
    starts = x0 + rng.normal(0, 1e-4, (8, net.n_inputs))
    found = pattern_points(net, case, starts)
    assert found.shape[0] >= 1
    assert (case_margin(case, found, net.evaluate(found)) >= 0).all()
    assert ((found >= -1) & (found <= 1)).all()


def test_no_bad_point_gives_nothing():
    net = NETS["wide"]()
    n = net.n_inputs
    case = Case(Box(-np.ones(n), np.ones(n)),
                (Conjunction(np.array([[-1.0] + [0.0] * (net.n_outputs - 1)]),
                             np.array([-1e6])),))  # y_0 >= 1e6: nowhere
    X = np.random.default_rng(0).uniform(-1, 1, (6, n))
    assert pattern_points(net, case, X).shape == (0, n)


def test_the_attack_reaches_a_sliver_gradient_steps_miss():
    """A sliver of width 1e-7 around a random point: pgd alone does not land in it, the
    pattern strategy does, and the point is confirmed."""
    net = NETS["deep"]()
    rng = np.random.default_rng(5)
    x0 = rng.uniform(-0.5, 0.5, net.n_inputs)
    case = _sliver(net, x0, 1e-7)
    prop = Property((case,), net.n_inputs, net.n_outputs)
    X = pgd_case(net, case, np.random.default_rng(0), starts=64)
    assert not (case_margin(case, X, net.evaluate(X)) >= 0).any()
    cex = falsify(net, prop, CexChecker(net, prop), np.random.default_rng(0), np.inf,
                  ("uniform", "pgd", "pattern"), Stats(), effort=Effort(restarts=64))
    assert cex is not None and cex.source == "activation-pattern LP"
