"""Local robustness: class constancy on an L-infinity ball, as a :class:`Property`.

The bad region is "some other class scores at least as high as the label"::

    OR over j != label of   y_label - y_j <= 0

so ties count as violations, and ``unsat`` means the label is the strict argmax everywhere
on the ball (verified robust).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from .property import Box, Case, Conjunction, Property

__all__ = ["robustness"]


def _bound(value: Any, n: int, name: str) -> np.ndarray:
    """A clipping bound as ``(n,)``: a scalar or an array with ``n`` entries."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number or an array of numbers") from None
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    elif arr.size != n:
        raise InputError(f"{name} has {arr.size} entries, the input {n}")
    arr = arr.reshape(n)
    if np.any(np.isnan(arr)):
        raise InputError(f"{name} contains nan")
    return arr


def _classes(network: Any, n_classes: Any) -> int:
    if network is None and n_classes is None:
        raise InputError("robustness needs the number of classes: pass network or n_classes")
    try:
        given = None if n_classes is None else int(n_classes)
    except (TypeError, ValueError):
        raise InputError(f"n_classes must be an integer, got {n_classes!r}") from None
    n = int(network.n_outputs) if network is not None else given
    assert n is not None
    if given is not None and given != n:
        raise InputError(f"n_classes={given} but the network has {n} outputs")
    if n < 2:
        raise InputError(f"robustness needs at least 2 classes, got {n}")
    return n


def _label(label: Any, n_out: int) -> int:
    try:
        ok = not isinstance(label, bool) and int(label) == label and 0 <= int(label) < n_out
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise InputError(f"label {label!r} is not a class index in 0..{n_out - 1}")
    return int(label)


def robustness(x0: Any, eps: float, label: int | None = None, lower: Any = None,
               upper: Any = None, *, network: Any = None, n_classes: int | None = None
               ) -> Property:
    """The property "the class of ``x0`` changes (or ties) somewhere on the ball".

    Args:
        x0: the centre, any shape; it is flattened to ``(n,)``.
        eps: the L-infinity radius, ``>= 0``.
        label: the expected class; by default the argmax of ``network.evaluate(x0)[0]``.
        lower, upper: the input domain (scalars or arrays of ``n`` entries); the ball is
            clipped to it.
        network: any object with ``evaluate(x) -> (B, n_out)``, ``n_inputs`` and
            ``n_outputs``; used for the default label and the sizes.
        n_classes: the number of outputs when no network is given.

    Returns:
        One case (the clipped ball) with one single-row conjunction
        ``y_label - y_j <= 0`` per class ``j != label``.

    Raises:
        InputError: negative or non-finite ``eps``, ``x0`` of the wrong size or not finite,
            a label out of range, neither network nor label/n_classes, or a clipping that
            leaves the ball empty.
    """
    try:
        x = np.asarray(x0, dtype=np.float64).reshape(-1)
        eps = float(eps)
    except (TypeError, ValueError):
        raise InputError("x0 must be an array of numbers and eps a number") from None
    if x.size == 0 or not np.all(np.isfinite(x)):
        raise InputError("x0 must be a non-empty array of finite numbers")
    if not np.isfinite(eps) or eps < 0:
        raise InputError(f"eps must be a finite number >= 0, got {eps!r}")
    if network is not None and int(network.n_inputs) != x.size:
        raise InputError(f"x0 has {x.size} entries but the network takes "
                         f"{int(network.n_inputs)} inputs")
    n_out = _classes(network, n_classes)
    if label is None:
        if network is None:
            raise InputError("no label given and no network to compute it from: pass label "
                             "or network")
        scores = np.asarray(network.evaluate(x[None, :]), dtype=np.float64).reshape(1, -1)
        label = int(np.argmax(scores[0]))
    label = _label(label, n_out)

    lo = x - eps
    hi = x + eps
    if lower is not None:
        lo = np.maximum(lo, _bound(lower, x.size, "lower"))
    if upper is not None:
        hi = np.minimum(hi, _bound(upper, x.size, "upper"))
    empty = np.flatnonzero(lo > hi)
    if empty.size:
        i = int(empty[0])
        raise InputError(f"the ball around x0 does not meet the input domain at input {i} "
                         f"(--lower/--upper): [{float(x[i] - eps)!r}, {float(x[i] + eps)!r}] "
                         f"clipped to [{float(lo[i])!r}, {float(hi[i])!r}]; check that lower "
                         "<= upper and that the point lies in the domain")

    bad = []
    for j in range(n_out):
        if j == label:
            continue
        row = np.zeros((1, n_out))
        row[0, label] = 1.0
        row[0, j] = -1.0
        bad.append(Conjunction(row, np.zeros(1)))
    name = f"robustness(eps={eps!r}, label={label})"
    return Property((Case(Box(lo, hi), tuple(bad)),), x.size, n_out, name=name)
