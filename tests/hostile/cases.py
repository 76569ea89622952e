"""The hostile-input catalogue: malformed and unusual models, properties and command lines,
each with the outcomes that count as handled well.

A :class:`Case` writes its files into a fresh folder, runs one ``verinet`` command line and
states what a serious verifier must do with it: exit with a code from the documented table
(:data:`ALLOWED`), name the file/node/row in its message (``words``), stay within its time
budget, and, where the answer is known (``truth``), never contradict it.  ``classify``
turns a run into one verdict: ``ok``, ``wrong`` (an answer contradicting the truth),
``lost`` (no answer and no clear error: an internal error, a traceback, a crash, a signal),
``over-budget``, or ``bad-error`` (a refusal with the wrong code or an unclear message).

Used by ``test_hostile.py`` (in-process and, for the ``slow`` part, in subprocesses) and by
``scripts/hostile_report.py``, which prints the counts.
"""

from __future__ import annotations

import io
import os
import random
import re
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto

from . import models as M

__all__ = ["Case", "CASES", "Outcome", "run_case", "classify", "ALLOWED"]

#: Every exit code ``verinet`` documents, except 1 (internal error: a bug by definition).
ALLOWED = frozenset({0, 2, 3, 4, 5, 6, 10, 11, 20, 130})
_ANSWER = {0: "unsat", 10: "sat"}


@dataclass(frozen=True)
class Case:
    """One hostile input.

    ``files`` maps a file name to its bytes (or to a function of the case folder that
    writes it); ``argv`` is the command line after ``verinet``, where ``{d}`` stands for
    the case folder.  ``codes``: the exit codes that count as right; ``truth``: the known
    answer (``sat``/``unsat``) when one exists, so that exit 0/10 must agree with it;
    ``words``: regular expressions the output (stdout + stderr) must match; ``budget``:
    seconds of wall time allowed, start-up excluded.
    """

    name: str
    files: dict[str, bytes | Callable[[Path], None]]
    argv: tuple[str, ...]
    codes: frozenset[int]
    truth: str | None = None
    words: tuple[str, ...] = ()
    budget: float = 30.0
    slow: bool = False
    subprocess_only: bool = False


@dataclass
class Outcome:
    code: int
    out: str
    err: str
    wall: float
    verdict: str = ""
    why: str = ""
    extra: dict = field(default_factory=dict)


def _onnx(m: onnx.ModelProto) -> bytes:
    return m.SerializeToString()


def _prop(bounds: list[tuple[float, float]], n_out: int, bad: str, extra: str = "") -> bytes:
    """A VNN-LIB 1.0 property: ``bounds`` on ``X_i``, the bad region ``bad`` (a formula)."""
    lines = [f"(declare-const X_{i} Real)" for i in range(len(bounds))]
    lines += [f"(declare-const Y_{j} Real)" for j in range(n_out)]
    for i, (lo, hi) in enumerate(bounds):
        lines.append(f"(assert (>= X_{i} {lo!r}))")
        lines.append(f"(assert (<= X_{i} {hi!r}))")
    lines.append(f"(assert {bad})")
    return ("\n".join(lines) + "\n" + extra).encode()


def _verify(*extra: str, timeout: float = 10) -> tuple[str, ...]:
    return ("verify", "{d}/m.onnx", "--vnnlib", "{d}/p.vnnlib", "--timeout", str(timeout),
            *extra)


ANSWER = frozenset({0, 10})
REFUSE_MODEL = frozenset({3})
REFUSE_PROP = frozenset({4})


def _case(name, model, prop, codes, truth=None, words=(), argv=None, timeout=10, **kw) -> Case:
    files = {}
    if model is not None:
        files["m.onnx"] = model if isinstance(model, bytes) else _onnx(model)
    if prop is not None:
        files["p.vnnlib"] = prop
    return Case(name, files, tuple(argv or _verify(timeout=timeout)), frozenset(codes), truth,
                tuple(words), budget=timeout + 2.0, **kw)


# ---------------------------------------------------------------------------- the cases
def _softmax_cases() -> list[Case]:
    sm = M.softmax_head()
    lsm = M.softmax_head("LogSoftmax")
    box_low = [(-3.0, -2.0)] * 3
    row_words = (r"final_softmax", r"(row|conjunction)")
    cases = [
        # thresholds, sums and offsets are not about the order of the logits
        _case("softmax-threshold", sm, _prop(box_low, 3, "(>= Y_1 0.01)"), {4, 10}, "sat",
              row_words),
        _case("softmax-sum", sm, _prop([(0.0, 0.1)] * 3, 3, "(>= (+ Y_0 Y_1) 0.5)"), {4, 10},
              "sat", row_words),
        _case("softmax-offset", sm,
              _prop([(1.0, 1.1), (0.0, 0.1), (5.0, 6.0)], 3, "(<= (- Y_0 Y_1) 0.06)"),
              {4, 10}, "sat", row_words),
        _case("logsoftmax-threshold", lsm, _prop(box_low, 3, "(>= Y_0 -1.2)"), {4, 10}, "sat",
              row_words),
        # pairwise comparisons of the softmax axis: the logits decide them
        _case("softmax-pairwise-unsat", sm,
              _prop([(0.0, 1.0), (2.0, 3.0), (0.0, 1.0)], 3, "(>= Y_0 Y_1)"), ANSWER, "unsat"),
        _case("softmax-pairwise-sat", sm,
              _prop([(0.0, 2.0), (1.0, 3.0), (0.0, 1.0)], 3, "(>= Y_0 Y_1)"), ANSWER, "sat"),
        _case("logsoftmax-pairwise-unsat", lsm,
              _prop([(0.0, 1.0), (2.0, 3.0), (0.0, 1.0)], 3,
                    "(or (>= Y_0 Y_1) (>= Y_2 Y_1))"), ANSWER, "unsat"),
        # a softmax over axis 1 of [1, 2, 3]: Y_0 and Y_1 lie in different groups
        _case("softmax-other-axis", M.softmax_grouped(),
              _prop([(0.0, 0.1), (1.0, 1.1), (0.0, 0.0), (-4.0, -3.0), (2.0, 3.0), (0.0, 0.0)],
                    6, "(>= Y_0 Y_1)"), {4, 10}, "sat", (r"softmax_axis1",)),
    ]
    return cases


def _import_cases() -> list[Case]:
    f16 = _prop([(1.0001, 1.0004)], 1, "(<= Y_0 1.0)")
    nan_w = M.dense([(np.array([[np.nan, 1.0]]), np.zeros(1))])
    inf_w = M.dense([(np.array([[1.0, 2.0]]), np.array([np.inf]))])
    big = M.dense([(np.full((2, 2), 1e38), np.zeros(2)), (np.full((1, 2), 1e38), np.zeros(1))])
    huge64 = M.dense([(np.full((2, 2), 1e200), np.zeros(2)), (np.full((1, 2), 1e200),
                                                               np.zeros(1))], dtype=np.float64)
    two = _prop([(0.0, 1.0), (0.0, 1.0)], 1, "(>= Y_0 0.0)")
    clip_p = [(-1.0, 1.0), (-1.0, 1.0)]
    cases = [
        _case("cast-float16", M.cast_f16(), f16, {3, 10}, "sat", (r"cast_down|Cast",)),
        _case("cast-bfloat16", M.cast_f16(TensorProto.BFLOAT16), f16, {3, 10}, "sat",
              (r"cast_down|Cast",)),
        _case("nan-weight", nan_w, two, REFUSE_MODEL, words=(r"W1",)),
        _case("inf-bias", inf_w, _prop([(0.0, 1.0), (0.0, 1.0)], 1, "(>= Y_0 0.0)"),
              REFUSE_MODEL, words=(r"B1",)),
        _case("overflowing-weights-verify", big,
              _prop([(0.5, 1.0), (0.5, 1.0)], 1, "(<= Y_0 0.0)"), {0, 3, 5, 20}, "unsat"),
        _case("float32-overflow-eval", big, None, {0, 3, 5},
              words=(r"finite|overflow",), argv=("eval", "{d}/m.onnx", "--input", "1,1")),
        _case("float64-overflow-eval", huge64, None, {3, 5},
              words=(r"finite|overflow",), argv=("eval", "{d}/m.onnx", "--input", "1,1")),
        _case("float64-overflow-verify", huge64,
              _prop([(0.5, 1.0), (0.5, 1.0)], 1, "(<= Y_0 0.0)"), {0, 3, 5, 20}, "unsat"),
        _case("clip-unsat", M.clip_abs("Clip"), _prop(clip_p, 2, "(>= Y_0 0.3)"), ANSWER,
              "unsat"),
        _case("clip-sat", M.clip_abs("Clip"), _prop(clip_p, 2, "(>= Y_0 0.2)"), ANSWER, "sat"),
        _case("clip-floor-unsat", M.clip_abs("Clip"), _prop(clip_p, 2, "(<= Y_0 -0.6)"),
              ANSWER, "unsat"),
        _case("abs-unsat", M.clip_abs("Abs"), _prop(clip_p, 2, "(<= Y_1 -0.01)"), ANSWER,
              "unsat"),
        _case("abs-sat", M.clip_abs("Abs"), _prop(clip_p, 2, "(>= Y_0 0.9)"), ANSWER, "sat"),
        _case("abs-smt-unsat", M.clip_abs("Abs"),
              _prop(clip_p, 2, "(and (<= Y_0 0.1) (>= X_0 0.2))"), ANSWER, "unsat",
              argv=_verify("--strategy", "smt")),
        _case("abs-relu-unsat", M.clip_abs("Abs"),
              _prop(clip_p, 2, "(and (<= Y_0 0.1) (>= X_0 0.2))"), ANSWER, "unsat",
              argv=_verify("--strategy", "relu")),
        _case("sigmoid-refused", M.unary("Sigmoid"), _prop(clip_p, 2, "(>= Y_0 0.9)"),
              REFUSE_MODEL, words=(r"the_sigmoid", r"Sigmoid")),
        _case("tanh-refused", M.unary("Tanh"), _prop(clip_p, 2, "(>= Y_0 0.9)"),
              REFUSE_MODEL, words=(r"the_tanh",)),
        _case("two-inputs", M.two_inputs(), _prop(clip_p, 2, "(>= Y_0 0.9)"), REFUSE_MODEL,
              words=(r"input",)),
    ]
    return cases


def _write_external(d: Path) -> None:
    m = M.dense([(np.eye(40), np.zeros(40))])
    onnx.save_model(m, str(d / "m.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="m.weights", size_threshold=16)


def _write_external_missing(d: Path) -> None:
    _write_external(d)
    (d / "m.weights").unlink()


def _file_cases() -> list[Case]:
    good = _onnx(M.dense([(np.eye(2), np.zeros(2))]))
    p2 = _prop([(0.0, 1.0), (0.0, 1.0)], 2, "(>= Y_0 2.0)")
    ext_prop = _prop([(0.0, 1.0)] * 40, 40, "(>= Y_3 1.5)")
    cases = [
        _case("truncated-onnx", good[: len(good) // 2], p2, REFUSE_MODEL, words=(r"m\.onnx",)),
        _case("empty-onnx", b"", p2, REFUSE_MODEL, words=(r"m\.onnx",)),
        _case("text-as-onnx", b"this is not a model\n", p2, REFUSE_MODEL, words=(r"m\.onnx",)),
        _case("missing-model", None, p2, REFUSE_MODEL, words=(r"m\.onnx",)),
        Case("directory-as-model", {"p.vnnlib": p2, "m.onnx/x": b""}, _verify(),
             REFUSE_MODEL, words=(r"m\.onnx", r"directory")),
        Case("directory-as-property", {"m.onnx": good, "p.vnnlib/x": b""}, _verify(),
             REFUSE_PROP, words=(r"p\.vnnlib",)),
        Case("external-data", {"m.onnx": _write_external, "p.vnnlib": ext_prop}, _verify(),
             ANSWER, "unsat"),
        Case("external-data-missing", {"m.onnx": _write_external_missing, "p.vnnlib": ext_prop},
             _verify(), REFUSE_MODEL, words=(r"m\.weights",)),
    ]
    rng = random.Random(20261203)
    for k in range(12):
        data = bytearray(good)
        for _ in range(1 + k % 4):
            pos = rng.randrange(len(data))
            data[pos] ^= 1 << rng.randrange(8)
        cases.append(_case(f"bitflip-onnx-{k}", bytes(data), p2, ALLOWED - {6, 11}))
    for k, frac in enumerate((0.1, 0.3, 0.6, 0.9, 0.99)):
        cases.append(_case(f"truncated-onnx-{k}", good[: int(len(good) * frac)], p2,
                           REFUSE_MODEL, words=(r"m\.onnx",)))
    return cases


def _property_cases() -> list[Case]:
    ident1 = M.identity(1)
    ident2 = M.identity(2)
    v2 = b"""(vnnlib-version <2.0>)
(declare-network f (declare-input X float32 [1,2]) (declare-output Y float32 [1,2]))
(assert (<= X[0,0] 1.0))
(assert (>= Y[0,1] 3.0))
"""
    b2 = [(0.0, 1.0), (0.0, 1.0)]
    cases = [
        _case("strict-identity", ident1, _prop([(0.0, 1.0)], 1, "(< Y_0 X_0)"), ANSWER,
              "unsat"),
        _case("strict-identity-smt", ident1, _prop([(0.0, 1.0)], 1, "(< Y_0 X_0)"), ANSWER,
              "unsat", argv=_verify("--strategy", "smt")),
        _case("strict-identity-relu", ident1, _prop([(0.0, 1.0)], 1, "(< Y_0 X_0)"), ANSWER,
              "unsat", argv=_verify("--strategy", "relu")),
        _case("strict-identity-input", M.identity(2),
              _prop([(0.0, 1.0), (-1.0, 1.0)], 2, "(and (< Y_0 X_0) (<= Y_1 0.5))"), ANSWER,
              "unsat", argv=_verify("--strategy", "input")),
        _case("strict-input-bound", ident1, _prop([(0.0, 1.0)], 1, "(and (< X_0 1.0) "
                                                   "(>= Y_0 1.0))"), ANSWER, "unsat"),
        _case("nonstrict-identity", ident1, _prop([(0.0, 1.0)], 1, "(<= Y_0 X_0)"), ANSWER,
              "sat"),
        _case("strict-bound-sat", ident1, _prop([(0.0, 1.0)], 1, "(> Y_0 0.5)"), ANSWER, "sat"),
        _case("strict-at-corner", ident1, _prop([(0.0, 1.0)], 1, "(> Y_0 1.0)"), ANSWER,
              "unsat"),
        _case("vnnlib-2", ident2, v2, REFUSE_PROP, words=(r"VNN-LIB 2\.0", r"p\.vnnlib")),
        _case("huge-box", ident1, _prop([(-1e300, 1e300)], 1, "(>= Y_0 0.0)"), {4, 10, 20},
              "sat"),
        _case("huge-box-unsat", ident1, _prop([(-1e300, 1e300)], 1, "(>= (- Y_0 X_0) 1.0)"),
              {0, 4, 20}, "unsat"),
        _case("overflowing-literal", ident1, _prop([(0.0, 1.0)], 1, "(>= Y_0 1e400)"),
              REFUSE_PROP, words=(r"p\.vnnlib",)),
        _case("nan-literal", ident1, _prop([(0.0, 1.0)], 1, "(>= Y_0 nan)"), REFUSE_PROP,
              words=(r"p\.vnnlib",)),
        _case("binary-property", ident1, bytes(range(256)) * 4, REFUSE_PROP,
              words=(r"p\.vnnlib",)),
        _case("empty-property", ident1, b"", REFUSE_PROP, words=(r"p\.vnnlib",)),
        _case("size-mismatch", ident2, _prop([(0.0, 1.0)], 1, "(>= Y_0 0.5)"), REFUSE_PROP,
              words=(r"p\.vnnlib",)),
        _case("unbounded-input", ident1,
              b"(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(assert (>= X_0 0))\n"
              b"(assert (>= Y_0 1))\n", REFUSE_PROP, words=(r"p\.vnnlib", r"X_0")),
        _case("unbalanced-parens", ident1, _prop(b2[:1], 1, "(>= Y_0 0.5")[:-1], REFUSE_PROP,
              words=(r"p\.vnnlib:\d+",)),
        _case("deep-nesting", ident1,
              _prop([(0.0, 1.0)], 1, "(or " * 400 + "(>= Y_0 0.5)" + ")" * 400), REFUSE_PROP,
              words=(r"p\.vnnlib",)),
        _case("empty-box", ident1, _prop([(1.0, 0.0)], 1, "(>= Y_0 0.5)"), {0, 4}, "unsat"),
    ]
    return cases


def _many_boxes(d: Path) -> None:
    lines = [f"(declare-const X_{i} Real)" for i in range(5)]
    lines += [f"(declare-const Y_{j} Real)" for j in range(5)]
    boxes = []
    rng = np.random.default_rng(1)
    for _ in range(10_000):
        c = [float(v) for v in rng.uniform(-0.4, 0.4, size=5)]
        boxes.append("(and " + " ".join(f"(>= X_{i} {c[i] - 0.01!r}) (<= X_{i} {c[i] + 0.01!r})"
                                        for i in range(5)) + ")")
    lines.append("(assert (or " + " ".join(boxes) + "))")
    lines.append("(assert (>= Y_0 100.0))")
    (d / "p.vnnlib").write_text("\n".join(lines) + "\n")


_DEMO = Path(__file__).resolve().parents[2] / "benchmarks" / "demo" / "demo.onnx"


def _budget_cases() -> list[Case]:
    ident1 = M.identity(1)
    p1 = _prop([(0.0, 1.0)], 1, "(>= Y_0 0.5)")
    cases = []
    for t in ("nan", "inf", "-inf", "0", "-1", "1e400", "abc"):
        cases.append(Case(f"timeout-{t}", {"m.onnx": _onnx(ident1), "p.vnnlib": p1},
                          ("verify", "{d}/m.onnx", "--vnnlib", "{d}/p.vnnlib", f"--timeout={t}"),
                          frozenset({2, 5}), words=(r"timeout",), budget=5))
    demo = _DEMO.read_bytes() if _DEMO.is_file() else b""
    cases += [
        Case("many-boxes-attack", {"m.onnx": demo, "p.vnnlib": _many_boxes},
             ("attack", "{d}/m.onnx", "--vnnlib", "{d}/p.vnnlib", "--samples", "10000000",
              "--timeout", "4"), frozenset({10, 20}), budget=5.0, slow=True),
        Case("many-boxes-verify", {"m.onnx": demo, "p.vnnlib": _many_boxes},
             ("verify", "{d}/m.onnx", "--vnnlib", "{d}/p.vnnlib", "--timeout", "5"),
             frozenset({0, 10, 20}), budget=6.0, slow=True),
    ]
    return cases


def _output_cases() -> list[Case]:
    ident1 = _onnx(M.identity(1))
    p_sat = _prop([(0.0, 1.0)], 1, "(>= Y_0 0.5)")
    files = {"m.onnx": ident1, "p.vnnlib": p_sat}
    cases = [
        Case("results-file-is-dir", {**files, "out/x": b""},
             _verify("--results-file", "{d}/out"), frozenset({5}), words=(r"--results-file",)),
        Case("results-file-no-folder", files, _verify("--results-file", "{d}/no/such/r.txt"),
             frozenset({5}), words=(r"--results-file",)),
        Case("cex-out-no-folder", files, _verify("--cex-out", "{d}/no/such/x.npy"),
             frozenset({5}), words=(r"--cex-out",)),
        Case("png-out-is-dir", {**files, "png/x": b""}, _verify("--png-out", "{d}/png"),
             frozenset({5}), words=(r"--png-out",)),
    ]
    if os.path.exists("/dev/full"):
        cases.append(Case("results-file-full-disk", files,
                          _verify("--results-file", "/dev/full"), frozenset({6}), "sat",
                          words=(r"^sat", r"/dev/full")))
    return cases


def _bench_folder(d: Path, timeout: str = "10") -> None:
    (d / "onnx").mkdir(exist_ok=True)
    (d / "vnnlib").mkdir(exist_ok=True)
    (d / "onnx" / "m.onnx").write_bytes(_onnx(M.identity(1)))
    (d / "vnnlib" / "p.vnnlib").write_bytes(_prop([(0.0, 1.0)], 1, "(>= Y_0 0.5)"))
    (d / "instances.csv").write_text(f"onnx/m.onnx,vnnlib/p.vnnlib,{timeout}\n")


def _bench_cases() -> list[Case]:
    def folder_with(timeout):
        return lambda d: _bench_folder(d, timeout)

    cases = [
        Case("bench-out-is-file", {"bench/instances.csv": folder_with("10"), "out": b"x"},
             ("bench", "{d}/bench", "--out", "{d}/out"), frozenset({2, 5, 6}), words=(r"out",)),
        Case("bench-compare-binary", {"a.jsonl": bytes(range(256)), "b.jsonl": b"\x00\xff"},
             ("bench", "compare", "{d}/a.jsonl", "{d}/b.jsonl"), frozenset({2, 5}),
             words=(r"a\.jsonl",)),
        Case("bench-compare-missing", {}, ("bench", "compare", "{d}/a", "{d}/b"),
             frozenset({2, 5}), words=(r"/a\b",)),
    ]
    for t in ("nan", "inf", "-5", "0", "soon"):
        cases.append(Case(f"bench-timeout-{t}", {"bench/instances.csv": folder_with(t)},
                          ("bench", "{d}/bench", "--out", "{d}/out"), frozenset({4, 5}),
                          words=(r"instances\.csv",)))
    return cases


def _structure_cases() -> list[Case]:
    from onnx import helper, numpy_helper

    p2 = _prop([(0.0, 1.0), (0.0, 1.0)], 2, "(>= Y_0 2.0)")
    custom = M.model([helper.make_node("Frobnicate", ["X"], ["Y"], name="frob",
                                       domain="com.example")], [], [1, 2], [1, 2])
    ifnode = M.model([helper.make_node("Relu", ["X"], ["Y"], name="relu")], [], [1, 2], [1, 2])
    mismatch = M.model([helper.make_node("Gemm", ["X", "W"], ["Y"], name="bad_gemm",
                                         transB=1)],
                       [numpy_helper.from_array(np.ones((2, 3), np.float32), "W")], [1, 2],
                       [1, 2])
    const_out = M.model([helper.make_node("Constant", [], ["Y"], name="const",
                                          value=numpy_helper.from_array(
                                              np.ones((1, 2), np.float32)))], [], [1, 2], [1, 2])
    square = M.model([helper.make_node("Mul", ["X", "X"], ["Y"], name="square")], [], [1, 2],
                     [1, 2])
    int_in = M.model([helper.make_node("Cast", ["X"], ["Y"], name="to_float",
                                       to=TensorProto.FLOAT)], [], [1, 2], [1, 2],
                     in_type=TensorProto.INT64)
    no_opset = M.model([helper.make_node("Relu", ["X"], ["Y"], name="relu")], [], [1, 2],
                       [1, 2])
    del no_opset.opset_import[:]
    symbolic = M.model([helper.make_node("Relu", ["X"], ["Y"], name="relu")], [], ["N", 2],
                       ["N", 2])
    cycle = M.model([helper.make_node("Relu", ["X", "Z"], ["Y"], name="a"),
                     helper.make_node("Relu", ["Y"], ["Z"], name="b")], [], [1, 2], [1, 2])
    del ifnode
    eval_argv = ("eval", "{d}/m.onnx", "--input")
    ident2 = _onnx(M.identity(2))
    cases = [
        _case("custom-domain", custom, p2, REFUSE_MODEL, words=(r"frob", r"com\.example")),
        _case("gemm-shape-mismatch", mismatch, p2, REFUSE_MODEL, words=(r"bad_gemm",)),
        _case("constant-output", const_out, p2, REFUSE_MODEL, words=(r'"Y"',)),
        _case("product-of-inputs", square, p2, REFUSE_MODEL, words=(r"square",)),
        _case("integer-input", int_in, p2, REFUSE_MODEL, words=(r"INT64",)),
        _case("no-opset", no_opset, p2, REFUSE_MODEL, words=(r"opset",)),
        _case("symbolic-batch", symbolic, _prop([(0.0, 1.0), (-1.0, 0.0)], 2,
                                                "(>= (+ Y_0 Y_1) 1.5)"), ANSWER, "unsat"),
        _case("graph-cycle", cycle, p2, REFUSE_MODEL, words=(r"cycle",)),
        _case("eval-wrong-size", ident2, None, {5}, words=(r"input|values",),
              argv=eval_argv + ("1,2,3",)),
        _case("eval-nan-input", ident2, None, {5}, words=(r"finite",), argv=eval_argv + ("nan,1",)),
        _case("eval-huge-input", ident2, None, {5}, words=(r"finite",),
              argv=eval_argv + ("1e400,1",)),
        _case("eps-nan", ident2, None, {5}, words=(r"eps",),
              argv=("verify", "{d}/m.onnx", "--eps", "nan", "--input", "0,0")),
        _case("eps-inf", ident2, None, {5}, words=(r"eps",),
              argv=("verify", "{d}/m.onnx", "--eps", "inf", "--input", "0,0")),
        _case("label-out-of-range", ident2, None, {5}, words=(r"label",),
              argv=("verify", "{d}/m.onnx", "--eps", "0.1", "--input", "0,0", "--label", "7")),
        _case("domain-inverted", ident2, None, {5}, words=(r"lower|upper",),
              argv=("verify", "{d}/m.onnx", "--eps", "0.1", "--input", "0,0", "--lower", "1",
                    "--upper", "0")),
    ]
    for name, text in (("garbage", b"hello world"), ("sat-no-values", b"sat\n"),
                       ("sat-nan", b"sat\n((X_0 nan)\n(X_1 0.5))\n"),
                       ("sat-short", b"sat\n((X_0 0.5))\n"), ("binary", bytes(range(256)))):
        cases.append(Case(f"check-cex-{name}", {"m.onnx": ident2, "p.vnnlib": p2, "r.txt": text},
                          ("check-cex", "{d}/m.onnx", "{d}/p.vnnlib", "{d}/r.txt"),
                          frozenset({5, 20}), words=(r"r\.txt|counterexample",)))
    return cases


CASES: list[Case] = (_softmax_cases() + _import_cases() + _file_cases() + _property_cases()
                     + _budget_cases() + _output_cases() + _bench_cases()
                     + _structure_cases())


# ---------------------------------------------------------------------------- running
def materialise(case: Case, d: Path) -> list[str]:
    """Write the case's files under ``d``; the command line with ``{d}`` filled in."""
    for name, content in case.files.items():
        path = d / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if callable(content):
            content(path.parent)
        else:
            path.write_bytes(content)
    return [a.replace("{d}", str(d)) for a in case.argv]


def run_case(case: Case, d: Path, in_process: bool = True, hard_limit: float = 120.0
             ) -> Outcome:
    """Run the case's command line (in this process, or as ``python -m verinet``)."""
    argv = materialise(case, d)
    if in_process and not case.subprocess_only:
        from verinet.cli import main

        out, err = io.StringIO(), io.StringIO()
        t0 = time.monotonic()
        with redirect_stdout(out), redirect_stderr(err), warnings.catch_warnings():
            warnings.simplefilter("default")  # as in a fresh process, not pytest's "error"
            try:
                code = main(argv)
            except SystemExit as exc:  # pragma: no cover - main never exits itself
                code = int(exc.code or 0)
        return Outcome(code, out.getvalue(), err.getvalue(), time.monotonic() - t0)
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t0 = time.monotonic()
    start = subprocess.run([sys.executable, "-c", "import verinet.cli"], env=env, cwd=d,
                           capture_output=True, timeout=hard_limit)
    startup = time.monotonic() - t0
    del start
    t0 = time.monotonic()
    try:
        p = subprocess.run([sys.executable, "-m", "verinet", *argv], env=env, cwd=d,
                           capture_output=True, text=True, timeout=hard_limit)
        code, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as exc:
        code, out, err = -9, str(exc.stdout or ""), "killed: hard limit " + str(hard_limit)
    return Outcome(code, out, err, max(0.0, time.monotonic() - t0 - startup),
                   extra={"startup": startup})


def classify(case: Case, o: Outcome) -> Outcome:
    """Fill in ``o.verdict`` and ``o.why`` (see the module docstring)."""
    text = o.out + o.err
    answer = _ANSWER.get(o.code)
    if o.code in (6,) and case.truth:  # the answer is printed before the failed write
        answer = "sat" if re.search(r"^sat", o.out, re.M) else (
            "unsat" if re.search(r"^unsat", o.out, re.M) else None)
    if "Traceback" in text or o.code < 0 or o.code == 1 or "internal error" in text:
        o.verdict, o.why = "lost", f"exit {o.code}: {o.err.strip()[-300:]}"
    elif answer is not None and case.truth is not None and answer != case.truth:
        o.verdict, o.why = "wrong", f"answered {answer}, the truth is {case.truth}"
    elif o.wall > case.budget:
        o.verdict, o.why = "over-budget", f"{o.wall:.1f} s > {case.budget:.1f} s"
    elif o.code not in case.codes or o.code not in ALLOWED:
        o.verdict, o.why = "bad-error", f"exit {o.code}, want {sorted(case.codes)}: " \
                                        f"{o.err.strip()[-300:]}"
    elif o.code not in (0, 10) and (missing := [w for w in case.words
                                                if not re.search(w, text, re.M)]):
        o.verdict, o.why = "bad-error", f"message lacks {missing}: {o.err.strip()[-300:]}"
    else:
        o.verdict, o.why = "ok", ""
    return o
