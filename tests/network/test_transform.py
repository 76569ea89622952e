"""MaxPool -> ReLU rewrite: same outputs, only Affine/Relu/Sum/Concat left."""

from __future__ import annotations

import numpy as np
import pytest

from verinet.network.ir import NetworkBuilder
from verinet.network.ops import Affine, Concat, Input, MaxPool, Relu, Sum
from verinet.network.transform import has_maxpool, maxpool_to_relu


def _pool_net(rng: np.random.Generator, n: int, m: int, k: int, pad: bool):
    """x -> Affine -> MaxPool (random windows, optional padding) -> Relu -> Affine."""
    nb = NetworkBuilder()
    nb.add_input("x", (n,))
    nb.add("a", Affine(("x",), n, W=rng.standard_normal((n, n)), b=rng.standard_normal(n)), (n,))
    windows = rng.integers(0, n, size=(m, k))
    if pad:
        windows[rng.random((m, k)) < 0.3] = -1
        windows[:, rng.integers(0, k)] = rng.integers(0, n, size=m)  # one real entry per row
    nb.add("p", MaxPool(("a",), m, windows=windows), (m,))
    nb.add("r", Relu(("p",), m), (m,))
    nb.add("y", Affine(("r",), 3, W=rng.standard_normal((3, m)), b=np.zeros(3)), (3,))
    return nb.finish("y")


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 9])
@pytest.mark.parametrize("pad", [False, True])
def test_maxpool_rewrite_equal_outputs(k: int, pad: bool) -> None:
    rng = np.random.default_rng(10 * k + pad)
    net = _pool_net(rng, n=7, m=5, k=k, pad=pad)
    out = maxpool_to_relu(net)
    assert has_maxpool(net) and not has_maxpool(out)
    assert all(isinstance(op, (Input, Affine, Relu, Sum, Concat)) for _, op in out.plan)
    assert out.output_name == net.output_name and out.n_outputs == net.n_outputs
    x = rng.uniform(-3, 3, size=(500, 7))
    np.testing.assert_allclose(out.evaluate(x), net.evaluate(x), rtol=1e-12, atol=1e-12)
    # the pooled node itself keeps its name and its value
    a = net.evaluate_all(x, keep=("p",))["p"]
    b = out.evaluate_all(x, keep=("p",))["p"]
    np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13)


def test_relus_added_per_window() -> None:
    rng = np.random.default_rng(0)
    net = _pool_net(rng, n=6, m=4, k=4, pad=False)
    out = maxpool_to_relu(net)
    assert out.relu_count == net.relu_count + 4 * (4 - 1)  # k - 1 ReLUs per window


def test_no_maxpool_returns_same_network() -> None:
    nb = NetworkBuilder()
    nb.add_input("x", (2,))
    nb.add("r", Relu(("x",), 2), (2,))
    net = nb.finish("r")
    assert maxpool_to_relu(net) is net
