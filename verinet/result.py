"""Outcomes: ``Status``, ``Counterexample``, ``Stats`` and ``Result``.

The VNN-COMP spellings (``sat``, ``unsat``, ``unknown``, ``timeout``) live in
``Status.value`` and in :func:`vnncomp_text`, nowhere else.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

__all__ = ["Status", "Counterexample", "Stats", "Result", "vnncomp_text"]


class Status(enum.Enum):
    """The answer to "is there an input in the region that reaches the bad outputs?"."""

    SAT = "sat"  # yes: a checked counterexample is attached (the property is violated)
    UNSAT = "unsat"  # no: every branch was closed soundly (the property holds)
    UNKNOWN = "unknown"  # the engines gave up without an answer
    TIMEOUT = "timeout"  # the time budget ran out
    ERROR = "error"  # the query could not be run (bad input, failing backend)

    @property
    def decided(self) -> bool:
        return self in (Status.SAT, Status.UNSAT)


@dataclass
class Counterexample:
    """An input ``x`` (flat, float64) in the input region and its output ``y``.

    ``margin`` is how deep ``y`` lies inside the bad region (the property's margin,
    ``>= 0`` when violated).  ``checks`` records which independent re-runs confirmed it
    (``"float64"``, ``"onnxruntime"``) and their margins.
    """

    x: np.ndarray
    y: np.ndarray
    margin: float
    case: int = 0
    source: str = ""
    checks: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"x": [float(v) for v in self.x], "y": [float(v) for v in self.y],
                "margin": float(self.margin), "case": self.case, "source": self.source,
                "checks": {k: float(v) for k, v in self.checks.items()}}


@dataclass
class Stats:
    """Counters and timers of one query; they travel in the result, not in globals."""

    boxes: int = 0  # input boxes bounded
    nodes: int = 0  # ReLU-split search nodes
    lps: int = 0  # LP solves
    lp_unclean: int = 0  # LP answers that were neither clean optimal nor infeasible
    smt_calls: int = 0  # z3 calls
    max_depth: int = 0
    candidates: int = 0  # concrete points tried as counterexamples
    rejected: int = 0  # candidates that failed a confirmation check
    time_bounds: float = 0.0
    time_lp: float = 0.0
    time_smt: float = 0.0
    time_attack: float = 0.0
    strategy: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def absorb(self, d: dict[str, Any] | None) -> None:
        """Another worker's counters (``to_dict``) into these: sums, the deepest depth."""
        for f in fields(self):
            v = (d or {}).get(f.name)
            if f.name == "max_depth" and isinstance(v, int):
                self.max_depth = max(self.max_depth, v)
            elif isinstance(v, (int, float)) and not isinstance(v, bool) and f.name != "strategy":
                setattr(self, f.name, getattr(self, f.name) + v)


@dataclass
class Result:
    status: Status
    counterexample: Counterexample | None = None
    time: float = 0.0
    stats: Stats = field(default_factory=Stats)
    reason: str = ""  # why unknown / error, in words
    #: on ``TIMEOUT`` of the input-splitting search, when known: ``{"case": k, "lower",
    #: "upper", "depth"}``: the cases before ``k`` are proved, and these boxes (with their
    #: split depths) cover every point of case ``k`` not proved yet (``verinet.parallel``
    #: hands them to its workers)
    frontier: dict[str, Any] | None = None
    #: what an ``unsat`` holds for: ``"float32"`` (the network as it runs in float32, any
    #: summation order) or ``"real"`` (its real-valued function)
    semantics: str = "real"

    def __post_init__(self) -> None:
        assert (self.status is Status.SAT) == (self.counterexample is not None), (
            "a sat result needs a counterexample, and only a sat result has one")

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status.value, "time": self.time,
                "counterexample": None if self.counterexample is None
                else self.counterexample.to_dict(),
                "stats": self.stats.to_dict(), "reason": self.reason,
                "semantics": self.semantics}


def vnncomp_text(result: Result) -> str:
    """The VNN-COMP results-file text: ``sat`` + ``((X_0 v) ... (Y_0 v))``, or a status word."""
    if result.status is Status.SAT:
        cex = result.counterexample
        assert cex is not None
        parts = [f"(X_{i} {float(v)!r})" for i, v in enumerate(cex.x)]
        parts += [f"(Y_{i} {float(v)!r})" for i, v in enumerate(cex.y)]
        return "sat\n(" + "\n".join(parts) + ")\n"
    if result.status is Status.ERROR:
        return "error\n"
    return f"{result.status.value}\n"
