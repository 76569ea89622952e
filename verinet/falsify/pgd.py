"""Projected gradient ascent on a property case's margin, batched over many starts.

For a conjunction ``C_in x + C_out y <= b`` the margin of a point is
``min_r (b_r - row_r(x))``: it is ``>= 0`` exactly when the point reaches the bad
region.  Starting from random points of the case's box, signed-gradient steps (the
gradient of the currently smallest row, as in PGD under the L-infinity geometry of a
box) raise the margin; the step shrinks geometrically.  Points whose margin reaches 0
are only *candidates*: the caller confirms them before anything is reported.
"""

from __future__ import annotations

import time

import numpy as np

from ..network.ir import Network
from ..spec.property import Case

__all__ = ["pgd_case", "STEP_SECONDS"]

#: Seconds one gradient step of a group of starts should take (see :func:`pgd_case`).
STEP_SECONDS = 0.2


def pgd_case(network: Network, case: Case, rng: np.random.Generator, *, starts: int = 64,
             steps: int = 40, deadline: float | None = None,
             x0: np.ndarray | None = None) -> np.ndarray:
    """Points of ``case.box`` with the largest margins found, best first, ``(m, n_in)``.

    Args:
        starts: random starting points per conjunction (plus the box centre and ``x0``).
        steps: gradient steps per start; the step falls from 1/4 to 1/256 of the width.
        deadline: ``time.monotonic()`` value after which the search stops early.
    """
    lo, hi = case.box.lower, case.box.upper
    width = hi - lo
    found = []
    for conj in case.bad:
        if conj.k == 0:
            return (0.5 * (lo + hi))[None]
        x = lo + width * rng.random((starts, lo.size))
        extra = [0.5 * (lo + hi)] + ([np.clip(x0, lo, hi)] if x0 is not None else [])
        x = np.concatenate([x, np.asarray(extra)])
        A_in = conj.A_in if conj.A_in is not None else np.zeros((conj.k, lo.size))
        best_x, best_m = x.copy(), np.full(x.shape[0], -np.inf)
        # starts run in groups sized so that one step of a group takes about STEP_SECONDS:
        # the deadline is checked between steps, so it is missed by at most that much
        group, pos = min(x.shape[0], 8), 0
        while pos < x.shape[0]:
            if deadline is not None and time.monotonic() > deadline:
                break
            sl = slice(pos, pos + group)
            t0 = time.monotonic()
            done = _ascend(network, conj, A_in, x[sl], best_x[sl], best_m[sl], lo, hi,
                           steps, deadline)
            pos += group
            per_step = (time.monotonic() - t0) / max(done, 1)
            group = int(max(1, min(4096, group * STEP_SECONDS / max(per_step, 1e-6))))
        order = np.argsort(-best_m)
        found.append((best_m[order], best_x[order]))
    margins = np.concatenate([m for m, _ in found])
    points = np.concatenate([p for _, p in found])
    return points[np.argsort(-margins)]


def _ascend(network: Network, conj, A_in: np.ndarray, x: np.ndarray, best_x: np.ndarray,
            best_m: np.ndarray, lo: np.ndarray, hi: np.ndarray, steps: int,
            deadline: float | None) -> int:
    """Signed-gradient steps from the starts ``x``; the best point and margin of each start
    are written into ``best_x`` / ``best_m`` (views).  Returns the number of steps taken."""
    width = hi - lo
    for t in range(steps):
        if deadline is not None and time.monotonic() > deadline:
            return t
        y = network.evaluate(x)
        rows = y @ conj.A_out.T + x @ A_in.T  # (B, k)
        slack = conj.b[None, :] - rows
        margin = slack.min(axis=1)
        better = margin > best_m
        best_x[better], best_m[better] = x[better], margin[better]
        r = np.argmin(slack, axis=1)
        # ascend the smallest slack: descend its row
        _, g = network.gradient(x, -conj.A_out[r])
        g = g - A_in[r]
        step = 0.25 * (1.0 / 64.0) ** (t / max(steps - 1, 1))
        x = np.clip(x + step * width * np.sign(g), lo, hi)
    return steps
