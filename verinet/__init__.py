"""verinet: a formal verifier for ReLU neural networks."""

from ._version import __version__

__all__ = ["__version__"]
