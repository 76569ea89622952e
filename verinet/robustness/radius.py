"""The largest certified radius of each point, bracketed by bisection.

Per correctly classified point, an interval ``[certified, falsified]``: the point is
verified robust on the ball of radius ``certified`` (so on every smaller one), and a
confirmed counterexample lies at L-infinity distance ``falsified`` from it (so every
ball of that radius or larger holds one); ``falsified`` is ``inf`` when none was found
up to ``radius_max``.  Built in three steps, every point at once:

1. the ladder's results seed it: the largest radius verified, the nearest witness;
2. the attack shrinks the upper end: a batched attack at ``falsified / 2`` for every
   point, repeated while it succeeds (each success a confirmed counterexample);
3. bisection with the complete verifier between the two ends, one proof per open point
   per round in the worker pool, until ``falsified - certified <= tol``: ``unsat`` raises
   the lower end, ``sat`` lowers the upper end to its witness's distance; ``unknown`` or
   ``timeout`` stops that point with the interval it has.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

__all__ = ["radius_intervals"]


def radius_intervals(network, x: np.ndarray, label: np.ndarray, correct: np.ndarray,
                     lo_dom: float, hi_dom: float, radius_max: float, tol: float,
                     seeds: dict[int, tuple[float, float]], confirm: Callable,
                     prove: Callable, rng: np.random.Generator, restarts: int, steps: int
                     ) -> dict[int, dict]:
    """``{index: {"certified", "falsified", "stopped"}}`` for every correct point.

    Args:
        seeds: per point, the ladder's ``(largest verified radius, nearest witness
            distance)`` (``0`` / ``inf`` when none).
        confirm: ``confirm(i, eps, x_adv) -> witness or None`` (float64 + onnxruntime).
        prove: ``prove([(i, eps), ...]) -> {i: (status, witness or None)}`` (the pool).
    """
    from .attack import attack_batch

    out: dict[int, dict] = {}
    for i in np.flatnonzero(correct):
        c, f = seeds.get(int(i), (0.0, math.inf))
        out[int(i)] = {"certified": float(c), "falsified": float(f), "stopped": ""}

    def dist(i: int, w) -> float:
        return float(np.max(np.abs(np.asarray(w, dtype=np.float64) - x[i])))

    # 2. the attack shrinks the upper end, all points at once
    probe = {i: min(r["falsified"], radius_max) for i, r in out.items()}
    open_ = [i for i in out if probe[i] > out[i]["certified"] + tol]
    first = True
    while open_:
        eps = np.array([probe[i] if (first and not math.isfinite(out[i]["falsified"]))
                        else probe[i] / 2 for i in open_])
        idx = np.array(open_)
        lo = np.maximum(x[idx] - eps[:, None], lo_dom)
        hi = np.minimum(x[idx] + eps[:, None], hi_dom)
        found, adv, _ = attack_batch(network, x[idx], label[idx], lo, hi, eps, rng,
                                     restarts=restarts, steps=steps)
        nxt = []
        for j, i in enumerate(open_):
            w = confirm(i, float(eps[j]), adv[j]) if found[j] else None
            if w is None:
                continue
            out[i]["falsified"] = min(out[i]["falsified"], dist(i, w))
            probe[i] = out[i]["falsified"]
            if probe[i] / 2 > out[i]["certified"] + tol:
                nxt.append(i)
        open_, first = nxt, False
    # 3. bisection with the verifier
    open_ = [i for i in out if min(out[i]["falsified"], radius_max) - out[i]["certified"] > tol]
    while open_:
        mids = {i: (out[i]["certified"] + min(out[i]["falsified"], radius_max)) / 2
                for i in open_}
        results = prove([(i, mids[i]) for i in open_])
        nxt = []
        for i in open_:
            status, w = results[i]
            r = out[i]
            if status == "unsat":
                r["certified"] = mids[i]
            elif status == "sat" and w is not None:
                r["falsified"] = min(r["falsified"], dist(i, w))
            else:
                r["stopped"] = f"{status} at eps {mids[i]:.6g}"
                continue
            top = min(r["falsified"], radius_max)
            if top - r["certified"] > tol:
                nxt.append(i)
            elif r["certified"] >= radius_max:
                r["stopped"] = f"verified up to radius_max {radius_max:g}"
        open_ = nxt
    return out
