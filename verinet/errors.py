"""One exception hierarchy for everything verinet refuses.

Every message is *located*: it names the file (and line and column for text
formats) or the ONNX node and op type, and says what the user can do.  The CLI
turns a :class:`VerinetError` into one line on stderr and the exit code of its
class (see ``EXIT_CODE`` in :mod:`verinet.cli`).
"""

from __future__ import annotations

__all__ = [
    "VerinetError",
    "ModelLoadError",
    "UnsupportedOperatorError",
    "SpecParseError",
    "SpecMismatchError",
    "InputError",
    "NetworkOverflowError",
    "SolverError",
]


class VerinetError(Exception):
    """Root of every error verinet raises on purpose."""


class ModelLoadError(VerinetError):
    """A model file is missing, unreadable, corrupt or inconsistent."""


class UnsupportedOperatorError(ModelLoadError):
    """An ONNX node whose operator (or attribute combination) verinet cannot encode exactly."""

    def __init__(self, op_type: str, node_name: str, detail: str = "", path: str | None = None):
        self.op_type = op_type
        self.node_name = node_name
        self.detail = detail
        where = f"{path}: " if path else ""
        what = detail or "this operator is not supported"
        super().__init__(
            f'{where}node "{node_name}" ({op_type}): {what}. '
            "verinet encodes piecewise-linear networks (affine, convolution, ReLU, max/average "
            "pooling, reshapes); export the model without this operator, or replace it by a "
            "supported equivalent"
        )


class SpecParseError(VerinetError):
    """A property file that does not parse; the message carries ``file:line:column``."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None,
                 column: int | None = None):
        self.path = path
        self.line = line
        self.column = column
        loc = path or "<string>"
        if line is not None:
            loc += f":{line}"
            if column is not None:
                loc += f":{column}"
        super().__init__(f"{loc}: {message}")


class SpecMismatchError(VerinetError):
    """A property and a network that do not fit together (sizes, labels)."""


class InputError(VerinetError):
    """A malformed user input other than a model or property (a point, an epsilon, a label)."""


class NetworkOverflowError(InputError):
    """The network's values are not finite (inf or nan in float64) on an input: finite but
    huge weights or inputs overflow.  Exit code 5 (an input class error): the model loads,
    but cannot be evaluated or verified there; rescale the weights or the input region."""


class SolverError(VerinetError):
    """A solver backend failed in a way that cannot be answered conservatively."""
