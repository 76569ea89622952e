"""``verify`` on several cores: open input boxes shared by worker processes.

:func:`verify_parallel` first runs the ordinary :func:`verinet.verify.verify` for a short
warm-up (the attack and the start of the complete search answer most queries in well
under a second, which no process start-up can beat).  A query still open after it goes
to ``jobs`` worker processes (each loads the model once and searches under the query's
one deadline) through a queue of tasks:

- when the warm-up was input splitting and stopped cleanly, its own open frontier
  (``Result.frontier``: the boxes covering every point of the current case not proved
  yet, with their split depths; the cases before it are proved), dealt out interleaved
  into ``jobs`` shares, each continued as one depth-first input-splitting search
  (``verify(..., roots=...)``) exactly where the warm-up left it.  A share runs for a
  time slice (``slice_seconds``, doubled at each continuation); the boxes it leaves open
  go back to the end of the queue as a new share, dealt into two when nothing else is
  queued (work sharing: no worker waits while another has boxes).  Every part of the
  frontier moves on in turn, so a counterexample in one share does not wait for the
  proofs of all the others;
- for the cases after it, and after other engines, each case's box bisected level by
  level along the input its rows are most sensitive to, into about ``8 * jobs`` boxes.

A query that ReLU splitting decides by branch and bound (wide chain networks, image-sized
inputs) instead keeps one frontier in this process, ``jobs`` batches of domains bounded at
once on threads, worker processes or Dask (:mod:`verinet.search.bab_workers`).

Idle workers take the next task, so the load balances itself.  The first confirmed
counterexample from any worker (replayed here in float64 and onnxruntime) ends every
worker: ``sat``; ``unsat`` only when every task is ``unsat``.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable

import numpy as np

from .config import VerifierConfig
from .counterexample import CexChecker
from .network.ir import Network
from .result import Result, Stats, Status
from .spec.property import Box, Case, Property
from .verify import bab_query, verify

__all__ = ["verify_parallel", "split_box", "usable_cores"]


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity; the machine's count where
    the platform cannot tell)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def split_box(box: Box, pieces: int,
              score: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None) -> list[Box]:
    """``box`` bisected into at least ``pieces`` boxes (fewer when nothing is left to
    split): each box along the dimension of largest ``score(lo, hi)`` (default: the
    width relative to ``box``'s), every box of a level before the next level."""
    scale = np.where(box.upper > box.lower, box.upper - box.lower, 1.0)
    if score is None:
        def score(lo, hi):
            return (hi - lo) / scale
    boxes = [(box.lower.copy(), box.upper.copy())]
    while len(boxes) < pieces:
        nxt = []
        grew = False
        for lo, hi in boxes:
            w = np.where(hi > lo, score(lo, hi), -1.0)
            d = int(np.argmax(w))
            if w[d] <= 0:
                nxt.append((lo, hi))
                continue
            mid = lo[d] + (hi[d] - lo[d]) / 2
            a_hi, b_lo = hi.copy(), lo.copy()
            a_hi[d], b_lo[d] = mid, mid
            nxt += [(lo, a_hi), (b_lo, hi)]
            grew = True
        boxes = nxt
        if not grew:
            break
    return [Box(lo, hi) for lo, hi in boxes]


def _sensitivity(network: Network, case: Case, rng: np.random.Generator):
    """A split score: per input, ``width *`` the mean absolute gradient of the case's rows
    at random points of the box (where the outputs move most, splitting helps most)."""
    rows = np.vstack([c.A_out for c in case.bad if c.k]) if case.bad else None

    def score(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        if rows is None or rows.size == 0:
            return hi - lo
        pts = lo + (hi - lo) * rng.random((16, lo.size))
        g = np.zeros(lo.size)
        for r in rows:
            _, grad = network.gradient(pts, r)
            g += np.abs(grad).mean(axis=0)
        return (hi - lo) * (g + 1e-12)
    return score


def _init(model_path: str, prop: Property, config: VerifierConfig):
    from .network import load

    return load(model_path), prop, config


def _run(state, task: dict) -> dict:
    """Every box of the task in turn: the first ``sat`` answers, else ``unsat`` only when
    all are."""
    network, prop, config = state
    case = prop.cases[task["case"]]
    if "roots" in task:  # a share of an open frontier: one search over all of it
        now = time.monotonic()
        end = min(task["deadline"], now + (task.get("slice") or np.inf))
        if end <= now:
            return {"status": "timeout", "x": None, "reason": "", "stats": {}}
        sub = Property((case,), prop.n_inputs, prop.n_outputs, name=prop.name)
        r = verify(network, sub, timeout=end - now, config=config,
                   roots=tuple(np.array(r) for r in task["roots"]))
        out = {"status": r.status.value, "reason": r.reason, "stats": r.stats.to_dict(),
               "x": None if r.counterexample is None
               else [float(v) for v in r.counterexample.x]}
        if r.status is Status.TIMEOUT and time.monotonic() < task["deadline"]:
            out["rest"] = (None if r.frontier is None else  # its slice ended, not the query
                           (r.frontier["lower"], r.frontier["upper"], r.frontier["depth"]))
        return out
    total = Stats()
    status, reason = "unsat", ""
    for lo, hi in task["boxes"]:
        left = task["deadline"] - time.monotonic()
        if left <= 0:
            return {"status": "timeout", "x": None, "reason": "", "stats": total.to_dict()}
        sub = Property((Case(Box(np.array(lo), np.array(hi)), case.bad),), prop.n_inputs,
                       prop.n_outputs, name=prop.name)
        r = verify(network, sub, timeout=left, config=config)
        total.absorb(r.stats.to_dict())
        if r.status is Status.SAT:
            return {"status": "sat", "reason": "", "stats": total.to_dict(),
                    "x": [float(v) for v in r.counterexample.x]}
        if r.status is Status.TIMEOUT:
            return {"status": "timeout", "x": None, "reason": "", "stats": total.to_dict()}
        if r.status is not Status.UNSAT:
            status, reason = "unknown", r.reason
    return {"status": status, "reason": reason, "stats": total.to_dict(), "x": None}


def _continued(task: dict, rest, deadline: float, parts: int) -> list[dict]:
    """The shares that continue a share whose slice ended: its open boxes ``rest`` dealt
    into ``parts`` interleaved shares (fewer when there are few boxes), each with twice
    the slice (a restart bounds its boxes again: longer slices pay that less often);
    without ``rest`` (a box was left undecided, so no frontier was kept) the share
    itself again, run to its end."""
    left = max(deadline - time.monotonic(), 0.0)
    if rest is None:
        return [{**task, "slice": None, "timeout": left}]
    lo, hi, dep = (np.asarray(a) for a in rest)
    parts = max(1, min(parts, lo.shape[0] // 8))
    grown = None if task.get("slice") is None else 2 * task["slice"]
    return [{**task, "roots": (lo[g::parts], hi[g::parts], dep[g::parts]), "slice": grown,
             "timeout": left} for g in range(parts)]


def verify_parallel(network: Network, prop: Property, timeout: float = 60.0,
                    config: VerifierConfig | None = None, *, jobs: int = 2,
                    start: float | None = None, warmup: float = 2.0,
                    slice_seconds: float | None = 5.0) -> Result:
    """:func:`verinet.verify.verify` on ``jobs`` processes (see the module docstring).

    ``slice_seconds``: a share of an input-splitting frontier runs that long at a time;
    what it leaves open goes back to the end of the queue as a new share (``None``: each
    share runs to its end).

    Falls back to the one-process ``verify`` when ``jobs <= 1`` or the network has no
    model file the workers could load.  A query decided by branch and bound over ReLU
    phases (:func:`verinet.verify.bab_query`) keeps its frontier in this process, with
    ``jobs`` batches bounded at once (``SearchConfig.bab_workers``) on the workers of
    ``SearchConfig.bab_executor`` (threads, worker processes or Dask): its domains share
    one frontier, where input boxes of an image would split nothing that matters."""
    config = config or VerifierConfig()
    t0 = time.monotonic() if start is None else start
    deadline = t0 + timeout
    path = network.meta.get("path")
    if jobs > 1 and bab_query(network, config):
        threaded = dataclasses.replace(config, search=dataclasses.replace(
            config.search, bab_workers=max(jobs, config.search.bab_workers)))
        r = verify(network, prop, timeout=timeout, config=threaded, start=t0)
        from .search.bab_workers import executor_kind

        where = {"threads": "threads", "processes": "worker processes",
                 "dask": "Dask workers"}[executor_kind(network, threaded)]
        return dataclasses.replace(r, stats=dataclasses.replace(
            r.stats, strategy=f"{r.stats.strategy or 'relu'} (branch and bound, {jobs} "
                              f"batches at once on {where})"))
    if jobs <= 1 or not path:
        return verify(network, prop, timeout=timeout, config=config, start=t0)
    sem = "float32" if config.semantics == "float32" and network.models_float else "real"
    first = Result(Status.UNKNOWN)
    if warmup > 0:  # 0: straight to the workers (and without the attack)
        first = verify(network, prop, config=config,
                       timeout=max(min(warmup, deadline - time.monotonic()), 1e-3))
        if first.status in (Status.SAT, Status.UNSAT):
            return dataclasses.replace(first, time=time.monotonic() - t0)
    if time.monotonic() >= deadline:
        return Result(Status.TIMEOUT, None, time.monotonic() - t0, first.stats, semantics=sem)
    from .procpool import WorkerPool

    quiet = dataclasses.replace(config, attack=dataclasses.replace(config.attack,
                                                                   enabled=False))
    tasks = []
    start_case = 0
    front = first.frontier
    if front is not None:  # cases before it are proved; its open boxes cover the rest of it
        start_case = front["case"] + 1
        lo, hi, dep = front["lower"], front["upper"], front["depth"]
        groups = min(jobs, lo.shape[0])
        for g in range(groups):  # interleaved: neighbouring boxes are alike in difficulty
            tasks.append({"case": front["case"], "deadline": deadline, "slice": slice_seconds,
                          "roots": (lo[g::groups], hi[g::groups], dep[g::groups])})
    rest = prop.cases[start_case:]
    per_case = max(2, (8 * jobs) // max(len(rest), 1))
    for ci, case in enumerate(rest, start=start_case):
        for b in split_box(case.box, per_case, _sensitivity(network, case,
                                                              np.random.default_rng(0))):
            tasks.append({"case": ci, "deadline": deadline,
                          "boxes": [(b.lower.tolist(), b.upper.tolist())]})
    for t in tasks:
        t["timeout"] = max(deadline - time.monotonic(), 0.0)
    checker = CexChecker(network, prop, use_onnxruntime=config.check_onnxruntime)
    how = (f"{front['lower'].shape[0]} open boxes of the warm-up in {len(tasks)} tasks"
           if front is not None else f"{len(tasks)} boxes")
    stats = dataclasses.replace(first.stats, strategy=f"parallel x{jobs} ({how}, after "
                                f"{first.stats.strategy or 'no warm-up'})")
    open_reason = ""
    timed_out = False
    with WorkerPool(jobs, _init, (path, prop, quiet), _run) as pool:
        # a worker answers by the deadline; one still starting or stuck then is not waited for
        for _task, res in pool.run(tasks, until=deadline + 0.5):
            stats.absorb(res.get("stats"))
            st = res["status"]
            if st == "sat" and res.get("x") is not None:
                cex = checker.confirm(np.asarray(res["x"]), source="parallel")
                if cex is not None:
                    return Result(Status.SAT, cex, time.monotonic() - t0, stats, semantics=sem)
                open_reason = "a worker's counterexample did not replay here"
            elif st == "timeout" and "rest" in res and time.monotonic() < deadline:
                # behind the other shares, so that every share moves on in turn; in two
                # when nothing else is queued, so that no worker waits for work
                for t in _continued(_task, res["rest"], deadline, 1 if pool.queued else 2):
                    pool.submit(t)
            elif st == "timeout":
                timed_out = True
            elif st != "unsat":
                open_reason = res.get("reason") or "a box was left undecided"
    if timed_out or time.monotonic() > deadline:
        return Result(Status.TIMEOUT, None, time.monotonic() - t0, stats, semantics=sem)
    if open_reason:
        return Result(Status.UNKNOWN, None, time.monotonic() - t0, stats, open_reason,
                      semantics=sem)
    return Result(Status.UNSAT, None, time.monotonic() - t0, stats, semantics=sem)
