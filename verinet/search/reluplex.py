"""ReLU splitting over a warm-started LP (Reluplex-style), one property case at a time.

For each conjunction ``A_in x + A_out y <= b`` of the case, a depth-first search over ReLU
phases runs on one LP (:class:`~verinet.constraints.encoding.QueryLP`, built once per
conjunction and changed between nodes).  At a node (a set of fixed phases):

1. **Bounds.** Sound CROWN bounds under the node's phases (computed when the node was
   created, intersected with the parent's).  The node is closed when they are
   contradictory or when some row's lower bound exceeds ``b`` (no LP needed).
2. **LP.** Column bounds and relaxation rows of the node are loaded (exact rows for fixed
   or stable ReLUs, triangle chords for unstable ones) and ``min t`` is solved: the point
   of the relaxation deepest in the bad region.  A clean ``INFEASIBLE`` closes the node
   (the LP is a relaxation of the network on the node).  Anything but a clean answer is
   retried once cold; if still unclean, the node is handed to ``exact_leaf`` when given,
   otherwise split by bounds alone, and never closed.
3. **Candidates.** The LP's input point, run through the real network, and a few
   projected-gradient steps from it on the conjunction's margin; a point in the bad
   region goes to ``checker.confirm`` and, when confirmed, answers ``sat``.
4. **Split.** The heuristic (:mod:`verinet.search.branching`) picks a free unstable ReLU;
   both children get bounds in one batched ``crown_bounds`` call, children closed by
   bounds are dropped, the others pushed (the side the LP point lies on explored first).
   A node with no splittable ReLU has an exact LP; if it stays feasible without a
   confirmed point it goes to ``exact_leaf`` or is left ``unknown``.

A case is ``sat`` as soon as one conjunction is, ``unsat`` when all are, ``timeout`` as
soon as the deadline passes (checked between nodes; each LP gets the remaining time as
its limit).  Networks with MaxPool are rewritten first (:mod:`verinet.network.transform`).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..bounds import Bounds, crown_bounds
from ..bounds.joint import chain_of, joint_bounds
from ..config import VerifierConfig
from ..constraints.encoding import Encoding, QueryLP, input_rows_lower, layer_pre_name
from ..constraints.relu import neuron_kind
from ..counterexample import CexChecker
from ..errors import SolverError
from ..lp import LPResult, LPStatus
from ..network.ir import Network
from ..network.ops import Relu
from ..network.transform import maxpool_to_relu
from ..result import Counterexample, Stats
from ..spec.property import Box, Case, Conjunction
from .branching import DEFAULT_RELU_BRANCHING, BranchView, choose_relu
from .input_split import CaseRows, SplitOutcome, each_conjunction

__all__ = ["relu_split", "ExactLeaf", "SplitTree"]

ExactLeaf = Callable[[dict[str, np.ndarray], Box], "str | tuple[str, np.ndarray | None]"]
"""``exact_leaf(phases, box)``: decide the whole case on ``box`` restricted to the ReLU
phases given (Relu node name -> int8 ``(size,)``: +1 active, -1 inactive, 0 free; only
Relu nodes of the network as given are named, not those a MaxPool rewrite added).
Returns ``"sat"``, ``"unsat"`` or ``"unknown"``, or ``("sat", x)`` with a witness;
``"sat"`` without a witness counts as unknown."""

_PGD_STEPS = 8


@dataclass
class SplitTree:
    """The split tree of a search, one record per node: ``(id, parent, split, outcome)``.

    ``split`` is ``(relu node, index, phase)`` of the decision that created the node
    (``None`` for a root), ``outcome`` one of ``"bound"``, ``"lp-infeasible"``,
    ``"split"``, ``"exact-unsat"``, ``"unknown"``, ``"sat"``.  Roots record the
    conjunction index as their parent (``-1 - j``).
    """

    records: list[tuple[int, int, tuple[str, int, int] | None, str]] = field(
        default_factory=list)

    def add(self, parent: int, split: tuple[str, int, int] | None) -> int:
        self.records.append((len(self.records), parent, split, ""))
        return len(self.records) - 1

    def close(self, node: int, outcome: str) -> None:
        i, p, s, _ = self.records[node]
        self.records[node] = (i, p, s, outcome)


@dataclass
class _Node:
    depth: int
    fixed: dict[str, np.ndarray]  # Relu name -> int8 (1, size)
    bounds: Bounds  # one box
    tree_id: int = -1
    split: tuple[str, int, int] | None = None


def relu_split(network: Network, case: Case, checker: CexChecker, deadline: float,
               stats: Stats, config: VerifierConfig, exact_leaf: ExactLeaf | None = None,
               *, branching: str | None = None, tree: SplitTree | None = None
               ) -> SplitOutcome:
    """Decide one property case by ReLU splitting over an LP relaxation.

    Args:
        network: the network (MaxPool is rewritten into ReLUs here).
        case: the input box and its bad conjunctions.
        checker: confirms counterexamples; only a confirmed point answers ``sat``.
        deadline: ``time.monotonic()`` value at which to stop with ``"timeout"``.
        stats: counters updated in place (nodes, lps, lp_unclean, max_depth, ...).
        config: LP options in ``config.lp``; the heuristic is ``branching``, else
            ``config.search.relu_branching`` when that field exists, else
            ``DEFAULT_RELU_BRANCHING``.
        exact_leaf: optional exact decision for leaves the LP cannot settle.
        tree: optional record of the split tree (for certificates, tests).
    Returns:
        ``SplitOutcome`` with status ``"sat"`` (and a confirmed counterexample),
        ``"unsat"``, ``"timeout"`` or ``"unknown"`` (with a reason).
    """
    net = maxpool_to_relu(network)
    heuristic = branching or getattr(config.search, "relu_branching", DEFAULT_RELU_BRANCHING)
    if not case.bad:
        return SplitOutcome("unsat")
    box = case.box
    if any(conj.k == 0 for conj in case.bad):  # every point of the box is bad
        cex = checker.confirm(0.5 * (box.lower + box.upper), "relu-split")
        stats.candidates += 1
        if cex is not None:
            return SplitOutcome("sat", cex)
        return SplitOutcome("unknown", reason="an always-bad conjunction, unconfirmed point")
    # optimised root bounds of every conjunction (not while recording a certificate,
    # whose checker replays plain CROWN); MaxPool relaxed natively, before the rewrite
    iters = 0 if tree is not None else getattr(config.search, "joint_steps", 0)
    gaps = root_gaps(network, case, stats, iters) if net is not network or iters > 0 else None
    closed = set() if gaps is None else _record_closed(gaps, tree)
    if len(closed) == len(case.bad):
        return SplitOutcome("unsat")
    enc = Encoding(net)
    # the one farthest from closed first (the root gaps when known, else CROWN on ``net``)
    order = (_conjunction_order(net, case, stats) if gaps is None
             else [int(j) for j in np.argsort(gaps, kind="stable")])
    given = {n for n, op in network.plan if isinstance(op, Relu)}

    def search(j: int) -> SplitOutcome:
        s = _ConjunctionSearch(net, enc, case, j, checker, deadline, stats, config,
                               exact_leaf, heuristic, tree)
        s.given_relus = given
        return s.run()

    return each_conjunction((functools.partial(search, j) for j in order if j not in closed),
                            deadline)


def root_gaps(network: Network, case: Case, stats: Stats, iters: int = 0) -> np.ndarray:
    """Per conjunction, how far the CROWN root bounds of the network as given are from
    closing it: ``max over its rows of (lower bound - b)``; positive means closed (``inf``
    when the box is infeasible).  A MaxPool is relaxed as such (:mod:`verinet.bounds.relax`):
    far cheaper than bounding its ReLU rewrite, and often enough on image classifiers.

    With ``iters > 0``, a conjunction left open gets the larger of that and its optimised
    joint bound (:func:`verinet.bounds.joint.joint_bounds`: multipliers over its rows and
    ReLU slopes, ``iters`` ascent steps; on a single row, alpha-CROWN's optimised slopes),
    where the ascent can run or the conjunction has several rows."""
    t = time.monotonic()
    rows = CaseRows.of(case, case.box.n, network.n_outputs)
    root = crown_bounds(network, case.box.lower, case.box.upper, rows.C_out)
    stats.boxes += 1
    gaps, start = np.empty(len(case.bad)), 0
    for j, conj in enumerate(case.bad):
        lb = root.out_lower[0, start:start + conj.k]
        if conj.A_in is not None:
            lb = np.nextafter(lb + input_rows_lower(conj, case.box.lower, case.box.upper),
                              -np.inf)
        lb = np.where(np.isfinite(lb), lb, -np.inf)
        start += conj.k
        gaps[j] = np.inf if root.infeasible[0] else np.max(lb - conj.b, initial=-np.inf)
    if iters > 0 and not root.infeasible[0]:
        chain = chain_of(network) is not None
        todo = [j for j, conj in enumerate(case.bad)
                if gaps[j] <= 0 and (chain or conj.k > 1)]
        if todo:
            member = rows.conj[None, :] == np.asarray(todo)[:, None]
            val = joint_bounds(network, root, case.box.lower[None], case.box.upper[None],
                               rows.C_out, rows.C_in, rows.b, np.zeros(len(todo), dtype=int),
                               member, iters=iters)[0]
            gaps[todo] = np.maximum(gaps[todo], val)
    stats.time_bounds += time.monotonic() - t
    return gaps


def _record_closed(gaps: np.ndarray, tree: SplitTree | None) -> set[int]:
    """The conjunctions that :func:`root_gaps` ``gaps`` close; each is recorded as a bound
    root of ``tree``."""
    closed = {int(j) for j in np.flatnonzero(gaps > 0)}
    if tree is not None:
        for j in sorted(closed):
            tree.close(tree.add(-1 - j, None), "bound")
    return closed


def _conjunction_order(net: Network, case: Case, stats: Stats) -> list[int]:
    """Conjunctions, the one farthest from being closed by root bounds first."""
    t = time.monotonic()
    C = np.concatenate([c.A_out for c in case.bad])
    root = crown_bounds(net, case.box.lower, case.box.upper, C)
    stats.boxes += 1
    stats.time_bounds += time.monotonic() - t
    gaps, start = [], 0
    for conj in case.bad:
        lb = root.out_lower[0, start:start + conj.k]
        gaps.append(float(np.max(lb - conj.b)))
        start += conj.k
    return [int(j) for j in np.argsort(gaps, kind="stable")]


class _ConjunctionSearch:
    """The depth-first search for one conjunction (see the module docstring)."""

    def __init__(self, net: Network, enc: Encoding, case: Case, j: int, checker: CexChecker,
                 deadline: float, stats: Stats, config: VerifierConfig,
                 exact_leaf: ExactLeaf | None, heuristic: str, tree: SplitTree | None):
        self.net, self.enc, self.case, self.j = net, enc, case, j
        self.conj: Conjunction = case.bad[j]
        self.box = case.box
        self.checker, self.deadline, self.stats = checker, deadline, stats
        self.config, self.exact_leaf, self.heuristic, self.tree = (
            config, exact_leaf, heuristic, tree)
        self.in_lower = input_rows_lower(self.conj, self.box.lower, self.box.upper)
        self.relus = [layer.name for layer in enc.relus]
        self.pre_of = {layer.name: layer_pre_name(enc, layer) for layer in enc.relus}
        self.unknown = ""
        self.cex: Counterexample | None = None
        self.given_relus = set(self.relus)  # Relu nodes exact_leaf is told about
        self.lp_broken = ""  # set when HiGHS failed: every later node is a leaf

    # ------------------------------------------------------------------ the loop
    def run(self) -> SplitOutcome:
        root = self._bounds(self.box.lower[None], self.box.upper[None], {}, None)
        tid = self.tree.add(-1 - self.j, None) if self.tree is not None else -1
        if self._closed_by_bounds(root):
            self._record(tid, "bound")
            return SplitOutcome("unsat")
        qlp = QueryLP(self.enc, self.conj, self.config.lp, self._t_lower(root))
        self.qlp = qlp
        fixed0 = {name: np.zeros((1, self.net.op(name).size), dtype=np.int8)
                  for name in self.relus}
        why = qlp.trouble(root)
        if why:  # HiGHS cannot take this LP: the whole conjunction is one leaf
            self._hand_to_exact(_Node(0, fixed0, root, tid), why)
            if self.cex is not None:
                return SplitOutcome("sat", self.cex)
            return SplitOutcome("unknown", reason=self.unknown) if self.unknown else (
                SplitOutcome("unsat"))
        try:
            qlp.build(root)
        except SolverError as e:
            return SplitOutcome("unknown", reason=f"LP not usable: {e}")
        stack = [_Node(0, fixed0, root, tid)]
        while stack:
            if time.monotonic() > self.deadline:
                return SplitOutcome("timeout")
            node = stack.pop()
            self.stats.nodes += 1
            self.stats.max_depth = max(self.stats.max_depth, node.depth)
            children = self._expand(node)
            if self.cex is not None:
                return SplitOutcome("sat", self.cex)
            stack.extend(children)
        if self.unknown:
            return SplitOutcome("unknown", reason=self.unknown)
        return SplitOutcome("unsat")

    def _expand(self, node: _Node) -> list[_Node]:
        """Process one node; return its open children (last = explored first)."""
        why = self.lp_broken or self.qlp.trouble(node.bounds)
        if why:  # bounds or coefficients HiGHS refuses: a leaf, never closed by the LP
            return self._hand_to_exact(node, why)
        try:
            self.qlp.enter(node.depth, node.bounds, node.fixed)
            res = self._solve()
        except SolverError as e:  # the LP's state is unknown from here on
            self.lp_broken = f"LP not usable: {e}"
            return self._hand_to_exact(node, self.lp_broken)
        if res.status is LPStatus.INFEASIBLE and res.ray_checked:
            self._record(node.tree_id, "lp-infeasible")
            return []
        lp_vals = None
        if res.status is LPStatus.OPTIMAL:
            assert res.x is not None
            self._try_candidates(res.x[self.enc.x_cols])
            if self.cex is not None:
                self._record(node.tree_id, "sat")
                return []
            lp_vals = res.x
        elif self.exact_leaf is not None:
            return self._hand_to_exact(node, f"LP unclean ({res.raw_status})")
        pick = choose_relu(self.heuristic, self._view(node, lp_vals, res))
        if pick is None:
            why = ("all ReLUs decided, LP feasible, no confirmed point"
                   if lp_vals is not None else f"LP unclean ({res.raw_status})")
            return self._hand_to_exact(node, why)
        self._record(node.tree_id, "split")
        return self._children(node, pick, lp_vals)

    # ------------------------------------------------------------------ pieces
    def _solve(self) -> LPResult:
        for attempt in range(2):
            limit = max(0.05, self.deadline - time.monotonic())
            res = self.qlp.solve(limit)
            self.stats.lps += 1
            self.stats.time_lp += res.time
            # infeasibility closes a branch only with a Farkas ray that passed its check
            if res.status is LPStatus.OPTIMAL or (res.status is LPStatus.INFEASIBLE
                                                  and res.ray_checked):
                return res
            self.stats.lp_unclean += 1
            if attempt == 0 and time.monotonic() < self.deadline:
                self.qlp.rebuild_cold(self.config.lp)  # retry from a cold start
        return res

    def _bounds(self, lower: np.ndarray, upper: np.ndarray, fixed: dict[str, np.ndarray],
                prior: Bounds | None) -> Bounds:
        t = time.monotonic()
        b = crown_bounds(self.net, lower, upper, self.conj.A_out, fixed=fixed or None,
                         prior=prior)
        self.stats.boxes += lower.shape[0]
        self.stats.time_bounds += time.monotonic() - t
        return b

    def _row_lower(self, bounds: Bounds) -> np.ndarray:
        """Sound lower bounds ``(B, k)`` on ``A_in x + A_out y`` per box."""
        assert bounds.out_lower is not None
        if self.conj.A_in is None:
            return bounds.out_lower
        return np.nextafter(bounds.out_lower + self.in_lower, -np.inf)

    def _closed_by_bounds(self, bounds: Bounds, i: int = 0) -> bool:
        lb = self._row_lower(bounds)[i]
        lb = np.where(np.isfinite(lb), lb, -np.inf)  # inf/NaN from overflow: no information
        return bool(bounds.infeasible[i] or (lb > self.conj.b).any())

    def _t_lower(self, root: Bounds) -> float:
        """A finite lower bound for ``t`` below its least possible value (any value <= 0 is
        sound; this one never cuts the relaxation)."""
        norms = np.sqrt((self.conj.A_out ** 2).sum(axis=1)
                        + (0 if self.conj.A_in is None else (self.conj.A_in ** 2).sum(axis=1)))
        deepest = float(np.max((self._row_lower(root)[0] - self.conj.b)
                               / np.maximum(norms, 1e-12)))
        if not np.isfinite(deepest):
            deepest = 0.0
        # any value <= 0 is sound; kept above -1e19 so that HiGHS takes it as a bound
        return max(min(0.0, deepest) - 1.0, -1e19)

    def _children(self, node: _Node, pick: tuple[str, int], lp_vals: np.ndarray | None
                  ) -> list[_Node]:
        name, idx = pick
        fixed2 = {k: np.repeat(v, 2, axis=0) for k, v in node.fixed.items()}
        fixed2[name][0, idx] = 1
        fixed2[name][1, idx] = -1
        lo = np.repeat(self.box.lower[None], 2, axis=0)
        hi = np.repeat(self.box.upper[None], 2, axis=0)
        both = self._bounds(lo, hi, fixed2, node.bounds.take(np.array([0, 0])))
        out = []
        for i, phase in ((0, 1), (1, -1)):
            tid = self.tree.add(node.tree_id, (name, idx, phase)) if self.tree else -1
            child = both.take(np.array([i]))
            if self._closed_by_bounds(child):
                self._record(tid, "bound")
                continue
            fixed = {k: v[i:i + 1].copy() for k, v in fixed2.items()}
            out.append(_Node(node.depth + 1, fixed, child, tid, (name, idx, phase)))
        # explore first the side the LP point lies on (pushed last)
        if len(out) == 2 and lp_vals is not None:
            pre = lp_vals[self.enc.cols[self.pre_of[name]][idx]]
            if pre >= 0:
                out.reverse()
        return out

    def _view(self, node: _Node, lp_vals: np.ndarray | None, res: LPResult) -> BranchView:
        lower = {n: node.bounds.lower[self.pre_of[n]][0] for n in self.relus}
        upper = {n: node.bounds.upper[self.pre_of[n]][0] for n in self.relus}
        fixed = {n: node.fixed[n][0] for n in self.relus}
        view = BranchView(self.relus, lower, upper, fixed)
        if lp_vals is not None:
            view.lp_pre = {lay.name: lp_vals[lay.pre] for lay in self.enc.relus}
            view.lp_post = {lay.name: lp_vals[lay.post] for lay in self.enc.relus}
            if res.duals is not None:
                view.duals = self.qlp.neuron_duals(res.duals)
        return view

    def _hand_to_exact(self, node: _Node, why: str) -> list[_Node]:
        if self.exact_leaf is None:
            self.unknown = why
            self._record(node.tree_id, "unknown")
            return []
        phases = {}
        for n in self.relus:
            if n not in self.given_relus:
                continue
            src = self.pre_of[n]
            phases[n] = neuron_kind(node.bounds.lower[src][0], node.bounds.upper[src][0],
                                    node.fixed[n][0])
        self.stats.smt_calls += 1
        t = time.monotonic()
        ans = self.exact_leaf(phases, self.box)
        self.stats.time_smt += time.monotonic() - t
        status, point = (ans, None) if isinstance(ans, str) else ans
        if status == "unsat":
            self._record(node.tree_id, "exact-unsat")
            return []
        if status == "sat" and point is not None:
            self._confirm(np.asarray(point, dtype=np.float64), "exact-leaf")
            if self.cex is not None:
                self._record(node.tree_id, "sat")
                return []
        self.unknown = f"{why}; exact solver: {status}"
        self._record(node.tree_id, "unknown")
        return []

    def _record(self, tid: int, outcome: str) -> None:
        if self.tree is not None and tid >= 0:
            self.tree.close(tid, outcome)

    # ------------------------------------------------------------------ candidates
    def _margin(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per point ``(B,)`` the conjunction's smallest slack, and the row attaining it."""
        y = self.net.evaluate(x)
        s = self.conj.slack(x, y)
        return s.min(axis=1), s.argmin(axis=1)

    def _confirm(self, x: np.ndarray, source: str) -> None:
        self.stats.candidates += 1
        cex = self.checker.confirm(x, source)
        if cex is None:
            self.stats.rejected += 1
        else:
            self.cex = cex

    def _try_candidates(self, x_lp: np.ndarray) -> None:
        """The LP point, then projected sign-gradient steps from it on the margin."""
        lo, hi = self.box.lower, self.box.upper
        x = np.clip(x_lp, lo, hi)[None]
        step = 0.25 * (hi - lo)
        for k in range(_PGD_STEPS + 1):
            m, row = self._margin(x)
            if m[0] >= 0:
                self._confirm(x[0], "relu-split LP point" if k == 0 else "relu-split PGD")
                if self.cex is not None:
                    return
            if k == _PGD_STEPS:
                break
            i = int(row[0])
            _, g = self.net.gradient(x, self.conj.A_out[i])
            if self.conj.A_in is not None:
                g = g + self.conj.A_in[i]
            x = np.clip(x - step * np.sign(g), lo, hi)  # lower A x + A y: raises the slack
            step = 0.5 * step
