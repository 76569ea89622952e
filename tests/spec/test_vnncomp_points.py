"""Reading centre, radius and label back from VNN-COMP robustness properties."""

from __future__ import annotations

import numpy as np
import pytest

from verinet.errors import InputError
from verinet.robustness.vnncomp import points_from_folder, recover
from verinet.spec.property import Box, Case, Conjunction, Property
from verinet.spec.robustness import robustness
from verinet.spec.vnnlib import write_vnnlib


@pytest.mark.parametrize("eps", [0.004, 0.02, 0.1])
def test_recovers_a_clipped_ball(tmp_path, eps):
    rng = np.random.default_rng(1)
    c = rng.random(30)
    c[:5] = 0.0  # clipped below
    c[5:8] = 1.0  # clipped above
    prop = robustness(c, eps, 3, 0.0, 1.0, n_classes=10)
    path = tmp_path / "p.vnnlib"
    write_vnnlib(prop, path)
    rec = recover(str(path))
    assert rec.label == 3 and rec.eps == pytest.approx(eps, abs=1e-12)
    assert np.allclose(rec.centre, c, atol=1e-12)


def test_refuses_what_is_not_a_ball(tmp_path):
    lo, hi = np.array([0.1, 0.2]), np.array([0.3, 0.25])
    row = np.zeros((1, 3))
    row[0, 0], row[0, 1] = 1.0, -1.0
    prop = Property((Case(Box(lo, hi), (Conjunction(row, np.zeros(1)),)),), 2, 3)
    path = tmp_path / "q.vnnlib"
    write_vnnlib(prop, path)
    with pytest.raises(InputError, match="not a ball"):
        recover(str(path))


def test_verivital_points(benchmarks_dir):
    folder = benchmarks_dir / "verivital"
    if not (folder / "instances.csv").is_file():
        pytest.skip(f"{folder} not found")
    x, y, radii, where = points_from_folder(str(folder), "Convnet_avgpool.onnx")
    assert x.shape == (20, 784) and radii == [0.02, 0.04] and len(where) == 40
    assert np.all((x >= 0) & (x <= 1))
    x2, y2, radii2, _ = points_from_folder(str(folder), "Convnet_maxpool.onnx")
    assert radii2 == [0.004] and np.array_equal(y, y2)
