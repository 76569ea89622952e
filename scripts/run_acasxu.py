#!/usr/bin/env python3
"""Run verinet on the VNN-COMP ACAS Xu benchmark and write ``benchmarks/RESULTS.md``.

Usage::

    python scripts/run_acasxu.py [--benchmarks DIR] [--timeout S] [--jobs N]
                                 [--filter REGEX] [--strategy S] [--out FILE]

The benchmark folder defaults to ``$VERINET_BENCHMARKS/acasxu`` or
``../shared/benchmarks/acasxu`` beside the repository.  Each instance runs in its own
process with the instance's timeout (116 s unless ``--timeout``), counted from before the
model is loaded; a process still running 5 s after its budget is killed and recorded as
``timeout``.  Answers are compared with ``expected.csv``; any wrong answer is listed first
in the report and makes the exit code 1.
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing as mp
import os
import re
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GRACE = 5.0


def _default_dir() -> Path:
    env = os.environ.get("VERINET_BENCHMARKS")
    base = Path(env) if env else ROOT.parent / "shared" / "benchmarks"
    return base / "acasxu"


def _worker(onnx_path: str, vnnlib_path: str, timeout: float, strategy: str, queue) -> None:
    start = time.monotonic()
    try:
        from verinet.config import SearchConfig, VerifierConfig
        from verinet.network import load
        from verinet.spec import read_vnnlib
        from verinet.verify import verify

        net = load(onnx_path)
        prop = read_vnnlib(vnnlib_path)
        cfg = VerifierConfig(search=SearchConfig(strategy=strategy))
        r = verify(net, prop, timeout=timeout, config=cfg, start=start)
        queue.put({"status": r.status.value, "time": time.monotonic() - start,
                   "stats": r.stats.to_dict(), "reason": r.reason,
                   "margin": None if r.counterexample is None else r.counterexample.margin})
    except Exception as e:  # recorded, never silently dropped
        queue.put({"status": "error", "time": time.monotonic() - start, "stats": {},
                   "reason": f"{type(e).__name__}: {e}", "margin": None})


def run_one(folder: Path, onnx: str, vnnlib: str, timeout: float, strategy: str) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    t0 = time.monotonic()
    p = ctx.Process(target=_worker, args=(str(folder / onnx), str(folder / vnnlib), timeout,
                                          strategy, queue), daemon=True)
    p.start()
    p.join(timeout + GRACE)
    if p.is_alive():
        p.kill()
        p.join()
        return {"status": "timeout", "time": time.monotonic() - t0, "stats": {},
                "reason": "killed after overrunning its budget", "margin": None}
    try:
        return queue.get(timeout=5)
    except Exception:
        return {"status": "error", "time": time.monotonic() - t0, "stats": {},
                "reason": f"worker exited with code {p.exitcode} and no result", "margin": None}


def _job(args):
    folder, onnx, vnnlib, timeout, strategy = args
    return onnx, vnnlib, run_one(Path(folder), onnx, vnnlib, timeout, strategy)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--benchmarks", type=Path, default=_default_dir())
    ap.add_argument("--timeout", type=float, default=None, help="override every timeout")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--filter", default="", help="regex on 'onnx vnnlib'")
    ap.add_argument("--strategy", default="auto")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    ap.add_argument("--log", type=Path, default=None, help="JSON lines of every result")
    args = ap.parse_args(argv)

    folder = args.benchmarks
    if not (folder / "instances.csv").is_file():
        print(f"run_acasxu: {folder}/instances.csv not found; pass --benchmarks or set "
              "VERINET_BENCHMARKS", file=sys.stderr)
        return 2
    expected = {}
    if (folder / "expected.csv").is_file():
        with open(folder / "expected.csv") as f:
            for row in csv.DictReader(f):
                expected[(row["onnx"], row["vnnlib"])] = row["expected"]
    jobs = []
    with open(folder / "instances.csv") as f:
        for onnx, vnnlib, tmo in csv.reader(f):
            if args.filter and not re.search(args.filter, f"{onnx} {vnnlib}"):
                continue
            t = args.timeout if args.timeout is not None else float(tmo)
            jobs.append((str(folder), onnx.strip(), vnnlib.strip(), t, args.strategy))

    results = []
    log = open(args.log, "w") if args.log else None
    t_all = time.monotonic()
    if args.jobs > 1:
        # threads only wait: each instance still runs in its own process (run_one)
        with ThreadPoolExecutor(args.jobs) as pool:
            futures = [pool.submit(_job, job) for job in jobs]
            results = _collect((f.result() for f in as_completed(futures)), expected, log)
    else:
        results = _collect(map(_job, jobs), expected, log)
    wall = time.monotonic() - t_all
    if log:
        log.close()
    report = _report(results, args, wall)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)
    return 1 if any(r["verdict"] == "WRONG" for r in results) else 0


def _collect(it, expected, log):
    results = []
    for onnx, vnnlib, res in it:
        exp = expected.get((onnx, vnnlib), "unknown")
        status = res["status"]
        if status in ("sat", "unsat") and exp in ("sat", "unsat"):
            verdict = "ok" if status == exp else "WRONG"
        else:
            verdict = "undecided" if status not in ("sat", "unsat") else "no expectation"
        row = {"onnx": onnx, "vnnlib": vnnlib, "expected": exp, "verdict": verdict, **res}
        results.append(row)
        print(f"{onnx:36s} {vnnlib:15s} {status:8s} expected {exp:6s} {res['time']:7.2f} s "
              f"{verdict}", flush=True)
        if log:
            log.write(json.dumps(row) + "\n")
            log.flush()
    return results


def _report(results, args, wall) -> str:
    decided = [r for r in results if r["status"] in ("sat", "unsat")]
    wrong = [r for r in results if r["verdict"] == "WRONG"]
    times = [r["time"] for r in results]
    lines = ["# ACAS Xu results", ""]
    lines.append(f"Produced by `python scripts/run_acasxu.py` (strategy `{args.strategy}`, "
                 f"{args.jobs} job(s), timeout "
                 f"{'per instances.csv' if args.timeout is None else args.timeout} s) on "
                 f"{os.cpu_count()} cores; wall time {wall:.0f} s.")
    lines.append("")
    if wrong:
        lines.append("## WRONG ANSWERS")
        lines.append("")
        for r in wrong:
            lines.append(f"- **{r['onnx']} {r['vnnlib']}: answered {r['status']}, expected "
                         f"{r['expected']}**")
        lines.append("")
    n_sat = sum(r["status"] == "sat" for r in results)
    n_unsat = sum(r["status"] == "unsat" for r in results)
    lines += ["| instances | decided | sat | unsat | unknown | timeout | error | wrong | "
              "total time (s) | median time (s) |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
              f"| {len(results)} | {len(decided)} | {n_sat} | {n_unsat} | "
              f"{sum(r['status'] == 'unknown' for r in results)} | "
              f"{sum(r['status'] == 'timeout' for r in results)} | "
              f"{sum(r['status'] == 'error' for r in results)} | {len(wrong)} | "
              f"{sum(times):.1f} | {statistics.median(times) if times else 0:.2f} |", ""]
    lines += ["## The ten slowest instances", "",
              "| network | property | answer | expected | time (s) | boxes |",
              "| --- | --- | --- | --- | --- | --- |"]
    for r in sorted(results, key=lambda r: -r["time"])[:10]:
        lines.append(f"| {r['onnx']} | {r['vnnlib']} | {r['status']} | {r['expected']} | "
                     f"{r['time']:.2f} | {r['stats'].get('boxes', '')} |")
    undecided = [r for r in results if r["status"] not in ("sat", "unsat")]
    if undecided:
        lines += ["", "## Undecided", ""]
        for r in undecided:
            lines.append(f"- {r['onnx']} {r['vnnlib']}: {r['status']} ({r['reason']})")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
