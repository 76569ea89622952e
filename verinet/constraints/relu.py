"""ReLU constraints ``post = max(pre, 0)``: phases, case splits and implied tightenings.

A :class:`ReluConstraint` is a view of one neuron of the LP encoding (Marabou's
``ReluConstraint`` shape): it knows its two columns, decides its phase from the
current bounds (and any fixed phase), names its two case splits and the bound
tightenings each implies, and gives the LP rows that stand for it in a subproblem.

The row that stands for a neuron, given sound bounds ``l <= pre <= u`` (``l`` and ``u``
float64 numbers read exactly), is always implied by ``post = relu(pre)`` on ``[l, u]``:

* active (``l >= 0``, or fixed ``+1``): the *phase row* ``post - pre <= 0`` (with the
  always-present ``post - pre >= 0`` it makes ``post = pre``);
* inactive (``u <= 0``, or fixed ``-1``): no row; the column bounds ``post in [0, 0]``
  and ``pre <= 0`` say it all;
* unstable (``l < 0 < u``): the *chord row* ``post - s * pre <= t`` of the triangle
  relaxation, see :func:`triangle_chord`.

:func:`triangle_chord` and :func:`neuron_kind` are vectorised over many neurons; the
class is for callers that reason about one neuron at a time (splits, certificates).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Phase",
    "Tightening",
    "CaseSplit",
    "ReluConstraint",
    "triangle_chord",
    "neuron_kind",
    "ACTIVE",
    "INACTIVE",
    "UNSTABLE",
]

_EPS = float(np.finfo(np.float64).eps)

#: Neuron kinds returned by :func:`neuron_kind` (int8 codes).
ACTIVE, INACTIVE, UNSTABLE = 1, -1, 0


class Phase(enum.IntEnum):
    """A ReLU's phase, with the int8 codes ``crown_bounds(fixed=...)`` uses."""

    INACTIVE = -1
    FREE = 0
    ACTIVE = 1


@dataclass(frozen=True)
class Tightening:
    """``column >= value`` (``kind == "lower"``) or ``column <= value`` (``"upper"``)."""

    column: int
    kind: str
    value: float


@dataclass(frozen=True)
class CaseSplit:
    """One side of a ReLU split: the phase it fixes and the column bounds it implies."""

    phase: Phase
    tightenings: tuple[Tightening, ...]


def triangle_chord(l: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The upper line ``post <= s * pre + t`` of ``relu`` on ``[l, u]``, ``l < 0 < u``.

    ``s = u / (u - l)`` in float64 (any float ``s`` would do); ``t`` is rounded up far
    enough that, with ``s`` and ``t`` read exactly, ``s * l + t >= 0`` and
    ``s * u + t >= u``.  A line above ``relu`` at both ends lies above it on all of
    ``[l, u]`` (``relu`` is convex), so the row is valid for every ``pre`` in the bounds.
    Each product or difference below is one rounding (relative error ``<= eps / 2``), and
    the margin ``4 eps (|s l| + |u| + |s u|) + 1e-300`` covers them all, plus one ulp.
    """
    l = np.asarray(l, dtype=np.float64)
    u = np.asarray(u, dtype=np.float64)
    s = u / (u - l)
    s = np.clip(s, 0.0, 1.0)
    need = np.maximum(-s * l, u - s * u)
    margin = 4.0 * _EPS * (np.abs(s * l) + np.abs(u) + np.abs(s * u)) + 1e-300
    t = np.nextafter(need + margin, np.inf)
    return s, t


def neuron_kind(lo: np.ndarray, hi: np.ndarray, fixed: np.ndarray | None = None) -> np.ndarray:
    """int8 kind per neuron from pre-activation bounds and fixed phases.

    ``ACTIVE`` where ``lo >= 0`` or fixed ``+1``; ``INACTIVE`` where ``hi <= 0`` or fixed
    ``-1``; ``UNSTABLE`` otherwise.  (Bounds from ``crown_bounds(fixed=...)`` already agree
    with the fixed phases; ``fixed`` is taken into account for bounds that do not.)
    """
    kind = np.where(lo >= 0, ACTIVE, np.where(hi <= 0, INACTIVE, UNSTABLE)).astype(np.int8)
    if fixed is not None:
        kind = np.where(fixed > 0, ACTIVE, np.where(fixed < 0, INACTIVE, kind)).astype(np.int8)
    return kind


@dataclass(frozen=True)
class ReluConstraint:
    """``post = relu(pre)`` for neuron ``index`` of Relu node ``node``.

    Attributes:
        node, index: where the neuron lives in the network.
        pre, post: its LP columns.
    """

    node: str
    index: int
    pre: int
    post: int

    def phase(self, lo: float, hi: float, fixed: int = 0) -> Phase:
        """The phase the bounds ``lo <= pre <= hi`` (and a fixed phase) imply; ``FREE`` if none."""
        k = int(neuron_kind(np.array([lo]), np.array([hi]), np.array([fixed]))[0])
        return {ACTIVE: Phase.ACTIVE, INACTIVE: Phase.INACTIVE}.get(k, Phase.FREE)

    def case_splits(self) -> tuple[CaseSplit, CaseSplit]:
        """The two sides, active first: ``pre >= 0, post = pre`` and ``pre <= 0, post = 0``."""
        active = CaseSplit(Phase.ACTIVE, (Tightening(self.pre, "lower", 0.0),
                                          Tightening(self.post, "lower", 0.0)))
        inactive = CaseSplit(Phase.INACTIVE, (Tightening(self.pre, "upper", 0.0),
                                              Tightening(self.post, "upper", 0.0)))
        return active, inactive

    def implied_tightenings(self, lo: float, hi: float) -> tuple[Tightening, ...]:
        """Bounds of ``post`` implied by ``lo <= pre <= hi``:
        ``max(lo, 0) <= post <= max(hi, 0)``."""
        return (Tightening(self.post, "lower", max(lo, 0.0)),
                Tightening(self.post, "upper", max(hi, 0.0)))

    def row(self, lo: float, hi: float, fixed: int = 0
            ) -> tuple[dict[int, float], float] | None:
        """The row standing for this neuron: ``({column: coefficient}, rhs)`` for
        ``sum coefficient * column <= rhs``, or ``None`` (inactive: column bounds suffice)."""
        phase = self.phase(lo, hi, fixed)
        if phase is Phase.INACTIVE:
            return None
        if phase is Phase.ACTIVE:
            return {self.post: 1.0, self.pre: -1.0}, 0.0
        s, t = triangle_chord(np.array([lo]), np.array([hi]))
        return {self.post: 1.0, self.pre: -float(s[0])}, float(t[0])
