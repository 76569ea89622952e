"""verinet: a formal verifier for ReLU neural networks.

The public API::

    import verinet

    net = verinet.load("model.onnx")           # or a Reluplex .nnet file
    prop = verinet.read_vnnlib("prop.vnnlib")  # a Property (input region, bad output region)
    prop.check_fits(net.n_inputs, net.n_outputs)
    y = net.evaluate(x)                        # float64 forward pass, (B, n_outputs)

Names are imported on first use, so ``import verinet`` stays fast (numpy, networkx and
onnx load only when a model or property is read).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import (
    InputError,
    ModelLoadError,
    SolverError,
    SpecMismatchError,
    SpecParseError,
    UnsupportedOperatorError,
    VerinetError,
)

if TYPE_CHECKING:  # pragma: no cover - for type checkers and editors only
    from .config import VerifierConfig
    from .network import Network, load
    from .result import Counterexample, Result, Status
    from .spec import Property, parse_vnnlib, read_vnnlib, robustness, write_vnnlib
    from .verify import verify

__all__ = [
    "__version__",
    # models
    "load",
    "Network",
    # properties
    "Property",
    "read_vnnlib",
    "parse_vnnlib",
    "write_vnnlib",
    "robustness",
    # verification
    "verify",
    "Result",
    "Status",
    "Counterexample",
    "VerifierConfig",
    # errors
    "VerinetError",
    "ModelLoadError",
    "UnsupportedOperatorError",
    "SpecParseError",
    "SpecMismatchError",
    "InputError",
    "SolverError",
]

#: Public name -> module that defines it; imported on first attribute access.
_LAZY = {
    "load": "verinet.network",
    "Network": "verinet.network",
    "Property": "verinet.spec",
    "read_vnnlib": "verinet.spec",
    "parse_vnnlib": "verinet.spec",
    "write_vnnlib": "verinet.spec",
    "robustness": "verinet.spec",
    "verify": "verinet.verify",
    "Result": "verinet.result",
    "Status": "verinet.result",
    "Counterexample": "verinet.result",
    "VerifierConfig": "verinet.config",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'verinet' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
