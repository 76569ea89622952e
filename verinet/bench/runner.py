"""Run a VNN-COMP benchmark folder, one spawned process per instance, resumable.

A folder holds ``instances.csv`` (``onnx,vnnlib,timeout`` per line, no header) and optionally
``expected.csv`` (header ``onnx,vnnlib,expected``).  Each instance runs in its own process
(``spawn``) that loads the model and the property and calls :func:`verinet.verify` with the
instance's timeout, counted from before loading; a process still running ``GRACE`` seconds
after its budget is killed and recorded as ``timeout``.  Parallelism comes from a thread pool
in which each thread starts one process and waits for it.

Outputs, all under ``OUT`` and all written by the parent process:

* ``OUT/results/<id>.txt``: per instance, its VNN-COMP results file (the text of
  ``verinet verify --results-file``: ``sat`` and the witness ``((X_0 v) ... (Y_0 v))``, or
  ``unsat``, ``unknown``, ``timeout``, ``error``), so that ``verinet check-cex`` or any other
  checker can replay every ``sat``.  ``<id>`` (:func:`results_name`) is made of the file
  names and a hash of the ``(onnx, vnnlib)`` pair: safe in a file system and unique.
* ``OUT/results.jsonl``: one JSON row per instance, appended as soon as the instance
  finishes (after its results file), naming the results file (relative to ``OUT``).

Resuming is keyed by content.  The row of an instance stores its *key*: a sha256 of the
sha256 of the ONNX bytes, of the VNN-LIB bytes, the timeout, the verinet version and a digest
of its source files, the versions of the libraries that compute answers, and every setting
passed to the verifier (the whole :class:`~verinet.config.VerifierConfig`, seed included, and
the kill grace).  A later run reuses a row only when its key matches exactly and its results
file is still there with the same status; otherwise the instance runs again and its new row
replaces the old one.  Rows of the older format (no key) are never reused.  Rows of instances
that the run does not select (``--filter``, or no longer in ``instances.csv``) are kept as
they are.  Rows are appended, the last row of an ``(onnx, vnnlib)`` pair wins, and a run that
completes rewrites the file with one row per pair.

Errors in the folder itself (no or unreadable ``instances.csv``, a malformed line, a timeout
that is not a positive finite number) stop the run before any work, naming file and line.  An
instance whose model or property file cannot be read becomes an ``error`` row (never reused)
and the run goes on.  An output that cannot be written (``OUT`` a regular file, not creatable,
not writable) stops the run before any work with :class:`BenchIOError`; a write that fails
during the run (disk full) is recorded in :attr:`BenchRun.io_errors` and the run goes on,
keeping every answer in memory (:attr:`BenchRun.unsaved` holds the rows that did not reach
``results.jsonl``).

Test hook: the worker process (only it) reads ``VERINET_BENCH_TEST_SLEEP``, of the form
``NAME:SECONDS``; an instance whose VNN-LIB file name contains ``NAME`` sleeps ``SECONDS``
before verifying.  The tests use it to make a deterministically slow instance.  The hook is
part of the key of the instances it applies to.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import hashlib
import json
import math
import multiprocessing as mp
import os
import platform
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._version import __version__
from ..config import VerifierConfig
from ..errors import InputError, VerinetError
from .report import read_rows, verdict

__all__ = ["GRACE", "FORMAT", "BenchIOError", "BenchRun", "Instance", "default_dir",
           "environment", "instance_config", "instance_key", "key_fields", "read_instances",
           "read_expected", "results_name", "run_instance", "run_bench", "RESULTS_FILE",
           "RESULTS_DIR", "SUMMARY_FILE"]

GRACE = 5.0  #: seconds a worker may overrun its budget before it is killed
FORMAT = 2  #: the row format of results.jsonl; rows without it (or older) are never reused
RESULTS_FILE = "results.jsonl"
RESULTS_DIR = "results"
PROOFS_DIR = "proofs"  # certificates of unsat answers, with --proofs
SUMMARY_FILE = "summary.md"
_SLEEP_HOOK = "VERINET_BENCH_TEST_SLEEP"
#: libraries whose version can change an answer (parsing, bounds, LP, exact search, replay)
_LIBRARIES = ("numpy", "scipy", "highspy", "z3-solver", "onnx", "onnxruntime")


class BenchIOError(VerinetError):
    """An output of ``verinet bench`` cannot be written (exit code ``EXIT_IO``)."""


def _seed(onnx: str, vnnlib: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{onnx}|{vnnlib}".encode()).digest()[:4], "big")


@dataclass(frozen=True)
class Instance:
    """One line of ``instances.csv``; paths relative to ``folder``; ``line`` its number."""

    folder: Path
    onnx: str
    vnnlib: str
    timeout: float
    line: int = field(default=0, compare=False)

    @property
    def seed(self) -> int:
        """The instance's own seed, mixed into the configured one (from the file names)."""
        return _seed(self.onnx, self.vnnlib)

    @property
    def ident(self) -> tuple[str, str]:
        """``(onnx, vnnlib)``: which row of ``results.jsonl`` belongs to this instance."""
        return (self.onnx, self.vnnlib)


def instance_config(inst: Instance, config: VerifierConfig | None = None) -> VerifierConfig:
    """The configuration ``inst`` is verified with: ``config`` (default: the default one)
    with its seed mixed with the instance's own (so instances draw different points)."""
    config = config or VerifierConfig()
    return dataclasses.replace(config, seed=config.seed ^ inst.seed)


def results_name(onnx: str, vnnlib: str) -> str:
    """The file name of an instance's VNN-COMP results file under ``OUT/results``: the stems
    of both file names reduced to ``[A-Za-z0-9._-]`` and a hash of the pair (unique)."""
    stem = f"{Path(onnx).stem}__{Path(vnnlib).stem}"
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", stem)[:80].strip("._-") or "instance"
    digest = hashlib.sha256(f"{onnx}\0{vnnlib}".encode()).hexdigest()[:12]
    return f"{slug}-{digest}.txt"


@functools.lru_cache(maxsize=1)
def environment() -> dict[str, Any]:
    """What verinet is, for the keys: its version, a sha256 of its source files, Python's and
    the libraries' versions (a changed verinet or library never reuses an old answer)."""
    from importlib import metadata

    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.py")):
        h.update(p.relative_to(root).as_posix().encode() + b"\0")
        h.update(p.read_bytes() + b"\0")
    libs = {}
    for name in _LIBRARIES:
        try:
            libs[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            libs[name] = None
    return {"verinet": __version__, "source_sha256": h.hexdigest(),
            "python": platform.python_version(), "libraries": libs}


def key_fields(onnx_sha256: str, vnnlib_sha256: str, timeout: float,
               config: VerifierConfig, vnnlib: str = "",
               env: Mapping[str, Any] | None = None, proofs: bool = False) -> dict[str, Any]:
    """Everything an instance's answer depends on, as stored in its row (``key_of``)."""
    settings: dict[str, Any] = {"config": dataclasses.asdict(config), "grace": GRACE}
    if proofs:
        settings["proofs"] = True
    sleep = _sleep_seconds(vnnlib)
    if sleep is not None:
        settings["test_sleep"] = sleep
    return {"onnx_sha256": onnx_sha256, "vnnlib_sha256": vnnlib_sha256,
            "timeout": float(timeout), "settings": settings,
            "environment": dict(env if env is not None else environment())}


def instance_key(fields: Mapping[str, Any]) -> str:
    """The sha256 (hex) of :func:`key_fields`' dict in canonical JSON: the row's ``key``."""
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def default_dir() -> Path:
    """``benchmarks/acaslike`` (else ``benchmarks/demo``) of the checkout: looked up in the
    current directory first (a clone with ``pip install .``), then beside the package (an
    editable install)."""
    import verinet

    bases = [Path.cwd() / "benchmarks",
             Path(verinet.__file__).resolve().parents[1] / "benchmarks"]
    for name in ("acaslike", "demo"):
        for base in bases:
            if (base / name / "instances.csv").is_file():
                return base / name
    raise InputError("no benchmark folder given, and no benchmarks/acaslike or "
                     "benchmarks/demo with an instances.csv in the current directory or beside "
                     "the package; pass DIR (run from the root of a verinet checkout)")


def _read_csv(path: Path) -> list[list[str]]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            return list(csv.reader(f))
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text file (expected CSV in UTF-8)") from None
    except csv.Error as exc:
        raise InputError(f"{path}: not a CSV file ({exc})") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({exc.strerror or exc})") from None


def read_instances(folder: Path, pattern: str = "", timeout: float | None = None
                   ) -> list[Instance]:
    """The instances of ``folder/instances.csv`` whose ``"onnx vnnlib"`` matches ``pattern``
    (a regular expression, searched); ``timeout`` overrides every instance's timeout.

    Every line is checked, selected or not: three fields, file names given, a timeout that
    is a positive finite number of seconds; an error names the file and the line.  A line
    repeating an earlier ``(onnx, vnnlib)`` pair is skipped, or refused when its timeout
    differs."""
    path = folder / "instances.csv"
    if not path.is_file():
        raise InputError(f"{path}: not found; DIR must be a VNN-COMP benchmark folder "
                         "(instances.csv: onnx,vnnlib,timeout per line)")
    try:
        rx = re.compile(pattern) if pattern else None
    except re.error as exc:
        raise InputError(f"--filter {pattern!r}: not a regular expression ({exc})") from None
    out = []
    seen: dict[tuple[str, str], tuple[int, float]] = {}
    for n, row in enumerate(_read_csv(path), start=1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if len(row) != 3:
            raise InputError(f"{path}:{n}: expected onnx,vnnlib,timeout, got {row}")
        onnx, vnnlib, tmo = (c.strip() for c in row)
        if not onnx or not vnnlib:
            raise InputError(f"{path}:{n}: empty file name in {row}")
        try:
            t = float(tmo)
        except ValueError:
            raise InputError(f"{path}:{n}: timeout {tmo!r} is not a number") from None
        if not (math.isfinite(t) and t > 0):
            raise InputError(f"{path}:{n}: timeout {tmo!r} must be a positive finite number "
                             "of seconds")
        if (onnx, vnnlib) in seen:
            first, t0 = seen[(onnx, vnnlib)]
            if t0 != t:
                raise InputError(f"{path}:{n}: {onnx} {vnnlib} is already on line {first} "
                                 f"with another timeout ({t0:g} s, here {t:g} s)")
            continue
        seen[(onnx, vnnlib)] = (n, t)
        if rx and not rx.search(f"{onnx} {vnnlib}"):
            continue
        out.append(Instance(folder, onnx, vnnlib, timeout if timeout is not None else t, n))
    return out


def read_expected(folder: Path) -> dict[tuple[str, str], str]:
    """``(onnx, vnnlib) -> expected`` from ``folder/expected.csv`` (empty if absent)."""
    path = folder / "expected.csv"
    if not path.exists():
        return {}
    rows = _read_csv(path)
    header = [c.strip().lower() for c in rows[0]] if rows else []
    if not all(name in header for name in ("onnx", "vnnlib", "expected")):
        raise InputError(f"{path}: expected a header onnx,vnnlib,expected")
    io, iv, ie = (header.index(name) for name in ("onnx", "vnnlib", "expected"))
    out = {}
    for n, r in enumerate(rows[1:], start=2):
        if not r or not "".join(r).strip():
            continue
        if len(r) <= max(io, iv, ie):
            raise InputError(f"{path}:{n}: expected {len(header)} fields, got {r}")
        out[(r[io].strip(), r[iv].strip())] = r[ie].strip().lower()
    return out


# ---------------------------------------------------------------------- worker
def _sleep_seconds(vnnlib: str) -> float | None:
    """The seconds the test hook makes the instance of ``vnnlib`` sleep, or ``None``."""
    hook = os.environ.get(_SLEEP_HOOK, "")
    if ":" in hook:
        name, seconds = hook.rsplit(":", 1)
        if name and name in Path(vnnlib).name:
            return float(seconds)
    return None


def _worker(onnx_path: str, vnnlib_path: str, timeout: float, config: Any, conn: Any,
            proof_path: str | None = None) -> None:
    """The body of an instance's process: load, verify, send one dict down ``conn``.

    The dict carries ``results_text``, the VNN-COMP results file of the answer (written by
    the parent process, which owns every output file).  With ``proof_path``, the search is
    recorded and an ``unsat`` gets its certificate written there (``proof``: what was
    written, or ``proof_error``: why not)."""
    start = time.monotonic()
    try:
        sleep = _sleep_seconds(vnnlib_path)
        if sleep is not None:
            time.sleep(sleep)
        from verinet.network import load
        from verinet.result import vnncomp_text
        from verinet.spec import read_vnnlib
        from verinet.verify import verify

        net = load(onnx_path)
        prop = read_vnnlib(vnnlib_path)
        log = None
        if proof_path is not None:
            from verinet.proof.produce import ProofLog
            log = ProofLog()
        r = verify(net, prop, timeout=timeout, config=config, start=start, proof=log)
        res = {"status": r.status.value, "time": time.monotonic() - start,
               "stats": r.stats.to_dict(), "reason": r.reason, "results_text": vnncomp_text(r),
               "semantics": r.semantics}
        if log is not None and r.status.value == "unsat":
            res.update(_certificate(log, onnx_path, vnnlib_path, proof_path, r.semantics))
    except Exception as e:  # recorded, never silently dropped
        res = {"status": "error", "time": time.monotonic() - start, "stats": {},
               "reason": f"{type(e).__name__}: {e}"}
    peak = _peak_mib()
    if peak is not None:
        res["peak_mib"] = peak
    try:
        conn.send(res)
        conn.close()
    except (BrokenPipeError, OSError):  # the parent gave up on this instance meanwhile
        pass


def _peak_mib() -> float | None:
    """The peak resident memory of this process and of the children it waited for, in
    MiB (``None`` where the platform cannot tell)."""
    try:
        import resource
    except ImportError:
        return None
    kib = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
              resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return round(kib / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def _certificate(log: Any, onnx_path: str, vnnlib_path: str, path: str, semantics: str
                 ) -> dict[str, Any]:
    """Write the certificate of an ``unsat``: ``{"proof": {...}}`` or ``{"proof_error":
    why}`` (a model or property outside what the checker reads, or a tree it rejects)."""
    from verinet.proof.check import CheckInputError, ProofError
    from verinet.proof.produce import write_proof

    try:
        s = write_proof(log, onnx_path, vnnlib_path, path, semantics)
    except (ProofError, CheckInputError) as e:
        return {"proof_error": str(e)}
    return {"proof": {"file": Path(path).name, "nodes": s.nodes, "leaves": s.leaves,
                      "unchecked": len(s.unchecked), "seconds": round(s.seconds, 3)}}


class _Live:
    """The processes running now, so that an interrupted run can kill them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.procs: set[Any] = set()
        self.stopped = False

    def kill_all(self) -> None:
        with self.lock:
            self.stopped = True
            for p in list(self.procs):
                if p.is_alive():
                    p.kill()


def run_instance(inst: Instance, live: _Live | None = None, config: Any = None,
                 proof_path: str | None = None) -> dict[str, Any]:
    """Run ``inst`` in a spawned process; kill it ``GRACE`` s after its budget.

    ``config``: the :class:`~verinet.config.VerifierConfig` to verify with (default: that of
    :func:`instance_config` for the default configuration); ``proof_path``: where an
    ``unsat``'s certificate goes (none when ``None``)."""
    if config is None:
        config = instance_config(inst)
    ctx = mp.get_context("spawn")
    recv, send = ctx.Pipe(duplex=False)
    t0 = time.monotonic()
    p = ctx.Process(target=_worker, daemon=True,
                    args=(str(inst.folder / inst.onnx), str(inst.folder / inst.vnnlib),
                          inst.timeout, config, send, proof_path))
    if live is not None:
        with live.lock:
            if live.stopped:
                raise KeyboardInterrupt
            p.start()
            live.procs.add(p)
    else:
        p.start()
    send.close()
    try:
        res: dict[str, Any] | None = None
        if recv.poll(inst.timeout + GRACE):
            try:
                res = recv.recv()
            except (EOFError, OSError):
                res = None
        if p.is_alive() and res is None:
            p.kill()
            p.join()
            return {"status": "timeout", "time": time.monotonic() - t0, "stats": {},
                    "reason": f"killed {GRACE:g} s after its {inst.timeout:g} s budget"}
        p.join(5)
        if p.is_alive():
            p.kill()
            p.join()
        if res is None:
            return {"status": "error", "time": time.monotonic() - t0, "stats": {},
                    "reason": f"worker exited with code {p.exitcode} and no result"}
        return res
    finally:
        recv.close()
        if live is not None:
            with live.lock:
                live.procs.discard(p)


# ------------------------------------------------------------------------- run
@dataclass
class BenchRun:
    """What :func:`run_bench` did.

    * ``rows``: the row of every selected instance, in ``instances.csv`` order;
    * ``reused``: how many of them were reused from an earlier run;
    * ``io_errors``: one message per output that could not be written during the run;
    * ``unsaved``: the rows that could not be appended to ``results.jsonl`` (kept here so
      that the caller can print them).
    """

    rows: list[dict[str, Any]]
    reused: int
    io_errors: list[str] = field(default_factory=list)
    unsaved: list[dict[str, Any]] = field(default_factory=list)


def _prepare_out(out: Path) -> None:
    """Create ``out`` and ``out/results`` and check that both can be written, before any
    work; :class:`BenchIOError` naming the path otherwise."""
    for d in (out, out / RESULTS_DIR):
        if d.exists() and not d.is_dir():
            raise BenchIOError(f"{d}: exists and is not a folder; pass --out a folder "
                               "(created if missing) that holds no file of that name")
        try:
            d.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(dir=d, prefix=".verinet-write-test-")
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise BenchIOError(f"{d}: cannot create or write this output folder "
                               f"({exc.strerror or exc}); pass --out a writable folder"
                               ) from None
    for name in (RESULTS_FILE, SUMMARY_FILE):
        p = out / name
        if p.is_dir() or (name == RESULTS_FILE and p.exists() and not p.is_file()):
            raise BenchIOError(f"{p}: exists and is not a regular file; remove it or pass "
                               "another --out")


def _status_of(path: Path) -> str | None:
    """The first word of a results file, or ``None`` when it cannot be read."""
    try:
        with open(path, encoding="utf-8") as f:
            words = f.read(64).split()
    except (OSError, UnicodeDecodeError):
        return None
    return words[0].lower() if words else None


def _reusable(row: dict[str, Any] | None, key: str, out: Path) -> bool:
    """Whether ``row`` answers the instance of ``key``: same key, same format, and its
    results file still there with the same status."""
    if row is None or row.get("format") != FORMAT or row.get("key") != key:
        return False
    rel = row.get("results_file")
    return isinstance(rel, str) and _status_of(out / rel) == row.get("status")


class _Log:
    """``results.jsonl`` opened for appending, one ``os.write`` per row; a write that fails
    leaves a possibly cut line, so the next one starts on a fresh line."""

    def __init__(self, path: Path) -> None:
        try:
            self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
            size = os.fstat(self.fd).st_size
            self.fresh = size == 0
            if size:
                with open(path, "rb") as f:
                    f.seek(size - 1)
                    self.fresh = f.read(1) == b"\n"
        except OSError as exc:
            raise BenchIOError(f"{path}: cannot open it for appending ({exc.strerror or exc}); "
                               "pass another --out") from None

    def append(self, row: dict[str, Any]) -> None:
        data = ("" if self.fresh else "\n") + json.dumps(row) + "\n"
        self.fresh = False
        view = memoryview(data.encode())
        while view:
            n = os.write(self.fd, view)
            view = view[n:]
        self.fresh = True

    def close(self) -> None:
        os.close(self.fd)


def _compact(path: Path, rows: dict[tuple[str, str], dict[str, Any]]) -> None:
    """Rewrite ``path`` with one row per ``(onnx, vnnlib)`` (atomic: temporary + rename)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".results-", suffix=".jsonl")
    try:
        with open(fd, "w", encoding="utf-8") as f:
            for row in rows.values():
                f.write(json.dumps(row) + "\n")
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def run_bench(folder: Path, out: Path, *, jobs: int | None = None, pattern: str = "",
              timeout: float | None = None, rerun: bool = False,
              config: VerifierConfig | None = None, progress: bool | None = None,
              echo: Callable[[str], None] = print, proofs: bool = False) -> BenchRun:
    """Run (or resume) the benchmark in ``folder``, appending to ``out/results.jsonl`` and
    writing one VNN-COMP results file per instance under ``out/results``.

    The instances selected are those of ``instances.csv`` matching ``pattern``.  Each is
    reused from an earlier run when its row's key matches (see the module docstring), else
    run; ``rerun`` runs every selected instance again.  Rows of instances not selected are
    kept.  ``config``: the verifier configuration (default: the default one); each instance
    mixes its own seed into it (:func:`instance_config`).  ``progress``: a live ``tqdm`` bar
    (default: when stdout and stderr are terminals); otherwise one line per finished instance
    through ``echo``.  ``proofs``: every ``unsat`` gets a certificate in ``out/proofs``
    (``check-proof`` reads it; the row names it).
    """
    from tqdm import tqdm

    if jobs is None:
        jobs = os.cpu_count() or 1
    if jobs < 1:
        raise InputError(f"--jobs must be at least 1, got {jobs}")
    if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
        raise InputError(f"--timeout must be a positive finite number of seconds, got {timeout}")
    instances = read_instances(folder, pattern, timeout)
    expected = read_expected(folder)
    _prepare_out(out)
    if proofs:
        try:
            (out / PROOFS_DIR).mkdir(exist_ok=True)
        except OSError as exc:
            raise BenchIOError(f"{out / PROOFS_DIR}: cannot create the certificates' folder "
                               f"({exc.strerror or exc}); choose another --out") from None
    results_path = out / RESULTS_FILE
    done: dict[tuple[str, str], dict[str, Any]] = {}
    if results_path.is_file():
        for row in read_rows(results_path):
            done[(row["onnx"], row["vnnlib"])] = row  # the last row of a pair wins
    env = environment()

    digests: dict[Path, tuple[str | None, str]] = {}

    def digest(path: Path) -> tuple[str | None, str]:
        if path not in digests:
            try:
                digests[path] = (_file_sha256(path), "")
            except OSError as exc:
                digests[path] = (None, f"{path}: cannot read it ({exc.strerror or exc})")
        return digests[path]

    rows: dict[tuple[str, str], dict[str, Any]] = {}
    todo: list[tuple[Instance, VerifierConfig, dict[str, Any], str]] = []
    broken: list[tuple[Instance, dict[str, Any]]] = []
    for inst in instances:
        (h_onnx, e_onnx), (h_vnnlib, e_vnnlib) = (digest(inst.folder / inst.onnx),
                                                  digest(inst.folder / inst.vnnlib))
        if h_onnx is None or h_vnnlib is None:
            reason = "; ".join(e for e in (e_onnx, e_vnnlib) if e)
            broken.append((inst, {"status": "error", "time": 0.0, "stats": {},
                                  "reason": f"{reason} (instances.csv line {inst.line})"}))
            continue
        cfg = instance_config(inst, config)
        fields = key_fields(h_onnx, h_vnnlib, inst.timeout, cfg, inst.vnnlib, env, proofs)
        key = instance_key(fields)
        old = done.get(inst.ident)
        if not rerun and _reusable(old, key, out):
            assert old is not None
            row = dict(old)
            row["expected"] = expected.get(inst.ident)
            row["verdict"] = verdict(row["status"], row["expected"])
            rows[inst.ident] = row
        else:
            todo.append((inst, cfg, fields, key))
    reused = len(rows)
    counts = {k: 0 for k in ("sat", "unsat", "unknown", "timeout", "error", "wrong")}
    for row in rows.values():
        _count(counts, row)

    log = _Log(results_path)
    if progress is None:
        progress = sys.stdout.isatty() and sys.stderr.isatty()
    bar = tqdm(total=len(instances), initial=reused, disable=not progress, unit="inst")
    bar.set_postfix(counts, refresh=False)
    if not progress and reused:
        echo(f"resuming: {reused} instance(s) already in {results_path}")
    run = BenchRun([], reused)

    def warn(message: str) -> None:
        run.io_errors.append(message)
        tqdm.write(f"verinet: warning: {message}", file=sys.stderr)

    def finish(inst: Instance, res: dict[str, Any], key: str | None,
               fields: dict[str, Any] | None) -> None:
        exp = expected.get(inst.ident)
        status = res["status"]
        rel = f"{RESULTS_DIR}/{results_name(inst.onnx, inst.vnnlib)}"
        row: dict[str, Any] = {
            "format": FORMAT, "key": key, "onnx": inst.onnx, "vnnlib": inst.vnnlib,
            "timeout": inst.timeout, "status": status, "time": res["time"], "expected": exp,
            "verdict": verdict(status, exp), "results_file": rel,
            "stats": res.get("stats", {}), "reason": res.get("reason", "")}
        if "semantics" in res:
            row["semantics"] = res["semantics"]
        for k in ("proof", "proof_error", "peak_mib"):
            if k in res:
                row[k] = res[k]
        try:  # the results file first: a row never names a file not yet written
            with open(out / rel, "w", encoding="utf-8") as f:
                f.write(res.get("results_text") or f"{status}\n")
        except OSError as exc:
            message = (f"{out / rel}: cannot write the results file of {inst.onnx} "
                       f"{inst.vnnlib} ({exc.strerror or exc})")
            row["results_file"] = None
            row["results_file_error"] = message
            warn(message)
            try:
                os.unlink(out / rel)  # no cut-short witness left behind
            except OSError:
                pass
        row["key_of"] = fields
        try:
            log.append(row)
        except OSError as exc:
            run.unsaved.append(row)
            warn(f"{results_path}: cannot append the row of {inst.onnx} {inst.vnnlib} "
                 f"({exc.strerror or exc})")
        rows[inst.ident] = row
        _count(counts, row)
        bar.set_postfix(counts, refresh=False)
        bar.update(1)
        if not progress:
            echo(f"{inst.onnx} {inst.vnnlib}: {status} "
                 f"({row['time']:.2f} s) expected {exp or '-'}: {row['verdict']}")

    def proof_path(inst: Instance) -> str | None:
        if not proofs:
            return None
        name = results_name(inst.onnx, inst.vnnlib).removesuffix(".txt") + ".json.gz"
        return str(out / PROOFS_DIR / name)

    live = _Live()
    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        for inst, res in broken:
            finish(inst, res, None, None)  # no key: never reused
        futures: dict[Future[dict[str, Any]], tuple[Instance, dict[str, Any], str]] = {
            pool.submit(run_instance, inst, live, cfg, proof_path(inst)): (inst, fields, key)
            for inst, cfg, fields, key in todo}
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for fut in finished:
                inst, fields, key = futures[fut]
                finish(inst, fut.result(), key, fields)
    except BaseException:
        live.kill_all()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        bar.close()
        log.close()
    pool.shutdown(wait=True)
    if not run.unsaved and (todo or broken):
        merged = dict(done)
        merged.update(rows)
        try:
            _compact(results_path, merged)
        except OSError as exc:
            warn(f"{results_path}: cannot rewrite it with one row per instance "
                 f"({exc.strerror or exc}); the appended rows are kept")
    run.rows = [rows[inst.ident] for inst in instances if inst.ident in rows]
    return run


def _count(counts: dict[str, int], row: dict[str, Any]) -> None:
    if row["status"] in counts:
        counts[row["status"]] += 1
    if row.get("verdict") == "WRONG":
        counts["wrong"] += 1
