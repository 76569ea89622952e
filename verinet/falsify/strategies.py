"""Falsification strategies: one signature, one registry, and the loop that runs them.

A strategy proposes candidate counterexamples for one property case::

    strategy(network, case, rng, deadline, effort) -> points (m, n_in), best first

Every point lies in ``case.box``.  The points are only *candidates*: :func:`falsify`
confirms each one with a :class:`~verinet.counterexample.CexChecker` (float64 and, for
ONNX models, onnxruntime) before anything is returned.  ``deadline`` is a
``time.monotonic()`` value; a strategy that iterates stops there.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..counterexample import CexChecker, case_margin
from ..errors import InputError
from ..network.ir import Network
from ..result import Counterexample, Stats
from ..spec.property import Case, Property
from .pattern import MAX_COST, pattern_cost, pattern_points
from .pgd import pgd_case

__all__ = ["Effort", "Strategy", "STRATEGIES", "DEFAULT_STRATEGIES", "falsify",
           "uniform", "corners", "fgsm", "pgd", "pattern"]


@dataclass(frozen=True)
class Effort:
    """How much work each strategy does per case.

    * ``samples``: points drawn by the sampling strategies (``uniform``, ``corners``).
    * ``restarts``: random starting points of the gradient strategies (``fgsm``, ``pgd``).
    * ``steps``: gradient steps per start for ``pgd``.
    """

    samples: int = 2048
    restarts: int = 64
    steps: int = 40


Strategy = Callable[[Network, Case, np.random.Generator, float, Effort], np.ndarray]


#: Candidates a sampling strategy keeps (the best by margin); the rest are dropped.
KEEP = 64
#: Seconds one chunk of forward passes should take, so that a deadline is missed by at
#: most about this much even on networks where one pass is slow (large convolutions).
CHUNK_SECONDS = 0.2


def _ranked(network: Network, case: Case, pts: np.ndarray) -> np.ndarray:
    """``pts`` sorted by decreasing margin (deepest into the bad region first)."""
    marg = case_margin(case, pts, network.evaluate(pts))
    return pts[np.argsort(-marg, kind="stable")]


def _sample_best(network: Network, case: Case, draw: Callable[[int], np.ndarray], total: int,
                 deadline: float, first: np.ndarray | None = None) -> np.ndarray:
    """Draw ``total`` points in chunks (``draw(m) -> (m, n_in)``), evaluate each chunk and
    keep the :data:`KEEP` best by margin, best first; stops at ``deadline``.

    The chunk starts small and grows while a chunk takes less than :data:`CHUNK_SECONDS`,
    so memory stays bounded and a slow network cannot overrun the deadline by much.
    """
    best = np.zeros((0, case.box.n)) if first is None else np.asarray(first, float)
    best_m = (np.zeros(0) if first is None
              else case_margin(case, best, network.evaluate(best)))
    chunk, done = 16, 0
    while done < total and time.monotonic() < deadline:
        m = min(chunk, total - done)
        t0 = time.monotonic()
        pts = draw(m)
        marg = case_margin(case, pts, network.evaluate(pts))
        done += m
        best = np.concatenate([best, pts])
        best_m = np.concatenate([best_m, marg])
        if best.shape[0] > KEEP:
            keep = np.argsort(-best_m, kind="stable")[:KEEP]
            best, best_m = best[keep], best_m[keep]
        if time.monotonic() - t0 < 0.5 * CHUNK_SECONDS:
            chunk = min(chunk * 2, 65536)
    return best[np.argsort(-best_m, kind="stable")]


def uniform(network: Network, case: Case, rng: np.random.Generator, deadline: float,
            effort: Effort) -> np.ndarray:
    """``effort.samples`` uniform points of the box, plus its centre (the best kept)."""
    lo, hi = case.box.lower, case.box.upper
    return _sample_best(network, case, lambda m: lo + (hi - lo) * rng.random((m, lo.size)),
                        effort.samples, deadline, first=(0.5 * (lo + hi))[None])


def corners(network: Network, case: Case, rng: np.random.Generator, deadline: float,
            effort: Effort) -> np.ndarray:
    """``effort.samples`` random vertices of the box (each coordinate at a bound)."""
    lo, hi = case.box.lower, case.box.upper
    return _sample_best(network, case,
                        lambda m: np.where(rng.random((m, lo.size)) < 0.5, hi, lo),
                        effort.samples, deadline)


def fgsm(network: Network, case: Case, rng: np.random.Generator, deadline: float,
         effort: Effort) -> np.ndarray:
    """One signed-gradient step of half the box width from ``effort.restarts`` random starts.

    For each conjunction the step ascends the margin's currently smallest row (as
    :func:`~verinet.falsify.pgd.pgd_case` does on every step).
    """
    lo, hi = case.box.lower, case.box.upper
    width = hi - lo
    x = lo + width * rng.random((effort.restarts, lo.size))
    out = [x]
    for conj in case.bad:
        if conj.k == 0:
            return (0.5 * (lo + hi))[None]
        A_in = conj.A_in if conj.A_in is not None else np.zeros((conj.k, lo.size))
        slack = conj.b[None, :] - network.evaluate(x) @ conj.A_out.T - x @ A_in.T
        r = np.argmin(slack, axis=1)
        _, g = network.gradient(x, -conj.A_out[r])
        out.append(np.clip(x + 0.5 * width * np.sign(g - A_in[r]), lo, hi))
    return _ranked(network, case, np.concatenate(out))


def pgd(network: Network, case: Case, rng: np.random.Generator, deadline: float,
        effort: Effort) -> np.ndarray:
    """Projected signed-gradient ascent (:func:`~verinet.falsify.pgd.pgd_case`)."""
    return pgd_case(network, case, rng, starts=effort.restarts, steps=effort.steps,
                    deadline=deadline)


def pattern(network: Network, case: Case, rng: np.random.Generator, deadline: float,
            effort: Effort) -> np.ndarray:
    """The linear programs of the activation patterns of the best gradient points
    (:func:`~verinet.falsify.pattern.pattern_points`: the deepest bad point with each
    point's pattern), for networks with few inputs x neurons (none above
    :data:`~verinet.falsify.pattern.MAX_COST`); finds slivers of the bad region that
    gradient steps miss."""
    if pattern_cost(network) > MAX_COST:
        return np.zeros((0, case.box.n))
    starts = pgd_case(network, case, rng, starts=effort.restarts, steps=effort.steps,
                      deadline=deadline)
    return pattern_points(network, case, starts[:PATTERN_STARTS], deadline=deadline)


#: Gradient points whose patterns :func:`pattern` tries (the best by margin)
PATTERN_STARTS = 16

#: Falsification strategies by name; every entry has the :data:`Strategy` signature.
STRATEGIES: dict[str, Strategy] = {
    "uniform": uniform,
    "corners": corners,
    "fgsm": fgsm,
    "pgd": pgd,
    "pattern": pattern,
}

DEFAULT_STRATEGIES: tuple[str, ...] = ("uniform", "pgd", "pattern")

_SOURCE = {"uniform": "random sampling", "corners": "box corners", "fgsm": "fgsm",
           "pgd": "pgd", "pattern": "activation-pattern LP"}


def falsify(network: Network, prop: Property, checker: CexChecker, rng: np.random.Generator,
            deadline: float, strategies: Sequence[str] = DEFAULT_STRATEGIES,
            stats: Stats | None = None, *, effort: Effort | None = None,
            confirm_per_case: int = 4) -> Counterexample | None:
    """Run ``strategies`` in order over every case of ``prop``; the first confirmed point.

    For each (strategy, case), at most ``confirm_per_case`` of the best candidates whose
    float64 margin is ``>= 0`` go to ``checker.confirm``; a rejection is counted in
    ``stats.rejected``, every candidate in ``stats.candidates``.  The first strategy
    always runs on the first case; every other (strategy, case) is skipped once ``deadline``
    has passed, and the strategies themselves stop there.  Never returns
    an unconfirmed point; ``None`` proves nothing.

    Raises:
        InputError: an unknown strategy name.
    """
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        raise InputError(f"unknown falsification strategy {unknown[0]!r}; "
                         f"choose from {', '.join(STRATEGIES)}")
    effort = effort or Effort()
    stats = stats if stats is not None else Stats()
    for k, name in enumerate(strategies):
        if k > 0 and time.monotonic() > deadline:
            break
        for ci, case in enumerate(prop.cases):
            if (k > 0 or ci > 0) and time.monotonic() > deadline:
                break
            pts = STRATEGIES[name](network, case, rng, deadline, effort)
            if pts.shape[0] == 0:
                continue
            assert pts.ndim == 2 and pts.shape[1] == case.box.n, (
                f"strategy {name!r}: expected points (m, {case.box.n}), got {pts.shape}")
            stats.candidates += pts.shape[0]
            marg = case_margin(case, pts, network.evaluate(pts))
            for i in np.flatnonzero(marg >= 0)[:confirm_per_case]:
                cex = checker.confirm(pts[i], source=_SOURCE[name])
                if cex is not None:
                    return cex
                stats.rejected += 1
    return None
