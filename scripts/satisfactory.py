"""Run the vnnlib-satisfactory conformance suite through verinet's standard CLI.

The suite (``pip install vnnlib-satisfactory``, a test extra; it runs offline) builds
178 small ONNX networks with VNN-LIB 2.0 queries and known answers, and drives a solver
only through the standard command line (``SOLVER verify QUERY --network N=PATH
--timeout T``).  This script does the same, and adds what the suite does not check:
every ``sat`` assignment is replayed — each declared network's own ONNX file run by
onnxruntime on the assignment's inputs (hidden nodes exposed as extra outputs), and the
query's formula evaluated on the result.  A ``sat`` whose witness fails that replay
counts as wrong.

It writes a Markdown report with a table by operator family (the suite's category)::

    python scripts/satisfactory.py --out benchmarks/SATISFACTORY.md [--jobs 2]

Exit status: 0 when no answer is wrong, 1 otherwise.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from verinet.counterexample import case_margin  # noqa: E402
from verinet.spec.vnnlib2 import read_query  # noqa: E402


def generate(workdir: Path) -> list[dict]:
    """Build the suite's artifacts under ``workdir``; the manifest entries."""
    here = os.getcwd()
    os.chdir(workdir)
    try:
        try:
            from vnntest.core.generator import generate_all_tests
        except ImportError:
            raise SystemExit("satisfactory.py: the suite is not installed: pip install "
                             "vnnlib-satisfactory (or pip install '.[test]')") from None
        with contextlib.redirect_stdout(io.StringIO()):
            entries = generate_all_tests()
    finally:
        os.chdir(here)
    base = workdir / ".vnnlib-satisfactory" / "tests"
    for e in entries:
        folder = base / e["category"]
        e["vnnlib_path"] = str(folder / e["vnnlib"])
        e["onnx_paths"] = {n: str(folder / f) for n, f in e["networks"].items()}
    return entries


def parse_output(stdout: str) -> tuple[str, dict[str, np.ndarray]]:
    """The verdict (first line) and, after ``sat``, the assignment by tensor name."""
    lines = [ln.strip() for ln in stdout.splitlines() if ln.strip()]
    verdict = lines[0] if lines else ""
    values: dict[str, list[float]] = {}
    current = None
    for ln in lines[1:]:
        m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*) (\S+) \[([0-9,]*)\]", ln)
        if m:
            current = m.group(1)
            values[current] = []
        elif current is not None:
            values[current].append(float(ln))
    return verdict, {k: np.array(v) for k, v in values.items()}


def replay(entry: dict, assignment: dict[str, np.ndarray]) -> tuple[bool, str]:
    """Whether the assignment's inputs satisfy the query when every network's own file is
    run by onnxruntime (hidden nodes and outputs taken from onnxruntime, not the solver)."""
    import onnx
    import onnxruntime as ort

    query = read_query(entry["vnnlib_path"])
    x = np.zeros(query.n_inputs)
    y = np.zeros(query.n_outputs)
    for net in query.networks:
        path = entry["onnx_paths"][net.source]
        model = onnx.load(path)
        for t in net.hidden:
            model.graph.output.append(onnx.helper.make_empty_tensor_value_info(t.onnx_name))
        sess = ort.InferenceSession(model.SerializeToString(),
                                    providers=["CPUExecutionProvider"])
        inits = {i.name for i in model.graph.initializer}
        g_inputs = [vi for vi in sess.get_inputs() if vi.name not in inits]
        feed = {}
        for t, vi in zip(net.inputs, g_inputs):
            if t.name not in assignment or assignment[t.name].size != t.size:
                return False, f"assignment lacks input {t.name}"
            shape = [d if isinstance(d, int) and d > 0 else 1 for d in vi.shape]
            dtype = {"tensor(float)": np.float32, "tensor(double)": np.float64,
                     "tensor(float16)": np.float16}.get(vi.type, np.float32)
            v = assignment[t.name].astype(dtype)
            feed[vi.name] = v.reshape(shape)
            x[t.offset:t.offset + t.size] = v.astype(np.float64)
        outs = sess.run(None, feed)
        names = [o.name for o in sess.get_outputs()]
        for k, t in enumerate(net.outputs):
            src = t.onnx_name or names[k]
            y[t.offset:t.offset + t.size] = np.asarray(outs[names.index(src)],
                                                       dtype=np.float64).reshape(-1)
        for t in net.hidden:
            y[t.offset:t.offset + t.size] = np.asarray(outs[names.index(t.onnx_name)],
                                                       dtype=np.float64).reshape(-1)
    base = query.n_declared_outputs
    for k, factors in enumerate(query.products):  # POLY terms, from the replayed values
        y[base + k] = np.prod([x[i] if letter == "X" else y[i] for letter, i in factors])
    for case in query.prop.cases:
        if not case.box.contains(x):
            continue
        if float(case_margin(case, x[None], y[None])[0]) >= 0:
            return True, "replayed"
    return False, "the onnxruntime replay does not satisfy the query"


def run_one(solver: list[str], entry: dict, timeout: float) -> dict:
    cmd = [*solver, "verify", entry["vnnlib_path"]]
    for name, path in entry["onnx_paths"].items():
        cmd += ["--network", f"{name}={path}"]
    cmd += ["--timeout", str(timeout)]
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 30)
        out, err, rc = p.stdout, p.stderr, p.returncode
    except subprocess.TimeoutExpired:
        out, err, rc = "", "killed after the timeout", -1
    dt = time.monotonic() - t0
    verdict, assignment = parse_output(out)
    expected = entry["expected"].lower()
    row = {"name": entry["name"], "category": entry["category"], "expected": expected,
           "verdict": verdict or "none", "seconds": round(dt, 2), "rc": rc,
           "stderr": err.strip().splitlines()[-1] if err.strip() else "",
           "engine": "interval" if "deciding by interval bounds" in err else "IR"}
    if verdict == "sat":
        ok, why = replay(entry, assignment)
        row["replay"] = why
        row["outcome"] = "correct" if ok and expected == "sat" else "wrong"
    elif verdict == "unsat":
        row["outcome"] = "correct" if expected == "unsat" else "wrong"
    elif rc in (3, 4, 5):
        row["outcome"] = "refused"
    else:
        row["outcome"] = "unknown"
    return row


def report(rows: list[dict], seconds: float, timeout: float, jobs: int = 1) -> str:
    by = collections.defaultdict(collections.Counter)
    for r in rows:
        by[r["category"]][r["outcome"]] += 1
    tot = collections.Counter(r["outcome"] for r in rows)
    lines = ["# vnnlib-satisfactory through the standard CLI", "",
             "Made by `python scripts/satisfactory.py`: every case of the suite run as "
             "`verinet verify QUERY --network NAME=PATH --timeout "
             f"{timeout:g}`; every `sat` assignment replayed by onnxruntime on the networks' "
             "own files and checked against the query. `refused`: verinet declined with a "
             "clear error (reason below); `unknown`: no answer.", "",
             f"Total: {len(rows)} cases, **{tot['correct']} correct**, {tot['wrong']} wrong, "
             f"{tot['refused']} refused, {tot['unknown']} unknown; wall time {seconds:.0f} s.",
             "", f"Machine: {os.cpu_count()} cores, {jobs} case(s) at a time.", "",
             "`by intervals`: cases the piecewise-linear engines refused (an operator or a "
             "property outside the IR) and the interval engine decided: `unsat` from sound "
             "interval bounds of the real-valued function, `sat` from a float32 point "
             "replayed in onnxruntime (see docs/vnnlib2.md).", "",
             "| family | cases | correct | wrong | refused | unknown | by intervals | "
             "sat | unsat |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for cat in sorted(by):
        c = by[cat]
        mine = [r for r in rows if r["category"] == cat]
        lines.append(f"| {cat} | {sum(c.values())} | {c['correct']} | {c['wrong']} | "
                     f"{c['refused']} | {c['unknown']} | "
                     f"{sum(r.get('engine') == 'interval' for r in mine)} | "
                     f"{sum(r['expected'] == 'sat' for r in mine)} | "
                     f"{sum(r['expected'] == 'unsat' for r in mine)} |")
    n_int = sum(r.get("engine") == "interval" for r in rows)
    lines += ["", f"Decided by the interval engine: {n_int} of {len(rows)}; the slowest "
              f"case took {max((r['seconds'] for r in rows), default=0):.1f} s."]
    rest = [r for r in rows if r["outcome"] != "correct"]
    if rest:
        lines += ["", "Cases not answered correctly:", "",
                  "| case | expected | verinet | outcome | reason |",
                  "| --- | --- | --- | --- | --- |"]
        for r in sorted(rest, key=lambda r: r["name"]):
            why = (r.get("replay") or r["stderr"]).replace("|", "/")
            why = re.sub(r"/\S*/\.vnnlib-satisfactory/tests/", "", why)[:200]
            lines.append(f"| {r['name']} | {r['expected']} | {r['verdict']} | "
                         f"{r['outcome']} | {why} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--solver", default=None,
                    help="the solver command (default: this Python's -m verinet)")
    ap.add_argument("--timeout", type=float, default=20.0)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--filter", default="", help="only cases whose name matches this regex")
    ap.add_argument("--out", default=None, help="write the Markdown report here")
    ap.add_argument("--json", default=None, help="write the per-case rows here")
    args = ap.parse_args(argv)
    solver = args.solver.split() if args.solver else [sys.executable, "-m", "verinet"]
    env_path = str(ROOT)
    os.environ["PYTHONPATH"] = env_path + os.pathsep + os.environ.get("PYTHONPATH", "")
    with tempfile.TemporaryDirectory(prefix="satisfactory-") as tmp:
        entries = [e for e in generate(Path(tmp)) if re.search(args.filter, e["name"])]
        t0 = time.monotonic()
        with ThreadPoolExecutor(max(1, args.jobs)) as pool:
            rows = list(pool.map(lambda e: run_one(solver, e, args.timeout), entries))
        seconds = time.monotonic() - t0
    text = report(rows, seconds, args.timeout, max(1, args.jobs))
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 1 if any(r["outcome"] == "wrong" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
