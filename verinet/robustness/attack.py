"""FGSM and PGD on many points at once (one numpy call per step for the whole batch).

Semantics follow CleverHans's defaults, on L-infinity balls clipped to the input domain:

- **FGSM**: one step of size ``eps`` along the sign of the gradient of the cross-entropy
  of the outputs (read as logits) at the clean point, then clipped to the domain;
- **PGD**: ``restarts`` runs, each from a uniformly random point of the (clipped) ball,
  ``steps`` signed-gradient steps of size ``2.5 * eps / steps`` with projection back onto
  the ball and the domain after each.  PGD ascends the margin
  ``max_{j != label} y_j - y_label`` (the Carlini-Wagner loss), which works alike for
  logits and for softmax outputs.
- The label is the data set's, or the model's own clean prediction when there is none.

A point counts as broken when some other class scores at least the label's (a tie counts,
as in verinet's robustness property).  These are candidates: the caller confirms each in
float64 and onnxruntime before calling it a counterexample.
"""

from __future__ import annotations

import time

import numpy as np

from ..network.ir import Network

__all__ = ["attack_batch", "broken"]


def broken(y: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``(B,)``: some class other than the label scores at least the label's."""
    rows = np.arange(y.shape[0])
    own = y[rows, labels]
    other = y.copy()
    other[rows, labels] = -np.inf
    return other.max(axis=1) >= own


def _margin_coeffs(y: np.ndarray, labels: np.ndarray) -> np.ndarray:
    rows = np.arange(y.shape[0])
    other = y.copy()
    other[rows, labels] = -np.inf
    c = np.zeros_like(y)
    c[rows, np.argmax(other, axis=1)] = 1.0
    c[rows, labels] -= 1.0
    return c


def _ce_coeffs(y: np.ndarray, labels: np.ndarray) -> np.ndarray:
    z = y - y.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(y.shape[0]), labels] -= 1.0
    return p  # d(cross-entropy)/dy


def attack_batch(network: Network, x0: np.ndarray, labels: np.ndarray, lo: np.ndarray,
                 hi: np.ndarray, eps: float | np.ndarray, rng: np.random.Generator, *,
                 restarts: int = 4,
                 steps: int = 40, deadline: float | None = None
                 ) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Attack every point of ``x0 (B, n)`` on its box ``[lo, hi]`` (the ball of radius
    ``eps``, a number or one per point, clipped to the domain).

    Returns ``(found (B,), x_adv (B, n), counts)``: the candidate of each broken point,
    and how many FGSM and PGD broke.
    """
    B = x0.shape[0]
    found = np.zeros(B, dtype=bool)
    x_adv = x0.copy()
    counts = {"fgsm": 0, "pgd": 0}
    if B == 0:
        return found, x_adv, counts
    eps = np.broadcast_to(np.asarray(eps, dtype=np.float64).reshape(-1, 1), (B, 1))
    y = network.evaluate(x0)
    _, g = network.gradient(x0, _ce_coeffs(y, labels))
    x = np.clip(x0 + eps * np.sign(g), lo, hi)
    hit = broken(network.evaluate(x), labels)
    x_adv[hit] = x[hit]
    found |= hit
    counts["fgsm"] = int(hit.sum())
    step_all = 2.5 * eps / max(steps, 1)
    for _ in range(restarts):
        todo = np.flatnonzero(~found)
        if todo.size == 0 or (deadline is not None and time.monotonic() > deadline):
            break
        l, h, lab, step = lo[todo], hi[todo], labels[todo], step_all[todo]
        x = l + (h - l) * rng.random(l.shape)
        alive = np.ones(todo.size, dtype=bool)
        for _ in range(steps):
            if deadline is not None and time.monotonic() > deadline:
                break
            idx = np.flatnonzero(alive)
            if idx.size == 0:
                break
            xs = x[idx]
            y = network.evaluate(xs)
            hit = broken(y, lab[idx])
            if hit.any():
                done = todo[idx[hit]]
                x_adv[done] = xs[hit]
                found[done] = True
                counts["pgd"] += int(hit.sum())
                alive[idx[hit]] = False
                idx, xs, y = idx[~hit], xs[~hit], y[~hit]
                if idx.size == 0:
                    break
            _, g = network.gradient(xs, _margin_coeffs(y, lab[idx]))
            x[idx] = np.clip(xs + step[idx] * np.sign(g), l[idx], h[idx])
        idx = np.flatnonzero(alive)
        if idx.size:
            hit = broken(network.evaluate(x[idx]), lab[idx])
            done = todo[idx[hit]]
            x_adv[done] = x[idx[hit]]
            found[done] = True
            counts["pgd"] += int(hit.sum())
    return found, x_adv, counts
