"""The ``verinet`` command line: parse, call the API, print, map outcomes to exit codes.

Subcommands live in a registry (:data:`COMMANDS`).  Adding one is a function that
declares its arguments, a function that runs it and returns an exit code, and one
:func:`command` decorator::

    def _frob_arguments(p: argparse.ArgumentParser) -> None:
        p.add_argument("model", help="...")

    @command("frob", help="one line for the command list", arguments=_frob_arguments)
    def _frob(args: argparse.Namespace) -> int:
        ...
        return EXIT_OK

Errors are never printed as tracebacks: a :class:`~verinet.errors.VerinetError` becomes one
line ``verinet: error: <message>`` on stderr and the exit code of its class in
:data:`EXIT_CODE`; anything else is an internal error (exit 1, ``--debug`` shows the
traceback).  Heavy modules (numpy, onnx, the engines) are imported inside the commands so
that ``verinet --help`` and ``verinet --version`` stay fast.
"""

from __future__ import annotations

import argparse
import sys
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from ._version import __version__
from .errors import (
    InputError,
    ModelLoadError,
    SolverError,
    SpecMismatchError,
    SpecParseError,
    UnsupportedOperatorError,
    VerinetError,
)

__all__ = [
    "main",
    "build_parser",
    "command",
    "Command",
    "COMMANDS",
    "EXIT_CODE",
    "exit_code_for",
    "EXIT_OK",
    "EXIT_INTERNAL",
    "EXIT_USAGE",
    "EXIT_BAD_MODEL",
    "EXIT_BAD_PROPERTY",
    "EXIT_BAD_INPUT",
    "EXIT_IO",
    "EXIT_VIOLATED",
    "EXIT_UNKNOWN",
    "EXIT_CEX_INVALID",
    "EXIT_NO_CEX",
    "EXIT_INTERRUPTED",
    "EXIT_BENCH_WRONG",
]

# ------------------------------------------------------------------ exit codes
EXIT_OK = 0            #: success; for ``verify``: verified (``unsat``)
EXIT_INTERNAL = 1      #: an unexpected error inside verinet (a bug: please report it)
EXIT_USAGE = 2         #: bad command line (argparse)
EXIT_BAD_MODEL = 3     #: the model cannot be loaded, or uses an unsupported operator
EXIT_BAD_PROPERTY = 4  #: the property does not parse, or does not fit the model
EXIT_BAD_INPUT = 5     #: another input is malformed (a point, an epsilon, a label)
EXIT_IO = 6            #: an output file could not be written (the answer was still printed)
EXIT_VIOLATED = 10     #: ``verify``, ``attack``: violated (``sat``, counterexample found)
EXIT_UNKNOWN = 20      #: ``verify``: no answer (``unknown`` / ``timeout``); ``attack``: none found
EXIT_CEX_INVALID = 10  #: ``check-cex``: the results file's counterexample is not valid
EXIT_NO_CEX = 20       #: ``check-cex``: the results file holds no counterexample
EXIT_BENCH_WRONG = 11  #: ``bench``: some answer contradicts the benchmark's expected.csv
EXIT_INTERRUPTED = 130  #: interrupted by the user (Ctrl-C)

#: Exit code per error class; a class not listed takes the code of its nearest listed base.
EXIT_CODE: dict[type[BaseException], int] = {
    VerinetError: EXIT_INTERNAL,
    ModelLoadError: EXIT_BAD_MODEL,
    UnsupportedOperatorError: EXIT_BAD_MODEL,
    SpecParseError: EXIT_BAD_PROPERTY,
    SpecMismatchError: EXIT_BAD_PROPERTY,
    InputError: EXIT_BAD_INPUT,
    SolverError: EXIT_INTERNAL,
}

_EXIT_TABLE = f"""\
exit codes:
  {EXIT_OK:<3}  success (verify: verified, the property holds / unsat;
       check-cex: the counterexample is valid)
  {EXIT_VIOLATED:<3}  verify, attack: violated, a counterexample was found (sat);
       check-cex: the counterexample is not valid
  {EXIT_UNKNOWN:<3}  verify: unknown or timeout; attack: none found (not a proof);
       check-cex: the results file holds no counterexample
  {EXIT_BENCH_WRONG:<3}  bench: some answer contradicts expected.csv (a wrong answer)
  {EXIT_USAGE:<3}  usage error (bad command line)
  {EXIT_BAD_MODEL:<3}  the model cannot be loaded or uses an unsupported operator
  {EXIT_BAD_PROPERTY:<3}  the property does not parse or does not fit the model
  {EXIT_BAD_INPUT:<3}  another input is malformed (a point, an epsilon, a label)
  {EXIT_IO:<3}  an output file could not be written (the answer was printed first)
  {EXIT_INTERNAL:<3}  internal error (please report it; --debug shows the traceback)
  {EXIT_INTERRUPTED:<3}  interrupted"""

_EPILOG = f"""\
examples:
  verinet info benchmarks/demo/demo.onnx
  verinet info benchmarks/demo/demo.onnx --vnnlib benchmarks/demo/demo.vnnlib
  verinet eval benchmarks/demo/demo.onnx --input 0.1,0,0,0,-0.2
  verinet eval model.onnx --input points.npy
  verinet attack benchmarks/demo/demo.onnx --eps 0.5 --input 0.1,0,0,0,-0.2
  verinet check-cex model.onnx prop.vnnlib results.txt

{_EXIT_TABLE}
"""

_REPORT_HINT = ("this is a bug in verinet; please report it with the command line and files "
                "(rerun with --debug for the traceback)")


def exit_code_for(exc: BaseException) -> int:
    """The exit code of ``exc``'s class, or of its nearest base listed in :data:`EXIT_CODE`."""
    for cls in type(exc).__mro__:
        if cls in EXIT_CODE:
            return EXIT_CODE[cls]
    return EXIT_INTERNAL


# -------------------------------------------------------------------- registry
Handler = Callable[[argparse.Namespace], int]


@dataclass(frozen=True)
class Command:
    """A subcommand: its name, one-line help, argument declarations and handler."""

    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Handler
    description: str = ""
    epilog: str = ""


#: Subcommands by name, in the order they are listed by ``--help``.
COMMANDS: dict[str, Command] = {}


def command(name: str, *, help: str, arguments: Callable[[argparse.ArgumentParser], None],
            description: str = "", epilog: str = "") -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of subcommand ``name``."""
    def deco(run: Handler) -> Handler:
        assert name not in COMMANDS, f"subcommand {name!r} registered twice"
        COMMANDS[name] = Command(name, help, arguments, run, description or help, epilog)
        return run
    return deco


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one subparser per registered command."""
    parser = argparse.ArgumentParser(
        prog="verinet",
        description="verinet: a formal verifier for ReLU neural networks "
                    "(ONNX and .nnet models, VNN-LIB properties).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"verinet {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of unexpected errors")
    # the same flag after the subcommand; SUPPRESS keeps it from resetting the top-level value
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the full traceback of unexpected errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for cmd in COMMANDS.values():
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.description,
                           epilog=(cmd.epilog + "\n\n" if cmd.epilog else "") + _EXIT_TABLE,
                           formatter_class=argparse.RawDescriptionHelpFormatter,
                           parents=[common])
        cmd.arguments(p)
        p.set_defaults(handler=cmd.run)
    return parser


# ---------------------------------------------------------------- main & output
def _error(message: str, stream: TextIO | None = None) -> None:
    first, *rest = str(message).strip().splitlines() or [""]
    print(f"verinet: error: {first}", file=stream or sys.stderr)
    for line in rest:  # messages are meant to be one line; keep any extra lines indented
        print(f"  {line}", file=stream or sys.stderr)


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: TextIO | None = None, line: str | None = None) -> None:
    print(f"verinet: warning: {message}", file=file or sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    from .interrupt import handled

    with handled():
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list == ["--name"]:  # the VNN-LIB standard's global option
        print("verinet")
        return EXIT_OK
    if args_list[:1] == ["verify"]:
        from . import stdcli

        if stdcli.is_standard_verify(args_list[1:]):
            return stdcli.verify_main(args_list[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(None if argv is None else list(argv))
    except SystemExit as exc:  # --help, --version and usage errors
        code = exc.code
        return code if isinstance(code, int) else (EXIT_OK if code is None else EXIT_USAGE)
    debug = bool(getattr(args, "debug", False))
    with warnings.catch_warnings():
        warnings.simplefilter("default", UserWarning)
        warnings.showwarning = _show_warning
        try:
            return int(args.handler(args))
        except VerinetError as exc:
            if debug:
                traceback.print_exc()
            _error(str(exc))
            return exit_code_for(exc)
        except BrokenPipeError:  # the reader of our output went away (| head)
            return EXIT_OK
        except KeyboardInterrupt:
            print("verinet: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        except Exception as exc:  # the last line of defence: one line, exit 1
            if debug:
                traceback.print_exc()
            _error(f"internal error: {type(exc).__name__}: {exc}; {_REPORT_HINT}")
            return EXIT_INTERNAL


# --------------------------------------------------------------------- helpers
def _load_model(path: str) -> Any:
    from .network import load

    return load(path)


def _load_property(path: str, network: Any) -> Any:
    """Read a VNN-LIB file and check that it fits ``network``."""
    from .network.output_transform import check_property
    from .spec import read_vnnlib

    prop = read_vnnlib(path)
    prop.check_fits(network.n_inputs, network.n_outputs, where=network.name or "")
    check_property(getattr(network, "output_transforms", ()), prop)
    return prop


def _query_property(args: argparse.Namespace, network: Any) -> Any:
    """The property of ``--vnnlib`` or of the robustness query ``--eps/--input/...``."""
    if getattr(args, "png_out", None):
        _image_shape(args, network)  # refuse a bad --image-shape before the work
    if args.vnnlib:
        args.property = _load_property(args.vnnlib, network)  # for --png-out
        return args.property
    if args.input is None:
        raise InputError("--eps needs --input, the centre of the ball")
    from .spec import robustness

    return robustness(_read_point(args.input), args.eps, label=args.label,
                      lower=args.lower, upper=args.upper, network=network)


def _query_arguments(p: argparse.ArgumentParser) -> None:
    """MODEL and the query: ``--vnnlib`` or a robustness ball (``verify``, ``attack``)."""
    p.add_argument("model", metavar="MODEL", help="an ONNX (.onnx) or .nnet model file")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--vnnlib", metavar="PROP", help="the VNN-LIB property to decide")
    what.add_argument("--eps", type=float, metavar="E",
                      help="L-infinity radius of a robustness query around --input")
    p.add_argument("--input", "-x", metavar="X",
                   help='with --eps: the centre point (.npy file or "v1,v2,...")')
    p.add_argument("--label", type=int, metavar="K",
                   help="with --eps: the class that must be kept (default: the predicted one)")
    p.add_argument("--lower", type=float, metavar="L", help="with --eps: input domain minimum")
    p.add_argument("--upper", type=float, metavar="U", help="with --eps: input domain maximum")


def _print_cex(cex: Any) -> None:
    print(f"counterexample x: {', '.join(_fmt(v) for v in cex.x)}")
    print(f"outputs y: {', '.join(_fmt(v) for v in cex.y)}")
    checks = ", ".join(f"{k} margin {v:.3g}" for k, v in cex.checks.items())
    print(f"confirmed by: {checks}")


def _write_outputs(args: argparse.Namespace, result: Any, network: Any) -> None:
    """``--results-file`` and ``--cex-out`` of ``verify`` and ``attack``."""
    import numpy as np

    from .result import vnncomp_text

    if args.results_file:
        with open(args.results_file, "w", encoding="utf-8") as f:
            f.write(vnncomp_text(result))
    if args.cex_out and result.counterexample is not None:
        with open(args.cex_out, "wb") as f:  # the exact path given (np.save adds .npy)
            np.save(f, result.counterexample.x.reshape(network.input_shape))
    if getattr(args, "png_out", None) and result.counterexample is not None:
        from .imageio import write_cex_png

        cex = result.counterexample
        if getattr(args, "input", None) and getattr(args, "eps", None) is not None:
            original = _read_point(args.input).reshape(-1)
        else:  # a VNN-LIB property: the centre of the box the counterexample lies in
            box = args.property.cases[cex.case].box
            original = 0.5 * (box.lower + box.upper)
        shape = _image_shape(args, network)
        cx = cex.x
        if args.image_shape and len(shape) == 3:  # HxWx3 -> channels first, for as_image
            original = np.moveaxis(original.reshape(shape[1], shape[2], 3), -1, 0)
            cx = np.moveaxis(cex.x.reshape(shape[1], shape[2], 3), -1, 0)
        write_cex_png(args.png_out, original, cx, shape)


def _image_shape(args: argparse.Namespace, network: Any) -> tuple[int, ...]:
    """The shape ``--png-out`` draws: ``--image-shape`` (HxW, or HxWx3 as 3xHxW) or the
    model's input shape; checked against the input size before any work."""
    import numpy as np

    if not getattr(args, "image_shape", None):
        return tuple(network.input_shape)
    try:
        shape = tuple(int(v) for v in args.image_shape.lower().split("x"))
    except ValueError:
        shape = ()
    if len(shape) not in (2, 3) or min(shape) < 1 or (len(shape) == 3 and shape[2] != 3):
        raise InputError(f"--image-shape {args.image_shape!r}: expected HxW or HxWx3")
    if int(np.prod(shape)) != network.n_inputs:
        raise InputError(f"--image-shape {args.image_shape}: {int(np.prod(shape))} pixels, "
                         f"the input has {network.n_inputs} values")
    return (3, shape[0], shape[1]) if len(shape) == 3 else shape


def _read_point(text: str) -> Any:
    """``--input``: a ``.npy`` file or comma-separated numbers, as a float64 array."""
    import numpy as np

    if Path(text).is_dir():
        raise InputError(f"--input {text}: is a directory; pass a .npy file or "
                         'comma-separated numbers such as "0.1,0,-2"')
    if text.lower().endswith(".npy") or Path(text).is_file():
        try:
            a = np.load(text, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InputError(f"--input {text}: cannot read a .npy array ({exc})") from None
        try:
            a = np.asarray(a, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InputError(f"--input {text}: the array is not numeric ({exc})") from None
    else:
        tokens = [t.strip() for t in text.replace(";", ",").split(",")]
        if tokens and tokens[-1] == "":  # allow a trailing comma
            tokens.pop()
        values = []
        for k, tok in enumerate(tokens):
            try:
                values.append(float(tok))
            except ValueError:
                raise InputError(f"--input: value {k} ({tok!r}) is not a number; pass a .npy "
                                 'file or comma-separated numbers such as "0.1,0,-2"') from None
        a = np.asarray(values, dtype=np.float64)
    if a.size == 0:
        raise InputError(f"--input {text}: no values")
    if not np.all(np.isfinite(a)):
        raise InputError(f"--input {text}: every value must be finite (no nan or inf)")
    return a


def _fmt(v: float) -> str:
    return repr(float(v))


def check_seconds(value: float, option: str = "--timeout") -> float:
    """Refuse a time budget that is not a finite number of seconds greater than 0."""
    import math

    if not math.isfinite(value) or value <= 0:
        raise InputError(f"{option} {value!r}: a time budget must be a finite number of "
                         "seconds greater than 0")
    return value


_OUTPUT_OPTIONS = (("results_file", "--results-file"), ("cex_out", "--cex-out"),
                   ("png_out", "--png-out"))


def check_writable(path: str, option: str) -> None:
    """Raise :class:`InputError` unless ``path`` can be created or overwritten as a file.

    Called before any work, so that an answer is never computed only to be lost.  It
    creates nothing: the file is written once the answer is known.
    """
    import os

    p = Path(path)
    if p.is_dir():
        raise InputError(f"{option} {path}: is a directory; give a file name")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"{option} {path}: the folder {parent} does not exist; create it "
                         "first or choose another path")
    if p.exists() and not os.access(p, os.W_OK):
        raise InputError(f"{option} {path}: the file is not writable")
    if not p.exists() and not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{option} {path}: cannot create a file in {parent} (permission "
                         "denied)")


def _check_output_paths(args: argparse.Namespace) -> None:
    for attr, option in _OUTPUT_OPTIONS:
        value = getattr(args, attr, None)
        if value:
            check_writable(value, option)


def _write_outputs_safely(args: argparse.Namespace, result: Any, network: Any) -> int:
    """Write the output files after the answer was printed; ``EXIT_IO`` when one fails."""
    try:
        _write_outputs(args, result, network)
    except OSError as exc:
        names = [f"{opt} {getattr(args, a)}" for a, opt in _OUTPUT_OPTIONS
                 if getattr(args, a, None)]
        where = exc.filename or " / ".join(names)
        _error(f"could not write {where}: {exc.strerror or exc}; the answer above stands, "
               "but the file is missing or incomplete")
        return EXIT_IO
    return EXIT_OK


# --------------------------------------------------------------------- commands
def _info_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="an ONNX (.onnx) or .nnet model file")
    p.add_argument("--vnnlib", metavar="PROP",
                   help="also read this VNN-LIB property, check it fits the model, describe it")


@command("info", help="describe a model (operations, shapes, neuron and ReLU counts)",
         arguments=_info_arguments,
         description="Load MODEL and print its operations, shapes, neuron and ReLU counts and "
                     "its input and output sizes. With --vnnlib, also read the property, "
                     "check that it fits the model and describe it.",
         epilog="example:\n  verinet info benchmarks/demo/demo.onnx "
                "--vnnlib benchmarks/demo/demo.vnnlib")
def _info(args: argparse.Namespace) -> int:
    network = _load_model(args.model)
    prop = _load_property(args.vnnlib, network) if args.vnnlib else None
    print(network.summary())
    if prop is not None:
        print(f"property {prop.describe()}")
        print("property fits the model")
    return EXIT_OK


def _eval_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="an ONNX (.onnx) or .nnet model file")
    p.add_argument("--input", "-x", metavar="X", required=True,
                   help='the input point: a .npy file (one point or a batch) or '
                        'comma-separated numbers such as "0.1,0,-0.2"')


@command("eval", help="run a forward pass and print the outputs and the argmax",
         arguments=_eval_arguments,
         description="Evaluate MODEL (in float64) on the point X and print the outputs and "
                     "the index of the largest one. A .npy file may hold a batch of points, "
                     "one per row (or per leading index).",
         epilog='examples:\n  verinet eval benchmarks/demo/demo.onnx --input 0.1,0,0,0,-0.2\n'
                "  verinet eval model.onnx --input points.npy")
def _eval(args: argparse.Namespace) -> int:
    import numpy as np

    from .network.output_transform import apply_transforms

    network = _load_model(args.model)
    x = network.as_batch(_read_point(args.input))
    with np.errstate(all="ignore"):
        logits = network.evaluate(x)
        transforms = getattr(network, "output_transforms", ())
        y = apply_transforms(transforms, logits) if transforms else logits
    for t in transforms:
        print(f"note: the model ends in {t.describe()}; the outputs shown apply it (in "
              "float64) to the logits, which verinet verifies on and also shows")
    overflow = []
    for k, row in enumerate(y):
        head = f"sample {k}: " if len(y) > 1 else ""
        print(f"{head}outputs ({network.n_outputs}): {', '.join(_fmt(v) for v in row)}")
        if transforms:
            print(f"{head}logits ({network.n_outputs}): "
                  f"{', '.join(_fmt(v) for v in logits[k])}")
        if not np.all(np.isfinite(logits[k])):
            overflow.append(k)
            bad = np.flatnonzero(~np.isfinite(logits[k]))
            print(f"{head}output is not finite (overflow in float64) at output(s) "
                  f"{', '.join(str(int(i)) for i in bad[:10])}; no argmax")
            continue
        print(f"{head}argmax: {int(np.argmax(row))}")
    if overflow:
        from .errors import NetworkOverflowError

        raise NetworkOverflowError(
            f"{network.name or args.model}: the outputs overflow (inf or nan in float64) on "
            f"{len(overflow)} of {len(y)} point(s) (first: sample {overflow[0]}); the model's "
            "weights or inputs are too large for floating point; rescale them")
    return EXIT_OK


def _output_arguments(p: argparse.ArgumentParser, json_fields: str, answers: str) -> None:
    """The output options shared by ``verify`` and ``attack`` (see :func:`_write_outputs`)."""
    p.add_argument("--json", action="store_true",
                   help=f"print one JSON object ({json_fields})")
    p.add_argument("--results-file", metavar="OUT",
                   help=f"write the answer in the VNN-COMP results format{answers}")
    p.add_argument("--cex-out", metavar="X.npy", help="save the counterexample input as .npy")
    p.add_argument("--png-out", metavar="FILE.png",
                   help="for image-shaped inputs: a PNG of the original point (the --input "
                        "point, or the box centre), the counterexample and their difference")
    p.add_argument("--image-shape", metavar="HxW",
                   help="how to show a flat input as an image (HxW grey or HxWx3 colour)")


def _verify_arguments(p: argparse.ArgumentParser) -> None:
    _query_arguments(p)
    p.add_argument("--timeout", type=float, default=60.0, metavar="S",
                   help="seconds for the whole run, loading included (default: 60); a "
                        "finite number greater than 0")
    p.add_argument("--strategy", choices=("auto", "input", "relu", "smt"), default="auto",
                   help="search engine (default: auto: input splitting for few inputs, "
                        "ReLU splitting otherwise)")
    p.add_argument("--relu-engine", choices=("auto", "lp", "bab"), default="auto",
                   help="how ReLU splitting runs: bab (batched branch and bound on optimised "
                        "bounds), lp (depth first over one LP) or auto (default: bab on "
                        "chain networks with at least 256 ReLUs in two or more layers, lp "
                        "elsewhere)")
    p.add_argument("--no-attack", action="store_true",
                   help="skip the falsification pass before the search")
    p.add_argument("--strict-as-nonstrict", action="store_true",
                   help="read the property's strict inequalities (<, >) as non-strict "
                        "(<=, >=), the VNN-COMP convention; by default a counterexample "
                        "must meet a strict inequality strictly. Said in the output")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--jobs", "-j", type=int, default=None, metavar="N",
                   help="workers for the complete search: a query still open after a 2 s "
                        "warm-up is split into input boxes shared by N worker processes; "
                        "branch and bound bounds N batches of ReLU splits at once, on the "
                        "workers of --executor (default: every core this process may use; "
                        "1 with --proof)")
    p.add_argument("--executor", choices=("threads", "processes", "dask"), default="threads",
                   help="where branch and bound's batches are bounded with --jobs above 1: "
                        "threads of this process (default), worker processes, or a Dask "
                        "cluster (--scheduler, else a local one; pip install 'verinet[dask]')")
    p.add_argument("--scheduler", default=None, metavar="ADDR",
                   help="the Dask scheduler for --executor dask, tcp://HOST:PORT")
    p.add_argument("--semantics", choices=("float32", "real"), default="float32",
                   help="what unsat is proved for: float32 (default): the network as it runs "
                        "in float32, in any summation order; real: the real-valued function "
                        "of its weights. Said in the output")
    p.add_argument("--proof", metavar="FILE",
                   help="after an unsat answer, write a certificate to FILE (.json, or "
                        ".json.gz compressed) that 'verinet check-proof' checks without the "
                        "search; it has passed that checker once written. Needs --jobs 1; "
                        "with --eps the property is written beside it as FILE.vnnlib. Takes "
                        "time after the answer, reported")
    _output_arguments(p, "status, time, counterexample, statistics", "")


def _load_within(args: argparse.Namespace, start: float) -> tuple[Any, Any] | None:
    """MODEL and the query, read within the run's time budget; ``None`` when the budget
    ran out while reading (a huge property), after printing and writing ``timeout``."""
    import time

    from .deadline import DeadlineExceeded, until
    from .result import Result, Status

    try:
        with until(start + args.timeout):
            network = _load_model(args.model)
            return network, _query_property(args, network)
    except DeadlineExceeded:
        why = "the time budget ran out while reading the model and the property"
        result = Result(Status.TIMEOUT, None, time.monotonic() - start, reason=why)
        if getattr(args, "json", False):
            import json

            print(json.dumps(result.to_dict()))
        else:
            print(f"timeout: no answer within the time budget ({result.time:.2f} s)")
            print(f"reason: {why}")
        sys.stdout.flush()
        _write_outputs_safely(args, result, None)
        return None


@command("verify", help="decide a VNN-LIB property or a robustness query",
         arguments=_verify_arguments,
         description="Decide whether some input in the property's region drives MODEL into "
                     "the bad output region. Answers: unsat (verified: no such input), sat "
                     "(violated: a counterexample confirmed in float64 and, for ONNX models, "
                     "by onnxruntime), unknown or timeout.",
         epilog="examples:\n"
                "  verinet verify model.onnx --vnnlib prop.vnnlib --timeout 116\n"
                "  verinet verify model.onnx --eps 0.02 --input x.npy --label 3 "
                "--lower 0 --upper 1 --json")
def _verify(args: argparse.Namespace) -> int:
    import json
    import time

    from .config import AttackConfig, SearchConfig, VerifierConfig
    from .result import Status
    from .verify import verify

    start = time.monotonic()
    check_seconds(args.timeout)
    _check_output_paths(args)
    loaded = _load_within(args, start)
    if loaded is None:
        return EXIT_UNKNOWN
    network, prop = loaded
    note = ""
    if args.strict_as_nonstrict and prop.has_strict:
        prop = prop.non_strict()
        note = "strict inequalities read as non-strict (VNN-COMP convention)"
    if args.scheduler is not None:
        if args.executor != "dask":
            raise InputError("--scheduler needs --executor dask")
        from .cluster import check_scheduler

        check_scheduler(args.scheduler)
    config = VerifierConfig(search=SearchConfig(strategy=args.strategy,
                                                relu_engine=args.relu_engine,
                                                bab_executor=args.executor,
                                                bab_scheduler=args.scheduler),
                            attack=AttackConfig(enabled=not args.no_attack), seed=args.seed,
                            semantics=args.semantics)
    if args.jobs is not None and args.jobs < 1:
        raise InputError("--jobs must be at least 1")
    log = None
    if args.proof:
        from .proof.produce import ProofLog

        check_writable(args.proof, "--proof")
        if args.jobs is not None and args.jobs > 1:
            raise InputError("--proof needs --jobs 1: a certificate records one search")
        log = ProofLog()
        args.jobs = 1
    if args.jobs is None:
        from .parallel import usable_cores

        args.jobs = usable_cores()
    if args.jobs > 1:
        from .parallel import verify_parallel

        result = verify_parallel(network, prop, timeout=args.timeout, config=config,
                                 start=start, jobs=args.jobs)
    else:
        result = verify(network, prop, timeout=args.timeout, config=config, start=start,
                        proof=log)
    proof = (_write_certificate(args, log, prop, result.semantics)
             if result.status is Status.UNSAT and log else None)
    cex = result.counterexample
    if args.json:
        print(json.dumps({**result.to_dict(), **({"note": note} if note else {}),
                          **({"proof": proof} if proof else {})}))
    else:
        words = {Status.UNSAT: "unsat: verified, no input in the region reaches the bad outputs",
                 Status.SAT: "sat: violated, counterexample found and confirmed",
                 Status.UNKNOWN: "unknown: no answer (this is not a proof either way)",
                 Status.TIMEOUT: "timeout: no answer within the time budget",
                 Status.ERROR: "error"}
        print(f"{words[result.status]} ({result.time:.2f} s)")
        if result.status is Status.UNSAT:
            print(f"semantics: {_SEMANTICS_WORDS[result.semantics]}")
        if note:
            print(f"note: {note}")
        if result.reason:
            print(f"reason: {result.reason}")
        if cex is not None:
            _print_cex(cex)
        s = result.stats
        print(f"strategy {s.strategy or '-'}: {s.boxes} boxes, {s.nodes} nodes, {s.lps} LPs, "
              f"{s.smt_calls} z3 calls, depth {s.max_depth}")
        if proof:
            print(proof["message"])
    sys.stdout.flush()
    if _write_outputs_safely(args, result, network) != EXIT_OK:
        return EXIT_IO
    if result.status is Status.UNSAT:
        return EXIT_OK
    if result.status is Status.SAT:
        return EXIT_VIOLATED
    return EXIT_UNKNOWN


_SEMANTICS_WORDS = {
    "float32": "float32 (proved for the network as it runs in float32, any summation order)",
    "real": "real (proved for the real-valued function of the weights; float rounding not "
            "modelled)"}


def _write_certificate(args: argparse.Namespace, log: Any, prop: Any, semantics: str) -> dict:
    """Complete, check and write the certificate of an ``unsat`` (``--proof``); a summary."""
    from .proof.check import CheckInputError, ProofError
    from .proof.produce import write_proof

    prop_path = args.vnnlib
    if not prop_path:
        from .spec.vnnlib import write_vnnlib

        prop_path = args.proof + ".vnnlib"
        write_vnnlib(prop, prop_path)
    try:
        s = write_proof(log, args.model, prop_path, args.proof, semantics)
    except (ProofError, CheckInputError) as exc:
        return {"written": False, "message": f"proof: not written: {exc}"}
    leaves = ", ".join(f"{k} {v}" for k, v in s.leaves.items())
    state = "checked" if not s.unchecked else f"{len(s.unchecked)} leaves unchecked"
    return {"written": True, "file": s.path, "property": prop_path, "nodes": s.nodes,
            "leaves": s.leaves, "bytes": s.bytes, "seconds": round(s.seconds, 3),
            "message": f"proof: {s.path} ({s.nodes} nodes; leaves: {leaves}; {state}; "
                       f"{s.bytes} bytes; {s.seconds:.2f} s)"}


def _check_proof_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="the ONNX model the certificate is about")
    p.add_argument("property", metavar="PROPERTY", help="the VNN-LIB property")
    p.add_argument("proof", metavar="PROOF", help="the certificate (.json or .json.gz)")


@command("check-proof", help="check an unsat certificate with the independent checker",
         arguments=_check_proof_arguments,
         description="Check PROOF, written by 'verinet verify --proof', against MODEL and "
                     "PROPERTY with a checker that shares no code with the search: it reads "
                     "both files itself, recomputes every bound and checks every Farkas "
                     "leaf. Prints VALID with counts by leaf kind, or the first failing node. "
                     "Exit 0 valid; 10 invalid; 20 valid where checked but some leaves are "
                     "marked unchecked; 5 a file cannot be read or holds what the checker "
                     "does not accept.",
         epilog="example:\n  verinet check-proof model.onnx prop.vnnlib proof.json.gz")
def _check_proof(args: argparse.Namespace) -> int:
    from .proof.check import main as check_main

    return check_main([args.model, args.property, args.proof])


def _attack_arguments(p: argparse.ArgumentParser) -> None:
    from .falsify import STRATEGIES

    _query_arguments(p)
    p.add_argument("--strategies", default="uniform,corners,fgsm,pgd,pattern", metavar="NAMES",
                   help="comma-separated falsification strategies, run in order (default: "
                        f"uniform,corners,fgsm,pgd,pattern; available: {', '.join(STRATEGIES)})")
    p.add_argument("--restarts", type=int, default=64, metavar="N",
                   help="random starting points of the gradient strategies (fgsm, pgd) per "
                        "conjunction (default: 64)")
    p.add_argument("--samples", type=int, default=2048, metavar="N",
                   help="points drawn by the sampling strategies (uniform, corners) per input "
                        "box (default: 2048)")
    p.add_argument("--timeout", type=float, default=60.0, metavar="S",
                   help="seconds for the whole run, loading included (default: 60); one pass "
                        "of every strategy, cut short at the deadline")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    _output_arguments(p, "status sat or unknown, counterexample, statistics",
                      " (sat or unknown)")


@command("attack", help="search for a counterexample by testing (no proof)",
         arguments=_attack_arguments,
         description="Search for an input in the property's region that drives MODEL into the "
                     "bad output region, by sampling and gradient attacks only. A point found "
                     "is confirmed in float64 and, for ONNX models, by onnxruntime, and "
                     "reported as sat (exit 10). Finding nothing proves nothing (exit 20); "
                     "use 'verinet verify' for a proof.",
         epilog="examples:\n"
                "  verinet attack model.onnx --vnnlib prop.vnnlib --restarts 256\n"
                "  verinet attack model.onnx --eps 0.05 --input x.npy --lower 0 --upper 1 "
                "--cex-out adv.npy")
def _attack(args: argparse.Namespace) -> int:
    import json
    import time

    import numpy as np
    from threadpoolctl import threadpool_limits

    from .counterexample import CexChecker
    from .falsify import Effort, falsify
    from .result import Result, Stats, Status

    start = time.monotonic()
    check_seconds(args.timeout)
    _check_output_paths(args)
    if args.restarts < 1 or args.samples < 1:
        raise InputError("--restarts and --samples must be at least 1")
    strategies = tuple(s.strip() for s in args.strategies.split(",") if s.strip())
    if not strategies:
        raise InputError("--strategies: give at least one strategy name")
    loaded = _load_within(args, start)
    if loaded is None:
        return EXIT_UNKNOWN
    network, prop = loaded
    checker = CexChecker(network, prop)
    stats = Stats(strategy="attack")
    with threadpool_limits(limits=1, user_api="blas"):
        cex = falsify(network, prop, checker, np.random.default_rng(args.seed),
                      start + args.timeout, strategies, stats,
                      effort=Effort(samples=args.samples, restarts=args.restarts))
    stats.time_attack = time.monotonic() - start
    none_found = "no counterexample found; this is not a proof"
    result = (Result(Status.SAT, cex, stats.time_attack, stats) if cex is not None else
              Result(Status.UNKNOWN, None, stats.time_attack, stats, none_found))
    if args.json:
        print(json.dumps(result.to_dict()))
    elif cex is not None:
        print(f"sat: violated, counterexample found ({cex.source}) and confirmed "
              f"({result.time:.2f} s)")
        _print_cex(cex)
    else:
        print(f"{none_found} ({result.time:.2f} s)")
    if not args.json:
        print(f"{stats.candidates} candidates tried, {stats.rejected} rejected by the checks")
    sys.stdout.flush()
    if _write_outputs_safely(args, result, network) != EXIT_OK:
        return EXIT_IO
    return EXIT_VIOLATED if cex is not None else EXIT_UNKNOWN


def _check_cex_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="an ONNX (.onnx) or .nnet model file")
    p.add_argument("property", metavar="PROPERTY", help="the VNN-LIB property")
    p.add_argument("results", metavar="RESULTS_FILE",
                   help="a VNN-COMP results file: 'sat' followed by ((X_0 v) ... (Y_0 v))")


def _supports_arguments(p: argparse.ArgumentParser) -> None:
    from .stdcli import CAPABILITIES

    group = p.add_mutually_exclusive_group(required=True)
    for cap in CAPABILITIES:
        group.add_argument(cap, dest="capability", action="store_const", const=cap)


@command("supports", help="say what verinet handles (the VNN-LIB 2.0 solver interface)",
         arguments=_supports_arguments,
         description="Print what verinet supports, one item per line, as the VNN-LIB 2.0 "
                     "standard's solver interface asks; a '*' after an item marks partial "
                     "support, with a note.")
def _supports(args: argparse.Namespace) -> int:
    from .stdcli import capability_lines

    print("\n".join(capability_lines(args.capability)))
    return EXIT_OK


@command("check-cex", help="replay the counterexample of a VNN-COMP results file",
         arguments=_check_cex_arguments,
         description="Read the X values of a 'sat' results file and replay them independently "
                     "of any search: a float64 forward pass through verinet's model and, for "
                     "ONNX models, onnxruntime on the file itself. Prints, per property case, "
                     "how deep the point lies in the input box and in the bad output region "
                     "(both margins >= 0 means inside). Exit 0: the counterexample is valid "
                     "(in some case's box and reaching its bad region in every run); exit 10: "
                     "it is not; exit 20: the file holds no counterexample (unsat, unknown, "
                     "timeout, error); exit 5: the results file is malformed.",
         epilog="example:\n  verinet check-cex model.onnx prop.vnnlib results.txt")
def _check_cex(args: argparse.Namespace) -> int:
    import numpy as np

    from .counterexample import CexChecker, read_results_file, replay

    network = _load_model(args.model)
    prop = _load_property(args.property, network)
    status, x, y_file = read_results_file(args.results)
    if x is None:
        print(f"the results file says {status!r}: no counterexample to check")
        return EXIT_NO_CEX
    if x.size != network.n_inputs:
        raise InputError(f"{args.results}: {x.size} X values, but the model has "
                         f"{network.n_inputs} inputs")
    rep = replay(CexChecker(network, prop), x)
    print(f"outputs y (float64): {', '.join(_fmt(v) for v in rep.y)}")
    if y_file is not None and y_file.size == rep.y.size:
        print(f"largest difference to the file's Y values: {np.abs(y_file - rep.y).max():.3g}")
    for c, (bm, ms) in enumerate(zip(rep.box_margins, rep.margins)):
        runs = ", ".join(f"{k} {v:.6g}" for k, v in ms.items())
        print(f"case {c}: input box margin {bm:.6g}; bad region margin: {runs}")
    valid = rep.valid_case()
    if valid is None:
        print("invalid: the point is not a counterexample (margins >= 0 mean inside)")
        return EXIT_CEX_INVALID
    print(f"valid: the point lies in the input region and reaches the bad region (case {valid})")
    return EXIT_OK


def _bench_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", metavar="DIR",
                   help="a VNN-COMP benchmark folder (instances.csv, optional expected.csv); "
                        "default: benchmarks/acaslike of the repository, else benchmarks/demo. "
                        "'compare RUN_A RUN_B' compares two runs instead")
    p.add_argument("--jobs", "-j", type=int, default=None, metavar="N",
                   help="instances run at once, one process each (default: the CPU count)")
    p.add_argument("--timeout", type=float, default=None, metavar="S",
                   help="override every instance's timeout (seconds, loading included)")
    p.add_argument("--filter", default="", metavar="REGEX",
                   help="select only the instances whose 'onnx vnnlib' matches REGEX (searched); "
                        "the rows of the others in OUT/results.jsonl are kept untouched")
    p.add_argument("--out", default="bench-out", metavar="DIR",
                   help="the folder (created if missing) for results.jsonl, summary.md and "
                        "results/ with one VNN-COMP results file per instance "
                        "(default: ./bench-out)")
    p.add_argument("--rerun", action="store_true",
                   help="run every selected instance again, even when OUT/results.jsonl holds "
                        "an answer for the same content; with --filter only the matching ones, "
                        "and every other row is kept (default: reuse a row when its key, the "
                        "hashes of the model and property bytes, the timeout, the verinet and "
                        "library versions and all settings, matches)")
    p.add_argument("--strategy", choices=("auto", "input", "relu", "smt"), default="auto",
                   help="search engine, as for verify (default: auto)")
    p.add_argument("--no-attack", action="store_true",
                   help="skip the falsification pass before the search")
    p.add_argument("--seed", type=int, default=0,
                   help="random seed, mixed with each instance's own (default: 0)")
    p.add_argument("--semantics", choices=("float32", "real"), default="float32",
                   help="what unsat is proved for, as for verify (default: float32)")
    p.add_argument("--proofs", action="store_true",
                   help="write a certificate for every unsat to OUT/proofs/ (check it with "
                        "'verinet check-proof MODEL PROPERTY PROOF'); the row names it, or "
                        "says why none was written")


def _image_shape_arg(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        dims = tuple(int(t) for t in text.lower().split("x"))
    except ValueError:
        dims = ()
    if len(dims) not in (2, 3) or min(dims) < 1 or (len(dims) == 3 and dims[2] != 3):
        raise InputError(f"--image-shape {text!r}: expected HxW or HxWx3")
    return dims if len(dims) == 2 else (3, dims[0], dims[1])


def _robustness_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="an ONNX (.onnx) or .nnet classifier")
    p.add_argument("--data", required=True, metavar="D",
                   help="points and labels: .npz (arrays x, y), .npy (with --labels) or .csv")
    p.add_argument("--labels", default=None, metavar="FILE",
                   help="labels for .npy points (.npy, or integers in a text/CSV file); "
                        "default: the data's own, else the model's clean predictions")
    p.add_argument("--eps", required=True, metavar="E1,E2,...",
                   help="L-infinity radii, comma-separated, each > 0")
    p.add_argument("--lower", type=float, default=None, help="input domain lower bound")
    p.add_argument("--upper", type=float, default=None, help="input domain upper bound")
    p.add_argument("--timeout", type=float, default=30.0,
                   help="seconds per (point, radius) proof, a hard limit (default: 30)")
    p.add_argument("--jobs", "-j", type=int, default=0,
                   help="worker processes (default: every core)")
    p.add_argument("--limit", type=int, default=None, help="only the first N points")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--restarts", type=int, default=4, help="PGD restarts (default: 4)")
    p.add_argument("--steps", type=int, default=40, help="PGD steps per restart (default: 40)")
    p.add_argument("--strategy", choices=("auto", "input", "relu", "smt"), default="auto",
                   help="the complete search (default: auto)")
    p.add_argument("--radius", action="store_true",
                   help="also bracket each point's largest certified radius by bisection")
    p.add_argument("--radius-max", type=float, default=None, metavar="R",
                   help="the largest radius --radius looks at (default: the largest --eps)")
    p.add_argument("--radius-tol", type=float, default=None, metavar="T",
                   help="stop when the bracket is this narrow (default: radius-max / 64)")
    p.add_argument("--image-shape", default=None, metavar="HxW",
                   help="draw points as images of this shape in OUT/falsified.png (HxW or "
                        "HxWx3; default: the model's input shape, or a square)")
    p.add_argument("--executor", choices=("local", "dask"), default="local",
                   help="where proofs run: worker processes here (default), or a Dask "
                        "distributed cluster (pip install 'verinet[dask]')")
    p.add_argument("--scheduler", default=None, metavar="ADDR",
                   help="the Dask scheduler, tcp://HOST:PORT (default with --executor dask: "
                        "a local cluster on 127.0.0.1)")
    p.add_argument("--out", default="robustness-out", metavar="DIR",
                   help="folder for points.jsonl (resumable), report.json, report.md and "
                        "accuracy.png (default: ./robustness-out)")


@command("robustness", help="robustness of a classifier over a data set: attacks and proofs",
         arguments=_robustness_arguments,
         description="For every point of a data set and every radius: misclassified, "
                     "falsified (a confirmed adversarial input), verified (a proof), unknown "
                     "or timeout; per radius the clean accuracy, the accuracy under attack "
                     "(an upper bound on robust accuracy) and the verified accuracy (a lower "
                     "bound). Rows are appended to OUT/points.jsonl as they are decided; a "
                     "rerun with the same settings resumes.",
         epilog="example:\n  verinet robustness benchmarks/digits/digits.onnx --data "
                "benchmarks/digits/test.npz --eps 0.01,0.02,0.05 --lower 0 --upper 1")
def _robustness(args: argparse.Namespace) -> int:
    from .robustness import RunSettings, robustness_run
    from .robustness.report import table

    try:
        eps = tuple(float(t) for t in args.eps.split(",") if t.strip())
    except ValueError:
        raise InputError(f"--eps {args.eps!r}: expected comma-separated numbers") from None
    if args.limit is not None and args.limit < 1:
        raise InputError("--limit must be at least 1")
    if args.jobs < 0 or args.restarts < 0 or args.steps < 0:
        raise InputError("--jobs, --restarts and --steps must not be negative")
    settings = RunSettings(epsilons=eps, timeout=args.timeout, jobs=args.jobs,
                           limit=args.limit, seed=args.seed, lower=args.lower,
                           upper=args.upper, restarts=args.restarts, steps=args.steps,
                           strategy=args.strategy, radius=args.radius,
                           radius_max=args.radius_max, radius_tol=args.radius_tol)
    try:
        rep = robustness_run(args.model, args.data, settings, labels=args.labels,
                             out=args.out, executor=args.executor, scheduler=args.scheduler,
                             image_shape=_image_shape_arg(args.image_shape))
    except OSError as e:  # the rows decided so far are in OUT/points.jsonl
        _error(f"{args.out}: cannot write the results ({e.strerror or e}); rerun to resume")
        return EXIT_IO
    print(table(rep))
    print(f"{rep.n} points, wall {rep.wall:.1f} s (attacks {rep.time_attack:.1f} s, proofs "
          f"{rep.time_verify:.1f} s)" + (f", {rep.reused} rows reused" if rep.reused else ""))
    if rep.radius is not None:
        pts = [p for p in rep.radius["points"] if p["stopped"] != "misclassified"]
        print(f"largest certified radius: {len(pts)} points bracketed to "
              f"{rep.radius['tol']:g} (radius.jsonl, radii.png)")
    out = Path(args.out)
    print(f"wrote {out / 'points.jsonl'}, {out / 'report.json'}, {out / 'report.md'}, "
          f"{out / 'accuracy.png'}")
    return EXIT_OK


@command("bench", help="run a VNN-COMP benchmark folder (resumable), or compare two runs",
         arguments=_bench_arguments,
         description="Run every instance of a VNN-COMP benchmark folder, each in its own "
                     "process killed 5 s after its timeout. Each finished instance gets its "
                     "VNN-COMP results file OUT/results/<id>.txt (as verify --results-file "
                     "writes it; 'verinet check-cex MODEL PROP FILE' replays a sat) and one "
                     "JSON line in OUT/results.jsonl naming that file. A rerun resumes: a row "
                     "is reused only when its key (content hashes, timeout, versions, "
                     "settings) matches, otherwise the instance runs again and its row is "
                     "replaced. Prints a summary (counts, times, VNN-COMP score, wrong answers "
                     "first) and writes it to OUT/summary.md. An instance whose files cannot "
                     "be read is an error row and the run goes on. Exit 0; 11 when an answer "
                     "contradicts expected.csv; 6 when an output could not be written (OUT "
                     "unusable: before any work; a failed write during the run: at the end, "
                     "after printing every answer). "
                     "'verinet bench compare RUN_A RUN_B' prints two runs (results.jsonl "
                     "files or their folders) side by side.",
         epilog="examples:\n"
                "  verinet bench benchmarks/demo --jobs 2 --out bench-out\n"
                "  verinet bench path/to/acasxu --filter 'prop_[12]' --timeout 30\n"
                "  verinet bench path/to/acasxu --filter 'prop_3' --rerun\n"
                "  verinet bench compare bench-old bench-out/results.jsonl")
def _bench(args: argparse.Namespace) -> int:
    import json

    from .bench import report, runner
    from .config import AttackConfig, SearchConfig, VerifierConfig

    paths = list(args.paths)
    if paths and paths[0] == "compare":
        if len(paths) != 3:
            raise InputError("usage: verinet bench compare RUN_A RUN_B (two results.jsonl "
                             "files or their folders)")
        rows_a, rows_b = report.load_results(paths[1]), report.load_results(paths[2])
        print(report.compare_text(rows_a, rows_b, paths[1], paths[2]), end="")
        return EXIT_OK
    if len(paths) > 1:
        raise InputError(f"bench takes one benchmark folder, got {len(paths)}: {paths}")
    folder = Path(paths[0]) if paths else runner.default_dir()
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder; DIR must be a VNN-COMP benchmark folder "
                         "(instances.csv: onnx,vnnlib,timeout per line)")
    out = Path(args.out)
    config = VerifierConfig(search=SearchConfig(strategy=args.strategy),
                            attack=AttackConfig(enabled=not args.no_attack), seed=args.seed,
                            semantics=args.semantics)
    try:
        run = runner.run_bench(folder, out, jobs=args.jobs, pattern=args.filter,
                               timeout=args.timeout, rerun=args.rerun, config=config,
                               proofs=args.proofs)
    except runner.BenchIOError as exc:
        _error(str(exc))
        return EXIT_IO
    rows, reused = run.rows, run.reused
    note = (f"Folder `{folder}`, {len(rows)} instance(s)"
            + (f", {reused} reused from an earlier run" if reused else "")
            + (f", filter `{args.filter}`" if args.filter else "")
            + (f", timeout {args.timeout:g} s" if args.timeout is not None else "") + ".")
    text = report.summary_markdown(rows, title=f"verinet bench: {folder.name}", note=note)
    io_errors = list(run.io_errors)
    summary = out / runner.SUMMARY_FILE
    try:
        summary.write_text(text, encoding="utf-8")
    except OSError as exc:
        io_errors.append(f"{summary}: cannot write the summary ({exc.strerror or exc})")
    print(text, end="")
    if run.unsaved:
        print(f"\nrows not written to {out / runner.RESULTS_FILE} ({len(run.unsaved)}), "
              "one JSON line each:")
        for row in run.unsaved:
            print(json.dumps(row))
    print(f"results: {out / runner.RESULTS_FILE}; results files: "
          f"{out / runner.RESULTS_DIR}; summary: {summary}")
    for message in io_errors:
        _error(message)
    if any(r.get("verdict") == "WRONG" for r in rows):
        return EXIT_BENCH_WRONG
    return EXIT_IO if io_errors else EXIT_OK
