"""``verinet verify``: answers, outputs (human, JSON, VNN-COMP results file) and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from verinet.cli import EXIT_BAD_INPUT, EXIT_OK, EXIT_UNKNOWN, EXIT_VIOLATED, main

DEMO = Path(__file__).resolve().parents[2] / "benchmarks" / "demo"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_demo_is_verified(capsys, tmp_path):
    res = tmp_path / "out.txt"
    code, out, _ = run(capsys, "verify", str(DEMO / "demo.onnx"), "--vnnlib",
                       str(DEMO / "demo.vnnlib"), "--results-file", str(res))
    assert code == EXIT_OK
    assert out.startswith("unsat")
    assert res.read_text() == "unsat\n"


def test_sat_json_results_file_and_cex(capsys, tmp_path, benchmarks_dir):
    folder = benchmarks_dir / "acasxu"
    res, cex = tmp_path / "r.txt", tmp_path / "x.npy"
    code, out, _ = run(capsys, "verify", str(folder / "ACASXU_run2a_1_7_batch_2000.onnx"),
                       "--vnnlib", str(folder / "prop_3.vnnlib"), "--json",
                       "--results-file", str(res), "--cex-out", str(cex))
    assert code == EXIT_VIOLATED
    obj = json.loads(out)
    assert obj["status"] == "sat"
    x = np.asarray(obj["counterexample"]["x"])
    assert np.array_equal(np.load(cex).reshape(-1), x)
    text = res.read_text()
    assert text.startswith("sat\n((X_0 ") and "(Y_4 " in text and text.rstrip().endswith(")")
    assert obj["counterexample"]["checks"]["onnxruntime"] >= 0


def test_timeout_exit_code(capsys, benchmarks_dir):
    folder = benchmarks_dir / "acasxu"
    code, out, _ = run(capsys, "verify", str(folder / "ACASXU_run2a_3_3_batch_2000.onnx"),
                       "--vnnlib", str(folder / "prop_2.vnnlib"), "--timeout", "1",
                       "--no-attack")
    assert code == EXIT_UNKNOWN
    assert out.startswith("timeout")


def test_robustness_query(capsys, tmp_path):
    x = tmp_path / "x.npy"
    np.save(x, np.array([0.1, 0.0, 0.0, 0.0, -0.2]))
    code, out, _ = run(capsys, "verify", str(DEMO / "demo.onnx"), "--eps", "0.001",
                       "--input", str(x))
    assert code in (EXIT_OK, EXIT_VIOLATED)
    code, out, _ = run(capsys, "verify", str(DEMO / "demo.onnx"), "--eps", "5",
                       "--input", "0.1,0,0,0,-0.2", "--json")
    assert json.loads(out)["status"] in ("sat", "unsat")


@pytest.mark.parametrize("argv", [
    ["--eps", "0.1"],                                   # no centre
    ["--eps", "-1", "--input", "0,0,0,0,0"],            # negative radius
    ["--eps", "0.1", "--input", "0,0,0"],               # wrong size
    ["--eps", "0.1", "--input", "0,0,0,0,0", "--timeout", "0"],
])
def test_bad_verify_inputs(capsys, argv):
    code, _, err = run(capsys, "verify", str(DEMO / "demo.onnx"), *argv)
    assert code == EXIT_BAD_INPUT
    assert err.startswith("verinet: error:")


def _jobs_seen(monkeypatch) -> list[int]:
    """Calls to the parallel driver record their ``jobs`` (and answer like one process)."""
    import verinet.parallel as par
    from verinet.verify import verify

    seen: list[int] = []

    def fake(network, prop, *, jobs, **kw):
        seen.append(jobs)
        kw.pop("warmup", None)
        return verify(network, prop, **kw)

    monkeypatch.setattr(par, "verify_parallel", fake)
    monkeypatch.setattr(par, "usable_cores", lambda: 3)
    return seen


def test_every_core_by_default_and_one_with_a_proof(capsys, tmp_path, monkeypatch):
    seen = _jobs_seen(monkeypatch)
    args = ["verify", str(DEMO / "demo.onnx"), "--vnnlib", str(DEMO / "demo.vnnlib")]
    assert run(capsys, *args)[0] == EXIT_OK
    assert seen == [3]
    assert run(capsys, *args, "--jobs", "2")[0] == EXIT_OK
    assert seen == [3, 2]
    code, out, _ = run(capsys, *args, "--proof", str(tmp_path / "p.json"))
    assert code == EXIT_OK and seen == [3, 2]  # one process: no call to the driver
    code, _, err = run(capsys, *args, "--proof", str(tmp_path / "q.json"), "--jobs", "2")
    assert code == EXIT_BAD_INPUT and "--jobs 1" in err


def test_usable_cores_is_at_least_one():
    from verinet.parallel import usable_cores

    assert usable_cores() >= 1


def test_relu_engine_reaches_the_search(capsys, monkeypatch):
    """``--relu-engine`` sets ``SearchConfig.relu_engine``; an unknown one is a usage error."""
    import verinet.verify as ver

    seen = []
    real = ver._use_bab

    def spy(network, config):
        seen.append(config.search.relu_engine)
        return real(network, config)

    monkeypatch.setattr(ver, "_use_bab", spy)
    args = ["verify", str(DEMO / "demo.onnx"), "--vnnlib", str(DEMO / "demo.vnnlib"),
            "--strategy", "relu", "--no-attack", "--jobs", "1"]
    for engine in ("lp", "bab"):
        assert run(capsys, *args, "--relu-engine", engine)[0] == EXIT_OK
    assert seen == ["lp", "bab"]
    assert run(capsys, *args, "--relu-engine", "fast")[0] == 2
