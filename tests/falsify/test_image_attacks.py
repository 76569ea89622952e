"""Attacks on the shipped digits classifier (8x8 images): PGD finds the adversarial
examples that ReLU splitting proves exist, each confirmed by onnxruntime; PNG output."""

from __future__ import annotations

from pathlib import Path

import pytest

from verinet.cli import EXIT_VIOLATED, main
from verinet.config import AttackConfig, SearchConfig, VerifierConfig
from verinet.network import load
from verinet.result import Status
from verinet.spec import read_vnnlib
from verinet.verify import verify

DIGITS = Path(__file__).resolve().parents[2] / "benchmarks" / "digits"
SAT = ["img1_eps0.02.vnnlib", "img2_eps0.05.vnnlib", "img4_eps0.03.vnnlib",
       "img0_eps0.05.vnnlib"]  # sat per ReLU splitting (benchmarks/digits/RESULTS.md)


@pytest.mark.parametrize("name", SAT)
def test_pgd_finds_known_adversarial_examples(name):
    net = load(DIGITS / "digits.onnx")
    prop = read_vnnlib(DIGITS / name)
    # the complete engine says sat: an adversarial example exists
    proof = verify(net, prop, timeout=30, config=VerifierConfig(
        search=SearchConfig(strategy="relu"), attack=AttackConfig(enabled=False)))
    assert proof.status is Status.SAT
    # PGD alone (no sampling, no search) finds one, confirmed by onnxruntime
    r = verify(net, prop, timeout=30, config=VerifierConfig(
        search=SearchConfig(strategy="smt"), attack=AttackConfig(strategies=("pgd",))))
    assert r.status is Status.SAT and r.counterexample.source == "pgd"
    assert r.counterexample.checks["onnxruntime"] >= 0
    assert r.stats.smt_calls == 0  # answered before any search


def test_png_of_a_counterexample(tmp_path, capsys):
    png = tmp_path / "adv.png"
    code = main(["attack", str(DIGITS / "digits.onnx"), "--vnnlib",
                 str(DIGITS / "img1_eps0.05.vnnlib"), "--png-out", str(png),
                 "--image-shape", "8x8"])
    capsys.readouterr()
    assert code == EXIT_VIOLATED
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and b"IHDR" in data and b"IEND" in data
    width = int.from_bytes(data[16:20], "big")
    height = int.from_bytes(data[20:24], "big")
    assert width > 3 * height - 8 and height >= 8  # three panels side by side


def test_png_refuses_a_non_image(tmp_path, capsys):
    code = main(["attack", str(DIGITS / "digits.onnx"), "--vnnlib",
                 str(DIGITS / "img1_eps0.05.vnnlib"), "--png-out", str(tmp_path / "a.png")])
    err = capsys.readouterr().err
    assert code == 5 and "--image-shape" in err
