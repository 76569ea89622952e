"""Batched branch and bound over ReLU phases, on bounds alone (for wide networks).

For one conjunction ``A_in x + A_out y <= b`` of a case (its bad region: every row holds),
a frontier of *domains* (sets of fixed ReLU phases over the case's box) is worked off a
batch at a time, with no LP:

1. **Pop.** Up to ``batch`` domains, the most recently pushed first (depth first: the
   frontier stays near depth x batch domains, and counterexamples surface early).
2. **Branch.** Each domain carries the neuron chosen for it when it was bounded.  The
   free unstable ReLUs are scored by ``|coefficient of its output in the bound| x
   -l u / (u - l)`` (BaBSR-like: how much its triangle relaxation can loosen the bound);
   on chain networks the coefficients are the optimised bound's, and the ``fsb``
   best-scored get a trial: both children bounded by one float32 backward pass at the
   domain's slopes and multipliers, the pass starting at the candidate's layer
   (:func:`~verinet.bounds.joint.split_trials`).  The candidate whose worse child bounds
   best is split (filtered smart branching); the tallest triangle when no score is
   positive.  The trial values are a ranking only, never trusted as bounds.
3. **Bound.** Both children of every popped domain, ``2 x batch`` sub-problems, in one
   :func:`~verinet.bounds.crown_bounds` call: each keeps its parent's intermediate bounds,
   the split neuron clipped by its phase, and back-substitutes only the conjunction's
   rows (``keep=``).  Children left open get ``iters`` steps of optimised bounds
   (:func:`~verinet.bounds.joint.joint_bounds`: the rows' multipliers and, on chain
   networks, alpha-CROWN slopes).  A child is closed when some row's sound lower bound
   exceeds ``b`` or its phases are infeasible; the bounds are sound under the child's
   phases (the relaxation of a fixed neuron is exact on its half).
4. **Candidates.** For every open child, the input corner that minimises the linear
   lower bound of the conjunction is run through the network; when none is in the bad
   region, the 16 nearest get 8 signed-gradient steps on the margin (PGD over the box,
   batched).  A point in the bad region goes to ``checker.confirm`` and, confirmed,
   answers ``sat``.
5. **Leaves.** A domain with no free unstable ReLU is handed to ``exact_leaf`` (z3 with
   those phases) when given, else the conjunction is ``unknown``.

Steps 2 to 4 of a batch are :meth:`_Search.branch`: each round pops one batch per worker
and an :class:`Executor` bounds them (:class:`Threads` here; worker processes and Dask in
:mod:`verinet.search.bab_workers`), while the frontier, the leaves and every answer stay
with the caller.

``unsat`` when the frontier empties; ``timeout`` at the deadline (checked between batches
and inside the bounds); ``unknown`` when the frontier would outgrow ``max_mib`` of memory.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..bounds import Bounds, crown_bounds
from ..bounds.interval import linear_interval
from ..bounds.joint import FAST, chain_of, joint_bounds, optimise_intermediate, split_trials
from ..constraints.encoding import input_rows_lower
from ..constraints.relu import neuron_kind
from ..counterexample import CexChecker
from ..falsify.pgd import pgd_from
from ..network.ir import Network
from ..network.ops import MaxPool, Relu
from ..result import Counterexample, Stats
from ..spec.property import Case
from .input_split import CaseRows, SplitOutcome, each_conjunction

__all__ = ["relu_bab", "Executor", "Threads"]

#: step sizes of the bound's ascent: from adaptive slopes (the root), and from a parent's
#: optimised ones (smaller, not to throw them away; on oval21's cifar_base_kw img4631,
#: 0.1 kept the open domains near depth 47 where 0.5 let them sink past depth 100)
_COLD_LR, _WARM_LR = 0.5, 0.1

#: share of the time left that the root's optimised intermediate bounds may take (on
#: marabou-cifar10's cifar10_large they would take about 50 s)
_ROOT_SHARE = 0.25

#: candidates per round given gradient steps when no corner is in the bad region
_PGD_STARTS, _PGD_STEPS = 16, 8

#: children per chunk of the branching trials (bounds the memory of the trial passes)
_TRIAL_ROWS = 2048

ExactLeaf = Callable[[dict[str, np.ndarray], object], "str | tuple[str, np.ndarray | None]"]


@dataclass
class _Domains:
    """A batch of domains: per Relu its int8 phases ``(n, size)``, the bounds of every
    Relu and MaxPool input ``(n, size)``, depths, the neuron each will be split on
    (``pick_layer`` an index into the Relu list, -1: none left; ``pick_index``), and the
    optimised slopes and split multipliers its bound was found with (float32, NaN where
    none: the children's ascent starts from them)."""

    fixed: dict[str, np.ndarray]
    lower: dict[str, np.ndarray]
    upper: dict[str, np.ndarray]
    depth: np.ndarray
    pick_layer: np.ndarray
    pick_index: np.ndarray
    alpha: dict[str, np.ndarray]
    beta: dict[str, np.ndarray]

    @property
    def n(self) -> int:
        return int(self.depth.shape[0])

    def take(self, idx) -> _Domains:
        def sel(d):
            return {k: v[idx] for k, v in d.items()}
        return _Domains(sel(self.fixed), sel(self.lower), sel(self.upper), self.depth[idx],
                        self.pick_layer[idx], self.pick_index[idx], sel(self.alpha),
                        sel(self.beta))

    @staticmethod
    def concat(parts: list[_Domains]) -> _Domains:
        if len(parts) == 1:
            return parts[0]

        def cat(get):
            return {k: np.concatenate([get(p)[k] for p in parts]) for k in get(parts[0])}
        return _Domains(cat(lambda p: p.fixed), cat(lambda p: p.lower),
                        cat(lambda p: p.upper),
                        *(np.concatenate([getattr(p, f) for p in parts])
                          for f in ("depth", "pick_layer", "pick_index")),
                        cat(lambda p: p.alpha), cat(lambda p: p.beta))

    def nbytes(self) -> int:
        return sum(v.nbytes for d in (self.fixed, self.lower, self.upper, self.alpha,
                                      self.beta) for v in d.values())


class _Frontier:
    """Open domains in pushed batches; ``pop`` takes from the most recent."""

    def __init__(self) -> None:
        self.parts: list[_Domains] = []
        self.size = 0
        self.nbytes = 0

    def push(self, d: _Domains) -> None:
        if d.n:
            self.parts.append(d)
            self.size += d.n
            self.nbytes += d.nbytes()

    def pop(self, k: int) -> _Domains:
        out: list[_Domains] = []
        while self.parts and k > 0:
            last = self.parts.pop()
            if last.n > k:
                self.parts.append(last.take(slice(0, last.n - k)))
                last = last.take(slice(last.n - k, last.n))
            out.append(last)
            k -= last.n
        d = _Domains.concat(out)
        self.size -= d.n
        self.nbytes -= d.nbytes()
        return d


def relu_bab(network: Network, case: Case, checker: CexChecker, deadline: float,
             stats: Stats, *, batch: int = 64, iters: int = 10, max_mib: float = 256.0,
             exact_leaf: ExactLeaf | None = None, order: list[int] | None = None,
             fsb: int = 32, workers: int = 1, executor: Executor | None = None
             ) -> SplitOutcome:
    """Decide one property case by batched branch and bound over ReLU phases.

    Args:
        network: the network (MaxPool is relaxed, never split; a leaf with only MaxPool
            left open goes to ``exact_leaf``).
        case, checker, deadline, stats: as for :func:`verinet.search.reluplex.relu_split`.
        batch: domains popped per round (each gives two children, bounded together).
        iters: optimised-bound steps for children the plain bound leaves open (0: off).
        max_mib: the frontier's memory cap; beyond it the conjunction is ``unknown``.
        exact_leaf: ``exact_leaf(phases, box)`` for leaves (see ``reluplex.ExactLeaf``).
        order: the conjunctions to search, in this order (default: all, in order); the
            caller has closed the others.
        fsb: branching candidates per domain tried by a trial bound (filtered smart
            branching, on chain networks with ``iters``); 1: the BaBSR-like score alone.
        workers: batches bounded at once; each round pops one batch per worker.
        executor: where the batches are bounded (default :class:`Threads` of
            ``workers``; worker processes and Dask: :mod:`verinet.search.bab_workers`).
    Returns:
        ``SplitOutcome`` ``sat`` (confirmed), ``unsat``, ``timeout`` or ``unknown``.
    """
    if not case.bad:
        return SplitOutcome("unsat")
    root = _root(network, case, stats, iters,
                 end=time.monotonic() + _ROOT_SHARE * (deadline - time.monotonic()))
    executor = executor or Threads(workers)
    params = {"batch": batch, "iters": iters, "max_mib": max_mib, "fsb": fsb}
    try:
        executor.start(network, case, root, params)
        return each_conjunction(
            (_Search(network, case, j, checker, deadline, stats, root, exact_leaf,
                     executor=executor, **params).run
             for j in (range(len(case.bad)) if order is None else order)), deadline)
    finally:
        executor.close()


class Executor(Protocol):
    """Where a search's batches of domains are bounded: ``start`` once per case (before
    any ``map``), ``map(search, batches)`` per round (the open children of each batch, in
    order; counters and counterexamples go to ``search``), ``close`` at the end.
    ``workers``: batches per round."""

    workers: int

    def start(self, network: Network, case: Case, root: Bounds, params: dict) -> None: ...

    def map(self, search: _Search, batches: list[_Domains]) -> list[_Domains]: ...

    def close(self) -> None: ...


class Threads:
    """:class:`Executor` in this process: one batch at a time, or ``workers`` at once on
    threads (numpy and scipy release the interpreter lock in their products; the query's
    deadline, a context variable, goes with each batch)."""

    def __init__(self, workers: int = 1):
        self.workers = max(1, workers)
        self._pool: ThreadPoolExecutor | None = None

    def start(self, network: Network, case: Case, root: Bounds, params: dict) -> None:
        pass

    def map(self, search: _Search, batches: list[_Domains]) -> list[_Domains]:
        if self.workers == 1 or len(batches) < 2:
            return [search.branch(d) for d in batches]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers)
        return [f.result() for f in [
            self._pool.submit(contextvars.copy_context().run, search.branch, d)
            for d in batches]]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None


def _root(net: Network, case: Case, stats: Stats, iters: int, end: float = np.inf) -> Bounds:
    """CROWN bounds of the case's box shared by its conjunctions' searches: with ``iters``,
    when some conjunction is left open, the pre-activations are tightened by optimised
    bounds first (:func:`~verinet.bounds.joint.optimise_intermediate`, until ``end``),
    once per case; every domain keeps them."""
    t = time.monotonic()
    rows = CaseRows.of(case, case.box.n, net.n_outputs)
    lo, hi = case.box.lower[None], case.box.upper[None]
    root = crown_bounds(net, lo, hi, rows.C_out)
    stats.boxes += 1
    in_lo, _ = linear_interval(rows.C_in[None], lo, hi)
    closed = rows.closed_conj(root.out_lower + in_lo - rows.b)
    if iters > 0 and not root.infeasible[0] and not closed.all():
        root = optimise_intermediate(net, root, lo, hi, iters=2 * iters, C=rows.C_out,
                                     end=end)
    stats.time_bounds += time.monotonic() - t
    return root


class _Search:
    """Branch and bound on one conjunction (see the module docstring)."""

    def __init__(self, net: Network, case: Case, j: int, checker: CexChecker,
                 deadline: float, stats: Stats, root: Bounds,
                 exact_leaf: ExactLeaf | None = None, *, batch: int, iters: int,
                 max_mib: float, fsb: int = 1, executor: Executor | None = None):
        self.net, self.j, self.conj, self.checker = net, j, case.bad[j], checker
        self.deadline, self.stats, self.batch, self.iters = deadline, stats, batch, iters
        self.max_bytes, self.exact_leaf = max_mib * 2 ** 20, exact_leaf
        self.chain, self.fsb = chain_of(net), fsb
        self.executor = executor or Threads()
        self.lock = threading.Lock()  # the stats, the checker and ``cex`` across threads
        conj = self.conj
        self.lo, self.hi = case.box.lower, case.box.upper
        self.relus = [n for n, op in net.plan if isinstance(op, Relu)]
        self.pre = [net.op(n).inputs[0] for n in self.relus]
        self.kept = sorted({op.inputs[0] for _, op in net.plan
                            if isinstance(op, (Relu, MaxPool))})
        self.in_lower = input_rows_lower(conj, self.lo, self.hi)
        self.C_in = (conj.A_in if conj.A_in is not None
                     else np.zeros((conj.k, self.lo.shape[0])))
        self.cex: Counterexample | None = None
        self.unknown = ""
        self.root = Bounds({k: root.lower[k] for k in self.kept},
                           {k: root.upper[k] for k in self.kept}, infeasible=root.infeasible)

    def run(self) -> SplitOutcome:
        fixed = {n: np.zeros((1, self.net.op(n).size), dtype=np.int8) for n in self.relus}
        root = self._bound(fixed, self.root)
        front = _Frontier()
        front.push(self._open(root, fixed, np.zeros(1, dtype=int), {}, {}))
        while front.size:
            if self.cex is not None:
                return SplitOutcome("sat", self.cex)
            if time.monotonic() > self.deadline:
                return SplitOutcome("timeout")
            if front.nbytes > self.max_bytes:
                return SplitOutcome("unknown", reason=(
                    f"branch and bound: {front.size} open domains exceed the memory "
                    f"cap ({self.max_bytes / 2 ** 20:.0f} MiB)"))
            batches = []
            for _ in range(self.executor.workers):  # one batch per worker
                if not front.size:
                    break
                doms = front.pop(self.batch)
                self.stats.nodes += doms.n
                self.stats.max_depth = max(self.stats.max_depth, int(doms.depth.max()))
                leaf = doms.pick_layer < 0
                for i in np.flatnonzero(leaf):
                    self._leaf(doms.take(slice(i, i + 1)))
                if not leaf.all():
                    batches.append(doms.take(~leaf))
            if self.cex is not None:
                return SplitOutcome("sat", self.cex)
            for c in self.executor.map(self, batches):
                front.push(c)
        if self.cex is not None:
            return SplitOutcome("sat", self.cex)
        return SplitOutcome("unknown", reason=self.unknown) if self.unknown else (
            SplitOutcome("unsat"))

    # ------------------------------------------------------------------ one round
    def branch(self, d: _Domains) -> _Domains:
        """Both children of every domain of ``d``, bounded; the open ones."""
        n = d.n
        two = np.repeat(np.arange(n), 2)
        fixed = {k: v[two].copy() for k, v in d.fixed.items()}
        rows = np.arange(2 * n)
        for li, name in enumerate(self.relus):
            mine = d.pick_layer[two] == li
            if mine.any():
                phase = np.where(rows % 2 == 0, 1, -1).astype(np.int8)
                fixed[name][rows[mine], d.pick_index[two][mine]] = phase[mine]
        keep = Bounds({k: v[two] for k, v in d.lower.items()},
                      {k: v[two] for k, v in d.upper.items()},
                      infeasible=np.zeros(2 * n, dtype=bool))
        b = self._bound(fixed, keep)
        return self._open(b, fixed, d.depth[two] + 1,
                          {k: v[two] for k, v in d.alpha.items()},
                          {k: v[two] for k, v in d.beta.items()})

    def _bound(self, fixed: dict[str, np.ndarray], keep: Bounds | None) -> Bounds:
        t = time.monotonic()
        B = next(iter(fixed.values())).shape[0] if fixed else 1
        lo = np.broadcast_to(self.lo, (B, self.lo.shape[0]))
        hi = np.broadcast_to(self.hi, (B, self.hi.shape[0]))
        b = crown_bounds(self.net, lo, hi, self.conj.A_out, fixed=fixed, keep=keep,
                         record=tuple(self.relus), lower_only=True)
        with self.lock:
            self.stats.boxes += B
            self.stats.time_bounds += time.monotonic() - t
        return b

    def _open(self, b: Bounds, fixed: dict[str, np.ndarray], depth: np.ndarray,
              alpha: dict[str, np.ndarray], beta: dict[str, np.ndarray]) -> _Domains:
        """The domains of ``b`` not closed by their bounds, each with its split chosen;
        candidates from each are tried on the way.  ``alpha``, ``beta``: the parents'
        optimised slopes and multipliers, per row of ``b`` (the ascent starts there)."""
        assert b.out_lower is not None and b.lower_A is not None and b.lower_b is not None
        rl = np.nextafter(b.out_lower + self.in_lower, -np.inf)
        rl = np.where(np.isfinite(rl), rl, -np.inf)
        gap = (rl - self.conj.b).max(axis=1)
        open_ = ~b.infeasible & (gap <= 0)
        A = b.lower_A + self.C_in[None]  # (B, k, n): rows' linear lower bounds
        trial = False
        if self.iters > 0 and open_.any():
            t = time.monotonic()
            idx = np.flatnonzero(open_)
            P = idx.size
            state = {"alpha": {k: v[idx] for k, v in alpha.items()},
                     "beta": {k: v[idx] for k, v in beta.items()}}
            val, Aj, _, _ = joint_bounds(
                self.net, b.take(idx), np.broadcast_to(self.lo, (P, self.lo.shape[0])),
                np.broadcast_to(self.hi, (P, self.hi.shape[0])), self.conj.A_out,
                self.C_in, self.conj.b, np.arange(P), np.ones((P, self.conj.k), bool),
                iters=self.iters, fixed={k: v[idx] for k, v in fixed.items()},
                state=state, lr=_WARM_LR if alpha else _COLD_LR, guide=FAST)
            with self.lock:
                self.stats.time_bounds += time.monotonic() - t
            still = val <= 0
            open_[idx[~still]] = False
            alpha, beta = ({k: state[part][k][still] for k in state[part]}
                           for part in ("alpha", "beta"))
            trial = self.chain is not None and self.fsb > 1
            A = A[open_]
            A[:, 0] = Aj[still]  # the joint bound's own corner for the candidate
            row = np.zeros(A.shape[0], dtype=int)
        else:
            A = A[open_]
            row = np.argmax(rl[open_] - self.conj.b, axis=1)
            alpha = {k: v[open_] for k, v in alpha.items()}
            beta = {k: v[open_] for k, v in beta.items()}
        idx = np.flatnonzero(open_)
        if idx.size == 0:
            return _Domains({}, {}, {}, np.zeros(0, int), np.zeros(0, int), np.zeros(0, int),
                            {}, {})
        self._candidates(A[np.arange(idx.size), row])
        fx = {k: v[idx] for k, v in fixed.items()}
        layer, index = self._pick(b, fx, idx, np.argmax(rl[idx] - self.conj.b, axis=1),
                                  {"alpha": alpha, "beta": beta} if trial else None)
        nan = np.full((idx.size, 1), np.nan, dtype=np.float32)
        keep_a = {n: alpha[n].astype(np.float32) if n in alpha else
                  np.broadcast_to(nan, (idx.size, fx[n].shape[1])) for n in self.relus}
        keep_b = {n: beta[n].astype(np.float32) if n in beta else
                  np.broadcast_to(nan, (idx.size, fx[n].shape[1])) for n in self.relus}
        return _Domains(fx, {k: b.lower[k][idx] for k in self.kept},
                        {k: b.upper[k][idx] for k in self.kept}, depth[idx], layer, index,
                        keep_a, keep_b)

    def _pick(self, b: Bounds, fixed: dict[str, np.ndarray], idx: np.ndarray,
              row: np.ndarray, state: dict | None) -> tuple[np.ndarray, np.ndarray]:
        """Per domain the Relu (index into ``self.relus``, -1: none left) and neuron to
        split.  Scores of free unstable neurons: ``|coefficient of its output| x
        triangle height`` (BaBSR-like: how much its relaxation can loosen the bound).
        With ``state`` (the domains' optimised slopes and multipliers, chain networks)
        the coefficients are those of the optimised bound, and of the ``self.fsb`` best
        scored the one whose worse child has the best trial bound is taken (filtered
        smart branching, :func:`~verinet.bounds.joint.split_trials`); else the
        coefficients of ``b``'s bound and the best score.  The tallest triangle when no
        neuron has a positive score."""
        P = idx.size
        heights = []
        for name, pre in zip(self.relus, self.pre):
            lo, hi = b.lower[pre][idx], b.upper[pre][idx]
            ok = (fixed[name] == 0) & (lo < 0) & (hi > 0)
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                h = np.where(ok, -lo * hi / (hi - lo), -np.inf)
            heights.append(np.where(np.isnan(h), 0.0, h))
        H = np.concatenate(heights, axis=1)
        start = np.cumsum([0] + [h.shape[1] for h in heights])

        def top(coef: dict[str, np.ndarray], rows, k: int):
            """The ``k`` best scored neurons of domains ``rows`` (layer, index);
            ``coef`` per Relu for those domains."""
            Hr = H[rows]
            S = np.concatenate([np.abs(coef[n]) if n in coef else np.zeros((Hr.shape[0], m))
                                for n, m in zip(self.relus, np.diff(start))], axis=1)
            S = np.where(Hr > -np.inf, S * np.where(np.isfinite(Hr), Hr, 0.0), -np.inf)
            k = min(k, S.shape[1])
            t = (np.argpartition(-S, k - 1, axis=1)[:, :k] if k < S.shape[1]
                 else np.tile(np.arange(k), (S.shape[0], 1)))
            lay = np.searchsorted(start, t, side="right") - 1
            lay = np.where(np.take_along_axis(S, t, 1) > 0, lay, -1)
            return lay, t - start[np.maximum(lay, 0)]

        if state is None:
            coef = {n: v[idx, row] for n, v in (b.lam or {}).items()}
            layer, index = (v[:, 0] for v in top(coef, slice(None), 1))
        else:
            layer, index = np.full(P, -1), np.zeros(P, dtype=int)
            step = max(1, _TRIAL_ROWS // (2 * self.fsb))
            for s0 in range(0, P, step):
                sl = slice(s0, min(P, s0 + step))
                rows = idx[sl]
                lay, ind, val = split_trials(
                    self.chain, np.broadcast_to(self.lo, (rows.size, self.lo.shape[0])),
                    np.broadcast_to(self.hi, (rows.size, self.hi.shape[0])),
                    {p: b.lower[p][rows] for p in self.pre},
                    {p: b.upper[p][rows] for p in self.pre}, self.conj.A_out, self.C_in,
                    self.conj.b, {n: v[sl].astype(np.float64) for n, v in fixed.items()
                                  if v[sl].any()},
                    {part: {n: v[sl] for n, v in state[part].items()}
                     for part in ("alpha", "beta")},
                    lambda coef, sl=sl: top(coef, sl, self.fsb))
                c = np.argmax(np.where(lay >= 0, val.min(axis=2), -np.inf), axis=1)
                r = np.arange(c.size)
                layer[sl], index[sl] = lay[r, c], ind[r, c]
        fall = layer < 0  # no neuron with a positive score: the tallest triangle
        tall = np.argmax(H, axis=1)
        some = H[np.arange(P), tall] > -np.inf
        flay = np.searchsorted(start, tall, side="right") - 1
        layer[fall] = np.where(some, flay, -1)[fall]
        index[fall] = (tall - start[flay])[fall]
        return layer, index

    # ------------------------------------------------------------------ pieces
    def _candidates(self, A: np.ndarray) -> None:
        """The corners minimising the rows' linear lower bounds ``A (P, n)``, checked;
        when none is in the bad region, the ``_PGD_STARTS`` nearest get ``_PGD_STEPS``
        signed-gradient steps on the margin (anywhere in the box: a point there in the
        bad region answers, whatever domain it falls in)."""
        if A.shape[0] == 0 or self.cex is not None:
            return
        X = np.where(A >= 0, self.lo, self.hi)
        y = self.net.evaluate(X)
        s = self.conj.slack(X, y).min(axis=1)
        source = "relu-bab corner"
        if not (s >= 0).any():
            near = np.argsort(-s)[:_PGD_STARTS]
            X, s = pgd_from(self.net, self.conj, X[near], self.lo, self.hi, _PGD_STEPS)
            source = "relu-bab pgd"
        for i in np.flatnonzero(s >= 0)[:4]:
            with self.lock:  # one check at a time, and none after a counterexample
                if self.cex is not None:
                    return
                self.stats.candidates += 1
                cex = self.checker.confirm(X[i], source)
                if cex is not None:
                    self.cex = cex
                    return
                self.stats.rejected += 1

    def _leaf(self, d: _Domains) -> None:
        """A domain with every unstable ReLU fixed: z3 with its phases, when given."""
        if self.exact_leaf is None:
            self.unknown = "branch and bound: a leaf with every ReLU fixed stays open"
            return
        phases = {n: neuron_kind(d.lower[p][0], d.upper[p][0], d.fixed[n][0])
                  for n, p in zip(self.relus, self.pre)}
        self.stats.smt_calls += 1
        t = time.monotonic()
        ans = self.exact_leaf(phases, (self.lo, self.hi))
        self.stats.time_smt += time.monotonic() - t
        status, point = (ans, None) if isinstance(ans, str) else ans
        if status == "unsat":
            return
        if status == "sat" and point is not None:
            self.stats.candidates += 1
            self.cex = self.checker.confirm(np.asarray(point, dtype=np.float64), "exact-leaf")
            if self.cex is not None:
                return
        self.unknown = f"branch and bound: a leaf the exact solver left {status}"
