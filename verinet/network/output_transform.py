"""Final output transforms the importer drops (``Softmax``, ``LogSoftmax``), and the check
that a property is still decided correctly on the values verinet keeps (the logits).

A model that ends in ``Softmax`` (possibly followed by reshapes only) is imported without
it: verinet reasons about the softmax's *input* ``z`` while the property speaks of the
model's output ``Y = softmax(z)``.  Each dropped node is recorded as an
:class:`OutputTransform` in ``Network.output_transforms``, with the *groups* of flat
output indices that share one softmax (one group per position of the other axes).

:func:`check_property` accepts a property row only when its truth value is the same on
``z`` and on ``Y`` for every input:

* a row without output terms (the transform does not touch it);
* ``c * Y_i - c * Y_j <= 0`` (``c > 0``, strict or not) with ``i`` and ``j`` in the same
  group of every dropped transform and no input terms: softmax and log-softmax are strictly
  increasing in each entry's own logit relative to the others of its group, so
  ``Y_i <= Y_j`` iff ``z_i <= z_j`` (and the same for ``<``);
* when every dropped transform is a ``LogSoftmax``: a row whose output coefficients sum to
  zero within each group (any right-hand side, input terms allowed), since ``LogSoftmax``
  subtracts one constant per group (``log sum exp``) and such a row cancels it exactly.

Any other row (a threshold ``Y_1 >= 0.01``, a sum, an offset ``Y_0 - Y_1 <= 0.06`` on a
``Softmax``, a comparison across groups) would be decided on the wrong values and is
refused with :class:`SoftmaxPropertyError` before any search.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import SpecMismatchError

__all__ = ["OutputTransform", "SoftmaxPropertyError", "softmax_groups", "check_property",
           "apply_transforms"]


class SoftmaxPropertyError(SpecMismatchError):
    """A property that cannot be decided on the logits of a model ending in Softmax."""


@dataclass(frozen=True)
class OutputTransform:
    """A dropped final ``Softmax``/``LogSoftmax`` node.

    Attributes:
        node: the ONNX node's name.
        op_type: ``"Softmax"`` or ``"LogSoftmax"``.
        axis: the node's axis, normalised to ``[0, rank)``.
        shape: the node's output shape (as the importer sees it).
        coerced: True for opsets before 13, where the input is flattened to 2-D at
            ``axis`` and the softmax runs over all trailing axes together.
        groups: ``(G, k)`` flat output indices; each row shares one softmax.
    """

    node: str
    op_type: str
    axis: int
    shape: tuple[int, ...]
    coerced: bool
    groups: np.ndarray

    def describe(self) -> str:
        over = f"axes {self.axis}.." if self.coerced else f"axis {self.axis}"
        return (f'{self.op_type} node "{self.node}" over {over} of shape {list(self.shape)} '
                f"({self.groups.shape[0]} group(s) of {self.groups.shape[1]})")


def softmax_groups(shape: tuple[int, ...], axis: int, coerced: bool) -> np.ndarray:
    """The ``(G, k)`` flat indices sharing one softmax over ``axis`` of ``shape``."""
    n = int(np.prod(shape, dtype=np.int64))
    idx = np.arange(n).reshape(shape)
    if coerced:  # opset < 13: one softmax per row of the 2-D view [prod(:axis), prod(axis:)]
        lead = int(np.prod(shape[:axis], dtype=np.int64))
        return idx.reshape(lead, -1)
    return np.moveaxis(idx, axis, -1).reshape(-1, shape[axis])


def _group_of(t: OutputTransform, n_outputs: int) -> np.ndarray:
    g = np.empty(n_outputs, dtype=np.int64)
    for k, row in enumerate(t.groups):
        g[row] = k
    return g


def _row_text(a_out: np.ndarray, a_in: np.ndarray | None, b: float) -> str:
    terms = [f"{a_out[j]:+g}*Y_{j}" for j in np.flatnonzero(a_out)[:6]]
    if np.count_nonzero(a_out) > 6:
        terms.append("...")
    if a_in is not None and np.any(a_in):
        terms.append("(input terms)")
    return f"{' '.join(terms) or '0'} <= {b:g}"


def _row_ok(transforms, groups, a_out, a_in, b) -> bool:
    nz = np.flatnonzero(a_out)
    if nz.size == 0:
        return True
    has_in = a_in is not None and bool(np.any(a_in))
    if (nz.size == 2 and b == 0.0 and not has_in and a_out[nz[0]] == -a_out[nz[1]]
            and all(g[nz[0]] == g[nz[1]] for g in groups)):
        return True
    if all(t.op_type == "LogSoftmax" for t in transforms):
        for g, t in zip(groups, transforms):
            sums = np.bincount(g, weights=a_out, minlength=t.groups.shape[0])
            if np.any(sums != 0.0):
                return False
        return True
    return False


def check_property(transforms, prop) -> None:
    """Raise :class:`SoftmaxPropertyError` unless every row of ``prop`` is decided exactly
    on the values before the dropped ``transforms`` (see the module docstring)."""
    transforms = tuple(transforms)
    if not transforms:
        return
    n_out = prop.n_outputs
    if any(t.groups.size != n_out for t in transforms):
        return  # sizes disagree: Property.check_fits reports it
    groups = [_group_of(t, n_out) for t in transforms]
    k = 0
    for ci, case in enumerate(prop.cases):
        for conj in case.bad:
            k += 1
            for r in range(conj.k):
                a_in = None if conj.A_in is None else conj.A_in[r]
                if _row_ok(transforms, groups, conj.A_out[r], a_in, float(conj.b[r])):
                    continue
                t = transforms[0]
                name = f"property {prop.name}" if prop.name else "the property"
                what = ("compare two outputs of one softmax group against 0 (Y_i <= Y_j) "
                        "or, for LogSoftmax, cancel within each group"
                        if t.op_type == "LogSoftmax" else
                        "compare two outputs of one softmax group against 0 (Y_i <= Y_j)")
                raise SoftmaxPropertyError(
                    f"{name}, conjunction {k} (case {ci}), row {r + 1}: "
                    f"{_row_text(conj.A_out[r], a_in, float(conj.b[r]))} is not decided by "
                    f"the logits, but the model ends in {t.describe()}, which verinet drops "
                    f"and so only supports rows that {what}; write the property on the "
                    f"logits and export the model without the {t.op_type}")


def apply_transforms(transforms, y: np.ndarray) -> np.ndarray:
    """The model's real outputs: ``transforms`` applied (in order) to logits ``y (B, n)``."""
    out = np.array(y, dtype=np.float64, copy=True)
    for t in transforms:
        z = out[:, t.groups]  # (B, G, k)
        m = z.max(axis=2, keepdims=True)
        with np.errstate(over="ignore", invalid="ignore"):
            lse = m + np.log(np.exp(z - m).sum(axis=2, keepdims=True))
        out[:, t.groups] = z - lse if t.op_type == "LogSoftmax" else np.exp(z - lse)
    return out
