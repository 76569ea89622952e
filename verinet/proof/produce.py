"""Certificates from the search: the split tree as it is explored, then the Farkas leaves.

The search reports to a :class:`ProofLog` (one :class:`BoxTree` per property case): input
splits, shrinks, closed boxes, hand-offs to ReLU splitting (their
:class:`~verinet.search.reluplex.SplitTree`) and leaves only z3 closed.  After an
``unsat``, :func:`write_proof` assembles the certificate (docs/proof.md) and walks it with
the independent checker (:mod:`verinet.proof.check`) once, giving each LP leaf Farkas
multipliers over the checker's own LP of that leaf (HiGHS's dual ray, taken from the LP
the checker builds from its own bounds); a leaf whose checker LP is feasible is marked
unchecked.  The certificate written has then passed the checker.
"""

from __future__ import annotations

import gzip
import json
import sys
import time
from dataclasses import dataclass, field

import highspy
import numpy as np
import scipy.sparse as sp

from ..lp.highs import _stdout_silenced
from . import check as C

__all__ = ["BoxTree", "ProofLog", "ProofSummary", "write_proof"]

_GROW = 1e-9
"""Faces a shrink leaves in place are recorded this share of the width outside the box
(the search itself moves the faces it cuts back out by as much, see input_split._grow)."""


class BoxTree:
    """The input-split tree of one property case, as JSON-ready nested dicts."""

    def __init__(self) -> None:
        self.nodes: list[dict] = []

    def _new(self) -> int:
        self.nodes.append({})
        return len(self.nodes) - 1

    def root(self) -> int:
        return self._new()

    def split(self, ids, dims, mids) -> tuple[np.ndarray, np.ndarray]:
        left = np.empty(len(ids), dtype=np.int64)
        right = np.empty(len(ids), dtype=np.int64)
        for k, (i, d, v) in enumerate(zip(ids, dims, mids)):
            a, b = self._new(), self._new()
            self.nodes[int(i)].update(t="s", d=int(d), v=float(v).hex(),
                                      c=[self.nodes[a], self.nodes[b]])
            left[k], right[k] = a, b
        return left, right

    def shrink(self, ids, blo, bhi, alo, ahi) -> np.ndarray:
        out = np.array(ids, dtype=np.int64)
        for k, i in enumerate(ids):
            if np.array_equal(blo[k], alo[k]) and np.array_equal(bhi[k], ahi[k]):
                continue
            # a face the shrink did not move is recorded a little outside: the checker's box
            # may be an ulp wider (its root box is the property's decimals rounded outward),
            # and it intersects the recorded box with its own
            g = _GROW * (bhi[k] - blo[k]) + 1e-300
            lo = np.where(alo[k] > blo[k], alo[k], blo[k] - g)
            hi = np.where(ahi[k] < bhi[k], ahi[k], bhi[k] + g)
            c = self._new()
            self.nodes[int(i)].update(t="k", lo=[float(v).hex() for v in lo],
                                      hi=[float(v).hex() for v in hi], c=self.nodes[c])
            out[k] = c
        return out

    def close(self, ids) -> None:
        for i in ids:
            if not self.nodes[int(i)]:
                self.nodes[int(i)]["t"] = "b"

    def unchecked(self, i, why: str) -> None:
        self.nodes[int(i)].update(t="z", why=why)

    def handoff(self, i, tree, relu_names: list[str], n_terms: int) -> None:
        """Node ``i`` was closed by ReLU splitting; ``tree``: its SplitTree records."""
        self.nodes[int(i)].update(t="h", c=phase_trees(tree, relu_names, n_terms))


def phase_trees(tree, relu_names: list[str], n_terms: int) -> list:
    """One phase tree per conjunction from SplitTree records ``(id, parent, split, outcome)``."""
    layer = {n: k for k, n in enumerate(relu_names)}
    kids: dict[int, list] = {}
    roots: dict[int, int] = {}
    for rid, parent, split, _ in tree.records:
        if split is None:
            roots[-1 - parent] = rid
        else:
            kids.setdefault(parent, []).append(rid)
    rec = {r[0]: r for r in tree.records}

    def build(rid: int) -> dict:
        outcome = rec[rid][3]
        if outcome == "bound":
            return {"t": "b"}
        if outcome == "lp-infeasible":
            return {"t": "f"}
        if outcome == "split":
            ch = kids.get(rid, [])
            if len(ch) != 2 or rec[ch[0]][2][0] not in layer:
                return {"t": "z", "why": "a split the checker cannot name"}
            name, idx, phase = rec[ch[0]][2]
            a, b = (ch[0], ch[1]) if phase > 0 else (ch[1], ch[0])
            return {"t": "r", "l": layer[name], "i": int(idx), "c": [build(a), build(b)]}
        if outcome == "exact-unsat":
            return {"t": "z", "why": "exact engine (z3)"}
        return {"t": "z", "why": f"search outcome {outcome or 'open'}"}

    return [build(roots[j]) if j in roots else {"t": "z", "why": "conjunction not searched"}
            for j in range(n_terms)]


@dataclass
class ProofLog:
    """What the search reports while it runs, one :class:`BoxTree` per case."""

    cases: list[BoxTree] = field(default_factory=list)
    relu_names: list[str] = field(default_factory=list)

    def case(self, k: int) -> BoxTree:
        while len(self.cases) <= k:
            self.cases.append(BoxTree())
        return self.cases[k]


@dataclass
class ProofSummary:
    path: str
    nodes: int
    leaves: dict
    unchecked: list
    bytes: int
    seconds: float


class _WarmFarkas:
    """Farkas multipliers for the checker's LPs of many leaves from one warm-started HiGHS.

    The checker numbers a ReLU neuron's rows by its phase (1 row active, 2 unstable, 0
    inactive), so the LPs of two leaves differ in shape.  Here every neuron has two rows
    (``post - pre`` and the chord; rows the checker does not have are free), so the LPs of
    one term share their matrix pattern: a leaf only changes bounds and chord coefficients,
    and HiGHS starts from the previous leaf's basis.  The ray is mapped back onto the
    checker's rows and checked there; a leaf it does not prove goes to a cold solve."""

    def __init__(self) -> None:
        self.key = None
        self.h = None
        self.val = None

    @staticmethod
    def _layout(lp: C.NodeLP):
        """``(rows, fmap, relu)``: the fixed LP's row count, the fixed row of every checker
        row, and per ReLU block ``(first fixed row, unstable mask, pre col, post col)``."""
        fmap = np.empty(lp.lo.size, dtype=np.int64)
        pos, relu = 0, []
        for entry in lp.layout:
            if entry[0] != "relu":
                _, base, cnt = entry
                fmap[base:base + cnt] = np.arange(pos, pos + cnt)
                pos += cnt
                continue
            _, base, eq, uns, c_pre, c_post = entry
            cnt = eq.astype(np.int64) + 2 * uns
            first = base + np.concatenate([[0], np.cumsum(cnt)[:-1]])
            k_eq, k_un = np.flatnonzero(eq), np.flatnonzero(uns)
            fmap[first[k_eq]] = pos + 2 * k_eq
            fmap[first[k_un]] = pos + 2 * k_un
            fmap[first[k_un] + 1] = pos + 2 * k_un + 1
            relu.append((pos, uns, c_pre, c_post))
            pos += 2 * eq.size
        return pos, fmap, relu

    def __call__(self, lp: C.NodeLP):
        if not lp.layout:
            return _farkas_from_highs(lp)
        rows, fmap, relu = self._layout(lp)
        n = lp.A.shape[1]
        A = lp.A.tocoo()
        fr, fc, fv = fmap[A.row], A.col, A.data
        # chord coefficients per neuron (dummy 1, -1 where the checker has no chord row)
        chord_rows = np.concatenate([p + 2 * np.arange(u.size) + 1 for p, u, _, _ in relu])
        chord_pre = np.concatenate([c0 + np.arange(u.size) for _, u, c0, _ in relu])
        chord_post = np.concatenate([c1 + np.arange(u.size) for _, u, _, c1 in relu])
        val = np.tile([1.0, -1.0], (chord_rows.size, 1))
        is_chord = np.isin(fr, chord_rows)
        pos = np.searchsorted(chord_rows, fr[is_chord])
        val[pos, (fc[is_chord] != chord_post[pos]).astype(int)] = fv[is_chord]
        lo = np.full(rows, -np.inf)
        hi = np.full(rows, np.inf)
        lo[fmap], hi[fmap] = lp.lo, lp.hi
        terms = lp.A[lp.layout[-1][1]:]  # the property's rows
        key = (n, rows, tuple(u.size for _, u, _, _ in relu), terms.data.tobytes(),
               terms.indices.tobytes())
        inf = highspy.kHighsInf
        rlo, rhi = np.where(np.isfinite(lo), lo, -inf), np.where(np.isfinite(hi), hi, inf)
        if key != self.key:
            # the pattern: the checker's entries, plus post - pre in every row it lacks
            keep = ~is_chord
            r1 = np.concatenate([p + 2 * np.arange(u.size) for p, u, _, _ in relu])
            have = np.zeros(rows, dtype=bool)
            have[fmap] = True
            miss = ~have[r1]
            rr = np.concatenate([fr[keep], r1[miss], r1[miss], chord_rows, chord_rows])
            cc = np.concatenate([fc[keep], chord_post[miss], chord_pre[miss], chord_post,
                                 chord_pre])
            vv = np.concatenate([fv[keep], np.ones(miss.sum()), -np.ones(miss.sum()),
                                 val[:, 0], val[:, 1]])
            M = sp.csc_matrix((vv, (rr, cc)), shape=(rows, n))
            self.h = _highs(M, lp.col_lo, lp.col_hi, rlo, rhi)
            self.key = key
        else:
            h = self.h
            h.changeColsBounds(n, np.arange(n, dtype=np.int32), lp.col_lo, lp.col_hi)
            h.changeRowsBounds(rows, np.arange(rows, dtype=np.int32), rlo, rhi)
            for k in np.flatnonzero((val != self.val).any(axis=1)):
                h.changeCoeff(int(chord_rows[k]), int(chord_post[k]), float(val[k, 0]))
                h.changeCoeff(int(chord_rows[k]), int(chord_pre[k]), float(val[k, 1]))
        self.val = val
        self.h.run()
        got = None
        if self.h.getModelStatus() == highspy.HighsModelStatus.kInfeasible:
            _, has_ray, ray = self.h.getDualRay()
            if has_ray:
                got = _check_ray(lp, np.asarray(ray, dtype=np.float64)[fmap])
        if got is None:
            self.key = None  # start afresh next time, and solve this one cold
            return _farkas_from_highs(lp)
        return got


def _check_ray(lp: C.NodeLP, ray: np.ndarray):
    """``(rows, multipliers)`` from a dual ray over the checker's rows, either sign, if the
    checker accepts them; else None."""
    for sign in (1.0, -1.0):
        y = sign * ray
        # keep only multipliers whose side of the row exists
        y = np.where(((y > 0) & np.isfinite(lp.hi)) | ((y < 0) & np.isfinite(lp.lo)), y, 0.0)
        idx = np.flatnonzero(y)
        if C.farkas(lp, idx, y[idx])[0]:
            return idx, y[idx]
    return None


#: Farkas LPs with at least this many columns presolve their cold solve (a CNN's LP of 47k
#: columns: 0.4 s to find it infeasible and 6 s more for the ray, against 36 s without).
#: The search's LPs do not: there the ray's re-solve overran the query's time budget.
PRESOLVE_COLS = 5000


def _highs(A, col_lo, col_hi, row_lo, row_hi) -> highspy.Highs:
    """A quiet, single-threaded HiGHS holding the feasibility LP ``row_lo <= A v <= row_hi``,
    ``col_lo <= v <= col_hi`` (``A`` sparse; infinite bounds as HiGHS's own)."""
    inf = highspy.kHighsInf
    with _stdout_silenced():
        h = highspy.Highs()
    A = sp.csc_matrix(A)
    # (a large LP presolves its cold solve; warm re-solves never do)
    presolve = "on" if A.shape[1] >= PRESOLVE_COLS else "off"
    for k, v in (("output_flag", False), ("presolve", presolve), ("threads", 1)):
        h.setOptionValue(k, v)
    model = highspy.HighsLp()
    model.num_row_, model.num_col_ = A.shape
    model.col_cost_ = np.zeros(A.shape[1])
    model.col_lower_, model.col_upper_ = col_lo, col_hi
    model.row_lower_ = np.where(np.isfinite(row_lo), row_lo, -inf)
    model.row_upper_ = np.where(np.isfinite(row_hi), row_hi, inf)
    model.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    model.a_matrix_.start_, model.a_matrix_.index_ = A.indptr, A.indices
    model.a_matrix_.value_ = A.data
    h.passModel(model)
    return h


def _farkas_from_highs(lp: C.NodeLP):
    """Farkas multipliers for the checker's LP of a leaf from HiGHS's dual ray, or None."""
    h = _highs(lp.A, lp.col_lo, lp.col_hi, lp.lo, lp.hi)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kInfeasible:
        return None
    _, has_ray, ray = h.getDualRay()
    if not has_ray:
        return None
    return _check_ray(lp, np.asarray(ray, dtype=np.float64))


class _Repair:
    """Rewrites, in place, the nodes the checker's own bounds cannot close (its bounds and
    the search's differ in rounding and in their float32 error model): a bound leaf is
    bisected (its widest dimension; at most ``depth`` times down one branch), a shrink the
    checker cannot reproduce becomes the input splits that carve its box out (the slabs cut
    off become bound leaves), and a phase bound leaf becomes a Farkas leaf."""

    def __init__(self, depth: int = 12):
        self.depth = depth
        self.level: dict[int, int] = {}
        self.count = 0

    def __call__(self, kind: str, node: dict, lo, hi) -> bool:
        self.count += 1
        if kind == "phase":
            node.clear()
            node["t"] = "f"
            return True
        d0 = self.level.get(id(node), 0)
        if kind == "box":
            if d0 >= self.depth:
                return False
            dim = int(np.argmax(hi - lo))
            mid = 0.5 * (lo[dim] + hi[dim])
            if not lo[dim] < mid < hi[dim]:
                return False
            kids = [{"t": "b"}, {"t": "b"}]
            node.clear()
            node.update(t="s", d=dim, v=float(mid).hex(), c=kids)
            for k in kids:
                self.level[id(k)] = d0 + 1
            return True
        clo = np.array([float.fromhex(v) for v in node["lo"]])
        chi = np.array([float.fromhex(v) for v in node["hi"]])
        inner = node["c"]
        chain = inner
        for dim in range(lo.size):  # innermost first: the last cut wraps the others
            if chi[dim] < hi[dim]:
                chain = {"t": "s", "d": dim, "v": float(chi[dim]).hex(),
                         "c": [chain, {"t": "b"}]}
            if clo[dim] > lo[dim]:
                chain = {"t": "s", "d": dim, "v": float(clo[dim]).hex(),
                         "c": [{"t": "b"}, chain]}
        node.clear()
        node.update(chain if chain is not inner else {"t": "b"})
        if chain is inner:  # nothing to cut: the child covers the box
            node.clear()
            node.update(inner)
        return True


#: trees with fewer nodes are completed in this process; larger ones in worker processes
#: (starting one costs about 0.4 s; on ACAS Xu a tree of 1,800 nodes took 0.8 s in one
#: process and 1.5 s with two workers, one of 4,200 nodes 4.2 s against 3.6 s)
PARALLEL_NODES = 3000


def _count(node) -> int:
    if not isinstance(node, dict):
        return 1
    c = node.get("c")
    kids = c if isinstance(c, list) else [c] if isinstance(c, dict) else []
    return 1 + sum(_count(k) for k in kids)


def _frontier(trees, roots, want: int):
    """Subtrees reached from the roots through input splits only, at least ``want`` of them
    when the tree allows: ``[(group, where, parent list, index, lo, hi)]``.  The boxes are
    computed as the checker computes them (exact split values), so that a subtree completed
    on its own box checks the same inside the whole tree."""
    level = [(g, f"group {g}", trees, g, lo, hi) for g, (lo, hi) in enumerate(roots)]

    def opens(x) -> bool:
        node = x[2][x[3]]
        if not isinstance(node, dict):
            return False
        if node.get("t") == "s":
            return isinstance(node.get("c"), list) and len(node["c"]) == 2
        return node.get("t") == "k" and isinstance(node.get("c"), dict) and all(
            isinstance(node.get(k), list) and len(node[k]) == x[4].size for k in ("lo", "hi"))

    while len(level) < want:
        grow = [x for x in level if opens(x)]
        if not grow:
            break
        big = max(grow, key=lambda x: _count(x[2][x[3]]))
        g, w, parent, i, lo, hi = big
        node = parent[i]
        try:
            if node["t"] == "k":  # the box the checker gives the shrink's child
                kid = (g, w + ".k", node, "c",
                       np.maximum(lo, np.array([float.fromhex(v) for v in node["lo"]])),
                       np.minimum(hi, np.array([float.fromhex(v) for v in node["hi"]])))
                level[level.index(big)] = kid
                continue
            dim, v = node.get("d"), float.fromhex(node.get("v"))
        except (TypeError, ValueError):
            break  # the checker will say what is wrong with it
        if not (isinstance(dim, int) and 0 <= dim < lo.size and lo[dim] <= v <= hi[dim]):
            break
        h1, l2 = hi.copy(), lo.copy()
        h1[dim], l2[dim] = v, v
        level.remove(big)
        level += [(g, w + ".0", node["c"], 0, lo, h1), (g, w + ".1", node["c"], 1, l2, hi)]
    return level


_WORKER: dict = {}


def _worker_init(model_path: str, prop_path: str, semantics: str) -> None:
    n_in, ops, _ = C.read_model(model_path)
    groups, _ = C.read_property(prop_path, n_in, C.n_outputs(n_in, ops))
    _WORKER["c"] = C.Checker(n_in, C.semantic_ops(ops, semantics), groups)


def _worker_walk(task):
    """Complete and check one subtree in a worker: ``(subtree, counts, unchecked)``."""
    g, w, tree, lo, hi = task
    c = _WORKER["c"]
    c.counts = {k: 0 for k in c.counts}
    c.unchecked = []
    c.on_lp_leaf = _WarmFarkas()
    c.repair = _Repair()
    c.walk_boxes(w, tree, lo, hi, c.groups[g][2])
    return tree, c.counts, c.unchecked


def _complete(checker: C.Checker, trees: list, files: tuple, workers: int) -> None:
    """Walk the certificate with the checker (filling in Farkas multipliers, repairing what
    it cannot close).  A large tree is cut into subtrees below its top input splits; the
    subtrees are completed in ``workers`` processes while this one checks the top.  If the
    worker processes cannot run (a script without a main guard, say), it is all done here."""
    if workers <= 1 or sum(_count(t) for t in trees) < PARALLEL_NODES:
        checker.run(trees)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    cut = _frontier(trees, C.root_boxes(checker.groups), 4 * workers)
    if len(cut) < 2:
        checker.run(trees)
        return
    tasks = [(g, w, parent[i], lo, hi) for g, w, parent, i, lo, hi in cut]
    order = sorted(range(len(tasks)), key=lambda k: -_count(tasks[k][2]))
    try:
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"),
                                 initializer=_worker_init, initargs=files) as pool:
            futures = {k: pool.submit(_worker_walk, tasks[k]) for k in order}
            # meanwhile the top of the tree, each subtree stood in for by a marked leaf
            for k, (_, _, parent, i, _, _) in enumerate(cut):
                parent[i] = {"t": "z", "why": f"{_APART} {k}"}
            checker.run(trees)
            done = {k: futures[k].result() for k in order}
    except (BrokenProcessPool, OSError) as e:
        print(f"verinet: note: certificate completed in one process ({type(e).__name__})",
              file=sys.stderr)
        for k, (_, _, parent, i, _, _) in enumerate(cut):
            parent[i] = tasks[k][2]
        checker.counts = {name: 0 for name in checker.counts}
        checker.unchecked = []
        checker.run(trees)
        return
    reached = {int(u.rsplit(" ", 1)[1]) for u in checker.unchecked if _APART in u}
    checker.counts["unchecked"] -= len(reached)
    checker.unchecked = [u for u in checker.unchecked if _APART not in u]
    for k, (_, _, parent, i, _, _) in enumerate(cut):
        sub, counts, unchecked = done[k]
        parent[i] = sub
        if k in reached:  # (a subtree the top's bounds closed is never walked)
            for name, v in counts.items():
                checker.counts[name] += v
            checker.unchecked += unchecked


_APART = "completed apart"


def write_proof(log: ProofLog, model_path: str, prop_path: str, out_path: str,
                semantics: str = "float32", workers: int = 2) -> ProofSummary:
    """Assemble, complete (Farkas leaves) and check the certificate of an ``unsat`` proved in
    ``semantics`` (``Result.semantics``); write it to ``out_path`` (gzip when it ends in
    ``.gz``).  Raises :class:`verinet.proof.check.ProofError` when the checker rejects it
    (the file is then not written).  ``workers``: processes that complete a large tree's
    subtrees side by side (1: all in this process)."""
    t0 = time.monotonic()
    n_in, ops, mdig = C.read_model(model_path)
    groups, pdig = C.read_property(prop_path, n_in, C.n_outputs(n_in, ops))
    if len(log.cases) != len(groups):
        raise C.ProofError("root", f"the search had {len(log.cases)} cases, the checker reads "
                                   f"{len(groups)} input boxes")
    checker = C.Checker(n_in, C.semantic_ops(ops, semantics), groups)
    trees = [t.nodes[0] if t.nodes else {"t": "z", "why": "no search"} for t in log.cases]
    proof = {"format": C.FORMAT, "semantics": semantics, "model": mdig, "property": pdig,
             "groups": trees}
    checker.on_lp_leaf = _WarmFarkas()
    checker.repair = _Repair()
    _complete(checker, trees, (model_path, prop_path, semantics), workers)
    text = json.dumps(proof, separators=(",", ":"))
    opener = gzip.open if out_path.endswith(".gz") else open
    with opener(out_path, "wt") as f:
        f.write(text)
    leaves = {k: v for k, v in checker.counts.items() if k != "nodes"}
    return ProofSummary(out_path, checker.counts["nodes"], leaves, checker.unchecked,
                        len(text), time.monotonic() - t0)
