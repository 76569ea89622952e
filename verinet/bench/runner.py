"""Run a VNN-COMP benchmark folder, one spawned process per instance, resumable.

A folder holds ``instances.csv`` (``onnx,vnnlib,timeout`` per line, no header) and optionally
``expected.csv`` (header ``onnx,vnnlib,expected``).  Each instance runs in its own process
(``spawn``) that loads the model and the property and calls :func:`verinet.verify` with the
instance's timeout, counted from before loading; a process still running ``GRACE`` seconds
after its budget is killed and recorded as ``timeout``.  Parallelism comes from a thread pool
in which each thread starts one process and waits for it.

Every finished instance is appended at once to ``OUT/results.jsonl``; a later run skips the
instances whose key is already there, so an interrupted run resumes where it stopped.

Test hook: the worker process (only it) reads ``VERINET_BENCH_TEST_SLEEP``, of the form
``NAME:SECONDS``; an instance whose VNN-LIB file name contains ``NAME`` sleeps ``SECONDS``
before verifying.  The tests use it to make a deterministically slow instance.
"""

from __future__ import annotations

import csv
import hashlib
import json
import multiprocessing as mp
import os
import re
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from .report import verdict

__all__ = ["GRACE", "Instance", "default_dir", "instance_key", "read_instances",
           "read_expected", "run_instance", "run_bench", "RESULTS_FILE", "SUMMARY_FILE"]

GRACE = 5.0  #: seconds a worker may overrun its budget before it is killed
RESULTS_FILE = "results.jsonl"
SUMMARY_FILE = "summary.md"
_SLEEP_HOOK = "VERINET_BENCH_TEST_SLEEP"


def instance_key(onnx: str, vnnlib: str, timeout: float) -> str:
    """Short hex sha256 of ``onnx|vnnlib|timeout``: the instance's identity in results.jsonl."""
    return hashlib.sha256(f"{onnx}|{vnnlib}|{timeout:g}".encode()).hexdigest()[:16]


def _seed(onnx: str, vnnlib: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{onnx}|{vnnlib}".encode()).digest()[:4], "big")


@dataclass(frozen=True)
class Instance:
    """One line of ``instances.csv``; paths relative to ``folder``."""

    folder: Path
    onnx: str
    vnnlib: str
    timeout: float

    @property
    def key(self) -> str:
        return instance_key(self.onnx, self.vnnlib, self.timeout)

    @property
    def seed(self) -> int:
        return _seed(self.onnx, self.vnnlib)


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


def read_instances(folder: Path, pattern: str = "", timeout: float | None = None
                   ) -> list[Instance]:
    """The instances of ``folder/instances.csv`` whose ``"onnx vnnlib"`` matches ``pattern``
    (a regular expression, searched); ``timeout`` overrides every instance's timeout."""
    path = folder / "instances.csv"
    if not path.is_file():
        raise InputError(f"{path}: not found; DIR must be a VNN-COMP benchmark folder "
                         "(instances.csv: onnx,vnnlib,timeout per line)")
    try:
        rx = re.compile(pattern) if pattern else None
    except re.error as exc:
        raise InputError(f"--filter {pattern!r}: not a regular expression ({exc})") from None
    out = []
    with open(path, newline="", encoding="utf-8") as f:
        for n, row in enumerate(csv.reader(f), start=1):
            if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
                continue
            if len(row) != 3:
                raise InputError(f"{path}:{n}: expected onnx,vnnlib,timeout, got {row}")
            onnx, vnnlib, tmo = (c.strip() for c in row)
            try:
                t = float(tmo)
            except ValueError:
                raise InputError(f"{path}:{n}: timeout {tmo!r} is not a number") from None
            if rx and not rx.search(f"{onnx} {vnnlib}"):
                continue
            out.append(Instance(folder, onnx, vnnlib, timeout if timeout is not None else t))
    return out


def read_expected(folder: Path) -> dict[tuple[str, str], str]:
    """``(onnx, vnnlib) -> expected`` from ``folder/expected.csv`` (empty if absent)."""
    path = folder / "expected.csv"
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    try:
        return {(r["onnx"].strip(), r["vnnlib"].strip()): r["expected"].strip().lower()
                for r in rows}
    except (KeyError, AttributeError):
        raise InputError(f"{path}: expected a header onnx,vnnlib,expected") from None


# ---------------------------------------------------------------------- worker
def _test_sleep(vnnlib: str) -> None:
    hook = os.environ.get(_SLEEP_HOOK, "")
    if ":" in hook:
        name, seconds = hook.rsplit(":", 1)
        if name and name in Path(vnnlib).name:
            time.sleep(float(seconds))


def _worker(onnx_path: str, vnnlib_path: str, timeout: float, seed: int, conn: Any) -> None:
    """The body of an instance's process: load, verify, send one dict down ``conn``."""
    start = time.monotonic()
    try:
        _test_sleep(vnnlib_path)
        from verinet.config import VerifierConfig
        from verinet.network import load
        from verinet.spec import read_vnnlib
        from verinet.verify import verify

        net = load(onnx_path)
        prop = read_vnnlib(vnnlib_path)
        r = verify(net, prop, timeout=timeout, config=VerifierConfig(seed=seed), start=start)
        res = {"status": r.status.value, "time": time.monotonic() - start,
               "stats": r.stats.to_dict(), "reason": r.reason}
    except Exception as e:  # recorded, never silently dropped
        res = {"status": "error", "time": time.monotonic() - start, "stats": {},
               "reason": f"{type(e).__name__}: {e}"}
    conn.send(res)
    conn.close()


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


def run_instance(inst: Instance, live: _Live | None = None) -> dict[str, Any]:
    """Run ``inst`` in a spawned process; kill it ``GRACE`` s after its budget."""
    ctx = mp.get_context("spawn")
    recv, send = ctx.Pipe(duplex=False)
    t0 = time.monotonic()
    p = ctx.Process(target=_worker, daemon=True,
                    args=(str(inst.folder / inst.onnx), str(inst.folder / inst.vnnlib),
                          inst.timeout, inst.seed, send))
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
def _load_done(path: Path) -> dict[str, dict[str, Any]]:
    done: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return done
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # e.g. a last line cut short: recomputed
            if isinstance(row, dict) and isinstance(row.get("key"), str):
                done[row["key"]] = row
    return done


def run_bench(folder: Path, out: Path, *, jobs: int | None = None, pattern: str = "",
              timeout: float | None = None, rerun: bool = False,
              progress: bool | None = None,
              echo: Callable[[str], None] = print) -> tuple[list[dict[str, Any]], int]:
    """Run (or resume) the benchmark in ``folder``, appending to ``out/results.jsonl``.

    Returns the rows of every selected instance (reused ones included, in ``instances.csv``
    order) and how many were reused from an earlier run.  ``progress``: a live ``tqdm`` bar
    (default: when stdout and stderr are terminals); otherwise one line per finished instance
    through ``echo``.
    """
    from tqdm import tqdm

    jobs = jobs or os.cpu_count() or 1
    if jobs < 1:
        raise InputError(f"--jobs must be at least 1, got {jobs}")
    if timeout is not None and not timeout > 0:
        raise InputError(f"--timeout must be positive, got {timeout}")
    instances = read_instances(folder, pattern, timeout)
    expected = read_expected(folder)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / RESULTS_FILE
    if rerun and results_path.exists():
        results_path.unlink()
    done = _load_done(results_path)

    rows: dict[str, dict[str, Any]] = {}
    todo: list[Instance] = []
    for inst in instances:
        if inst.key in rows:
            continue  # a duplicate line of instances.csv
        if inst.key in done:
            row = dict(done[inst.key])
            row["expected"] = expected.get((inst.onnx, inst.vnnlib))
            row["verdict"] = verdict(row["status"], row["expected"])
            rows[inst.key] = row
        else:
            todo.append(inst)
    reused = len(rows)
    counts = {k: 0 for k in ("sat", "unsat", "unknown", "timeout", "error", "wrong")}
    for row in rows.values():
        _count(counts, row)

    if progress is None:
        progress = sys.stdout.isatty() and sys.stderr.isatty()
    bar = tqdm(total=len(rows) + len(todo), initial=reused, disable=not progress,
               unit="inst")
    bar.set_postfix(counts, refresh=False)
    if not progress and reused:
        echo(f"resuming: {reused} instance(s) already in {results_path}")
    live = _Live()
    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        with open(results_path, "a", encoding="utf-8") as log:
            futures: dict[Future[dict[str, Any]], Instance] = {
                pool.submit(run_instance, inst, live): inst for inst in todo}
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for fut in finished:
                    inst = futures[fut]
                    res = fut.result()
                    exp = expected.get((inst.onnx, inst.vnnlib))
                    row = {"key": inst.key, "onnx": inst.onnx, "vnnlib": inst.vnnlib,
                           "timeout": inst.timeout, "status": res["status"],
                           "time": res["time"], "expected": exp,
                           "verdict": verdict(res["status"], exp),
                           "stats": res.get("stats", {}), "reason": res.get("reason", "")}
                    log.write(json.dumps(row) + "\n")
                    log.flush()
                    rows[inst.key] = row
                    _count(counts, row)
                    bar.set_postfix(counts, refresh=False)
                    bar.update(1)
                    if not progress:
                        echo(f"{inst.onnx} {inst.vnnlib}: {row['status']} "
                             f"({row['time']:.2f} s) expected {exp or '-'}: {row['verdict']}")
    except BaseException:
        live.kill_all()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        bar.close()
    pool.shutdown(wait=True)
    order = [inst.key for inst in instances]
    return [rows[k] for k in dict.fromkeys(order) if k in rows], reused


def _count(counts: dict[str, int], row: dict[str, Any]) -> None:
    if row["status"] in counts:
        counts[row["status"]] += 1
    if row.get("verdict") == "WRONG":
        counts["wrong"] += 1
