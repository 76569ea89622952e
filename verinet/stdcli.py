"""The VNN-LIB 2.0 standard solver interface on the ``verinet`` executable.

Two commands, as the standard's command-line chapter gives them::

    verinet verify QUERY --network NAME=PATH [--network NAME=PATH ...] [--timeout T]
    verinet supports --CAPABILITY
    verinet --name

``verify`` is told apart from verinet's own ``verify MODEL --vnnlib PROP`` form by
``--network`` (the standard form always has one, a query declaring at least one network
with a file) — or by a positional file that is a 2.0 query, which then gets a clear
error asking for ``--network``.  Output: the first stdout line is ``sat``, ``unsat``,
``unknown`` or ``timed-out``; after ``sat`` come the assignment of every declared tensor
in declaration order (``NAME TYPE [DIMS]`` and one value per line, row-major), the
inputs as verinet found them and the hidden nodes and outputs as onnxruntime computes
them from those inputs.  Messages go to stderr, one line each.  ``T`` may be a decimal
and covers reading, composing and solving.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence

import numpy as np

__all__ = ["is_standard_verify", "verify_main", "CAPABILITIES", "capability_lines"]

#: Every ``supports`` capability and what verinet answers to it (see ``capability_lines``).
CAPABILITIES = ("--onnx-opset-versions", "--onnx-element-types", "--onnx-operators",
                "--vnnlib-versions", "--hidden-node-theories",
                "--multiple-input-output-theories", "--multiple-network-theories",
                "--multiple-node-comparison-theories", "--arithmetic-complexity-theories",
                "--optimised-disjunctive-reasoning", "--serialise-assignments",
                "--unsat-proofs")

_STATUS = {"sat": "sat", "unsat": "unsat", "unknown": "unknown", "timeout": "timed-out",
           "error": "unknown"}


def capability_lines(capability: str) -> list[str]:
    """The lines ``verinet supports CAPABILITY`` prints."""
    if capability == "--onnx-opset-versions":
        import onnx.defs

        return ["7", str(onnx.defs.onnx_opset_version())]
    if capability == "--onnx-element-types":
        return ["real", "float32 * sat witnesses are replayed in float32 by onnxruntime; "
                "unsat is proved for the network as it runs in float32 (piecewise-linear "
                "models) or for its real-valued function (the interval engine)"]
    if capability == "--onnx-operators":
        from .network.onnx_interval import INTERVAL_OPS
        from .network.onnx_ops import CONVERTERS

        # the IR's operators, and those only the interval engine bounds (docs/vnnlib2.md)
        return sorted(set(CONVERTERS) | set(INTERVAL_OPS))
    if capability == "--vnnlib-versions":
        return ["1.0", "2.0"]
    if capability == "--hidden-node-theories":
        return ["NH", "H"]
    if capability == "--multiple-input-output-theories":
        return ["SIO", "MIO"]
    if capability == "--multiple-network-theories":
        return ["SNET", "MNET", "MENET", "MINET"]
    if capability == "--multiple-node-comparison-theories":
        return ["SNC", "MNC"]
    if capability == "--arithmetic-complexity-theories":
        return ["BND", "OUTC", "LIN", "POLY"]
    if capability in ("--optimised-disjunctive-reasoning", "--serialise-assignments",
                      "--unsat-proofs"):
        return ["false"]
    raise KeyError(capability)


def is_standard_verify(args: Sequence[str]) -> bool:
    """Whether ``verify ARGS`` is the standard form (see the module docstring)."""
    if any(a == "--network" or a.startswith("--network=") for a in args):
        return True
    if any(a in ("--vnnlib", "--eps") or a.startswith(("--vnnlib=", "--eps=")) for a in args):
        return False
    first = next((a for a in args if not a.startswith("-")), None)
    if first is None or not os.path.isfile(first) or first.endswith((".onnx", ".nnet")):
        return False
    try:
        with open(first, encoding="utf-8", errors="replace") as f:
            head = f.read(65536)
    except OSError:
        return False
    from .spec.vnnlib2 import is_vnnlib2

    return is_vnnlib2(head)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="verinet verify",
        description="Decide a VNN-LIB 2.0 query (the standard solver interface).")
    p.add_argument("query", metavar="QUERY", help="the VNN-LIB 2.0 query file")
    p.add_argument("--network", action="append", default=[], metavar="NAME=PATH",
                   help="the ONNX file of a declared network (once per network that is not "
                        "equal-to another)")
    p.add_argument("--timeout", default="60", metavar="T",
                   help="seconds for the whole run, a decimal allowed (default: 60)")
    p.add_argument("--strategy", choices=("auto", "input", "relu", "smt"), default="auto",
                   help="the complete search (default: auto)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="worker processes for a query still open after a 2 s warm-up "
                        "(default: every core this process may use)")
    return p


def _networks(items: list[str]) -> dict[str, str]:
    from .errors import InputError

    out: dict[str, str] = {}
    for it in items:
        name, sep, path = it.partition("=")
        if not sep or not name or not path:
            raise InputError(f"--network {it!r}: expected NAME=PATH")
        if name in out:
            raise InputError(f"--network {name}=... is given twice")
        out[name] = path
    return out


def _timeout(text: str) -> float:
    from .cli import check_seconds
    from .errors import InputError

    try:
        t = float(text)
    except ValueError:
        raise InputError(f"--timeout {text!r}: expected a number of seconds greater "
                         "than 0") from None
    return check_seconds(t)


def verify_main(argv: Sequence[str]) -> int:
    """``verinet verify QUERY --network ...``; returns the exit code (0 unsat, 10 sat,
    20 unknown or timed-out, 2-6 errors as in verinet's table)."""
    from . import cli

    try:
        args = _parser().parse_args(list(argv))
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else cli.EXIT_USAGE
    if args.jobs is not None and args.jobs < 1:
        cli._error("--jobs must be at least 1")
        return cli.EXIT_USAGE
    start = time.monotonic()
    try:
        with warnings.catch_warnings():  # a warning is one "verinet: warning:" line
            warnings.simplefilter("default", UserWarning)
            warnings.showwarning = cli._show_warning
            status, lines = _decide(args, start)
    except cli.VerinetError as exc:
        cli._error(str(exc))
        return cli.exit_code_for(exc)
    except KeyboardInterrupt:
        print("verinet: interrupted", file=sys.stderr)
        return cli.EXIT_INTERRUPTED
    except Exception as exc:  # the last line of defence: one line
        cli._error(f"internal error: {type(exc).__name__}: {exc}; {cli._REPORT_HINT}")
        return cli.EXIT_INTERNAL
    print("\n".join([status, *lines]))
    sys.stdout.flush()
    return {"unsat": cli.EXIT_OK, "sat": cli.EXIT_VIOLATED}.get(status, cli.EXIT_UNKNOWN)


def _decide(args: argparse.Namespace, start: float) -> tuple[str, list[str]]:
    from .errors import VerinetError
    from .network.compose import compose
    from .spec.vnnlib2 import read_query

    timeout = _timeout(args.timeout)
    paths = _networks(args.network)
    query = read_query(args.query)
    model = compose(query, paths)
    with tempfile.TemporaryDirectory(prefix="verinet-query-") as tmp:
        joint = os.path.join(tmp, "query.onnx")
        import onnx

        onnx.save(model, joint)
        label = ", ".join(f"{n}={p}" for n, p in paths.items()) or "no file"
        try:
            return _solve(args, query, model, joint, start + timeout,
                          f"the networks of {args.query} ({label})")
        except VerinetError as exc:  # messages name the user's files, not the joined model
            exc.args = (str(exc).replace(joint, f"the networks of {args.query} ({label})"),)
            raise


def _solve(args, query, model, joint: str, deadline: float,
           shown: str) -> tuple[str, list[str]]:
    """The piecewise-linear engines; models or properties they refuse go to the
    interval engine when it can take them (see :func:`_solve_by_intervals`)."""
    from .config import SearchConfig, VerifierConfig
    from .errors import ModelLoadError
    from .network.onnx_import import from_model
    from .network.output_transform import SoftmaxPropertyError
    from .parallel import usable_cores, verify_parallel
    from .result import Status
    from .verify import verify

    try:
        network = from_model(model, joint)
        left = deadline - time.monotonic()
        if left <= 0:
            return "timed-out", []
        config = VerifierConfig(search=SearchConfig(strategy=args.strategy), seed=args.seed)
        jobs = usable_cores() if args.jobs is None else args.jobs
        result = (verify_parallel(network, query.prop, timeout=left, config=config, jobs=jobs)
                  if jobs > 1 else verify(network, query.prop, timeout=left, config=config))
    except (ModelLoadError, SoftmaxPropertyError) as exc:
        return _solve_by_intervals(args, query, model, joint, deadline, exc, shown)
    if result.status is Status.UNSAT and query.free_inputs:
        read = _free_inputs_read(network, query)
        if read:
            print(f"verinet: unknown: no input of the query bounds {read}, and a constrained "
                  "output depends on it; the unsat found with it pinned to 0 is not a proof "
                  "for every value: bound it in the query", file=sys.stderr)
            return "unknown", []
    if result.status is not Status.SAT:
        if result.reason:
            print(f"verinet: {result.status.value}: {result.reason}", file=sys.stderr)
        return _STATUS[result.status.value], []
    y = _onnx_outputs(joint, result.counterexample.x)
    return "sat", _assignment(query, result.counterexample.x, y)


#: The interval engine splits inputs: beyond this many it is not tried.
INTERVAL_MAX_INPUTS = 64


def _solve_by_intervals(args, query, model, joint: str, deadline: float,
                        refusal: Exception, shown: str) -> tuple[str, list[str]]:
    """Interval bounds and float32 sampling (:mod:`verinet.search.graph_split`) for a
    model with operators outside the IR, or a property the IR cannot read exactly.
    ``refusal`` is raised again when that engine cannot take the model either."""
    from .errors import UnsupportedOperatorError
    from .network.onnx_interval import IntervalGraph
    from .search.graph_split import graph_split

    if query.prop.n_inputs > INTERVAL_MAX_INPUTS:
        raise refusal
    try:
        graph = IntervalGraph(model, joint)
    except UnsupportedOperatorError:
        raise refusal from None
    why = str(refusal).replace(joint, shown)
    print(f"verinet: note: {why}; deciding by interval bounds and float32 sampling "
          "instead", file=sys.stderr)
    session = _session(joint)

    def run(x: np.ndarray) -> np.ndarray:
        return _run_session(session, x)

    try:
        cases = query.prop.cases
        groups = graph.softmax_groups(cases[0].box.lower, cases[0].box.upper) if cases \
            else None
        out = graph_split(graph.evaluate, run, query.prop, deadline, seed=args.seed,
                          groups=groups)
    except UnsupportedOperatorError:
        raise refusal from None
    if out.status == "sat":
        return "sat", _assignment(query, out.x, run(out.x))
    if out.status == "unsat" and query.free_inputs:
        print(f"verinet: unknown: no constraint bounds {_input_names(query, query.free_inputs)}"
              "; the unsat found with them pinned to 0 is not a proof for every value: "
              "bound them in the query", file=sys.stderr)
        return "unknown", []
    if out.reason:
        print(f"verinet: {out.status}: {out.reason}", file=sys.stderr)
    return _STATUS[out.status], []


def _input_names(query, flat: Sequence[int]) -> str:
    from .spec.vnnlib2 import tensor_of

    names = [tensor_of(query.tensors, "X", k).element(k) for k in flat]
    return ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")


def _free_inputs_read(network, query) -> str:
    """The unconstrained inputs some constrained output depends on (names), or ``""``.

    An unconstrained input is pinned to 0 in the property; if no output that a row
    reads depends on it (structurally, see ``verify._output_dependence``), its value
    cannot change any row, and the ``unsat`` holds for every value of it.
    """
    from .verify import _output_dependence

    dep = _output_dependence(network)
    free = list(query.free_inputs)
    if dep is None:
        return _input_names(query, free)
    read = np.zeros(network.n_outputs, dtype=bool)
    for case in query.prop.cases:
        for conj in case.bad:
            read |= np.any(conj.A_out != 0, axis=0)
    hit = [k for k in free if np.any(dep[k, read] != 0)]
    return _input_names(query, hit) if hit else ""


def _session(path: str):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])


def _run_session(session, x: np.ndarray) -> np.ndarray:
    from .network.compose import JOINT_INPUT

    out = session.run(None, {JOINT_INPUT: np.asarray(x, dtype=np.float32)})[0]
    return np.asarray(out, dtype=np.float64).reshape(-1)


def _onnx_outputs(path: str, x: np.ndarray) -> np.ndarray:
    return _run_session(_session(path), x)


def _value(v: float, dtype: str) -> str:
    if dtype.startswith(("int", "uint")):
        return str(int(v))
    if dtype == "bool":
        return "true" if v else "false"
    if dtype == "float32":
        return repr(float(np.float32(v)))
    return repr(float(v))


def _assignment(query, x: np.ndarray, y: np.ndarray) -> list[str]:
    lines = []
    for t in query.tensors:
        src = x if t.kind == "input" else y
        lines.append(f"{t.name} {t.dtype} [{','.join(str(d) for d in t.shape)}]")
        lines.extend(_value(v, t.dtype) for v in src[t.offset:t.offset + t.size])
    return lines
