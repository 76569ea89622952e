"""The LP encoding of a network and one bad conjunction: the piecewise-linear constraint graph.

Columns and rows follow one fixed numbering rule (UNSAT certificates refer to it).

**Columns**, in this order:

1. the input ``x`` (``n_in`` columns);
2. for every ``Affine``, ``Sum`` and ``Relu`` node in plan order, one column per entry
   (an Affine feeding a Relu holds its *pre*-activations, the Relu its *post*-activations);
   a ``Concat`` has no columns of its own: it names the columns of its inputs, in order;
3. the depth column ``t`` (last), ``t_lower <= t <= 0``.

Every column has finite bounds taken from sound bounds (``crown_bounds``, rounded outward
there); a ReLU's post column is also clipped to ``[max(l, 0), max(u, 0)]``.

**Rows**, in this order (``lower <= a . z <= upper``):

1. *network rows*, for every ``Affine`` and ``Sum`` node in plan order, one equality row per
   entry: ``y_i - sum_j W_ij x_j = b_i`` (``y_i - sum_k x_k,i = 0`` for a Sum);
2. *ReLU lower rows*, for every Relu node in plan order and every neuron:
   ``post - pre >= 0``;
3. *bad rows*, one per row of the conjunction, in order:
   ``A_in_i . x + A_out_i . y - ||(A_in_i, A_out_i)||_2 t <= b_i``; as ``t <= 0``, every
   point of the LP meets ``A_in x + A_out y <= b``, and minimising ``t`` pushes into the bad
   region (``-t`` is the smallest normalised slack);
4. *frames*: frame 0 belongs to the root of the search, frame ``d`` to the search node at
   depth ``d`` on the current path.  A frame holds one row per neuron whose state changed
   against the frame below (for frame 0: every neuron), in (Relu node plan order, neuron
   index) order: the phase row ``post - pre <= 0`` for an active neuron, the chord row
   ``post - s pre <= t`` (:func:`~verinet.constraints.relu.triangle_chord`) for an
   unstable one, no row for an inactive one.  A neuron's state is its kind and, when
   unstable, its bounds ``(l, u)``.  :attr:`QueryLP.row_log` records, per frame row, the
   Relu node, neuron index, kind and the bounds it was built from.

Rows of frames deeper than the current node are popped (``truncate_rows``) on
backtracking; rows of lower frames stay valid (they were built from bounds of a superset).

Only Input, Affine, Sum, Concat and Relu are encoded; rewrite MaxPool first
(:func:`verinet.network.transform.maxpool_to_relu`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ..bounds import Bounds
from ..bounds.interval import linear_interval
from ..config import LPConfig
from ..errors import UnsupportedOperatorError
from ..lp import HighsLP, LPResult, model_trouble
from ..network.ir import Network
from ..network.ops import Affine, Concat, Input, Relu, Sum
from ..spec.property import Conjunction
from .relu import UNSTABLE, ReluConstraint, neuron_kind, triangle_chord

__all__ = ["Encoding", "QueryLP", "FrameRow", "input_rows_lower"]


@dataclass(frozen=True)
class ReluLayer:
    """A Relu node's columns: ``pre`` and ``post`` of shape ``(size,)``."""

    name: str
    pre: np.ndarray
    post: np.ndarray


class Encoding:
    """Columns and static rows of the LP of a network (see the module docstring).

    Attributes:
        cols: node name -> its column indices ``(size,)`` (a Concat's are its inputs').
        relus: the Relu nodes in plan order with their pre and post columns.
        n_cols: number of columns, ``t`` included (``t_col = n_cols - 1``).
    """

    def __init__(self, net: Network):
        self.net = net
        self.cols: dict[str, np.ndarray] = {}
        self.relus: list[ReluLayer] = []
        self._owned: list[str] = []  # nodes with columns of their own, in order
        n = 0
        for name, op in net.plan:
            if isinstance(op, Concat):
                self.cols[name] = np.concatenate([self.cols[s] for s in op.inputs])
                continue
            if not isinstance(op, (Input, Affine, Sum, Relu)):
                raise UnsupportedOperatorError(op.kind, name,
                                               "rewrite it first (maxpool_to_relu)")
            self.cols[name] = np.arange(n, n + op.size)
            self._owned.append(name)
            n += op.size
            if isinstance(op, Relu):
                self.relus.append(ReluLayer(name, self.cols[op.inputs[0]], self.cols[name]))
        self.t_col = n
        self.n_cols = n + 1
        self.x_cols = self.cols[net.input_name]
        self.y_cols = self.cols[net.output_name]

    # ------------------------------------------------------------------ columns
    def col_bounds(self, bounds: Bounds, t_lower: float, box: int = 0
                   ) -> tuple[np.ndarray, np.ndarray]:
        """Column bounds ``(n_cols,)`` from box ``box`` of sound node bounds."""
        lo = np.empty(self.n_cols)
        hi = np.empty(self.n_cols)
        for name in self._owned:
            c = self.cols[name]
            lo[c] = bounds.lower[name][box]
            hi[c] = bounds.upper[name][box]
        for r in self.relus:  # post within relu of the pre bounds (both sound)
            lo[r.post] = np.maximum(lo[r.post], np.maximum(lo[r.pre], 0.0))
            hi[r.post] = np.minimum(hi[r.post], np.maximum(hi[r.pre], 0.0))
        lo[self.t_col], hi[self.t_col] = t_lower, 0.0
        return lo, hi

    def relu_constraints(self) -> list[ReluConstraint]:
        """One :class:`ReluConstraint` per neuron, in row-numbering order."""
        return [ReluConstraint(r.name, j, int(r.pre[j]), int(r.post[j]))
                for r in self.relus for j in range(r.pre.size)]

    # ------------------------------------------------------------------ rows
    def network_rows(self, bounds: Bounds | None = None
                     ) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        """Block 1: rows of every Affine and Sum node, in plan order: equalities, or, for
        nodes with a float32 error bound and given (root) ``bounds``, ``b - d <= y - W x <=
        b + d`` with ``d`` the error bound over those bounds (valid in every sub-problem:
        they hold there too)."""
        blocks, rhs, err = [], [], []
        for name, op in self.net.plan:
            if isinstance(op, Affine):
                W = sp.coo_array(op.W)
                src = self.cols[op.inputs[0]]
                own = self.cols[name]
                r = np.concatenate([W.row, np.arange(op.size)])
                c = np.concatenate([src[W.col], own])
                v = np.concatenate([-W.data, np.ones(op.size)])
                blocks.append(sp.csr_matrix((v, (r, c)), shape=(op.size, self.n_cols)))
                rhs.append(np.asarray(op.b, dtype=np.float64))
                err.append(np.zeros(op.size) if bounds is None or not op.has_error else
                           op.float_error(self._mag(bounds, op.inputs[0]))[0])
            elif isinstance(op, Sum):
                own = self.cols[name]
                rr = [np.arange(op.size)] * (len(op.inputs) + 1)
                cc = [own] + [self.cols[s] for s in op.inputs]
                vv = [np.ones(op.size)] + [-np.ones(op.size)] * len(op.inputs)
                A = sp.csr_matrix((np.concatenate(vv), (np.concatenate(rr), np.concatenate(cc))),
                                  shape=(op.size, self.n_cols))
                A.sum_duplicates()
                blocks.append(A)
                rhs.append(np.zeros(op.size))
                err.append(np.zeros(op.size) if bounds is None or not op.err_rho else
                           op.err_rho * sum(self._mag(bounds, s)[0] for s in op.inputs)
                           * (1 + 1e-12))
        if not blocks:
            return sp.csr_matrix((0, self.n_cols)), np.zeros(0), np.zeros(0)
        b, d = np.concatenate(rhs), np.concatenate(err)
        if not d.any():
            return sp.vstack(blocks, format="csr"), b, b.copy()
        return (sp.vstack(blocks, format="csr"), np.nextafter(b - d, -np.inf),
                np.nextafter(b + d, np.inf))

    @staticmethod
    def _mag(bounds: Bounds, name: str) -> np.ndarray:
        return np.maximum(np.abs(bounds.lower[name][:1]), np.abs(bounds.upper[name][:1]))

    def relu_lower_rows(self) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        """Block 2: ``post - pre >= 0`` for every neuron, in plan order."""
        pre = np.concatenate([r.pre for r in self.relus]) if self.relus else np.zeros(0, int)
        post = np.concatenate([r.post for r in self.relus]) if self.relus else np.zeros(0, int)
        k = pre.size
        A = sp.csr_matrix((np.concatenate([np.ones(k), -np.ones(k)]),
                           (np.tile(np.arange(k), 2), np.concatenate([post, pre]))),
                          shape=(k, self.n_cols))
        A.sum_duplicates()  # a Relu reading the input of ... itself never happens; harmless
        return A, np.zeros(k), np.full(k, np.inf)

    def bad_rows(self, conj: Conjunction) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        """Block 3: ``A_in x + A_out y - ||row|| t <= b`` for the conjunction's rows."""
        k = conj.k
        A = np.zeros((k, self.n_cols))
        np.add.at(A, (slice(None), self.y_cols), conj.A_out)
        norms = (conj.A_out ** 2).sum(axis=1)
        if conj.A_in is not None:
            A[:, self.x_cols] += conj.A_in
            norms = norms + (conj.A_in ** 2).sum(axis=1)
        A[:, self.t_col] = -np.maximum(np.sqrt(norms), 1e-12)
        return sp.csr_matrix(A), np.full(k, -np.inf), np.asarray(conj.b, dtype=np.float64)

    def neuron_rows(self, layer: ReluLayer, idx: np.ndarray, kind: np.ndarray,
                    lo: np.ndarray, hi: np.ndarray
                    ) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray, np.ndarray]:
        """Frame rows for neurons ``idx`` of ``layer`` (kinds and pre bounds given per idx).

        Returns ``(A, lower, upper, which)``: ``which`` the positions in ``idx`` that got a
        row (inactive neurons get none).
        """
        keep = kind != -1
        which = np.flatnonzero(keep)
        j = idx[keep]
        s = np.ones(j.size)
        t = np.zeros(j.size)
        unstable = kind[keep] == UNSTABLE
        if unstable.any():
            s_u, t_u = triangle_chord(lo[keep][unstable], hi[keep][unstable])
            s[unstable], t[unstable] = s_u, t_u
        r = np.arange(j.size)
        A = sp.csr_matrix((np.concatenate([np.ones(j.size), -s]),
                           (np.tile(r, 2), np.concatenate([layer.post[j], layer.pre[j]]))),
                          shape=(j.size, self.n_cols))
        A.sum_duplicates()
        return A, np.full(j.size, -np.inf), t, which


def input_rows_lower(conj: Conjunction, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Sound lower bounds ``(k,)`` on ``A_in x`` over the box (zeros without ``A_in``)."""
    if conj.A_in is None:
        return np.zeros(conj.k)
    lo, _ = linear_interval(conj.A_in[None], lower[None], upper[None])
    return lo[0]


@dataclass(frozen=True)
class FrameRow:
    """What a frame row stands for: neuron ``index`` of Relu ``node``, its kind
    (``1`` active: phase row, ``0`` unstable: chord row) and the pre bounds used."""

    frame: int
    node: str
    index: int
    kind: int
    lower: float
    upper: float


@dataclass
class QueryLP:
    """The LP of one (network, conjunction) query across all subproblems of a search.

    Built once; each subproblem calls :meth:`enter` (column bounds from its node bounds,
    frame rows pushed, deeper frames popped) and :meth:`solve`.  ``builds`` counts the
    ``HighsLP`` objects created (1 unless a cold retry replaced it).
    """

    enc: Encoding
    conj: Conjunction
    config: LPConfig
    t_lower: float
    lp: HighsLP = field(init=False)
    frame_end: list[int] = field(default_factory=list)  # rows after frame d
    frame_kinds: list[dict[str, np.ndarray]] = field(default_factory=list)
    frame_lo: list[dict[str, np.ndarray]] = field(default_factory=list)
    frame_hi: list[dict[str, np.ndarray]] = field(default_factory=list)
    row_log: list[FrameRow] = field(default_factory=list)
    builds: int = 0

    def __post_init__(self) -> None:
        self.base_rows = 0
        self._all_cols = np.arange(self.enc.n_cols)

    def trouble(self, bounds: Bounds) -> str:
        """Why the LP cannot be set up for (box 0 of) ``bounds`` ("" when it can): column
        bounds or coefficients HiGHS refuses (non-finite, or beyond its limits)."""
        if not hasattr(self, "_row_trouble"):
            net_A, net_b, _ = self.enc.network_rows()
            bad_A, _, bad_b = self.enc.bad_rows(self.conj)
            self._row_trouble = model_trouble(np.zeros(0), np.zeros(0), net_A, bad_A)
            if not self._row_trouble and not (np.abs(net_b) < 1e20).all():
                self._row_trouble = "LP not usable: a bias is not finite or reaches 1e+20"
            if not self._row_trouble and not np.isfinite(bad_b).all():
                self._row_trouble = "LP not usable: a property bound is not finite"
        if self._row_trouble:
            return self._row_trouble
        lo, hi = self.enc.col_bounds(bounds, self.t_lower)
        if np.isnan(lo).any() or np.isnan(hi).any():
            return "LP not usable: a column bound is NaN"
        return model_trouble(lo, hi)

    def build(self, root: Bounds) -> None:
        """Create the HighsLP with blocks 1-3 and the columns bounded by ``root``."""
        lo, hi = self.enc.col_bounds(root, self.t_lower)
        self.lp = HighsLP(self.enc.n_cols, lo, hi, self.config)
        self.builds += 1
        for A, rl, ru in (self.enc.network_rows(root), self.enc.relu_lower_rows(),
                          self.enc.bad_rows(self.conj)):
            if A.shape[0]:
                self.lp.add_rows(A, rl, ru)
        self.base_rows = self.lp.n_rows

    def enter(self, depth: int, bounds: Bounds, fixed: dict[str, np.ndarray]) -> None:
        """Make the LP that of a search node at ``depth`` with (box 0 of) ``bounds``.

        Frames ``>= depth`` are popped; frame ``depth`` is pushed with rows for the neurons
        whose state differs from frame ``depth - 1`` (the parent's, in a depth-first search).
        ``fixed`` maps Relu node names to int8 phases ``(1, size)`` or ``(size,)``.
        """
        assert depth <= len(self.frame_end), (
            f"enter: depth {depth} skips frames (have {len(self.frame_end)})")
        mark = self.frame_end[depth - 1] if depth > 0 else self.base_rows
        self.lp.truncate_rows(mark)
        del self.frame_end[depth:], self.frame_kinds[depth:]
        del self.frame_lo[depth:], self.frame_hi[depth:]
        while self.row_log and self.row_log[-1].frame >= depth:
            self.row_log.pop()
        lo, hi = self.enc.col_bounds(bounds, self.t_lower)
        self.lp.set_col_bounds(self._all_cols, lo, hi)
        kinds, los, his = {}, {}, {}
        blocks, uppers = [], []
        for layer in self.enc.relus:
            src = layer_pre_name(self.enc, layer)
            l, h = bounds.lower[src][0], bounds.upper[src][0]
            ph = fixed.get(layer.name)
            kind = neuron_kind(l, h, None if ph is None else np.reshape(ph, -1))
            kinds[layer.name], los[layer.name], his[layer.name] = kind, l, h
            if depth == 0:
                changed = np.ones(kind.shape, dtype=bool)
            else:
                pk = self.frame_kinds[depth - 1][layer.name]
                pl, pu = self.frame_lo[depth - 1][layer.name], self.frame_hi[depth - 1][layer.name]
                changed = (kind != pk) | ((kind == UNSTABLE) & ((l != pl) | (h != pu)))
            idx = np.flatnonzero(changed)
            if idx.size == 0:
                continue
            A, _, ru, which = self.enc.neuron_rows(layer, idx, kind[idx], l[idx], h[idx])
            if A.shape[0]:
                blocks.append(A)
                uppers.append(ru)
                for w in which:
                    j = int(idx[w])
                    self.row_log.append(FrameRow(depth, layer.name, j, int(kind[j]),
                                                 float(l[j]), float(h[j])))
        if blocks:
            A = sp.vstack(blocks, format="csr")
            self.lp.add_rows(A, np.full(A.shape[0], -np.inf), np.concatenate(uppers))
        self.frame_end.append(self.lp.n_rows)
        self.frame_kinds.append(kinds)
        self.frame_lo.append(los)
        self.frame_hi.append(his)

    def solve(self, time_limit: float | None) -> LPResult:
        self.lp.set_objective(self._objective(), "min")
        return self.lp.solve(time_limit=time_limit)

    def _objective(self) -> np.ndarray:
        c = np.zeros(self.enc.n_cols)
        c[self.enc.t_col] = 1.0
        return c

    def rebuild_cold(self, config: LPConfig) -> None:
        """Replace the solver by a fresh one holding the same rows and column bounds."""
        A, rl, ru = self.lp.rows()
        lo, hi = self.lp.col_lower, self.lp.col_upper
        self.lp = HighsLP(self.enc.n_cols, lo, hi, config)
        self.builds += 1
        if A.shape[0]:
            self.lp.add_rows(A, rl, ru)

    def values(self, x: np.ndarray, layer: ReluLayer) -> tuple[np.ndarray, np.ndarray]:
        """``(pre, post)`` LP values of a Relu layer from a solution ``x``."""
        return x[layer.pre], x[layer.post]

    def neuron_duals(self, duals: np.ndarray) -> dict[str, np.ndarray]:
        """Per Relu node, the summed ``|dual|`` of its neurons' frame rows ``(size,)``."""
        out = {layer.name: np.zeros(layer.pre.size) for layer in self.enc.relus}
        start = self.base_rows
        for k, row in enumerate(self.row_log):
            i = start + k
            if i < duals.size:
                out[row.node][row.index] += abs(duals[i])
        return out


def layer_pre_name(enc: Encoding, layer: ReluLayer) -> str:
    """The node whose value a Relu reads (its pre-activation node)."""
    return enc.net.op(layer.name).inputs[0]

