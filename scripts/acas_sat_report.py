#!/usr/bin/env python3
"""Counterexamples for every ACAS Xu instance expected ``sat``, replayed independently.

Usage::

    python scripts/acas_sat_report.py [--benchmarks DIR] [--timeout S] [--out FILE]

For each instance of ``expected.csv`` whose answer is ``sat``: ``verinet verify`` (116 s)
writes a VNN-COMP results file, then ``verinet check-cex`` replays it (float64 IR and
onnxruntime on the ONNX file, no tolerance).  The report gives, per instance, who found the
counterexample (falsification pass or search), the time, and the replayed margins; and the
totals the project tracks: found by attacks alone, median time to the first
counterexample, smallest violation margin.  Exit code 1 if any instance lacks a
counterexample that check-cex accepts.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _default_dir() -> Path:
    env = os.environ.get("VERINET_BENCHMARKS")
    return (Path(env) if env else ROOT.parent / "shared" / "benchmarks") / "acasxu"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--benchmarks", type=Path, default=_default_dir())
    ap.add_argument("--timeout", type=float, default=116.0)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "ATTACKS.md")
    args = ap.parse_args(argv)

    from verinet.cli import main as cli

    folder = args.benchmarks
    with open(folder / "expected.csv") as f:
        sat = [(r["onnx"], r["vnnlib"]) for r in csv.DictReader(f) if r["expected"] == "sat"]
    rows, failures = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for onnx, vnnlib in sat:
            res = Path(tmp) / f"{onnx}.{vnnlib}.txt"
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                code = cli(["verify", str(folder / onnx), "--vnnlib", str(folder / vnnlib),
                            "--timeout", str(args.timeout), "--json",
                            "--results-file", str(res)])
            obj = json.loads(out.getvalue())
            chk = io.StringIO()
            with contextlib.redirect_stdout(chk):
                ccode = cli(["check-cex", str(folder / onnx), str(folder / vnnlib), str(res)])
            cex = obj["counterexample"] or {}
            ok = code == 10 and ccode == 0
            failures += not ok
            rows.append({"onnx": onnx, "vnnlib": vnnlib, "status": obj["status"],
                         "time": obj["time"], "source": cex.get("source", ""),
                         "checks": cex.get("checks", {}), "check_cex": ccode, "ok": ok})
            print(f"{onnx:36s} {vnnlib:15s} {obj['status']:6s} {obj['time']:7.2f} s "
                  f"{cex.get('source', ''):22s} check-cex exit {ccode}", flush=True)
    attacks = {"random sampling", "uniform", "corners", "fgsm", "pgd"}
    by_attack = sum(r["source"] in attacks for r in rows)
    times = [r["time"] for r in rows if r["status"] == "sat"]
    margins = [min(r["checks"].values()) for r in rows if r["checks"]]
    lines = ["# ACAS Xu: counterexamples for the instances expected sat", "",
             "Produced by `python scripts/acas_sat_report.py`: `verinet verify` (116 s) writes "
             "the VNN-COMP results file, `verinet check-cex` replays it in float64 and in "
             "onnxruntime with no tolerance.", "",
             f"- instances expected sat: {len(rows)}",
             f"- counterexample found and accepted by check-cex: "
             f"{sum(r['ok'] for r in rows)}",
             f"- found by the falsification pass alone (before any search): {by_attack}",
             f"- median time to the first counterexample: "
             f"{statistics.median(times) if times else float('nan'):.2f} s "
             f"(worst {max(times) if times else float('nan'):.2f} s)",
             f"- smallest violation margin (min over float64 and onnxruntime): "
             f"{min(margins) if margins else float('nan'):.3g}", "",
             "| network | property | found by | time (s) | float64 margin | onnxruntime margin "
             "| check-cex |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        c = r["checks"]
        lines.append(f"| {r['onnx']} | {r['vnnlib']} | {r['source']} | {r['time']:.2f} | "
                     f"{c.get('float64', float('nan')):.3g} | "
                     f"{c.get('onnxruntime', float('nan')):.3g} | "
                     f"{'valid' if r['check_cex'] == 0 else 'REJECTED'} |")
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines[4:10]))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
