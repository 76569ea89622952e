"""The benchmark properties parse, with the structure their authors wrote; large files are fast."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from verinet.spec import Box, parse_vnnlib, read_vnnlib, write_vnnlib


def test_every_benchmark_property_parses(benchmarks_dir: Path) -> None:
    files = sorted(benchmarks_dir.rglob("*.vnnlib"))
    if not files:
        pytest.skip(f"no .vnnlib files under {benchmarks_dir}")
    for f in files:
        p = read_vnnlib(f)
        assert p.n_inputs >= 1 and p.n_outputs >= 1, f
        assert parse_vnnlib(write_vnnlib(p)) == p, f


def _acas(benchmarks_dir: Path, n: int) -> Path:
    f = benchmarks_dir / "acasxu" / f"prop_{n}.vnnlib"
    if not f.is_file():
        pytest.skip(f"{f} not found")
    return f


def test_acas_prop_1(benchmarks_dir: Path) -> None:
    p = read_vnnlib(_acas(benchmarks_dir, 1))
    assert (p.n_inputs, p.n_outputs, len(p.cases)) == (5, 5, 1)
    case = p.cases[0]
    assert case.box == Box([0.6, -0.5, -0.5, 0.45, -0.5], [0.679857769, 0.5, 0.5, 0.5, -0.45])
    (conj,) = case.bad
    # bad: Y_0 >= 3.991125645861615, i.e. -Y_0 <= -3.991125645861615
    np.testing.assert_array_equal(conj.A_out, [[-1.0, 0, 0, 0, 0]])
    assert conj.b.tolist() == [-3.991125645861615] and conj.A_in is None


def test_acas_prop_2_compares_outputs_pairwise(benchmarks_dir: Path) -> None:
    p = read_vnnlib(_acas(benchmarks_dir, 2))
    (case,) = p.cases
    (conj,) = case.bad
    expected = np.zeros((4, 5))
    expected[:, 0] = -1.0  # Y_j <= Y_0  ->  Y_j - Y_0 <= 0 for j = 1..4
    expected[np.arange(4), np.arange(1, 5)] = 1.0
    np.testing.assert_array_equal(conj.A_out, expected)
    np.testing.assert_array_equal(conj.b, np.zeros(4))


def test_acas_prop_6_has_two_boxes(benchmarks_dir: Path) -> None:
    p = read_vnnlib(_acas(benchmarks_dir, 6))
    assert len(p.cases) == 2
    assert p.cases[0].box.lower[1] == 0.11140846 and p.cases[1].box.upper[1] == -0.11140846
    assert [len(c.bad) for c in p.cases] == [4, 4]
    assert all(c.k == 1 for case in p.cases for c in case.bad)


def test_test_tiny_takes_its_box_from_inside_the_or(benchmarks_dir: Path) -> None:
    f = benchmarks_dir / "test" / "test_tiny.vnnlib"
    if not f.is_file():
        pytest.skip(f"{f} not found")
    p = read_vnnlib(f)
    (case,) = p.cases
    assert case.box == Box([-1.0], [1.0])
    assert case.bad[0].A_out.tolist() == [[-1.0]] and case.bad[0].b.tolist() == [-100.0]


def _mnist_like_text(n: int = 784, n_classes: int = 10, label: int = 3) -> str:
    rng = np.random.default_rng(0)
    x0 = rng.random(n)
    lines = [f"(declare-const X_{i} Real)" for i in range(n)]
    lines += [f"(declare-const Y_{j} Real)" for j in range(n_classes)]
    for i in range(n):
        lines.append(f"(assert (<= X_{i} {float(x0[i] + 0.02)!r}))")
        lines.append(f"(assert (>= X_{i} {float(x0[i] - 0.02)!r}))")
    lines.append("(assert (or")
    lines += [f"    (and (>= Y_{j} Y_{label}))" for j in range(n_classes) if j != label]
    lines.append("))")
    return "\n".join(lines) + "\n"


def test_784_input_property_parses_fast() -> None:
    text = _mnist_like_text()
    best = np.inf
    for _ in range(3):
        start = time.perf_counter()
        p = parse_vnnlib(text)
        best = min(best, time.perf_counter() - start)
    assert p.n_inputs == 784 and len(p.cases) == 1 and len(p.cases[0].bad) == 9
    assert best < 2.0, f"parsing 784 inputs took {best:.3f} s"
