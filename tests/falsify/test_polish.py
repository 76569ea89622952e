"""``polish``: local projected signed-gradient ascent on one conjunction's margin."""

from __future__ import annotations

import numpy as np

from verinet.counterexample import to_input_precision
from verinet.falsify.pgd import polish
from verinet.network.ir import NetworkBuilder
from verinet.network.ops import Affine, Relu
from verinet.spec.property import Conjunction


def _abs_net():
    nb = NetworkBuilder()
    nb.add_input("x", (1,))
    nb.add("h", Affine(("x",), 2, W=np.array([[1.0], [-1.0]]), b=np.zeros(2)), (2,))
    nb.add("r", Relu(("h",), 2), (2,))
    nb.add("y", Affine(("r",), 1, W=np.array([[1.0, 1.0]]), b=np.zeros(1)), (1,))
    return nb.finish("y", name="abs")


def test_polish_reaches_a_sliver_on_the_grid():
    net = _abs_net()
    lo, hi = np.array([-1.0]), np.array([1.0])
    conj = Conjunction(np.array([[-1.0]]), np.array([-(1.0 - 1e-7)]))  # |x| >= 1 - 1e-7
    def project(z):
        return to_input_precision(z, lo, hi, "float32")
    found = list(polish(net, conj, np.array([0.3]), lo, hi, project=project))
    assert found
    for x in found:
        assert np.float32(x[0]) == x[0] and -1.0 <= x[0] <= 1.0
        assert conj.slack(x[None], net.evaluate(x[None])).min() >= 0
    assert found[-1][0] > 0.3  # went up the slope it started on


def test_polish_yields_nothing_out_of_reach():
    net = _abs_net()
    conj = Conjunction(np.array([[-1.0]]), np.array([-1.5]))  # |x| >= 1.5: unreachable
    assert list(polish(net, conj, np.array([0.2]), np.array([-1.0]), np.array([1.0]))) == []


def test_pgd_from_climbs_from_given_starts_and_stays_in_the_box():
    """``pgd_from`` (branch and bound's candidates): each start's best point is in the
    box, its margin never below the start's, and |x| >= 0.9 is reached from near 0."""
    from verinet.falsify.pgd import pgd_from

    net = _abs_net()
    lo, hi = np.array([-1.0]), np.array([1.0])
    conj = Conjunction(np.array([[-1.0]]), np.array([-0.9]))  # |x| >= 0.9
    x0 = np.array([[0.05], [-0.2], [0.5]])
    start = conj.slack(x0, net.evaluate(x0)).min(axis=1)
    best_x, best_m = pgd_from(net, conj, x0.copy(), lo, hi, steps=8)
    assert ((best_x >= lo) & (best_x <= hi)).all()
    assert (best_m >= start).all() and (best_m >= 0).all()
    assert np.allclose(conj.slack(best_x, net.evaluate(best_x)).min(axis=1), best_m)
