"""``verinet attack`` and ``verinet check-cex``: answers, exit codes, replay of results files."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from verinet.cli import (
    EXIT_BAD_INPUT,
    EXIT_CEX_INVALID,
    EXIT_NO_CEX,
    EXIT_OK,
    EXIT_UNKNOWN,
    EXIT_VIOLATED,
    main,
)
from verinet.counterexample import read_results_file
from verinet.network import load
from verinet.spec import robustness

DEMO = Path(__file__).resolve().parents[2] / "benchmarks" / "demo"
CENTRE = "0.1,0,0,0,-0.2"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_attack_large_eps_finds_a_counterexample(capsys, tmp_path):
    res, cex = tmp_path / "r.txt", tmp_path / "x.npy"
    code, out, _ = run(capsys, "attack", str(DEMO / "demo.onnx"), "--eps", "0.5", "--input",
                       CENTRE, "--restarts", "8", "--results-file", str(res),
                       "--cex-out", str(cex))
    assert code == EXIT_VIOLATED
    assert out.startswith("sat")
    # the saved point really changes the class inside the ball
    net = load(str(DEMO / "demo.onnx"))
    prop = robustness(np.array([0.1, 0, 0, 0, -0.2]), 0.5, network=net)
    x = np.load(cex).reshape(-1)
    assert prop.cases[0].box.contains(x)
    status, x_file, _ = read_results_file(res)
    assert status == "sat" and np.array_equal(x_file, x)
    code, out, _ = run(capsys, "check-cex", str(DEMO / "demo.onnx"), str(DEMO / "demo.vnnlib"),
                       str(res))
    assert code in (EXIT_OK, EXIT_CEX_INVALID)  # a different property: either answer, no crash


def test_attack_tiny_eps_is_not_a_proof(capsys):
    code, out, _ = run(capsys, "attack", str(DEMO / "demo.onnx"), "--eps", "1e-6", "--input",
                       CENTRE, "--restarts", "4", "--samples", "64")
    assert code == EXIT_UNKNOWN
    assert "not a proof" in out


def test_attack_unknown_strategy_is_bad_input(capsys):
    code, _, err = run(capsys, "attack", str(DEMO / "demo.onnx"), "--eps", "0.1", "--input",
                       CENTRE, "--strategies", "uniform,nosuch")
    assert code == EXIT_BAD_INPUT
    assert "nosuch" in err


def test_check_cex_on_verify_results(capsys, tmp_path, benchmarks_dir):
    folder = benchmarks_dir / "acasxu"
    model, prop = str(folder / "ACASXU_run2a_1_7_batch_2000.onnx"), str(folder / "prop_3.vnnlib")
    res = tmp_path / "r.txt"
    code, _, _ = run(capsys, "verify", model, "--vnnlib", prop, "--results-file", str(res))
    assert code == EXIT_VIOLATED
    code, out, _ = run(capsys, "check-cex", model, prop, str(res))
    assert code == EXIT_OK
    assert "valid" in out and "onnxruntime" in out
    # the same point with newlines and spaces moved around still parses
    loose = tmp_path / "loose.txt"
    loose.write_text("  sat \n" + res.read_text().split("\n", 1)[1].replace("\n", "   \n\n "))
    assert run(capsys, "check-cex", model, prop, str(loose))[0] == EXIT_OK
    # move X_0 out of the input box
    tampered = tmp_path / "t.txt"
    tampered.write_text(re.sub(r"\(X_0 [^)]*\)", "(X_0 5.0)", res.read_text()))
    code, out, _ = run(capsys, "check-cex", model, prop, str(tampered))
    assert code == EXIT_CEX_INVALID
    assert "invalid" in out


def test_check_cex_malformed_and_empty_files(capsys, tmp_path):
    model, prop = str(DEMO / "demo.onnx"), str(DEMO / "demo.vnnlib")
    for text in ("", "maybe\n", "sat\n((X_0 0.1) (X_1 oops))\n", "sat\n((X_1 0.1))\n",
                 "sat\n((X_0 0.1) (X_0 0.2))\n", "sat\n", "unsat\n((X_0 1))\n",
                 "sat\n((X_0 0) (X_1 0))\n"):
        bad = tmp_path / "bad.txt"
        bad.write_text(text)
        code, _, err = run(capsys, "check-cex", model, prop, str(bad))
        assert code == EXIT_BAD_INPUT, text
        assert str(bad) in err or "inputs" in err
    for word in ("unsat", "unknown", "timeout"):
        f = tmp_path / f"{word}.txt"
        f.write_text(word + "\n")
        assert run(capsys, "check-cex", model, prop, str(f))[0] == EXIT_NO_CEX


def test_check_cex_detects_a_point_outside_the_bad_region(capsys, tmp_path):
    # demo.vnnlib is unsat, so its box centre cannot reach the bad region
    f = tmp_path / "r.txt"
    f.write_text("sat\n((X_0 0.0)\n (X_1 0.0) (X_2 0.0) (X_3 0.0) (X_4 0.0))")
    code, out, _ = run(capsys, "check-cex", str(DEMO / "demo.onnx"), str(DEMO / "demo.vnnlib"),
                       str(f))
    assert code == EXIT_CEX_INVALID
    assert "input box margin" in out and "bad region margin" in out
