"""The LP layer: one small interface (:class:`LPBackend`, :class:`LPResult`, :class:`LPStatus`)
and the HiGHS adapter (:class:`HighsLP`).  Knows nothing of networks."""

from verinet.lp.base import (
    LPBackend,
    LPResult,
    LPStatus,
    RowSystem,
    Sense,
    check_farkas,
    check_primal,
    objective_bound,
)
from verinet.lp.highs import HighsLP, model_trouble

__all__ = [
    "HighsLP",
    "LPBackend",
    "LPResult",
    "LPStatus",
    "RowSystem",
    "Sense",
    "check_farkas",
    "check_primal",
    "model_trouble",
    "objective_bound",
]
