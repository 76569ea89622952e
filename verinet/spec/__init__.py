"""Properties: what a verification query asks (input region and bad output region).

:class:`Property` is the one data model every engine reads; :func:`read_vnnlib` and
:func:`robustness` build it, :func:`write_vnnlib` writes it back as VNN-LIB text.
"""

from .property import Box, Case, Conjunction, Property
from .robustness import robustness
from .vnnlib import parse_vnnlib, read_vnnlib, write_vnnlib

__all__ = [
    "Box",
    "Case",
    "Conjunction",
    "Property",
    "parse_vnnlib",
    "read_vnnlib",
    "robustness",
    "write_vnnlib",
]
