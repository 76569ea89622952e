"""Input splitting: branch and bound over input boxes, a whole frontier per numpy call.

For one property case (an input box and a disjunction of bad conjunctions
``A_in x + A_out y <= b``) the search keeps a depth-first stack of boxes.  Each round
pops up to ``batch`` boxes and bounds every row of every conjunction over each box in
one call.  A box is *closed* when every conjunction has a row whose sound lower bound
exceeds its right-hand side (no point of the box can satisfy that conjunction).  For
the boxes left open, concrete points are tried as counterexamples (the box centre and,
per box, the corner minimising the linear lower bound of the most promising
conjunction), then each open box is bisected along the dimension chosen by the
branching heuristic:

``gradient-width`` (default): for the open conjunction closest to being closed, take its
row closest to proving; score each input dimension by ``|slope_d| * width_d`` of that
row's linear lower bound, and split the dimension with the largest score.  Splitting
where the bound is most sensitive shrinks the relaxation error fastest.

``widest``: split the widest dimension (a simple, bound-agnostic baseline).

``unsat`` is answered only when the stack empties with every box closed soundly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from ..config import SearchConfig
from ..counterexample import CexChecker, case_margin
from ..deadline import DeadlineExceeded
from ..result import Counterexample, Stats
from ..spec.property import Case

__all__ = ["CaseRows", "SplitOutcome", "input_split", "shrink_boxes", "BRANCHING"]

# bound(lower (B, n), upper (B, n)) -> (lb (B, K), A (B, K, n), c (B, K)): sound lower
# bounds of every row over each box, and a linear lower bound A x + c <= row(x) valid for
# every x of the box (in real arithmetic).
RowBoundFn = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]

@dataclass
class CaseRows:
    """All rows of a case's conjunctions stacked: ``C_in x + C_out y <= b``."""

    C_out: np.ndarray  # (K, n_out)
    C_in: np.ndarray  # (K, n_in)
    b: np.ndarray  # (K,)
    conj: np.ndarray  # (K,) index of the conjunction each row belongs to
    n_conj: int
    always_bad: bool  # some conjunction has no rows
    #: (K,) bool: a *joint* row, implied by its conjunction (``sum_k lam_k (row_k - b_k)
    #: <= 0`` for multipliers ``lam >= 0`` chosen per box by the bounder); its C_out and
    #: C_in are zero and its b is 0 here, the bounder supplies its bound and linear bound
    joint: np.ndarray | None = None

    @classmethod
    def of(cls, case: Case, n_in: int, n_out: int, joint: bool = False) -> CaseRows:
        """The rows of ``case``; with ``joint``, one joint row after the rows of every
        conjunction of two rows or more."""
        outs, ins, bs, cj, jt = [], [], [], [], []
        always = False
        for j, conj in enumerate(case.bad):
            if conj.k == 0:
                always = True
            extra = int(joint and conj.k >= 2)
            outs += [conj.A_out, np.zeros((extra, n_out))]
            ins += [conj.A_in if conj.A_in is not None else np.zeros((conj.k, n_in)),
                    np.zeros((extra, n_in))]
            bs += [conj.b, np.zeros(extra)]
            cj.append(np.full(conj.k + extra, j))
            jt.append(np.arange(conj.k + extra) >= conj.k)
        if not cj:
            return cls(np.zeros((0, n_out)), np.zeros((0, n_in)), np.zeros(0),
                       np.zeros(0, int), 0, False, np.zeros(0, dtype=bool))
        return cls(np.concatenate(outs), np.concatenate(ins), np.concatenate(bs),
                   np.concatenate(cj), len(case.bad), always, np.concatenate(jt))

    def closed_conj(self, slack: np.ndarray) -> np.ndarray:
        """``(B, n_conj)``: conjunction excluded on the box (some row's lb - b > 0)."""
        out = np.zeros((slack.shape[0], self.n_conj), dtype=bool)
        for j in range(self.n_conj):
            out[:, j] = (slack[:, self.conj == j] > 0).any(axis=1)
        return out


@dataclass
class SplitOutcome:
    status: str  # "sat", "unsat", "timeout", "unknown"
    counterexample: Counterexample | None = None
    reason: str = ""
    #: on ``timeout``, when known: ``(lower, upper, depth)``, ``(m, n)``, ``(m, n)``,
    #: ``(m,)``: boxes covering every point of the case not yet proved safe and their
    #: split depths (the open frontier; see ``roots``)
    frontier: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None


def each_conjunction(runs: Iterable[Callable[[], SplitOutcome]], deadline: float
                     ) -> SplitOutcome:
    """A case from its conjunctions' searches, run in turn: ``sat`` or ``timeout`` ends it,
    an ``unknown`` is remembered (the others still run), ``unsat`` when every one is."""
    undecided = ""
    for run in runs:
        if time.monotonic() > deadline:
            return SplitOutcome("timeout")
        out = run()
        if out.status in ("sat", "timeout"):
            return out
        if out.status == "unknown":
            undecided = out.reason
    return SplitOutcome("unknown", reason=undecided) if undecided else SplitOutcome("unsat")


def _gradient_width_scores(lower, upper, slopes, slack, rows: CaseRows, open_conj):
    """``(B, n)``: ``|slope_d| * width_d`` of the row closest to closing an open conjunction."""
    width = upper - lower
    B = lower.shape[0]
    row_open = open_conj[:, rows.conj]  # (B, K)
    score_rows = np.where(row_open, slack, -np.inf)
    r = np.argmax(score_rows, axis=1)
    return np.abs(slopes[np.arange(B), r, :]) * width


def _branch_gradient_width(lower, upper, slopes, slack, rows: CaseRows, open_conj, splittable):
    """Dimension per box with the largest gradient-times-width score among the splittable
    ones (the widest splittable one if all scores are zero)."""
    s = _gradient_width_scores(lower, upper, slopes, slack, rows, open_conj)
    s = np.where(splittable, s, -np.inf)
    dim = np.argmax(s, axis=1)
    flat = ~(s[np.arange(s.shape[0]), dim] > 0)
    if flat.any():
        dim[flat] = _branch_widest(lower[flat], upper[flat], None, None, None, None,
                                   splittable[flat])
    return dim


def _branch_widest(lower, upper, slopes, slack, rows, open_conj, splittable):
    return np.argmax(np.where(splittable, upper - lower, -np.inf), axis=1)


BRANCHING = {"gradient-width": _branch_gradient_width, "widest": _branch_widest}


def _candidates(lower, upper, A, c, slack, rows: CaseRows, open_conj, iters: int = 24
                ) -> np.ndarray:
    """Points to try, per box: the centre, the corner minimising the most promising open
    conjunction's summed linear lower bound, and an approximate minimiser over the box of
    that conjunction's worst row ``max_r (A_r x + c_r - b_r)`` (projected sign-subgradient
    steps; on small boxes the network is nearly linear and this finds thin slivers of the
    bad region that centres and corners miss)."""
    B = lower.shape[0]
    centres = 0.5 * (lower + upper)
    # most promising open conjunction: smallest worst-row slack (of its rows themselves:
    # a point must meet them, not a combination)
    real = np.ones(rows.b.size, dtype=bool) if rows.joint is None else ~rows.joint
    worst = np.full(open_conj.shape, np.inf)
    for j in range(rows.n_conj):
        sel = (rows.conj == j) & real
        worst[:, j] = slack[:, sel].max(axis=1)
    worst = np.where(open_conj, worst, np.inf)
    j_best = np.argmin(worst, axis=1)
    member = (rows.conj[None, :] == j_best[:, None]) & real[None, :]  # (B, K)
    direction = np.einsum("bk,bkn->bn", member.astype(float), A)
    corners = np.where(direction > 0, lower, upper)
    width = upper - lower
    x = centres.copy()
    idx = np.arange(B)
    for t in range(iters):
        viol = np.einsum("bkn,bn->bk", A, x) + c - rows.b[None, :]
        r = np.argmax(np.where(member, viol, -np.inf), axis=1)
        step = 0.25 * (1.0 / 256.0) ** (t / max(iters - 1, 1))
        x = np.clip(x - step * width * np.sign(A[idx, r, :]), lower, upper)
    return np.concatenate([centres, corners, x])


def _conj_value(slack: np.ndarray, rows: CaseRows, always_bad: np.ndarray) -> np.ndarray:
    """Per box, how far it is from closed: min over conjunctions of the best row slack.

    ``> 0`` means closed (every conjunction has a row whose lower bound exceeds ``b``).
    """
    worst = np.full(slack.shape[0], np.inf)
    for j in range(rows.n_conj):
        if always_bad[j]:
            worst[:] = -np.inf
            continue
        worst = np.minimum(worst, slack[:, rows.conj == j].max(axis=1))
    return worst


def _children(lo, hi, dims):
    """Both halves of each box along its ``dims`` entry: ``(2B, n)`` lower and upper."""
    idx = np.arange(lo.shape[0])
    mid = 0.5 * (lo[idx, dims] + hi[idx, dims])
    lo2, hi1 = lo.copy(), hi.copy()
    hi1[idx, dims] = mid
    lo2[idx, dims] = mid
    return np.concatenate([lo, lo2]), np.concatenate([hi1, hi])


def shrink_boxes(lo: np.ndarray, hi: np.ndarray, A: np.ndarray, c: np.ndarray,
                 rows: CaseRows, always_bad: np.ndarray, sweeps: int = 2
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shrink each box to the part where a counterexample can still lie.

    A counterexample ``x`` of conjunction ``j`` satisfies ``row_r(x) <= b_r`` for its rows,
    and ``A_r x + c_r <= row_r(x)`` on the box, hence ``A_r x + c_r <= b_r``.  Interval
    constraint propagation on these linear inequalities gives, per dimension, bounds that
    every counterexample of the conjunction obeys; the result is the bounding box of the
    per-conjunction boxes.  Floating point: every derived bound is loosened by
    ``1e-10 * (sum |A_r| |x|max + |c_r| + |b_r|) / |A_rd|`` (far above the rounding of
    the few float operations involved), so the shrunk box contains every counterexample.

    Returns ``(lo', hi', empty)``: ``empty`` marks boxes where no conjunction can hold.
    """
    B, n = lo.shape
    xmax = np.maximum(np.abs(lo), np.abs(hi))
    new_lo = np.full((B, n), np.inf)
    new_hi = np.full((B, n), -np.inf)
    for j in range(rows.n_conj):
        if always_bad[j]:
            return lo, hi, np.zeros(B, dtype=bool)
        sel = rows.conj == j
        Aj, rhs0 = A[:, sel, :], rows.b[None, sel] - c[:, sel]  # A x <= rhs0
        with np.errstate(over="ignore", invalid="ignore"):
            scale = (np.einsum("bkn,bn->bk", np.abs(Aj), xmax) + np.abs(c[:, sel])
                     + np.abs(rows.b[None, sel]))
        slack = 1e-10 * scale + 1e-300
        # a row with a non-finite coefficient, offset or scale (overflow) gives nothing
        usable = np.isfinite(Aj).all(axis=2) & np.isfinite(rhs0) & np.isfinite(slack)
        l, h = lo.copy(), hi.copy()
        pos, neg = (Aj > 0) & usable[:, :, None], (Aj < 0) & usable[:, :, None]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            for _ in range(sweeps):
                mins = np.minimum(Aj * l[:, None, :], Aj * h[:, None, :])  # (B, k, n)
                rest = mins.sum(axis=2, keepdims=True) - mins
                bound = (rhs0[:, :, None] - rest + slack[:, :, None]) / Aj
                bound = bound + 1e-12 * np.abs(bound)  # the division, outward
                # only finite derived bounds count (inf - inf, overflow: no information)
                fin = np.isfinite(bound)
                up = np.where(pos & fin, bound, np.inf).min(axis=1)
                down = np.where(neg & fin, bound - 2e-12 * np.abs(bound), -np.inf).max(axis=1)
                l = np.fmax(l, down)
                h = np.fmin(h, up)
        ok = (l <= h).all(axis=1)
        new_lo = np.where(ok[:, None], np.minimum(new_lo, l), new_lo)
        new_hi = np.where(ok[:, None], np.maximum(new_hi, h), new_hi)
    empty = ~(new_lo <= new_hi).all(axis=1)
    new_lo = np.where(empty[:, None], lo, np.maximum(new_lo, lo))
    new_hi = np.where(empty[:, None], hi, np.minimum(new_hi, hi))
    return new_lo, new_hi, empty


def _grow(lo, hi, slo, shi, share: float = 1e-9):
    """Shrunk boxes with each cut face moved back out by ``share`` of the width (within
    the box): a certificate's checker recomputes the shrink with its own rounding, and the
    margin keeps its result inside the box the search goes on with."""
    g = share * (hi - lo)
    return (np.where(slo > lo, np.maximum(lo, slo - g), slo),
            np.where(shi < hi, np.minimum(hi, shi + g), shi))


def _record(proof, trail, closed: np.ndarray, ids: np.ndarray, sel: np.ndarray | None = None
            ) -> np.ndarray:
    """Report to ``proof`` the shrinks (``trail`` from ``bound``) and the closing of the
    boxes ``sel`` of a bounded batch (all when ``None``), whose nodes are ``ids``; returns the
    node ids the boxes continue under."""
    if proof is None:
        return ids
    sel = np.arange(closed.shape[0]) if sel is None else sel
    ids = ids.copy()
    for idx, blo, bhi, alo, ahi in trail:
        pos = np.searchsorted(idx, sel)
        hit = (pos < idx.size) & (idx[np.minimum(pos, idx.size - 1)] == sel)
        if hit.any():
            r = pos[hit]
            ids[hit] = proof.shrink(ids[hit], blo[r], bhi[r], alo[r], ahi[r])
    proof.close(ids[closed[sel]])
    return ids


def _settle(lo: np.ndarray, hi: np.ndarray, ids: np.ndarray, which,
            solve: Callable[[np.ndarray, np.ndarray, int], SplitOutcome], deadline: float
            ) -> tuple[SplitOutcome | None, np.ndarray]:
    """Hand the boxes ``which`` to ``solve(lower, upper, node)`` one by one (``node``: the
    box's id in ``ids``).

    Returns an outcome to end the search with (``sat``, or ``timeout`` at the deadline) or
    ``None``, and the mask of the boxes proved ``unsat``.
    """
    decided = np.zeros(lo.shape[0], dtype=bool)
    for i in which:
        if time.monotonic() > deadline:
            return SplitOutcome("timeout"), decided
        out = solve(lo[i], hi[i], int(ids[i]))
        if out.status == "sat":
            return out, decided
        decided[i] = out.status == "unsat"
    return None, decided


#: candidates of a batch handed to ``refine`` (the best by margin)
REFINED = 8


def input_split(case: Case, bound_rows: RowBoundFn, evaluate: Callable[[np.ndarray], np.ndarray],
                checker: CexChecker, n_out: int, deadline: float, stats: Stats,
                config: SearchConfig,
                exact_box: Callable[[np.ndarray, np.ndarray], SplitOutcome] | None = None,
                solve_box: Callable[[np.ndarray, np.ndarray, float], SplitOutcome] | None = None,
                relevant: np.ndarray | None = None,
                roots: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                proof=None, joint: bool = False,
                refine: Callable[[np.ndarray], np.ndarray] | None = None) -> SplitOutcome:
    """Decide one property case by input splitting (see the module docstring).

    ``roots`` (``(lower, upper, depth)``), when given, are boxes inside the case's box
    that cover every point of it not yet proved safe, with their split depths (another
    search's ``frontier``); the search starts from them instead of the whole box, and its
    ``unsat`` then holds for the case only because they cover the rest of it.

    ``exact_box(lower, upper)``, when given, decides a box too small to split (an exact
    engine); its ``unsat`` closes the box, its ``sat`` (confirmed) answers the case.
    ``solve_box(lower, upper, deadline)``, when given, is tried on boxes that are still
    open after every ``config.box_solver_depth`` splits (``joint_box_solver_depth`` with
    joint rows) (a complete engine on the box, e.g.
    ReLU splitting over an LP, which reasons about a conjunction's rows jointly); its
    ``unsat`` closes the box, ``sat`` answers the case, anything else leaves the box to
    input splitting.

    ``relevant`` (bool ``(n_in,)``), when given, marks the inputs the case's rows depend on at
    all; the others are never split.  A dimension is split only while it is wider than
    ``config.min_width``; a box with no such relevant dimension left is exhausted and goes
    to ``exact_box`` (or counts as unknown).

    ``proof``, when given, records the split tree for a certificate
    (:class:`verinet.proof.produce.BoxTree`): every box carries a node id; splits, shrinks,
    closed boxes and hand-offs are reported to it (``solve_box`` then takes the node id as a
    fourth argument).

    ``joint``: ``bound_rows`` bounds the rows of ``CaseRows.of(case, ..., joint=True)``
    (a joint row per conjunction of two rows or more, after its rows).

    ``refine(points) -> points``, when given, proposes more candidates from the
    :data:`REFINED` best of a batch's when none of those is a counterexample (e.g. the
    linear programs of their activation patterns, :mod:`verinet.falsify.pattern`).
    """
    n_in = case.box.n
    relevant = (np.ones(n_in, dtype=bool) if relevant is None
                else np.asarray(relevant, dtype=bool).reshape(n_in))
    rows = CaseRows.of(case, n_in, n_out, joint=joint)
    if rows.n_conj == 0:
        return SplitOutcome("unsat")
    always_bad = np.array([c.k == 0 for c in case.bad])
    strict_case = (Case(case.box, tuple(c.non_strict() for c in case.bad))
                   if any(c.strict is not None for c in case.bad) else None)
    branch = BRANCHING[config.branching]
    # joint rows close most boxes the LP would: the hand-off comes later with them
    every = config.joint_box_solver_depth if rows.joint.any() else config.box_solver_depth

    def bound_raw(lo, hi):
        t0 = time.monotonic()
        parts = [bound_rows(lo[i:i + config.batch], hi[i:i + config.batch])
                 for i in range(0, lo.shape[0], config.batch)]
        stats.time_bounds += time.monotonic() - t0
        stats.boxes += lo.shape[0]
        lb, A, c = (np.concatenate([p[i] for p in parts]) for i in range(3))
        # a non-finite bound (overflow) proves nothing; nor does a linear bound with a
        # non-finite coefficient (it becomes ``0 x - inf``)
        lb = np.where(np.isfinite(lb), lb, -np.inf)
        bad = ~(np.isfinite(A).all(axis=2) & np.isfinite(c))
        if bad.any():
            A, c = np.where(bad[:, :, None], 0.0, A), np.where(bad, -np.inf, c)
        return lb, A, c

    def bound(lo, hi, parent_lb=None):
        """Bounds of ``(lo, hi)``, shrunk boxes, which boxes are closed, and the trail of
        shrinks (for :func:`_record`).

        A box that shrinks by more than ``config.rebound_shrink`` of its width in some
        dimension is bounded again (the shrunk box is a part of the box, so the old bounds
        still hold and are kept where tighter); this often closes it without a split.
        """
        lb, A, c = bound_raw(lo, hi)
        if parent_lb is not None:  # a part of a box obeys the box's bounds too
            lb = np.maximum(lb, parent_lb)
        closed = _conj_value(lb - rows.b[None, :], rows, always_bad) > 0
        slo, shi, empty = shrink_boxes(lo, hi, A, c, rows, always_bad)
        closed |= empty
        if proof is not None:
            slo, shi = _grow(lo, hi, slo, shi)
        trail = [(np.arange(lo.shape[0]), lo, hi, slo, shi)]
        for _ in range(config.rebounds):
            w_old = np.maximum(hi - lo, 1e-300)
            again = ~closed & ((shi - slo) < (1.0 - config.rebound_shrink) * w_old).any(axis=1)
            if not again.any():
                break
            idx = np.nonzero(again)[0]
            lo, hi = slo, shi
            lb2, A2, c2 = bound_raw(lo[idx], hi[idx])
            lb[idx] = np.maximum(lb2, lb[idx])
            A[idx], c[idx] = A2, c2
            closed[idx] = _conj_value(lb[idx] - rows.b[None, :], rows, always_bad) > 0
            s2lo, s2hi, e2 = shrink_boxes(lo[idx], hi[idx], A2, c2, rows, always_bad)
            closed[idx] |= e2
            if proof is not None:
                s2lo, s2hi = _grow(lo[idx], hi[idx], s2lo, s2hi)
            trail.append((idx, lo[idx], hi[idx], s2lo, s2hi))
            slo, shi = slo.copy(), shi.copy()
            slo[idx], shi[idx] = s2lo, s2hi
        return lb, A, c, slo, shi, closed, trail

    if roots is not None:
        stack = []
        r_lo, r_hi = (np.asarray(r, dtype=np.float64).reshape(-1, n_in) for r in roots[:2])
        r_depth = np.asarray(roots[2], dtype=int).reshape(-1)
        for i in range(0, r_lo.shape[0], config.batch):
            sl = slice(i, i + config.batch)
            lb0, A0, c0, lo0, hi0, closed0, _ = bound(r_lo[sl].copy(), r_hi[sl].copy())
            keep = ~closed0
            if keep.any():
                stack.append((lo0[keep], hi0[keep], r_depth[sl][keep], lb0[keep], A0[keep],
                              c0[keep], np.zeros(int(keep.sum()), dtype=np.int64)))
        lb0 = np.zeros(1)
    else:
        lo0, hi0 = case.box.lower[None].copy(), case.box.upper[None].copy()
        lb0, A0, c0, lo0, hi0, closed0, trail0 = bound(lo0, hi0)
        id0 = _record(proof, trail0, closed0, np.array([proof.root() if proof else 0]))
        stack = [(lo0, hi0, np.zeros(1, int), lb0, A0, c0, id0)] if not closed0[0] else []
    if stack and roots is None and exact_box is not None and not np.isfinite(lb0).all():
        # the bounds overflow on the whole box (huge box or weights): splitting may never
        # make them finite, so the exact engine gets the box first
        out = exact_box(lo0[0], hi0[0])
        if out.status in ("sat", "unsat"):
            if proof is not None and out.status == "unsat":
                proof.unchecked(id0[0], "exact engine (z3) on the whole box")
            return out
    unknown_boxes = 0
    lookahead = n_in <= config.lookahead_max_dims
    per_box = 2 * min(n_in, config.lookahead_dims) if lookahead else 2
    cap = max(config.batch // per_box, 1)
    # Depth-first, but boxes deeper than ``depth_cap`` wait in ``deferred`` until the rest
    # of the tree is done: a region where the bounds converge slowly (the bad region's
    # boundary passing close by) cannot hold up the search of the others.
    depth_cap = config.depth_step
    deferred: list = []
    current: list = []  # the batch being worked on (on no list meanwhile)

    def first_confirmed(points: np.ndarray, source: str):
        """The first of ``points`` confirmed as a counterexample, or None (each one turned
        down counts as rejected)."""
        for x in points:
            cex = checker.confirm(x, source=source)
            if cex is not None:
                return cex
            stats.rejected += 1
        return None

    def stopped() -> SplitOutcome:
        """``timeout`` with the open frontier: every box not proved safe is on the stack,
        deferred, or in the current batch (no frontier when a box was left undecided)."""
        entries = [e[:3] for e in stack + deferred] + current
        if unknown_boxes or not entries:
            return SplitOutcome("timeout")
        return SplitOutcome("timeout", frontier=tuple(np.concatenate([e[j] for e in entries])
                                                      for j in range(3)))

    try:
        while stack or deferred:
            if not stack:
                stack, deferred = deferred, []
                depth_cap += config.depth_step
            current = []
            if time.monotonic() > deadline:
                return stopped()
            lo, hi, depth, lb, A, c, ids = stack.pop()
            if lo.shape[0] > cap:
                stack.append(tuple(a[cap:] for a in (lo, hi, depth, lb, A, c, ids)))
                lo, hi, depth, lb, A, c, ids = (a[:cap] for a in (lo, hi, depth, lb, A, c, ids))
            current = [(lo.copy(), hi.copy(), depth.copy())]
            stats.max_depth = max(stats.max_depth, int(depth.max()))
            slack = lb - rows.b[None, :]
            open_conj = ~rows.closed_conj(slack) | always_bad[None, :]
            # concrete points as counterexamples
            pts = _candidates(lo, hi, A, c, slack, rows, open_conj)
            y = evaluate(pts)
            marg = case_margin(case, pts, y)
            stats.candidates += pts.shape[0]
            cex = first_confirmed(pts[np.nonzero(marg >= 0)[0][:8]], "input-split")
            if cex is None and refine is not None and not (marg >= 0).any():
                more = refine(pts[np.argsort(-marg)[:REFINED]])
                stats.candidates += more.shape[0]
                cex = first_confirmed(more, "input-split pattern")
            if cex is not None:
                return SplitOutcome("sat", cex)
            if strict_case is not None and exact_box is not None:
                # points on the boundary of a strict row: bounds cannot tell "touches" from
                # "crosses", so such boxes go to the exact engine, which decides "<" as written
                touch = (case_margin(strict_case, pts, y) >= 0) & (marg < 0)
                out, decided = _settle(lo, hi, ids,
                                       np.unique(np.nonzero(touch)[0] % lo.shape[0]),
                                       lambda a, b, _: exact_box(a, b), deadline)
                if out is not None:
                    return out if out.status != "timeout" else stopped()
                if decided.any():
                    if proof is not None:
                        for i in np.flatnonzero(decided):
                            proof.unchecked(ids[i], "exact engine (z3) on a strict row")
                    keep = ~decided
                    lo, hi, depth, lb, A, c, ids, slack, open_conj = (
                        a[keep] for a in (lo, hi, depth, lb, A, c, ids, slack, open_conj))
                    if lo.shape[0] == 0:
                        continue
            if solve_box is not None and every > 0:
                due = (depth > 0) & (depth % every == 0)
                out, decided = _settle(
                    lo, hi, ids, np.nonzero(due)[0], lambda a, b, node: solve_box(
                        a, b, min(deadline, time.monotonic() + config.box_solver_seconds),
                        *((node,) if proof is not None else ())), deadline)
                if out is not None:
                    return out if out.status != "timeout" else stopped()
                if decided.any():
                    keep = ~decided
                    lo, hi, depth, lb, A, c, ids, slack, open_conj = (
                        a[keep] for a in (lo, hi, depth, lb, A, c, ids, slack, open_conj))
                    if lo.shape[0] == 0:
                        continue
            width = hi - lo
            # only relevant dimensions wider than min_width are ever split; a box without one
            # is exhausted (a wide input the rows do not depend on is no reason to split on)
            splittable = relevant[None, :] & (width > config.min_width)
            tiny = ~splittable.any(axis=1)
            if tiny.any():
                for i in np.nonzero(tiny)[0]:
                    out = exact_box(lo[i], hi[i]) if exact_box is not None else None
                    if out is not None and out.status == "sat":
                        return out
                    if out is None or out.status != "unsat":
                        unknown_boxes += 1
                    elif proof is not None:
                        proof.unchecked(ids[i], "exact engine (z3) on a box too small to split")
                keep = ~tiny
                lo, hi, depth, lb, A, c, ids = (a[keep] for a in (lo, hi, depth, lb, A, c, ids))
                slack, open_conj, width = slack[keep], open_conj[keep], width[keep]
                splittable = splittable[keep]
                if lo.shape[0] == 0:
                    continue
            Bn = lo.shape[0]
            if lookahead:
                # bound both halves along each candidate dimension, keep the best split
                k = min(n_in, config.lookahead_dims)
                if k == n_in:
                    cand = np.tile(np.arange(n_in), (Bn, 1))
                else:
                    score = _gradient_width_scores(lo, hi, A, slack, rows, open_conj)
                    score = np.where(splittable, np.nan_to_num(score, nan=0.0), -np.inf)
                    cand = np.argsort(-score, axis=1, kind="stable")[:, :k]
                m = Bn * k
                clo, chi = _children(np.repeat(lo, k, axis=0), np.repeat(hi, k, axis=0),
                                     cand.reshape(-1))
                parent = np.tile(np.repeat(lb, k, axis=0), (2, 1))
                clb, cA, cc, clo, chi, cclosed, trail = bound(clo, chi, parent)
                val = np.where(cclosed, np.inf,
                               _conj_value(clb - rows.b[None, :], rows, always_bad))
                pval = np.minimum(_conj_value(slack, rows, always_bad), 0.0)
                # gain: how much closer to closed both halves get (a closed half counts fully)
                vl, vr = np.minimum(val[:m], 0.0), np.minimum(val[m:], 0.0)
                gain = (vl + vr).reshape(Bn, k) - 2.0 * pval[:, None]
                # shrinking counts too: prefer splits whose halves lose volume
                # (volumes over the dimensions of positive width; 0 < volume ratio <= 1)
                w_pos = width > 0
                cw = np.where(np.tile(np.repeat(w_pos, k, axis=0), (2, 1)), chi - clo, 1.0)
                vol = np.prod(np.maximum(cw, 0.0), axis=1)
                vol_parent = np.prod(np.where(w_pos, width, 1.0), axis=1)
                shrink = 1.0 - (vol[:m] + vol[m:]).reshape(Bn, k) / vol_parent[:, None]
                gain = gain + 1e-6 * np.abs(pval)[:, None] * shrink
                cwidth = np.take_along_axis(width, cand, axis=1)
                csplit = np.take_along_axis(splittable, cand, axis=1)
                gain = np.where(csplit, gain, -np.inf)
                best = np.argmax(gain, axis=1)
                stuck = ~(gain[np.arange(Bn), best] > 1e-9 * (1.0 + np.abs(pval)))
                best = np.where(stuck, np.argmax(np.where(csplit, cwidth, -np.inf), axis=1), best)
                pick = np.arange(Bn) * k + best
                sel = np.concatenate([pick, pick + m])
                nlo, nhi, nlb, nA, nc = clo[sel], chi[sel], clb[sel], cA[sel], cc[sel]
                nclosed = cclosed[sel]
                dim = cand[np.arange(Bn), best]
            else:
                dim = branch(lo, hi, A, slack, rows, open_conj, splittable)
                nlo, nhi = _children(lo, hi, dim)
                nlb, nA, nc, nlo, nhi, nclosed, trail = bound(nlo, nhi, np.tile(lb, (2, 1)))
                sel = np.arange(2 * Bn)
            nids = np.zeros(2 * Bn, dtype=np.int64)
            if proof is not None:
                mid = 0.5 * (lo[np.arange(Bn), dim] + hi[np.arange(Bn), dim])  # as _children
                nids = _record(proof, trail, cclosed if lookahead else nclosed,
                               np.concatenate(proof.split(ids, dim, mid)), sel)
            ndepth = np.concatenate([depth + 1, depth + 1])
            keep = ~nclosed
            for part, target in ((keep & (ndepth < depth_cap), stack),
                                 (keep & (ndepth >= depth_cap), deferred)):
                if part.any():
                    target.append((nlo[part], nhi[part], ndepth[part], nlb[part], nA[part],
                                   nc[part], nids[part]))
    except DeadlineExceeded:  # a bound or an LP was cut off at the deadline
        return stopped()

    if unknown_boxes:
        return SplitOutcome("unknown", reason=f"{unknown_boxes} boxes could not be split further")
    return SplitOutcome("unsat")
