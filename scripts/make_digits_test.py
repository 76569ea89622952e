"""Write the digits model's held-out test split as ``benchmarks/digits/test.npz``.

The 397 images (8x8, pixels / 16, in [0, 1]) that ``scripts/make_digits.py`` kept out of
training, with their labels: arrays ``x`` (397, 64) float32 and ``y`` (397,) int64.  The
pixel values are multiples of 1/16, so float32 holds them exactly.  Needs scikit-learn
(its bundled digits data; no download) only here.  Deterministic::

    python scripts/make_digits_test.py
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from make_digits import OUT, load_data  # noqa: E402


def main() -> int:
    _, _, x_test, y_test = load_data()
    buf = io.BytesIO()
    np.savez_compressed(buf, x=x_test.astype(np.float32), y=y_test.astype(np.int64))
    path = OUT / "test.npz"
    path.write_bytes(buf.getvalue())
    print(f"wrote {path}: {x_test.shape[0]} points, {x_test.shape[1]} features")
    return 0


if __name__ == "__main__":
    sys.exit(main())
