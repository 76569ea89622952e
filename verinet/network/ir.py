"""``Network``: the piecewise-linear constraint graph's skeleton, and its compiled plan.

A network is a ``networkx.DiGraph`` whose nodes are IR operations (see
:mod:`verinet.network.ops`) with the per-sample shape of the value they produce.
Edges run from producer to consumer; the order of a node's inputs is the order of
``op.inputs``.  A compiled *plan* (the nodes in topological order) drives batched
float64 evaluation, gradients and, later, bounds and LP encodings.

Importers build networks through :class:`NetworkBuilder`, which simplifies the graph
on ``finish``: identity maps vanish and chains of affine maps fold into one where the
product is no larger than its factors (always for index maps and scalings).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from ..errors import InputError
from .ops import Affine, Input, Op, Relu, Sum, issparse

__all__ = ["Network", "NetworkBuilder", "compose_affine"]


@dataclass
class Network:
    """A feed-forward piecewise-linear network over flat float64 vectors.

    Attributes:
        graph: the DAG; node attributes ``op`` (an :class:`Op`) and ``shape``.
        input_name, output_name: the input and output nodes.
        input_shape, output_shape: per-sample shapes as the source file gives them
            (symbolic dimensions read as 1); values are flat vectors of their product.
        name: a display name (usually the file name).
        meta: facts about the source (path, format, ONNX input name and dtype,
            normalisation constants of ``.nnet`` files, ...).
        output_transforms: final ``Softmax``/``LogSoftmax`` nodes the importer dropped
            (:class:`~verinet.network.output_transform.OutputTransform`): the network
            computes their input, the logits; properties are checked against them by
            :func:`~verinet.network.output_transform.check_property`.
    """

    graph: nx.DiGraph
    input_name: str
    output_name: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    name: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    output_transforms: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        order = list(nx.topological_sort(self.graph))
        self.plan: list[tuple[str, Op]] = [(n, self.graph.nodes[n]["op"]) for n in order]
        assert self.plan[0][0] == self.input_name, "the input must come first in the plan"
        self._index = {n: i for i, (n, _) in enumerate(self.plan)}
        self._last_use = {}
        for i, (_, op) in enumerate(self.plan):
            for src in op.inputs:
                self._last_use[src] = i

    # ------------------------------------------------------------------ sizes
    @property
    def n_inputs(self) -> int:
        return int(np.prod(self.input_shape, dtype=np.int64))

    @property
    def n_outputs(self) -> int:
        return int(np.prod(self.output_shape, dtype=np.int64))

    def ops(self) -> Iterator[tuple[str, Op]]:
        """The operations in evaluation order, input first."""
        return iter(self.plan)

    def op(self, name: str) -> Op:
        return self.graph.nodes[name]["op"]

    @property
    def relu_count(self) -> int:
        return sum(op.size for _, op in self.plan if isinstance(op, Relu))

    @property
    def neuron_count(self) -> int:
        """Hidden neurons: outputs of every operation but the input and the final output."""
        return sum(op.size for n, op in self.plan
                   if not isinstance(op, Input) and n != self.output_name)

    def is_layered(self) -> bool:
        """True when the plan is a plain chain Affine, Relu, Affine, ..., Affine."""
        kinds = [type(op) for _, op in self.plan[1:]]
        chain = all(self.plan[i + 1][1].inputs == (self.plan[i][0],)
                    for i in range(len(self.plan) - 1))
        return chain and all(k in (Affine, Relu) for k in kinds)

    # ------------------------------------------------------------- semantics
    @property
    def models_float(self) -> bool:
        """Whether the float execution of the source file is modelled (error bounds on its
        affine maps and sums): ONNX models in float32 or float64."""
        return bool(self.meta.get("float_model"))

    def real(self) -> Network:
        """The same network without float error bounds: its real-valued function only."""
        if not self.models_float:
            return self
        g = self.graph.copy()
        for name in g.nodes:
            op = g.nodes[name]["op"]
            if isinstance(op, Affine) and op.has_error:
                g.nodes[name]["op"] = dataclasses.replace(op, err_rho=0.0, err_M=None,
                                                          err_e0=None)
            elif isinstance(op, Sum) and op.err_rho:
                g.nodes[name]["op"] = dataclasses.replace(op, err_rho=0.0)
        meta = {**self.meta, "float_model": False}
        return Network(g, self.input_name, self.output_name, self.input_shape,
                       self.output_shape, self.name, meta, self.output_transforms)

    # ------------------------------------------------------------- evaluation
    def as_batch(self, x: np.ndarray | list | tuple) -> np.ndarray:
        """Coerce an input point or batch to a float64 ``(B, n_inputs)`` array.

        Accepts a flat vector ``(n,)``, a batch ``(B, n)``, a shaped sample
        ``input_shape`` or a shaped batch ``(B, *input_shape)``.
        """
        a = np.asarray(x, dtype=np.float64)
        n = self.n_inputs
        if a.size == n and a.shape in ((n,), tuple(self.input_shape)):
            return a.reshape(1, n)
        if a.ndim >= 2 and int(np.prod(a.shape[1:], dtype=np.int64)) == n:
            return a.reshape(a.shape[0], n)
        if a.ndim == 1 and a.size == n:
            return a.reshape(1, n)
        raise InputError(
            f"{self.name or 'network'}: input of shape {a.shape} does not fit the network's "
            f"{n} inputs (shape {tuple(self.input_shape)}); pass {n} values per sample")

    def evaluate(self, x: np.ndarray) -> np.ndarray:
        """Outputs ``(B, n_outputs)`` of the network on a batch (see :meth:`as_batch`)."""
        return self.evaluate_all(x, keep=(self.output_name,))[self.output_name]

    def evaluate_all(self, x: np.ndarray, keep: tuple[str, ...] | None = None
                     ) -> dict[str, np.ndarray]:
        """Values of the nodes named in ``keep`` (all nodes when ``None``), each ``(B, size)``."""
        vals: dict[str, np.ndarray] = {self.input_name: self.as_batch(x)}
        keep_set = None if keep is None else set(keep)
        for i, (name, op) in enumerate(self.plan[1:], start=1):
            vals[name] = op.forward(*(vals[s] for s in op.inputs))
            if keep_set is not None:
                for s in set(op.inputs):  # an input may be read twice, e.g. Concat(h, h)
                    if self._last_use[s] == i and s not in keep_set:
                        del vals[s]
        if keep_set is not None:
            return {k: vals[k] for k in keep_set}
        return vals

    def gradient(self, x: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Value and input gradient of the linear function ``c . y`` of the output.

        Args:
            x: inputs, any form :meth:`as_batch` accepts; ``B`` samples.
            c: ``(n_outputs,)`` or ``(B, n_outputs)`` coefficients.
        Returns:
            ``(f, g)``: ``f`` of shape ``(B,)`` with ``c . y(x)``, and ``g`` of shape
            ``(B, n_inputs)`` with its gradient (a subgradient at ReLU kinks, taking
            the inactive side, and the first maximiser of a MaxPool window).
        """
        vals = self.evaluate_all(x)
        y = vals[self.output_name]
        cc = np.broadcast_to(np.asarray(c, dtype=np.float64), y.shape)
        grads: dict[str, np.ndarray] = {self.output_name: np.array(cc)}
        for name, op in reversed(self.plan[1:]):
            g = grads.pop(name, None)
            if g is None:
                continue
            xs = tuple(vals[s] for s in op.inputs)
            for src, gs in zip(op.inputs, op.backward(g, xs, vals[name])):
                if src in grads:
                    grads[src] = grads[src] + gs
                else:
                    grads[src] = gs
        g_in = grads.get(self.input_name, np.zeros((y.shape[0], self.n_inputs)))
        return np.einsum("bo,bo->b", y, cc), g_in

    def fingerprint(self) -> str:
        """A digest of the plan and of every array and number of every operation: two
        networks with one fingerprint compute the same function under the same float error
        model (worker processes check that the model they loaded is this one)."""
        got = self.__dict__.get("_fingerprint")
        if got is None:
            import hashlib

            h = hashlib.sha256(repr((self.input_name, self.output_name,
                                     self.models_float)).encode())
            for name, op in self.plan:
                h.update(repr((name, type(op).__name__, op.inputs, op.size)).encode())
                for f in dataclasses.fields(op):
                    if f.name == "conv":  # another form of W, made from it
                        continue
                    v = getattr(op, f.name)
                    if issparse(v):
                        v = v.tocsr()
                        parts = (v.data, v.indices, v.indptr)
                    elif isinstance(v, np.ndarray):
                        parts = (v,)
                    else:
                        h.update(repr((f.name, v)).encode())
                        continue
                    for a in parts:
                        a = np.ascontiguousarray(a)
                        h.update(repr((f.name, a.dtype.str, a.shape)).encode())
                        h.update(a.tobytes())
            got = self.__dict__["_fingerprint"] = h.hexdigest()
        return got

    # ---------------------------------------------------------------- display
    def summary(self) -> str:
        """A human-readable table of the operations, with sizes and counts."""
        lines = [f"network {self.name or '(unnamed)'}"]
        src = self.meta.get("format")
        if src:
            lines[0] += f" ({src})"
        lines.append(f"  inputs : {self.n_inputs} (shape {list(self.input_shape)})")
        lines.append(f"  outputs: {self.n_outputs} (shape {list(self.output_shape)})")
        for t in self.output_transforms:
            lines.append(f"  dropped final {t.describe()}; verinet computes its input "
                         "(the logits)")
        lines.append(f"  operations: {len(self.plan) - 1}, neurons: {self.neuron_count}, "
                     f"ReLUs: {self.relu_count}")
        for name, op in self.plan[1:]:
            shape = list(self.graph.nodes[name]["shape"])
            ins = ", ".join(op.inputs)
            lines.append(f"  {name:<28} {op.describe():<48} shape {shape} <- {ins}")
        return "\n".join(lines)


# ---------------------------------------------------------------------- builder
def _is_identity(op: Affine) -> bool:
    return not np.any(op.b != 0) and _identity_W(op.W)


def _identity_W(W) -> bool:
    if W.shape[0] != W.shape[1]:
        return False
    if issparse(W):
        W = W.tocoo()
        return W.nnz == W.shape[0] and np.all(W.row == W.col) and np.all(W.data == 1.0)
    return bool(np.array_equal(W, np.eye(W.shape[0])))


def _cost(W) -> int:
    return int(W.nnz) if issparse(W) else int(W.size)


def _tidy(W):
    """Choose dense or sparse storage by density (scipy is imported only for sparse)."""
    m, n = W.shape
    if issparse(W):
        import scipy.sparse as sp  # loaded already: W is sparse

        W = sp.csr_array(W)
        W.sum_duplicates()
        if m * n <= 250_000 or W.nnz > 0.25 * m * n:
            return W.toarray()
        return W
    if m * n > 250_000 and np.count_nonzero(W) < 0.05 * m * n:
        import scipy.sparse as sp

        return sp.csr_array(W)
    return W


def compose_affine(outer: Affine, inner: Affine, max_growth: float = 1.0) -> Affine | None:
    """The affine map ``outer(inner(x))``, or ``None`` when folding would grow the storage.

    Folding is exact in real arithmetic; in floating point it re-associates sums.
    It is always accepted when the result is small (<= 250,000 entries) or no larger
    than the two factors together (times ``max_growth``).
    """
    W2, W1 = outer.W, inner.W
    if issparse(W2) and not issparse(W1):
        W = np.asarray(W2 @ W1)
    elif issparse(W1) and not issparse(W2):
        W = np.asarray((W1.T @ W2.T).T)
    else:
        W = W2 @ W1
    W = _tidy(W)
    small = W.shape[0] * W.shape[1] <= 250_000
    if not small and _cost(W) > max_growth * (_cost(W1) + _cost(W2)):
        return None
    b = np.asarray(outer.W @ inner.b).reshape(-1) + outer.b
    origin = " + ".join(o for o in (inner.origin, outer.origin) if o)
    err = {}
    if inner.has_error or outer.has_error:
        err = _compose_error(outer, inner)
    # a shift before or after a convolution leaves its products as they were
    conv = (inner.conv if inner.conv is not None and _identity_W(W2) else
            outer.conv if outer.conv is not None and _identity_W(W1) else None)
    return Affine(inputs=inner.inputs, size=outer.size, W=W, b=b, origin=origin, conv=conv,
                  **err)


def _compose_error(outer: Affine, inner: Affine) -> dict[str, Any]:
    """The float32 error bound of ``outer(inner(x))`` run as the two maps' source operators.

    With ``d_k <= r_k M_k |x_k| + e_k`` (``M_k >= |W_k|``) and ``|inner(x)| <= |W_1| |x| +
    |b_1| + d_1``: ``d <= |W_2| d_1 + r_2 M_2 |inner(x)| + e_2 <= (r_1 + r_2 + r_1 r_2)
    (M_2 M_1) |x| + |W_2| e_1 + r_2 M_2 (|b_1| + e_1) + e_2``.
    """
    r1, r2 = inner.err_rho, outer.err_rho
    M1, M2 = inner.error_matrix(), outer.error_matrix()
    e1 = inner.err_e0 if inner.err_e0 is not None else np.zeros(inner.size)
    e2 = outer.err_e0 if outer.err_e0 is not None else np.zeros(outer.size)
    absW2 = abs(outer.W)
    M = M2 @ M1
    M = _tidy(M if issparse(M) else np.asarray(M))
    e0 = (np.asarray(absW2 @ e1).reshape(-1) + r2 * np.asarray(M2 @ (np.abs(inner.b) + e1))
          .reshape(-1) + e2) * (1 + 1e-12)
    return {"err_rho": r1 + r2 + r1 * r2, "err_M": M, "err_e0": e0}


class NetworkBuilder:
    """Assembles a :class:`Network` node by node, then simplifies it.

    Usage::

        nb = NetworkBuilder()
        nb.add_input("x", (5,))
        nb.add("h", Affine(("x",), 50, W=W, b=b), (50,))
        nb.add("r", Relu(("h",), 50), (50,))
        net = nb.finish("r", name="toy")
    """

    def __init__(self) -> None:
        self.g = nx.DiGraph()
        self._input: str | None = None

    def add_input(self, name: str, shape: tuple[int, ...]) -> None:
        assert self._input is None, "a network has one input"
        size = int(np.prod(shape, dtype=np.int64))
        self.g.add_node(name, op=Input(inputs=(), size=size), shape=tuple(shape))
        self._input = name

    def add(self, name: str, op: Op, shape: tuple[int, ...]) -> None:
        assert name not in self.g, f"node {name!r} defined twice"
        assert int(np.prod(shape, dtype=np.int64)) == op.size, (
            f"node {name!r}: shape {shape} has {int(np.prod(shape))} entries, op has {op.size}")
        for src in op.inputs:
            assert src in self.g, f"node {name!r} reads {src!r}, which is not defined yet"
            want = self.g.nodes[src]["op"].size
            if isinstance(op, Affine):
                assert op.n_in == want, f"node {name!r}: W has {op.n_in} columns, input {want}"
            elif isinstance(op, (Relu, Sum)):
                assert op.size == want, f"node {name!r}: size {op.size}, input {want}"
        self.g.add_node(name, op=op, shape=tuple(shape))
        for src in op.inputs:
            self.g.add_edge(src, name)

    def size(self, name: str) -> int:
        return self.g.nodes[name]["op"].size

    def finish(self, output: str, *, name: str = "", meta: dict[str, Any] | None = None,
               simplify: bool = True, output_transforms: tuple[Any, ...] = ()) -> Network:
        assert self._input is not None, "no input declared"
        g = self.g
        # keep only what the output depends on
        keep = nx.ancestors(g, output) | {output}
        assert self._input in keep, "the output does not depend on the input"
        g.remove_nodes_from([n for n in list(g) if n not in keep])
        if simplify:
            _simplify(g, self._input, output)
        in_shape = g.nodes[self._input]["shape"]
        out_shape = g.nodes[output]["shape"]
        return Network(g, self._input, output, in_shape, out_shape, name=name, meta=meta or {},
                       output_transforms=tuple(output_transforms))


def _replace_input(g: nx.DiGraph, consumer: str, old: str, new: str) -> None:
    op = g.nodes[consumer]["op"]
    op.inputs = tuple(new if s == old else s for s in op.inputs)
    g.remove_edge(old, consumer)
    g.add_edge(new, consumer)


def _simplify(g: nx.DiGraph, input_name: str, output: str) -> None:
    """Drop identity affines and fold affine chains, in place (names of consumers stay)."""
    changed = True
    while changed:
        changed = False
        for node in list(nx.topological_sort(g)):
            op = g.nodes[node]["op"]
            if not isinstance(op, Affine):
                continue
            (src,) = op.inputs
            if node != output and _is_identity(op):
                for c in list(g.successors(node)):
                    _replace_input(g, c, node, src)
                g.remove_node(node)
                changed = True
                continue
            prev = g.nodes[src]["op"]
            if isinstance(prev, Affine) and g.out_degree(src) == 1:
                folded = compose_affine(op, prev)
                if folded is None:
                    continue
                g.nodes[node]["op"] = folded
                g.remove_node(src)
                g.add_edge(folded.inputs[0], node)
                changed = True
    _check(g, input_name, output)


def _check(g: nx.DiGraph, input_name: str, output: str) -> None:
    for n in g:
        op = g.nodes[n]["op"]
        assert set(g.predecessors(n)) == set(op.inputs), f"edges of {n!r} out of sync"
    assert nx.is_directed_acyclic_graph(g)
    assert output in g and input_name in g
