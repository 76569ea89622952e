"""The piecewise-linear constraint graph of a query: LP encoding and ReLU constraints."""

from __future__ import annotations

from .encoding import Encoding, FrameRow, QueryLP, input_rows_lower
from .relu import CaseSplit, Phase, ReluConstraint, Tightening, neuron_kind, triangle_chord

__all__ = ["Encoding", "QueryLP", "FrameRow", "input_rows_lower", "ReluConstraint", "Phase",
           "CaseSplit", "Tightening", "neuron_kind", "triangle_chord"]
