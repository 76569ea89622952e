"""Random small networks and properties for differential soundness tests.

Everything is a deterministic function of a seed.  The networks are plain ReLU chains
(``n_in -> h_1 -> ... -> h_k -> n_out``, ``k`` = 1-3 hidden layers, i.e. 2-4 affine
layers, 3-30 ReLUs in all); the properties put thresholds where sampled outputs lie,
so that ``sat`` and ``unsat`` are both common:

* ``"quantile"``: each row's threshold is a quantile of its sampled values (mostly
  ``sat``, sometimes not for conjunctions of anti-correlated rows);
* ``"edge"``: each row's threshold lies just below the smallest sampled value, by a
  random share of the sampled range (``sat`` exactly when the true minimum over the
  box is below it: the hard, near-boundary cases);
* ``"robust"``: the class at the box centre is not the argmax somewhere in the box
  (the VNN-LIB robustness shape, a disjunction of single rows).

A property has one or two cases (boxes); a case's bad region is one row, one
conjunction of 2-3 rows, or a disjunction of 2-3 conjunctions; a few rows also read
inputs (``A_in``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from verinet.network.ir import Network, NetworkBuilder
from verinet.network.ops import Affine, Relu
from verinet.spec.property import Box, Case, Conjunction, Property

__all__ = ["RandomInstance", "random_network", "random_box", "random_case", "random_instance",
           "random_widths"]


@dataclass(frozen=True)
class RandomInstance:
    """A generated query: ``network``, ``prop`` and how they were drawn."""

    seed: int
    network: Network
    prop: Property
    kind: str  # the threshold recipe: "quantile", "edge" or "robust"

    def describe(self) -> str:
        widths = [op.size for _, op in self.network.plan if isinstance(op, Relu)]
        return (f"seed={self.seed} inputs={self.network.n_inputs} relu layers={widths} "
                f"outputs={self.network.n_outputs} kind={self.kind} "
                f"cases={len(self.prop.cases)} conjunctions={self.prop.n_conjunctions}")


def random_widths(rng: np.random.Generator, max_relus: int = 30) -> list[int]:
    """1-3 hidden widths of at least 1 that add up to 3..``max_relus``."""
    layers = int(rng.integers(1, 4))
    total = int(rng.integers(max(3, layers), max_relus + 1))
    cuts = np.sort(rng.choice(np.arange(1, total), size=layers - 1, replace=False))
    return [int(w) for w in np.diff(np.concatenate([[0], cuts, [total]]))]


def random_network(rng: np.random.Generator, n_in: int, widths: list[int], n_out: int,
                   name: str = "random", weight_bits: int | None = 6) -> Network:
    """A ReLU chain with Gaussian weights (scaled by fan-in) and biases.

    With ``weight_bits`` set, weights and biases are rounded to multiples of
    ``2**-weight_bits``: z3 decides such networks far faster (its exact simplex works
    on rationals whose size grows with the bits of the coefficients; full float64
    weights make 30-ReLU queries take seconds).  Boxes and thresholds keep full
    precision, so every forward pass still rounds.
    """
    nb = NetworkBuilder()
    nb.add_input("x", (n_in,))
    prev, size = "x", n_in
    sizes = [*widths, n_out]
    for k, m in enumerate(sizes):
        W = rng.normal(0.0, 1.3 / np.sqrt(size), (m, size))
        W[rng.random((m, size)) < 0.1] = 0.0  # some exact zeros
        b = rng.normal(0.0, 0.4, m)
        if weight_bits is not None:
            W = np.round(W * 2.0 ** weight_bits) / 2.0 ** weight_bits
            b = np.round(b * 2.0 ** weight_bits) / 2.0 ** weight_bits
        nb.add(f"fc{k}", Affine((prev,), m, W=W, b=b), (m,))
        prev, size = f"fc{k}", m
        if k < len(widths):
            nb.add(f"relu{k}", Relu((prev,), m), (m,))
            prev = f"relu{k}"
    return nb.finish(prev, name=name)


def random_box(rng: np.random.Generator, n_in: int) -> Box:
    """A box around a point of ``[-1, 1]^n`` with log-uniform radii; sometimes a
    dimension is pinned (zero width)."""
    centre = rng.uniform(-1.0, 1.0, n_in)
    radius = np.exp(rng.uniform(np.log(0.02), np.log(0.6), n_in))
    radius[rng.random(n_in) < 0.05] = 0.0
    return Box(centre - radius, centre + radius)


def _samples(rng, net: Network, box: Box, n: int = 512) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = box.lower, box.upper
    x = lo + (hi - lo) * rng.random((n, lo.size))
    corners = np.where(rng.random((n // 8, lo.size)) < 0.5, lo, hi)
    x = np.concatenate([x, corners, (0.5 * (lo + hi))[None]])
    return x, net.evaluate(x)


def _row(rng, n_in: int, n_out: int, with_input: bool) -> tuple[np.ndarray, np.ndarray | None]:
    if n_out > 1 and rng.random() < 0.5:
        i, j = rng.choice(n_out, 2, replace=False)
        a = np.zeros(n_out)
        a[i], a[j] = 1.0, -1.0
    else:
        a = rng.normal(0.0, 1.0, n_out)
    a_in = rng.normal(0.0, 0.3, n_in) if with_input else None
    return a, a_in


def _threshold(rng, v: np.ndarray, kind: str) -> float:
    """A threshold for the row values ``v``, never tied to a sampled value: dead ReLUs
    make outputs constant on whole regions, and a threshold equal to such a plateau
    would ask about rounding (``sat`` in float, ``unsat`` in exact arithmetic)."""
    span = float(v.max() - v.min())
    gap = 1e-6 * (span + float(np.abs(v).max()) + 1e-3)
    if kind == "quantile":
        t = float(np.quantile(v, rng.uniform(0.02, 0.9)))
        return t + gap if rng.random() < 0.5 else t - gap
    return float(v.min() - rng.uniform(0.0, 0.25) ** 2 * (span or 1.0) - gap)


def random_case(rng: np.random.Generator, net: Network, kind: str) -> Case:
    """A case over a random box whose bad region follows the recipe ``kind``."""
    n_in, n_out = net.n_inputs, net.n_outputs
    box = random_box(rng, n_in)
    x, y = _samples(rng, net, box)
    if kind == "robust":
        label = int(np.argmax(net.evaluate(0.5 * (box.lower + box.upper))[0]))
        conjs = []
        for k in range(n_out):
            if k != label:
                a = np.zeros((1, n_out))
                a[0, label], a[0, k] = 1.0, -1.0
                conjs.append(Conjunction(a, np.zeros(1)))
        return Case(box, tuple(conjs))
    shape = rng.choice(["row", "conjunction", "disjunction"], p=[0.4, 0.3, 0.3])
    n_conj = 1 if shape != "disjunction" else int(rng.integers(2, 4))
    conjs = []
    for _ in range(n_conj):
        k = 1 if shape == "row" else int(rng.integers(1 if shape == "disjunction" else 2, 4))
        rows, rows_in, b = [], [], []
        use_in = rng.random() < 0.15
        for _ in range(k):
            a, a_in = _row(rng, n_in, n_out, use_in)
            v = y @ a + (x @ a_in if a_in is not None else 0.0)
            rows.append(a)
            rows_in.append(a_in if a_in is not None else np.zeros(n_in))
            b.append(_threshold(rng, v, kind))
        conjs.append(Conjunction(np.array(rows), np.array(b),
                                 np.array(rows_in) if use_in else None))
    return Case(box, tuple(conjs))


def random_instance(seed: int, n_in: int | None = None, widths: list[int] | None = None,
                    n_out: int | None = None, kind: str | None = None,
                    weight_bits: int | None = 6) -> RandomInstance:
    """The instance of ``seed``; sizes and recipe are drawn unless given."""
    rng = np.random.default_rng(seed)
    n_in = n_in if n_in is not None else int(rng.integers(2, 11))
    widths = widths if widths is not None else random_widths(rng)
    n_out = n_out if n_out is not None else int(rng.integers(1, 5))
    if kind is None:
        kind = str(rng.choice(["quantile", "edge", "robust"], p=[0.3, 0.55, 0.15]))
    if kind == "robust" and n_out < 2:
        n_out = 2
    net = random_network(rng, n_in, widths, n_out, name=f"random-{seed}", weight_bits=weight_bits)
    n_cases = 1 if rng.random() < 0.85 else 2
    cases = tuple(random_case(rng, net, kind) for _ in range(n_cases))
    return RandomInstance(seed, net, Property(cases, n_in, n_out, name=f"random-{seed}"), kind)
