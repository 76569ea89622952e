"""Output files of ``verify`` and ``attack``: refused before the work when unwritable, and
an answer that is printed even when a file cannot be written afterwards (exit 6)."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np
import pytest

from verinet.cli import EXIT_BAD_INPUT, EXIT_IO, EXIT_OK, EXIT_VIOLATED, main
from verinet.errors import InputError

DEMO = Path(__file__).resolve().parents[2] / "benchmarks" / "demo"
MODEL, PROP = str(DEMO / "demo.onnx"), str(DEMO / "demo.vnnlib")
BALL = ["--eps", "0.5", "--input", "0.1,0,0,0,-0.2"]  # a ball with a counterexample


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "internal error" not in err
    return code, out, err


@pytest.mark.parametrize("option", ["--results-file", "--cex-out", "--png-out"])
@pytest.mark.parametrize("command", ["verify", "attack"])
def test_unwritable_output_refused_before_work(capsys, tmp_path, command, option):
    for bad, words in ((tmp_path, "is a directory"),
                       (tmp_path / "missing" / "f.out", "does not exist")):
        t0 = time.monotonic()
        code, out, err = run(capsys, command, MODEL, *BALL, option, str(bad),
                             "--timeout", "30")
        assert code == EXIT_BAD_INPUT
        assert option in err and words in err
        assert out == ""                      # no work was done, nothing claimed
        assert time.monotonic() - t0 < 10


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("command,want", [("verify", "sat"), ("attack", "sat")])
def test_answer_printed_when_writing_fails(capsys, command, want):
    code, out, err = run(capsys, command, MODEL, *BALL, "--cex-out", "/dev/full",
                         "--timeout", "30")
    assert code == EXIT_IO
    assert out.startswith(want)
    assert "could not write --cex-out /dev/full" in err


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_unsat_printed_when_results_file_fails(capsys):
    code, out, err = run(capsys, "verify", MODEL, "--vnnlib", PROP, "--results-file",
                         "/dev/full", "--timeout", "60")
    assert code == EXIT_IO
    assert out.startswith("unsat")
    assert "/dev/full" in err


def test_cex_out_written_to_the_exact_path(capsys, tmp_path):
    target = tmp_path / "adv.bin"
    code, _, _ = run(capsys, "verify", MODEL, *BALL, "--cex-out", str(target))
    assert code == EXIT_VIOLATED
    assert target.is_file() and not (tmp_path / "adv.bin.npy").exists()
    assert np.load(target).size == 5


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-3"])
@pytest.mark.parametrize("command", ["verify", "attack"])
def test_bad_timeouts_refused(capsys, command, value):
    code, out, err = run(capsys, command, MODEL, "--vnnlib", PROP, f"--timeout={value}")
    assert code == EXIT_BAD_INPUT
    assert "--timeout" in err and "finite number of seconds" in err
    assert out == ""


@pytest.mark.parametrize("value", [math.nan, math.inf, 0.0, -1.0])
def test_api_refuses_bad_timeouts(value):
    import verinet

    net = verinet.load(MODEL)
    prop = verinet.read_vnnlib(PROP)
    with pytest.raises(InputError, match="finite number of seconds"):
        verinet.verify(net, prop, timeout=value)


def test_image_shape_checked_before_work(capsys, tmp_path):
    code, out, err = run(capsys, "verify", MODEL, *BALL, "--png-out", str(tmp_path / "a.png"),
                         "--image-shape", "3x3")
    assert code == EXIT_BAD_INPUT and out == ""
    assert "9 pixels" in err
    code, out, err = run(capsys, "verify", MODEL, *BALL, "--png-out", str(tmp_path / "a.png"),
                         "--image-shape", "axb")
    assert code == EXIT_BAD_INPUT and "expected HxW" in err


def test_directory_as_point(capsys, tmp_path):
    code, _, err = run(capsys, "eval", MODEL, "--input", str(tmp_path))
    assert code == EXIT_BAD_INPUT and "is a directory" in err


def test_exit_table_documents_io_code(capsys):
    code = main(["verify", "--help"])
    out, _ = capsys.readouterr()
    assert code == EXIT_OK
    assert f"{EXIT_IO}    an output file could not be written" in out


def test_public_verify_callable_after_submodule_import():
    import subprocess
    import sys

    code = ("import verinet.verify, verinet\n"
            f"net = verinet.load({MODEL!r})\nprop = verinet.read_vnnlib({PROP!r})\n"
            "print(verinet.verify(net, prop, timeout=30).status.value)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "unsat"
