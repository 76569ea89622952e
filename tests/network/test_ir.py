"""The network IR: input coercion, evaluation, gradients, folding and the summary."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from verinet.errors import InputError
from verinet.network import Affine, Concat, MaxPool, Network, NetworkBuilder, Relu, Sum
from verinet.network.ir import compose_affine


def _affine(rng, src: str, n_in: int, n_out: int, sparse: bool = False) -> Affine:
    W = rng.normal(size=(n_out, n_in))
    if sparse:
        W = sp.csr_array(W * (rng.random(W.shape) < 0.3))
    return Affine((src,), n_out, W=W, b=rng.normal(size=n_out))


def _mixed_net(seed: int = 0, simplify: bool = True) -> Network:
    """Input (1, 3, 4) -> two branches with Relu, MaxPool, Sum and Concat -> 3 outputs."""
    rng = np.random.default_rng(seed)
    nb = NetworkBuilder()
    nb.add_input("x", (1, 3, 4))
    nb.add("h", _affine(rng, "x", 12, 16), (1, 4, 4))
    nb.add("r", Relu(("h",), 16), (1, 4, 4))
    win = np.array([[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13], [10, 11, 14, -1]])
    nb.add("p", MaxPool(("r",), 4, windows=win), (1, 2, 2))
    nb.add("s", _affine(rng, "x", 12, 4, sparse=True), (4,))
    nb.add("sum", Sum(("p", "s"), 4), (4,))
    nb.add("r2", Relu(("sum",), 4), (4,))
    nb.add("cat", Concat(("r2", "r", "r2"), 24), (24,))
    nb.add("out", _affine(rng, "cat", 24, 3), (3,))
    nb.add("unused", _affine(rng, "x", 12, 2), (2,))
    return nb.finish("out", name="mixed", simplify=simplify)


def _chain(rng, sizes, relu_after=()) -> Network:
    nb = NetworkBuilder()
    nb.add_input("x", (sizes[0],))
    prev = "x"
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        nb.add(f"a{i}", _affine(rng, prev, a, b), (b,))
        prev = f"a{i}"
        if i in relu_after:
            nb.add(f"r{i}", Relu((prev,), b), (b,))
            prev = f"r{i}"
    return nb.finish(prev, name="chain")


# ------------------------------------------------------------------ input forms
def test_evaluate_accepts_flat_batched_and_shaped_inputs():
    net = _mixed_net()
    assert net.input_shape == (1, 3, 4) and net.n_inputs == 12 and net.n_outputs == 3
    rng = np.random.default_rng(1)
    xb = rng.normal(size=(5, 12))
    y = net.evaluate(xb)
    assert y.shape == (5, 3)

    def close(a, b):  # a batch of one may sum in another order than a batch of five
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)

    close(net.evaluate(xb[0]), y[:1])  # flat sample
    close(net.evaluate(xb[0].reshape(1, 3, 4)), y[:1])  # shaped
    close(net.evaluate(xb.reshape(5, 1, 3, 4)), y)  # shaped batch
    close(net.evaluate(xb.reshape(5, 3, 4)), y)  # batch of any shape
    close(net.evaluate(xb.tolist()), y)  # nested lists
    assert net.evaluate(xb.astype(np.float32)).dtype == np.float64


def test_shaped_sample_is_not_mistaken_for_a_batch():
    rng = np.random.default_rng(2)
    nb = NetworkBuilder()
    nb.add_input("x", (2, 3))
    nb.add("y", _affine(rng, "x", 6, 2), (2,))
    net = nb.finish("y")
    x = rng.normal(size=(2, 3))
    assert net.as_batch(x).shape == (1, 6)
    assert net.evaluate(x).shape == (1, 2)
    assert net.as_batch(rng.normal(size=(4, 6))).shape == (4, 6)


@pytest.mark.parametrize("shape", [(11,), (13,), (2, 11), (3, 2, 5), (), (0,)])
def test_wrong_input_size_is_an_input_error(shape):
    net = _mixed_net()
    with pytest.raises(InputError, match="12 inputs"):
        net.as_batch(np.zeros(shape))
    with pytest.raises(InputError):
        net.evaluate(np.zeros(shape))


def test_evaluate_all_keeps_what_is_asked():
    net = _mixed_net()
    x = np.random.default_rng(3).normal(size=(2, 12))
    every = net.evaluate_all(x)
    assert set(every) == {n for n, _ in net.ops()}
    some = net.evaluate_all(x, keep=("r", net.output_name))
    assert set(some) == {"r", net.output_name}
    np.testing.assert_array_equal(some["r"], every["r"])
    np.testing.assert_array_equal(some["r"], np.maximum(every["h"], 0))


# ------------------------------------------------------------------ semantics
def test_forward_matches_a_hand_computation():
    net = _mixed_net(simplify=False)
    x = np.random.default_rng(4).normal(size=(3, 12))
    v = net.evaluate_all(x)
    r = v["r"]
    p = np.stack([r[:, [0, 1, 4, 5]].max(1), r[:, [2, 3, 6, 7]].max(1),
                  r[:, [8, 9, 12, 13]].max(1), r[:, [10, 11, 14]].max(1)], axis=1)
    np.testing.assert_array_equal(v["p"], p)
    np.testing.assert_allclose(v["sum"], p + v["s"])
    np.testing.assert_array_equal(v["cat"], np.concatenate([v["r2"], r, v["r2"]], axis=1))


def test_duplicate_inputs_evaluate_and_differentiate():
    rng = np.random.default_rng(5)
    nb = NetworkBuilder()
    nb.add_input("x", (3,))
    nb.add("r", Relu(("x",), 3), (3,))
    nb.add("twice", Sum(("r", "r"), 3), (3,))
    nb.add("cat", Concat(("twice", "twice"), 6), (6,))
    nb.add("y", _affine(rng, "cat", 6, 2), (2,))
    net = nb.finish("y")
    x = np.array([[1.0, -2.0, 3.0]])
    r = np.maximum(x, 0)
    A = net.op("y")
    np.testing.assert_allclose(net.evaluate(x), np.hstack([2 * r, 2 * r]) @ A.W.T + A.b)
    c = np.array([1.0, -1.0])
    _, g = net.gradient(x, c)
    Wc = c @ A.W
    np.testing.assert_allclose(g, 2 * (Wc[:3] + Wc[3:]) * (x > 0))


@pytest.mark.parametrize("seed", range(4))
def test_gradient_matches_finite_differences(seed):
    net = _mixed_net(seed)
    kinds = {op.kind for _, op in net.ops()}
    assert {"MaxPool", "Sum", "Concat", "Relu", "Affine"} <= kinds
    rng = np.random.default_rng(10 + seed)
    x = rng.normal(size=(4, 12))
    c = rng.normal(size=(4, 3))  # one coefficient row per sample
    f, g = net.gradient(x, c)
    assert f.shape == (4,) and g.shape == (4, 12)
    np.testing.assert_allclose(f, np.einsum("bo,bo->b", net.evaluate(x), c))
    h = 1e-6
    fd = np.empty_like(g)
    for k in range(12):
        e = np.zeros(12)
        e[k] = h
        fp = np.einsum("bo,bo->b", net.evaluate(x + e), c)
        fm = np.einsum("bo,bo->b", net.evaluate(x - e), c)
        fd[:, k] = (fp - fm) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-6)


def test_gradient_of_a_linear_net_is_its_matrix():
    rng = np.random.default_rng(6)
    net = _chain(rng, [5, 7, 4])
    (_, op), = list(net.ops())[1:]  # folded into one affine
    c = rng.normal(size=4)
    _, g = net.gradient(rng.normal(size=(2, 5)), c)
    np.testing.assert_allclose(g, np.tile(c @ op.dense_W(), (2, 1)))


# ------------------------------------------------------------------ folding
def test_affine_chains_fold_and_relus_stay():
    rng = np.random.default_rng(7)
    net = _chain(rng, [4, 6, 5, 3, 2], relu_after=(1,))
    assert [op.kind for _, op in net.ops()] == ["Input", "Affine", "Relu", "Affine"]
    assert net.is_layered()
    ref = NetworkBuilder()  # the same network without simplification
    rng = np.random.default_rng(7)
    ref.add_input("x", (4,))
    prev = "x"
    for i, (a, b) in enumerate(zip([4, 6, 5, 3], [6, 5, 3, 2])):
        ref.add(f"a{i}", _affine(rng, prev, a, b), (b,))
        prev = f"a{i}"
        if i == 1:
            ref.add("r", Relu((prev,), b), (b,))
            prev = "r"
    raw = ref.finish(prev, simplify=False)
    assert len(raw.plan) == 6
    x = rng.normal(size=(8, 4))
    np.testing.assert_allclose(net.evaluate(x), raw.evaluate(x), rtol=1e-12, atol=1e-12)


def test_identity_affines_vanish_but_not_at_the_output():
    nb = NetworkBuilder()
    nb.add_input("x", (3,))
    eye = Affine(("x",), 3, W=np.eye(3), b=np.zeros(3))
    nb.add("i1", eye, (3,))
    nb.add("r", Relu(("i1",), 3), (3,))
    nb.add("i2", Affine(("r",), 3, W=sp.csr_array(sp.eye(3)), b=np.zeros(3)), (3,))
    net = nb.finish("i2")
    assert [n for n, _ in net.ops()] == ["x", "r", "i2"]
    assert net.op("r").inputs == ("x",)


def test_shared_affine_is_not_folded_into_two_consumers():
    rng = np.random.default_rng(8)
    nb = NetworkBuilder()
    nb.add_input("x", (3,))
    nb.add("h", _affine(rng, "x", 3, 4), (4,))
    nb.add("a", _affine(rng, "h", 4, 2), (2,))
    nb.add("b", _affine(rng, "h", 4, 2), (2,))
    nb.add("s", Sum(("a", "b"), 2), (2,))
    net = nb.finish("s")
    assert "h" in net.graph and net.graph.out_degree("h") == 2


def test_unused_nodes_are_dropped():
    net = _mixed_net()
    assert "unused" not in net.graph


def test_compose_affine_dense_and_sparse():
    rng = np.random.default_rng(9)
    inner = _affine(rng, "x", 5, 4)
    outer = _affine(rng, "h", 4, 3, sparse=True)
    for a, b in [(outer, inner), (inner.__class__(("h",), 3, W=outer.dense_W(), b=outer.b),
                                  Affine(("x",), 4, W=sp.csr_array(inner.W), b=inner.b))]:
        f = compose_affine(a, b)
        assert f is not None and f.inputs == ("x",) and f.size == 3
        np.testing.assert_allclose(f.dense_W(), outer.dense_W() @ inner.W)
        np.testing.assert_allclose(f.b, outer.dense_W() @ inner.b + outer.b)


def test_compose_affine_refuses_to_densify_large_maps():
    n = 1000
    col = sp.csr_array((np.ones(n), (np.arange(n), np.zeros(n, int))), shape=(n, 600))
    row = sp.csr_array((np.ones(n), (np.zeros(n, int), np.arange(n))), shape=(600, n))
    outer = Affine(("h",), n, W=col, b=np.zeros(n))
    inner = Affine(("x",), 600, W=row, b=np.zeros(600))
    assert compose_affine(outer, inner) is None  # a rank-one product with 10^6 entries


# ------------------------------------------------------------------ display, counts
def test_summary_names_counts_and_sizes():
    net = _mixed_net()
    text = net.summary()
    assert "network mixed" in text
    assert "inputs : 12 (shape [1, 3, 4])" in text
    assert "outputs: 3 (shape [3])" in text
    assert f"operations: {len(net.plan) - 1}" in text
    assert f"neurons: {net.neuron_count}" in text and f"ReLUs: {net.relu_count}" in text
    assert net.relu_count == 16 + 4
    assert net.neuron_count == sum(op.size for n, op in net.ops()
                                   if n not in (net.input_name, net.output_name))
    for name, op in list(net.ops())[1:]:
        assert name in text and op.describe() in text
    assert not net.is_layered()


def test_builder_rejects_inconsistent_nodes():
    nb = NetworkBuilder()
    nb.add_input("x", (3,))
    with pytest.raises(AssertionError):
        nb.add("a", Affine(("x",), 2, W=np.ones((2, 4)), b=np.zeros(2)), (2,))
    with pytest.raises(AssertionError):
        nb.add("r", Relu(("missing",), 3), (3,))
    with pytest.raises(AssertionError):
        MaxPool(("x",), 1, windows=np.array([[-1, -1]]))
