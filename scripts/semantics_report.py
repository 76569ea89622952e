"""What float32 semantics costs: a benchmark folder under both ``--semantics``, side by side.

Runs ``verinet bench FOLDER --semantics real`` and ``--semantics float32`` at the same time
(one process each, ``--jobs 1`` each, so both see the same load), then appends to
``OUT/SEMANTICS.md`` the answers (how many agree, how many are right by ``expected.csv``),
the total times and their ratio, and the instances whose answers differ or whose times moved
most.  Benchmark folders are read where they are; nothing is copied.

    python scripts/semantics_report.py ../shared/benchmarks/acasxu --out benchmarks
    python scripts/semantics_report.py ../shared/benchmarks/verivital --filter avgpool \\
        --timeout 120 --out benchmarks
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def run_both(folder: Path, work: Path, extra: list[str]) -> dict[str, dict]:
    procs = {}
    for sem in ("real", "float32"):
        out = work / sem
        cmd = [sys.executable, "-m", "verinet", "bench", str(folder), "--jobs", "1",
               "--semantics", sem, "--out", str(out), "--rerun", *extra]
        procs[sem] = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                      text=True)
    rows = {}
    for sem, p in procs.items():
        _, err = p.communicate()
        if p.returncode not in (0, 11):
            raise SystemExit(f"bench --semantics {sem} failed ({p.returncode}): {err[-400:]}")
        with open(work / sem / "results.jsonl") as f:
            rows[sem] = {(r["onnx"], r["vnnlib"]): r for r in map(json.loads, f)}
    return rows


def report(name: str, rows: dict[str, dict], note: str) -> str:
    a, b = rows["real"], rows["float32"]
    keys = [k for k in a if k in b]

    def count(d, pred):
        return sum(1 for k in keys if pred(d[k]))

    ta, tb = sum(a[k]["time"] for k in keys), sum(b[k]["time"] for k in keys)
    decided = {s: count(rows[s], lambda r: r["status"] in ("sat", "unsat")) for s in rows}
    right = {s: count(rows[s], lambda r: r["verdict"] == "ok") for s in rows}
    wrong = {s: count(rows[s], lambda r: r["verdict"] == "wrong") for s in rows}
    diff = [k for k in keys if a[k]["status"] != b[k]["status"]]
    lines = [f"## {name}", "", note, "",
             "| semantics | instances | decided | sat | unsat | correct | wrong | total time (s) |",
             "|---|---|---|---|---|---|---|---|"]
    for s in ("real", "float32"):
        d = rows[s]
        lines.append(f"| {s} | {len(keys)} | {decided[s]} | "
                     f"{count(d, lambda r: r['status'] == 'sat')} | "
                     f"{count(d, lambda r: r['status'] == 'unsat')} | {right[s]} | {wrong[s]} | "
                     f"{sum(d[k]['time'] for k in keys):.1f} |")
    lines += ["", f"float32 / real total time: **{tb / max(ta, 1e-9):.3f}**; same answer on "
              f"{len(keys) - len(diff)} of {len(keys)} instances.", ""]
    if diff:
        lines += ["Different answers:", "", "| instance | real | float32 | float32 reason |",
                  "|---|---|---|---|"]
        lines += [f"| {Path(k[0]).stem} {Path(k[1]).stem} | {a[k]['status']} | "
                  f"{b[k]['status']} | {b[k].get('reason', '')[:100]} |" for k in diff]
        lines.append("")
    slow = sorted(keys, key=lambda k: -max(a[k]["time"], b[k]["time"]))[:8]
    lines += ["Slowest instances:", "", "| instance | real (s) | float32 (s) | ratio |",
              "|---|---|---|---|"]
    lines += [f"| {Path(k[0]).stem} {Path(k[1]).stem} | {a[k]['time']:.2f} | "
              f"{b[k]['time']:.2f} | {b[k]['time'] / max(a[k]['time'], 1e-9):.2f} |"
              for k in slow]
    return "\n".join(lines) + "\n\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--out", type=Path, default=Path("benchmarks"))
    ap.add_argument("--filter", default="")
    ap.add_argument("--timeout", type=float, default=None)
    ap.add_argument("--name", default="")
    args = ap.parse_args()
    extra = (["--filter", args.filter] if args.filter else []) + (
        ["--timeout", str(args.timeout)] if args.timeout else [])
    with tempfile.TemporaryDirectory() as tmp:
        rows = run_both(args.folder, Path(tmp), extra)
    note = ("Both runs at once, `verinet bench --jobs 1` each, on this 2-core machine"
            + (f"; instances matching `{args.filter}`" if args.filter else "")
            + (f"; timeouts capped at {args.timeout:g} s" if args.timeout else
               "; each instance's own timeout") + ".")
    text = report(args.name or args.folder.name, rows, note)
    path = args.out / "SEMANTICS.md"
    if not path.exists():
        path.write_text("# float32 semantics: what it costs\n\n`unsat` proved for the network "
                        "as it runs in float32 (the default) against `--semantics real` (the "
                        "real-valued function of the weights), made by "
                        "`python scripts/semantics_report.py FOLDER --out benchmarks`.\n\n")
    with open(path, "a") as f:
        f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
