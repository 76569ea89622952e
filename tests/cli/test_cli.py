"""The ``verinet`` command line: outputs, exit codes, and one-line errors (never a traceback)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import verinet
from verinet import cli
from verinet.cli import main

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "benchmarks" / "demo"
DEMO_ONNX = DEMO / "demo.onnx"
DEMO_VNNLIB = DEMO / "demo.vnnlib"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def _save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.save(model, str(path))
    return path


def _dense_model(hidden_op: str = "Relu", n_in: int = 3, n_out: int = 2) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    W = rng.normal(size=(n_in, n_out)).astype(np.float32)
    b = rng.normal(size=n_out).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["h"], name="MatMul_0"),
        helper.make_node("Add", ["h", "b"], ["z"], name="Add_0"),
        helper.make_node(hidden_op, ["z"], ["y"], name=f"{hidden_op}_squash"),
    ]
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, n_in])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, n_out])],
        [numpy_helper.from_array(W, "W"), numpy_helper.from_array(b, "b")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


# ------------------------------------------------------------------- basics
def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == cli.EXIT_OK
    assert out.strip() == f"verinet {verinet.__version__}"


def test_help_lists_commands_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == cli.EXIT_OK
    for name in cli.COMMANDS:
        assert name in out
    assert "exit codes" in out and "examples" in out


@pytest.mark.parametrize("argv", [[], ["frobnicate"], ["info"], ["eval", str(DEMO_ONNX)],
                                  ["info", str(DEMO_ONNX), "--no-such-flag"]])
def test_usage_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, _, err = run(capsys, *argv)
    assert code == cli.EXIT_USAGE
    assert "usage:" in err


def test_exit_code_table_follows_class_hierarchy() -> None:
    assert cli.exit_code_for(verinet.UnsupportedOperatorError("Foo", "n")) == cli.EXIT_BAD_MODEL
    assert cli.exit_code_for(verinet.ModelLoadError("x")) == cli.EXIT_BAD_MODEL
    assert cli.exit_code_for(verinet.SpecParseError("x")) == cli.EXIT_BAD_PROPERTY
    assert cli.exit_code_for(verinet.SpecMismatchError("x")) == cli.EXIT_BAD_PROPERTY
    assert cli.exit_code_for(verinet.InputError("x")) == cli.EXIT_BAD_INPUT

    class Custom(verinet.InputError):
        pass

    assert cli.exit_code_for(Custom("x")) == cli.EXIT_BAD_INPUT
    assert cli.exit_code_for(RuntimeError("x")) == cli.EXIT_INTERNAL


def test_public_api() -> None:
    for name in verinet.__all__:
        assert getattr(verinet, name) is not None, name
    assert verinet.load is verinet.network.load
    assert issubclass(verinet.SpecMismatchError, verinet.VerinetError)


# --------------------------------------------------------------------- info
def test_info_demo(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "info", DEMO_ONNX, "--vnnlib", DEMO_VNNLIB)
    assert code == cli.EXIT_OK, err
    net = verinet.load(DEMO_ONNX)
    assert f"ReLUs: {net.relu_count}" in out and net.relu_count == 16
    assert f"neurons: {net.neuron_count}" in out
    assert "inputs : 5" in out and "outputs: 5" in out
    assert verinet.read_vnnlib(DEMO_VNNLIB).describe() in out


def test_info_acas_with_property(capsys: pytest.CaptureFixture[str], benchmarks_dir: Path
                                 ) -> None:
    model = benchmarks_dir / "acasxu" / "ACASXU_run2a_1_1_batch_2000.onnx"
    prop = benchmarks_dir / "acasxu" / "prop_1.vnnlib"
    if not (model.is_file() and prop.is_file()):
        pytest.skip("the ACAS Xu benchmark files are not in the benchmark folder")
    code, out, err = run(capsys, "info", model, "--vnnlib", prop)
    assert code == cli.EXIT_OK, err
    assert "ReLUs: 300" in out
    assert "property fits the model" in out


def test_info_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "info", tmp_path / "absent.onnx")
    assert code == cli.EXIT_BAD_MODEL
    assert err.startswith("verinet: error: ") and "absent.onnx" in err
    assert len(err.strip().splitlines()) == 1
    assert out == ""


def test_info_corrupt_onnx(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "corrupt.onnx"
    bad.write_bytes(np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    code, _, err = run(capsys, "info", bad)
    assert code == cli.EXIT_BAD_MODEL
    assert err.startswith("verinet: error: ") and "corrupt.onnx" in err


def test_info_unsupported_operator(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = _save(_dense_model("Sigmoid"), tmp_path / "sigmoid.onnx")
    code, _, err = run(capsys, "info", path)
    assert code == cli.EXIT_BAD_MODEL
    assert '"Sigmoid_squash"' in err and "Sigmoid" in err
    assert len(err.strip().splitlines()) == 1


def test_info_final_softmax_warns(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = _save(_dense_model("Softmax"), tmp_path / "softmax.onnx")
    code, out, err = run(capsys, "info", path)
    assert code == cli.EXIT_OK
    assert "verinet: warning: " in err and "Softmax" in err
    assert "ReLUs: 0" in out


def test_info_malformed_vnnlib(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    prop = tmp_path / "bad.vnnlib"
    prop.write_text("(declare-const X_0 Real)\n(declare-const Y_0 Real)\n"
                    "(assert (>= X_0 0))\n(assert (<= X_0 1))\n(assert (<= Y_0 1.2.3))\n")
    code, out, err = run(capsys, "info", DEMO_ONNX, "--vnnlib", prop)
    assert code == cli.EXIT_BAD_PROPERTY
    assert f"{prop}:5:17: " in err
    assert out == ""


def test_info_property_too_many_inputs(capsys: pytest.CaptureFixture[str], tmp_path: Path
                                       ) -> None:
    n_in = 7
    lines = [f"(declare-const X_{i} Real)" for i in range(n_in)]
    lines += [f"(declare-const Y_{j} Real)" for j in range(5)]
    for i in range(n_in):
        lines += [f"(assert (>= X_{i} 0))", f"(assert (<= X_{i} 1))"]
    lines.append("(assert (>= Y_0 1))")
    prop = tmp_path / "wide.vnnlib"
    prop.write_text("\n".join(lines) + "\n")
    code, out, err = run(capsys, "info", DEMO_ONNX, "--vnnlib", prop)
    assert code == cli.EXIT_BAD_PROPERTY
    assert "7 inputs" in err and "5 inputs" in err
    assert out == ""


def test_info_missing_vnnlib(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "info", DEMO_ONNX, "--vnnlib", tmp_path / "absent.vnnlib")
    assert code == cli.EXIT_BAD_PROPERTY
    assert "absent.vnnlib" in err


# --------------------------------------------------------------------- eval
def _outputs(out: str) -> list[np.ndarray]:
    rows = [line.split(":", 2)[-1] for line in out.splitlines() if "outputs (" in line]
    return [np.array([float(v) for v in row.split(",")]) for row in rows]


def test_eval_list_matches_evaluate(capsys: pytest.CaptureFixture[str]) -> None:
    x = [0.1, 0.0, -0.25, 0.2, -0.2]
    code, out, err = run(capsys, "eval", DEMO_ONNX, "--input", ",".join(map(repr, x)))
    assert code == cli.EXIT_OK, err
    want = verinet.load(DEMO_ONNX).evaluate(np.array(x))[0]
    (got,) = _outputs(out)
    np.testing.assert_array_equal(got, want)
    assert f"argmax: {int(np.argmax(want))}" in out


def test_eval_npy_batch(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    xs = np.random.default_rng(2).uniform(-0.5, 0.5, size=(3, 1, 5))
    np.save(tmp_path / "points.npy", xs)
    code, out, err = run(capsys, "eval", DEMO_ONNX, "--input", tmp_path / "points.npy")
    assert code == cli.EXIT_OK, err
    want = verinet.load(DEMO_ONNX).evaluate(xs)
    np.testing.assert_array_equal(np.array(_outputs(out)), want)
    assert out.count("argmax:") == 3


@pytest.mark.parametrize("value", ["0.1,0.2,0.3", "1,2,3,4,5,6", "0.1,abc,0,0,0", "nan,0,0,0,0",
                                   ""])
def test_eval_bad_input(capsys: pytest.CaptureFixture[str], value: str) -> None:
    code, out, err = run(capsys, "eval", DEMO_ONNX, "--input", value)
    assert code == cli.EXIT_BAD_INPUT
    assert err.startswith("verinet: error: ") and len(err.strip().splitlines()) == 1
    assert out == ""


def test_eval_unreadable_npy(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "x.npy"
    bad.write_text("not an array")
    code, _, err = run(capsys, "eval", DEMO_ONNX, "--input", bad)
    assert code == cli.EXIT_BAD_INPUT
    assert "x.npy" in err


# ------------------------------------------------------- unexpected errors
def _crash(args: object) -> int:
    raise RuntimeError("boom")


def _interrupt(args: object) -> int:
    raise KeyboardInterrupt


@pytest.fixture
def broken_command(monkeypatch: pytest.MonkeyPatch):
    def install(handler) -> None:
        monkeypatch.setitem(cli.COMMANDS, "broken",
                            cli.Command("broken", "raises", lambda p: None, handler))
    return install


def test_internal_error_is_one_line(capsys: pytest.CaptureFixture[str], broken_command) -> None:
    broken_command(_crash)
    code, _, err = run(capsys, "broken")
    assert code == cli.EXIT_INTERNAL
    assert len(err.strip().splitlines()) == 1
    assert "RuntimeError: boom" in err and "report" in err and "--debug" in err


def test_debug_shows_traceback(capsys: pytest.CaptureFixture[str], broken_command) -> None:
    broken_command(_crash)
    code = main(["broken", "--debug"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_INTERNAL
    assert "Traceback" in err and "RuntimeError: boom" in err


def test_keyboard_interrupt(capsys: pytest.CaptureFixture[str], broken_command) -> None:
    broken_command(_interrupt)
    code, _, err = run(capsys, "broken")
    assert code == cli.EXIT_INTERRUPTED
    assert "interrupted" in err


# ------------------------------------------------------- real processes
def _verinet(*argv: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "verinet", *map(str, argv)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_subprocess_info_demo() -> None:
    proc = _verinet("info", DEMO_ONNX, "--vnnlib", DEMO_VNNLIB)
    assert proc.returncode == 0, proc.stderr
    assert "ReLUs: 16" in proc.stdout
    assert proc.stderr == ""


def test_subprocess_errors_have_no_traceback(tmp_path: Path) -> None:
    path = _save(_dense_model("Sigmoid"), tmp_path / "sigmoid.onnx")
    proc = _verinet("info", path)
    assert proc.returncode == cli.EXIT_BAD_MODEL
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("verinet: error: ")
    proc = _verinet("eval", DEMO_ONNX, "--input", "1,2")
    assert proc.returncode == cli.EXIT_BAD_INPUT
    assert "Traceback" not in proc.stderr


# ---------------------------------------------------------------- the demo
def test_demo_files_are_current() -> None:
    """The committed demo files are exactly what ``scripts/make_demo.py`` generates."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import make_demo
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    for name, data in make_demo.files(with_expected=False).items():
        assert (DEMO / name).read_bytes() == data, f"{name} is stale; run scripts/make_demo.py"
