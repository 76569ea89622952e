"""The property data model: input boxes and the *bad* output region in disjunctive normal form.

A :class:`Property` describes the **counterexample region**.  It is ``sat`` when some input
``x`` and its output ``y = f(x)`` satisfy, for some case and some conjunction of that case::

    case.box.lower <= x <= case.box.upper
    A_in @ x + A_out @ y <= b            (every row)

and ``unsat`` when no such ``x`` exists (the safety property holds).  Rows always read
"``<= b``"; a constraint ``y_0 >= 3`` is stored as the row ``-y_0 <= -3``.

Arrays are float64, read-only copies; the classes are frozen and compare by value
(``np.array_equal``).  This module knows nothing of solvers or file formats.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError, SpecMismatchError

__all__ = ["Box", "Conjunction", "Case", "Property"]


def _frozen(a: object, name: str, ndim: int) -> np.ndarray:
    """A read-only float64 copy of ``a`` with ``ndim`` dimensions and finite entries."""
    arr = np.array(a, dtype=np.float64, copy=True)
    if arr.ndim != ndim:
        raise InputError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name} must be finite (no inf or nan)")
    arr.flags.writeable = False
    return arr


@dataclass(frozen=True, eq=False)
class Box:
    """An axis-aligned box ``lower <= x <= upper``.

    Attributes:
        lower: ``(n,)`` finite lower bounds.
        upper: ``(n,)`` finite upper bounds, ``upper >= lower`` element-wise.
    """

    lower: np.ndarray
    upper: np.ndarray

    def __post_init__(self) -> None:
        lo = _frozen(self.lower, "Box.lower", 1)
        hi = _frozen(self.upper, "Box.upper", 1)
        if lo.shape != hi.shape:
            raise InputError(f"Box bounds differ in size: lower {lo.shape}, upper {hi.shape}")
        bad = np.flatnonzero(lo > hi)
        if bad.size:
            i = int(bad[0])
            raise InputError(f"empty box: lower[{i}] = {lo[i]!r} > upper[{i}] = {hi[i]!r}")
        object.__setattr__(self, "lower", lo)
        object.__setattr__(self, "upper", hi)

    @property
    def n(self) -> int:
        """Number of dimensions."""
        return int(self.lower.shape[0])

    def contains(self, x: np.ndarray, tol: float = 0.0) -> np.ndarray:
        """Membership of ``x`` (``(n,)`` or ``(B, n)``) with slack ``tol``: bool or ``(B,)``."""
        x = np.asarray(x, dtype=np.float64)
        inside = (x >= self.lower - tol) & (x <= self.upper + tol)
        return np.all(inside, axis=-1)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Box):
            return NotImplemented
        return bool(np.array_equal(self.lower, other.lower)
                    and np.array_equal(self.upper, other.upper))

    def __repr__(self) -> str:
        return f"Box(lower={self.lower.tolist()!r}, upper={self.upper.tolist()!r})"


@dataclass(frozen=True, eq=False)
class Conjunction:
    """All ``k`` rows of ``A_in @ x + A_out @ y <= b`` hold (``k = 0`` is always true);
    a row marked in ``strict`` must hold strictly (``<``).

    Attributes:
        A_out: ``(k, n_out)`` output coefficients.
        b: ``(k,)`` right-hand sides.
        A_in: ``(k, n_in)`` input coefficients, or ``None`` when no row involves an input.
            An all-zero ``A_in`` is stored as ``None`` (the canonical form).
        strict: ``(k,)`` booleans, rows that are strict inequalities (``<``), or ``None``
            when none is (the canonical form of all-false).  A proof may read a strict
            row as non-strict (that only enlarges the bad region, which is sound); a
            counterexample must satisfy it strictly (:meth:`slack`).
    """

    A_out: np.ndarray
    b: np.ndarray
    A_in: np.ndarray | None = None
    strict: np.ndarray | None = None

    def __post_init__(self) -> None:
        a_out = _frozen(self.A_out, "Conjunction.A_out", 2)
        b = _frozen(self.b, "Conjunction.b", 1)
        if a_out.shape[0] != b.shape[0]:
            raise InputError(f"Conjunction: A_out has {a_out.shape[0]} rows but b has "
                             f"{b.shape[0]} entries")
        a_in = None
        if self.A_in is not None:
            a_in = _frozen(self.A_in, "Conjunction.A_in", 2)
            if a_in.shape[0] != b.shape[0]:
                raise InputError(f"Conjunction: A_in has {a_in.shape[0]} rows but b has "
                                 f"{b.shape[0]} entries")
            if not np.any(a_in):
                a_in = None
        strict = None
        if self.strict is not None:
            strict = np.array(self.strict, dtype=bool, copy=True).reshape(-1)
            if strict.shape != b.shape:
                raise InputError(f"Conjunction: strict has {strict.size} entries but b has "
                                 f"{b.shape[0]}")
            if not strict.any():
                strict = None
            else:
                strict.flags.writeable = False
        object.__setattr__(self, "A_out", a_out)
        object.__setattr__(self, "b", b)
        object.__setattr__(self, "A_in", a_in)
        object.__setattr__(self, "strict", strict)

    @property
    def k(self) -> int:
        """Number of rows."""
        return int(self.b.shape[0])

    def slack(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``b - (A_in x + A_out y)`` per point and row: ``(B, k)`` for ``x (B, n_in)``,
        ``y (B, n_out)``.  Every entry ``>= 0`` means the conjunction holds.

        A strict row holds only when its slack is positive: where it is ``<= 0`` the
        entry is moved below zero by the smallest float (``0`` becomes ``-5e-324``), so
        that ``>= 0`` stays the one test of "the row holds".
        """
        lhs = y @ self.A_out.T
        if self.A_in is not None:
            lhs = lhs + x @ self.A_in.T
        s = self.b - lhs
        if self.strict is not None:
            s = np.where(self.strict & (s <= 0), np.nextafter(np.minimum(s, 0.0), -np.inf), s)
        return s

    def non_strict(self) -> Conjunction:
        """The same rows with every strict inequality read as non-strict (its closure)."""
        return Conjunction(self.A_out, self.b, self.A_in) if self.strict is not None else self

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Conjunction):
            return NotImplemented
        if (self.A_in is None) != (other.A_in is None):
            return False
        if (self.strict is None) != (other.strict is None):
            return False
        return bool(np.array_equal(self.A_out, other.A_out)
                    and np.array_equal(self.b, other.b)
                    and (self.A_in is None or np.array_equal(self.A_in, other.A_in))
                    and (self.strict is None or np.array_equal(self.strict, other.strict)))

    def __repr__(self) -> str:
        a_in = None if self.A_in is None else self.A_in.tolist()
        strict = "" if self.strict is None else f", strict={self.strict.tolist()!r}"
        return (f"Conjunction(A_out={self.A_out.tolist()!r}, b={self.b.tolist()!r}, "
                f"A_in={a_in!r}{strict})")


@dataclass(frozen=True)
class Case:
    """Inputs in ``box``; the bad region there is the disjunction of ``bad``.

    Attributes:
        box: the input box (``n_in`` dimensions).
        bad: the conjunctions; an empty tuple means no input of this box is bad.
    """

    box: Box
    bad: tuple[Conjunction, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "bad", tuple(self.bad))


@dataclass(frozen=True, eq=False)
class Property:
    """A VNN-LIB property: ``sat`` iff some case, some ``x`` in ``case.box`` and some
    conjunction of ``case.bad`` satisfy ``A_in @ x + A_out @ f(x) <= b``.

    Attributes:
        cases: the input boxes with their bad regions (zero cases: trivially ``unsat``).
        n_inputs, n_outputs: the sizes of ``x`` and ``y`` the property is written for.
        name: a label for messages (usually the file name); it takes no part in equality.
    """

    cases: tuple[Case, ...]
    n_inputs: int
    n_outputs: int
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "cases", tuple(self.cases))
        for ci, case in enumerate(self.cases):
            if case.box.n != self.n_inputs:
                raise InputError(f"case {ci}: box has {case.box.n} dimensions, the property "
                                 f"{self.n_inputs} inputs")
            for conj in case.bad:
                if conj.A_out.shape[1] != self.n_outputs:
                    raise InputError(f"case {ci}: A_out has {conj.A_out.shape[1]} columns, "
                                     f"the property {self.n_outputs} outputs")
                if conj.A_in is not None and conj.A_in.shape[1] != self.n_inputs:
                    raise InputError(f"case {ci}: A_in has {conj.A_in.shape[1]} columns, "
                                     f"the property {self.n_inputs} inputs")

    @property
    def boxes(self) -> tuple[Box, ...]:
        """The input box of every case, in order."""
        return tuple(c.box for c in self.cases)

    @property
    def n_conjunctions(self) -> int:
        """Total number of conjunctions over all cases."""
        return sum(len(c.bad) for c in self.cases)

    def check_fits(self, n_inputs: int, n_outputs: int, where: str = "") -> None:
        """Raise :class:`SpecMismatchError` unless the property has exactly ``n_inputs``
        inputs and ``n_outputs`` outputs (``where`` names the model in the message)."""
        if (n_inputs, n_outputs) == (self.n_inputs, self.n_outputs):
            return
        prop = f"property {self.name}" if self.name else "the property"
        model = f"model {where}" if where else "the model"
        raise SpecMismatchError(
            f"{prop} declares {self.n_inputs} inputs and {self.n_outputs} outputs "
            f"(X_0..X_{self.n_inputs - 1}, Y_0..Y_{self.n_outputs - 1}) but {model} has "
            f"{n_inputs} inputs and {n_outputs} outputs; use a property written for this "
            "model (the VNN-LIB file must declare one X_i per input and one Y_j per output)")

    def is_violated_by(self, x: np.ndarray, y: np.ndarray, tol: float = 0.0) -> bool:
        """Whether ``x`` (``(n_in,)``) lies in some box and ``y`` (``(n_out,)``) meets some
        conjunction of that case, each inequality allowed ``tol`` of slack."""
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        if x.shape != (self.n_inputs,) or y.shape != (self.n_outputs,):
            raise InputError(f"is_violated_by: expected x ({self.n_inputs},) and y "
                             f"({self.n_outputs},), got {x.shape} and {y.shape}")
        for case in self.cases:
            if not case.box.contains(x, tol):
                continue
            for conj in case.bad:
                if np.all(conj.slack(x[None, :], y[None, :]) >= -tol):
                    return True
        return False

    def margin(self, x_batch: np.ndarray, y_batch: np.ndarray) -> np.ndarray:
        """Per point ``(B,)``: the max over cases whose box holds ``x`` and their conjunctions
        of the min over rows of ``b - (A_in x + A_out y)``.

        ``>= 0`` means the bad region is reached; ``-inf`` where ``x`` is in no box (or its
        cases have no conjunction); ``+inf`` where a conjunction has no rows.
        ``x_batch`` is ``(B, n_in)``, ``y_batch`` ``(B, n_out)``.
        """
        x = np.asarray(x_batch, dtype=np.float64)
        y = np.asarray(y_batch, dtype=np.float64)
        if x.ndim == 1:
            x = x[None, :]
        if y.ndim == 1:
            y = y[None, :]
        if x.shape[1:] != (self.n_inputs,) or y.shape != (x.shape[0], self.n_outputs):
            raise InputError(f"margin: expected x (B, {self.n_inputs}) and y "
                             f"(B, {self.n_outputs}), got {x.shape} and {y.shape}")
        best = np.full(x.shape[0], -np.inf)
        for case in self.cases:
            inside = case.box.contains(x)
            if not inside.any():
                continue
            for conj in case.bad:
                if conj.k == 0:
                    val = np.full(x.shape[0], np.inf)
                else:
                    val = conj.slack(x, y).min(axis=1)
                best = np.where(inside, np.maximum(best, val), best)
        return best

    @property
    def has_strict(self) -> bool:
        """Whether some row is a strict inequality."""
        return any(c.strict is not None for case in self.cases for c in case.bad)

    def non_strict(self) -> Property:
        """The property with every strict inequality read as non-strict (the VNN-COMP
        convention): its bad region is the closure of this one's."""
        cases = tuple(Case(case.box, tuple(c.non_strict() for c in case.bad))
                      for case in self.cases)
        return Property(cases, self.n_inputs, self.n_outputs, name=self.name)

    def describe(self) -> str:
        """One line: sizes, number of boxes and conjunctions."""
        label = f"{self.name}: " if self.name else ""
        rows = sum(c.k for case in self.cases for c in case.bad)
        return (f"{label}{self.n_inputs} inputs, {self.n_outputs} outputs; bad region: "
                f"{len(self.cases)} input box(es), {self.n_conjunctions} conjunction(s), "
                f"{rows} linear row(s)")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Property):
            return NotImplemented
        return (self.n_inputs == other.n_inputs and self.n_outputs == other.n_outputs
                and self.cases == other.cases)
