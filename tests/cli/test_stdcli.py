"""The VNN-LIB 2.0 standard solver interface: ``verinet verify QUERY --network ...``,
``verinet supports --CAPABILITY`` and ``verinet --name``; the interval engine behind it."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from verinet.cli import EXIT_BAD_PROPERTY, EXIT_OK, EXIT_UNKNOWN, EXIT_VIOLATED, main
from verinet.stdcli import CAPABILITIES, is_standard_verify

DEMO = Path(__file__).resolve().parents[2] / "benchmarks" / "demo"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def save_model(path: Path, nodes, inits, n_in: int, n_out: int, out_name="y",
               in_name="x", opset=13, dtype=TensorProto.FLOAT) -> Path:
    g = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(in_name, dtype, [n_in])],
        [helper.make_tensor_value_info(out_name, dtype, [n_out])],
        initializer=[numpy_helper.from_array(np.asarray(v, dtype=np.float32), k)
                     for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, path)
    return path


def relu_net(path: Path) -> Path:
    """y = [relu(x0 + x1), relu(x0 - x1)], the hidden node ``h`` before the ReLU."""
    return save_model(path, [helper.make_node("MatMul", ["x", "W"], ["h"]),
                             helper.make_node("Relu", ["h"], ["y"])],
                      {"W": [[1, 1], [1, -1]]}, 2, 2)


def query(path: Path, body: str, decl: str = "") -> Path:
    path.write_text("(vnnlib-version <2.0>)\n(declare-network N\n"
                    "    (declare-input X float32 [2])\n" + decl +
                    "    (declare-output Y float32 [2])\n)\n" + body)
    return path


BOX = "(assert (and (>= X[0] -1) (<= X[0] 1) (>= X[1] -1) (<= X[1] 1)))\n"


def assignment(out: str) -> dict[str, tuple[str, list[int], np.ndarray]]:
    lines = out.strip().splitlines()[1:]
    res, cur = {}, None
    for ln in lines:
        m = re.fullmatch(r"(\w+) (\w+) \[([\d,]*)\]", ln)
        if m:
            cur = m.group(1)
            res[cur] = (m.group(2), [int(d) for d in m.group(3).split(",") if d], [])
        else:
            res[cur][2].append(float(ln))
    return {k: (t, s, np.array(v)) for k, (t, s, v) in res.items()}


def test_sat_prints_the_assignment_in_declaration_order(tmp_path, capsys):
    net = relu_net(tmp_path / "n.onnx")
    q = query(tmp_path / "q.vnnlib", BOX + "(assert (>= Y[0] 1.5))\n",
              '    (declare-hidden H float32 [2] "h")\n')
    code, out, _ = run(capsys, "verify", q, "--network", f"N={net}", "--timeout", "5.0")
    assert code == EXIT_VIOLATED
    assert out.splitlines()[0] == "sat"
    a = assignment(out)
    assert list(a) == ["X", "H", "Y"]
    assert a["X"][:2] == ("float32", [2]) and a["X"][2].size == 2
    x = a["X"][2]
    sess = ort.InferenceSession(str(net), providers=["CPUExecutionProvider"])
    y = sess.run(None, {"x": x.astype(np.float32)})[0]
    assert np.allclose(a["Y"][2], y) and a["Y"][2][0] >= 1.5
    assert np.allclose(a["H"][2], [x[0] + x[1], x[0] - x[1]], atol=1e-6)


def test_unsat_and_the_exit_code(tmp_path, capsys):
    net = relu_net(tmp_path / "n.onnx")
    q = query(tmp_path / "q.vnnlib", BOX + "(assert (>= Y[0] 2.5))\n")
    code, out, _ = run(capsys, "verify", q, "--network", f"N={net}", "--timeout", "5")
    assert (code, out) == (EXIT_OK, "unsat\n")


def test_every_core_by_default(tmp_path, capsys, monkeypatch):
    import verinet.parallel as par

    seen = []

    def fake(network, prop, *, jobs, **kw):
        from verinet.verify import verify

        seen.append(jobs)
        return verify(network, prop, **kw)

    monkeypatch.setattr(par, "verify_parallel", fake)
    monkeypatch.setattr(par, "usable_cores", lambda: 4)
    net = relu_net(tmp_path / "n.onnx")
    q = query(tmp_path / "q.vnnlib", BOX + "(assert (>= Y[0] 2.5))\n")
    assert run(capsys, "verify", q, "--network", f"N={net}")[:2] == (EXIT_OK, "unsat\n")
    assert run(capsys, "verify", q, "--network", f"N={net}", "--jobs", "1")[0] == EXIT_OK
    assert seen == [4]


def test_two_forms_of_verify_are_told_apart(tmp_path):
    q = query(tmp_path / "q.vnnlib", BOX + "(assert (>= Y[0] 2.5))\n")
    assert is_standard_verify([str(q), "--network", "N=n.onnx"])
    assert is_standard_verify([str(q)])  # a 2.0 file: asks for --network, not --vnnlib
    assert not is_standard_verify([str(DEMO / "demo.onnx"), "--vnnlib",
                                   str(DEMO / "demo.vnnlib")])
    assert not is_standard_verify([str(DEMO / "demo.onnx"), "--eps", "0.1"])


def test_the_one_zero_form_still_works(capsys):
    code, out, _ = run(capsys, "verify", DEMO / "demo.onnx", "--vnnlib", DEMO / "demo.vnnlib")
    assert code == EXIT_OK and out.startswith("unsat")


@pytest.mark.parametrize("args, words", [
    (["--network", "M=PATH"], "declares no network of that name; declared: N (line 2:1)"),
    ([], "network 'N' has no file: pass --network N=PATH"),
    (["--network", "N"], "expected NAME=PATH"),
    (["--network", "N={net}", "--timeout", "soon"], "--timeout 'soon'"),
    (["--network", "N={net}", "--timeout", "-1"], "greater than 0"),
    (["--network", "N={net}", "--jobs", "0"], "--jobs must be at least 1"),
])
def test_bad_command_lines_give_one_line(tmp_path, capsys, args, words):
    net = relu_net(tmp_path / "n.onnx")
    q = query(tmp_path / "q.vnnlib", BOX + "(assert (>= Y[0] 2.5))\n")
    argv = [a.format(net=net) for a in args]
    code, out, err = run(capsys, "verify", q, *argv)
    assert code not in (EXIT_OK, EXIT_VIOLATED) and out == ""
    assert len(err.strip().splitlines()) == 1 and words in err, err


def test_shape_mismatch_names_the_declaration(tmp_path, capsys):
    net = relu_net(tmp_path / "n.onnx")
    q = tmp_path / "q.vnnlib"
    q.write_text("(vnnlib-version <2.0>)\n(declare-network N\n"
                 "    (declare-input X float32 [3])\n    (declare-output Y float32 [2])\n)\n"
                 "(assert (and (>= X[0] 0) (<= X[0] 1) (>= X[1] 0) (<= X[1] 1) (>= X[2] 0) "
                 "(<= X[2] 1)))\n(assert (>= Y[0] 1))\n")
    code, _, err = run(capsys, "verify", q, "--network", f"N={net}")
    assert code == EXIT_BAD_PROPERTY
    assert f"{q}:3:20: network N ({net}): X is declared with shape [3]" in err
    assert len(err.strip().splitlines()) == 1


def test_element_type_and_hidden_node_mismatches(tmp_path, capsys):
    net = relu_net(tmp_path / "n.onnx")
    q = query(tmp_path / "q.vnnlib", BOX + "(assert (>= Y[0] 1))\n",
              '    (declare-hidden H float32 [2] "nowhere")\n')
    code, _, err = run(capsys, "verify", q, "--network", f"N={net}")
    assert code == EXIT_BAD_PROPERTY and f"{q}:4:21: " in err and '"nowhere"' in err
    q.write_text(q.read_text().replace('    (declare-hidden H float32 [2] "nowhere")\n', "")
                 .replace("X float32", "X int8"))
    code, _, err = run(capsys, "verify", q, "--network", f"N={net}")
    assert code == EXIT_BAD_PROPERTY and "X is declared int8" in err and f"{q}:3:20: " in err


def test_supports_answers_every_capability(capsys):
    for cap in CAPABILITIES:
        code, out, err = run(capsys, "supports", cap)
        assert code == EXIT_OK and out.strip() and not err, cap
    _, out, _ = run(capsys, "supports", "--vnnlib-versions")
    assert out.split() == ["1.0", "2.0"]
    _, out, _ = run(capsys, "supports", "--onnx-operators")
    ops = out.split()
    assert {"Gemm", "Relu", "Conv", "MaxPool"} <= set(ops) and ops == sorted(ops)
    _, out, _ = run(capsys, "supports", "--onnx-opset-versions")
    lo, hi = (int(v) for v in out.split())
    assert lo <= 13 <= hi
    _, out, _ = run(capsys, "supports", "--unsat-proofs")
    assert out == "false\n"
    code, _, err = run(capsys, "supports", "--no-such-thing")
    assert code != EXIT_OK and "Traceback" not in err


def test_name(capsys):
    assert run(capsys, "--name")[:2] == (EXIT_OK, "verinet\n")


# -- models outside the piecewise-linear IR: the interval engine --------------------------

def sigmoid_net(path: Path) -> Path:
    return save_model(path, [helper.make_node("MatMul", ["x", "W"], ["h"]),
                             helper.make_node("Sigmoid", ["h"], ["y"])],
                      {"W": [[1, 1], [1, -1]]}, 2, 2)


@pytest.mark.parametrize("bound, expected", [(0.85, "sat"), (0.9, "unsat")])
def test_sigmoid_by_interval_bounds(tmp_path, capsys, bound, expected):
    # sigmoid(x0 + x1) <= sigmoid(2) = 0.8808 on the box
    net = sigmoid_net(tmp_path / "s.onnx")
    q = query(tmp_path / "q.vnnlib", BOX + f"(assert (>= Y[0] {bound}))\n")
    code, out, err = run(capsys, "verify", q, "--network", f"N={net}", "--timeout", "10")
    assert out.splitlines()[0] == expected, err
    assert "deciding by interval bounds" in err
    if expected == "sat":
        x = assignment(out)["X"][2]
        assert 1 / (1 + np.exp(-(x[0] + x[1]))) >= bound - 1e-6


def step_net(path: Path) -> Path:
    """y = [where(x0 > 0.5, 10, x1), float(int64(4 x1))]."""
    nodes = [helper.make_node("Gather", ["x", "i0"], ["x0"], axis=0),
             helper.make_node("Gather", ["x", "i1"], ["x1"], axis=0),
             helper.make_node("Greater", ["x0", "half"], ["c"]),
             helper.make_node("Where", ["c", "ten", "x1"], ["w"]),
             helper.make_node("Mul", ["x1", "four"], ["x4"]),
             helper.make_node("Cast", ["x4"], ["xi"], to=TensorProto.INT64),
             helper.make_node("Cast", ["xi"], ["xf"], to=TensorProto.FLOAT),
             helper.make_node("Concat", ["w", "xf"], ["y"], axis=0)]
    g = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
        initializer=[numpy_helper.from_array(np.array([0], np.int64), "i0"),
                     numpy_helper.from_array(np.array([1], np.int64), "i1"),
                     numpy_helper.from_array(np.array([0.5], np.float32), "half"),
                     numpy_helper.from_array(np.array([10.0], np.float32), "ten"),
                     numpy_helper.from_array(np.array([4.0], np.float32), "four")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, path)
    return path


@pytest.mark.parametrize("body, expected", [
    ("(assert (>= Y[0] 9))\n", "sat"),          # x0 > 0.5 gives 10
    # x0 <= 0.5 makes the condition false on the whole box: y0 = x1 <= 1
    ("(assert (and (>= Y[0] 2) (<= Y[0] 9) (<= X[0] 0.5)))\n", "unsat"),
    ("(assert (and (>= Y[0] 2) (<= Y[0] 9) (<= X[0] 0.5) (>= X[1] 0)))\n", "unsat"),
    ("(assert (>= Y[1] 4))\n", "sat"),          # x1 = 1: trunc(4) = 4
    ("(assert (> Y[1] 4))\n", "unsat"),         # strict, and the bound is exact
    ("(assert (>= Y[1] 4.5))\n", "unsat"),
    ("(assert (and (>= Y[1] -0.5) (<= Y[1] 0.5) (>= X[1] 0.5)))\n", "unsat"),  # 4 x1 >= 2
])
def test_step_functions_by_interval_bounds(tmp_path, capsys, body, expected):
    net = step_net(tmp_path / "w.onnx")
    q = query(tmp_path / "q.vnnlib", BOX + body)
    code, out, err = run(capsys, "verify", q, "--network", f"N={net}", "--timeout", "10")
    assert out.splitlines()[0] == expected, err
    assert code == (EXIT_VIOLATED if expected == "sat" else EXIT_OK)


def test_unsupported_operator_is_refused_by_name(tmp_path, capsys):
    net = save_model(tmp_path / "e.onnx", [helper.make_node("Erf", ["x"], ["y"])], {}, 2, 2)
    q = query(tmp_path / "q.vnnlib", BOX + "(assert (>= Y[0] 3))\n")
    code, out, err = run(capsys, "verify", q, "--network", f"N={net}")
    assert out == "" and code != EXIT_OK
    assert "(Erf)" in err and "N/" in err and str(q) in err and "query.onnx" not in err


def test_products_of_variables(tmp_path, capsys):
    net = relu_net(tmp_path / "n.onnx")
    q = query(tmp_path / "q.vnnlib", BOX + "(assert (>= (* X[0] X[1]) 0.81))\n")
    code, out, err = run(capsys, "verify", q, "--network", f"N={net}", "--timeout", "10")
    assert out.splitlines()[0] == "sat", err
    x = assignment(out)["X"][2]
    assert x[0] * x[1] >= 0.81
    q = query(tmp_path / "q.vnnlib", BOX + "(assert (>= (* X[0] X[1]) 1.01))\n")
    code, out, err = run(capsys, "verify", q, "--network", f"N={net}", "--timeout", "10")
    assert out == "unsat\n", err


def test_unconstrained_input_read_by_a_constrained_output_is_not_an_unsat(tmp_path, capsys):
    net = relu_net(tmp_path / "n.onnx")
    # X[1] is free: with it pinned to 0, relu(x0 + x1) <= 1 < 1.5; not a proof
    q = query(tmp_path / "q.vnnlib", "(assert (and (>= X[0] -1) (<= X[0] 1)))\n"
              "(assert (>= Y[0] 1.5))\n")
    code, out, err = run(capsys, "verify", q, "--network", f"N={net}", "--timeout", "10")
    assert (code, out) == (EXIT_UNKNOWN, "unknown\n")
    assert "X[1]" in err and "bound it in the query" in err


def test_unconstrained_input_no_row_reads(tmp_path, capsys):
    # y0 = relu(x0) does not read x1: the unsat holds for every x1
    net = save_model(tmp_path / "m.onnx", [helper.make_node("MatMul", ["x", "W"], ["h"]),
                                          helper.make_node("Relu", ["h"], ["y"])],
                     {"W": [[1, 1], [0, -1]]}, 2, 2)
    q = query(tmp_path / "q.vnnlib", "(assert (and (>= X[0] -1) (<= X[0] 1)))\n"
              "(assert (>= Y[0] 1.5))\n")
    code, out, err = run(capsys, "verify", q, "--network", f"N={net}", "--timeout", "10")
    assert (code, out) == (EXIT_OK, "unsat\n"), err
