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
from collections.abc import Callable, Iterator

import numpy as np

from ..network.ir import Network
from ..spec.property import Case, Conjunction

__all__ = ["pgd_case", "pgd_from", "polish", "STEP_SECONDS"]

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


def pgd_from(network: Network, conj: Conjunction, x: np.ndarray, lo: np.ndarray,
             hi: np.ndarray, steps: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """From the starts ``x`` ``(B, n)`` of the box ``lo, hi``, ``steps`` signed-gradient
    steps on ``conj``'s margin (the schedule of :func:`pgd_case`); returns the best point
    of each start and its margin (candidates: ``margin >= 0`` still needs confirming)."""
    A_in = conj.A_in if conj.A_in is not None else np.zeros((conj.k, lo.size))
    best_x, best_m = x.copy(), np.full(x.shape[0], -np.inf)
    _ascend(network, conj, A_in, x, best_x, best_m, lo, hi, steps, None)
    return best_x, best_m


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


def polish(network: Network, conj: Conjunction, x0: np.ndarray, lower: np.ndarray,
           upper: np.ndarray, *, project: Callable[[np.ndarray], np.ndarray] | None = None,
           iters: int = 12, sizes: int = 48, deadline: float | None = None
           ) -> Iterator[np.ndarray]:
    """Raise one conjunction's margin from ``x0`` by projected signed-gradient steps.

    Meant for a point next to a tiny bad region (a solver's vertex that misses it after
    rounding), where the fixed step schedule of :func:`pgd_case` jumps far past it: each
    iteration takes the sign of the gradient of the smallest slack and tries, in one
    batch, the steps ``2**-k`` of the box width for ``k = 2 .. sizes + 1``, each point
    clipped to the box and passed through ``project`` (e.g. rounding onto the model's
    input grid, so that the margin is measured where it will be checked); the point of
    largest margin is kept if it improves on the current one.

    Yields the current point whenever its margin is ``>= 0`` (candidates only: the
    caller confirms them) and keeps ascending when asked for more, so that a point
    rejected by a stricter check can gain depth; stops after ``iters`` iterations,
    without progress, or past ``deadline``.
    """
    lo = np.asarray(lower, dtype=np.float64)
    hi = np.asarray(upper, dtype=np.float64)
    width = hi - lo
    proj = project or (lambda z: z)
    A_in = conj.A_in if conj.A_in is not None else np.zeros((conj.k, lo.size))
    steps = 2.0 ** -np.arange(2, sizes + 2)

    def margins(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        slack = conj.slack(x, network.evaluate(x))
        return slack.min(axis=1), slack.argmin(axis=1)

    x = proj(np.clip(np.asarray(x0, dtype=np.float64).reshape(-1), lo, hi))[None]
    m, r = margins(x)
    if m[0] >= 0:
        yield x[0].copy()
    for _ in range(iters):
        if deadline is not None and time.monotonic() > deadline:
            return
        _, g = network.gradient(x, -conj.A_out[r])
        g = np.sign(g - A_in[r])
        if not g.any():
            return
        trial = np.clip(x + steps[:, None] * width[None] * g, lo, hi)
        trial = np.stack([proj(t) for t in trial])
        tm, tr = margins(trial)
        best = int(np.argmax(tm))
        if not tm[best] > m[0]:
            return
        x, m, r = trial[best][None], tm[best:best + 1], tr[best:best + 1]
        if m[0] >= 0:
            yield x[0].copy()
