"""Sound bounds on a network's values over batches of input boxes.

* :func:`interval_bounds`: interval arithmetic through every op.
* :func:`crown_bounds`: CROWN / DeepPoly back-substitution, intersected with intervals.

Both return a :class:`Bounds` record and are sound in float64 (see ``docs/bounds.md``).
"""

from __future__ import annotations

from .crown import crown_bounds
from .interval import INTERVAL_RULES, Bounds, interval_bounds
from .relax import BACKWARD_RULES

__all__ = ["Bounds", "interval_bounds", "crown_bounds", "INTERVAL_RULES", "BACKWARD_RULES"]
