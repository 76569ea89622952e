"""A PNG of a counterexample for image-shaped inputs: original, adversarial, difference.

Written with the standard library only (``zlib`` + ``struct``), 8-bit grey or RGB.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

import numpy as np

from .errors import InputError

__all__ = ["as_image", "write_png", "write_cex_png"]


def as_image(x: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """``x`` as an ``(H, W)`` or ``(H, W, 3)`` array, from a per-sample input shape.

    Leading unit axes are dropped; ``(C, H, W)`` with C = 1 or 3 is channels-first (ONNX's
    layout), ``(H, W)`` with both sides above 1 is grey.  Anything else (a flat vector such
    as ``(1, 64)``) is not an image.
    """
    dims = [int(d) for d in shape]
    while len(dims) > 2 and dims[0] == 1:
        dims = dims[1:]
    a = np.asarray(x, dtype=np.float64).reshape(dims)
    if a.ndim == 2 and min(a.shape) > 1:
        return a
    if a.ndim == 3 and a.shape[0] in (1, 3):
        return a[0] if a.shape[0] == 1 else np.moveaxis(a, 0, -1)
    raise InputError(f"an input of shape {list(shape)} is not an image; pass --image-shape "
                     "HxW (or HxWx3) to show it as one")


def write_png(path: str, img: np.ndarray, scale: int = 1) -> None:
    """Write ``img`` (values in [0, 1], ``(H, W)`` or ``(H, W, 3)``) as an 8-bit PNG."""
    a = np.clip(np.asarray(img, dtype=np.float64), 0.0, 1.0)
    if scale > 1:
        a = np.repeat(np.repeat(a, scale, axis=0), scale, axis=1)
    a8 = np.round(a * 255).astype(np.uint8)
    h, w = a8.shape[:2]
    color = 2 if a8.ndim == 3 else 0
    raw = b"".join(b"\x00" + a8[r].tobytes() for r in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(png)


def write_cex_png(path: str, original: np.ndarray, adversarial: np.ndarray,
                  shape: Sequence[int]) -> None:
    """Three panels side by side: the original point, the adversarial one, and
    ``|adversarial - original|`` scaled to its maximum (the first two share one scale)."""
    a, b = as_image(original, shape), as_image(adversarial, shape)
    lo, hi = min(a.min(), b.min()), max(a.max(), b.max())
    span = hi - lo if hi > lo else 1.0
    d = np.abs(b - a)
    d = d / d.max() if d.max() > 0 else d
    gap = np.ones((a.shape[0], 1) + a.shape[2:])
    panel = np.concatenate([(a - lo) / span, gap, (b - lo) / span, gap, d], axis=1)
    scale = max(1, 256 // max(a.shape[0], 1))
    write_png(path, panel, scale=min(scale, 16))
