"""Where the time goes on given instances: verinet's own phase timers and a py-spy sample.

    python scripts/profile_report.py BENCH ONNX,VNNLIB [ONNX,VNNLIB ...] --out FILE.md

Each instance runs once under ``py-spy record`` (sampling, 100 Hz, raw stacks); the report
gives the phase timers of the result (attack, bounds, LP, z3) and the verinet functions
with the largest share of samples, inclusive (a function's callees count towards it) and
exclusive (samples whose innermost verinet frame it is).
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path


def _profile(bench: Path, onnx: str, vnnlib: str, timeout: float, extra: list[str]
             ) -> tuple[dict, dict, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "stacks.txt"
        cmd = ["py-spy", "record", "-r", "100", "-f", "raw", "-o", str(raw), "--",
               sys.executable, "-m", "verinet", "verify", str(bench / onnx), "--vnnlib",
               str(bench / vnnlib), "--timeout", str(timeout), "--json",
               "--jobs", "1", *extra]  # one process: the one py-spy watches
        out = subprocess.run(cmd, capture_output=True, text=True)
        # (py-spy writes its own lines to stdout too)
        result = json.loads(next(x for x in reversed(out.stdout.splitlines())
                                 if x.startswith("{")))
        incl: collections.Counter = collections.Counter()
        excl: collections.Counter = collections.Counter()
        total = 0
        for line in raw.read_text().splitlines():
            stack, n = line.rsplit(" ", 1)
            total += int(n)
            # a function, not a line: "name (verinet/file.py:123)" -> "name (verinet/file.py)"
            frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";") if "verinet/" in f]
            for f in set(frames):
                incl[f] += int(n)
            if frames:
                excl[frames[-1]] += int(n)
    share = {k: v / max(total, 1) for k, v in incl.items()}
    own = {k: v / max(total, 1) for k, v in excl.items()}
    return result, share, own


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bench", type=Path)
    ap.add_argument("instances", nargs="+", help="ONNX,VNNLIB paths relative to BENCH")
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--verify-args", default="",
                    help="more options for verinet verify, one string (e.g. '--relu-engine lp')")
    args = ap.parse_args()
    extra = args.verify_args.split()
    lines = [f"# Profiles: {args.bench.name}", "",
             "Made by `python scripts/profile_report.py " + args.bench.name + " " +
             " ".join(args.instances) + (f" --timeout {args.timeout:g}") +
             (f" --verify-args '{args.verify_args}'" if extra else "") +
             "`: `verinet verify --jobs 1` under `py-spy record` "
             "(100 Hz). "
             "Phase times are the result's own timers; shares are of all samples.", ""]
    for inst in args.instances:
        onnx, vnnlib = inst.split(",")
        res, share, own = _profile(args.bench, onnx, vnnlib, args.timeout, extra)
        st = res.get("stats", {})
        t = float(res.get("time", 0.0))
        lines += [f"## {Path(onnx).stem} {Path(vnnlib).stem}: {res.get('status')} in {t:.1f} s",
                  "", f"attack {st.get('time_attack', 0):.1f} s, bounds "
                  f"{st.get('time_bounds', 0):.1f} s, LP {st.get('time_lp', 0):.1f} s, z3 "
                  f"{st.get('time_smt', 0):.1f} s; {st.get('boxes', 0)} boxes, "
                  f"{st.get('nodes', 0)} ReLU-split nodes, {st.get('lps', 0)} LPs.", "",
                  "| function (verinet) | inclusive | exclusive |", "|---|---|---|"]
        top = sorted(share, key=lambda k: -share[k])
        shown = [k for k in top if share[k] < 0.8][:8]  # below the call chain's trunk
        shown += [k for k in sorted(own, key=lambda k: -own[k])[:8] if k not in shown]
        for k in shown:
            lines.append(f"| `{k}` | {share[k]:.0%} | {own.get(k, 0.0):.0%} |")
        lines.append("")
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
