"""Total time of a VNN-COMP folder through scripts/vnncomp/run_instance.sh against
``verinet bench --jobs 1`` on the same folder, both at once (one core each), same load.

    python scripts/vnncomp_vs_bench.py [BENCH] [--append benchmarks/VNNCOMP.md]

A: every instance in turn through ``run_instance.sh v1`` (a fresh interpreter each, as the
competition calls it), its results file's first line checked against ``expected.csv``.
B: ``verinet bench BENCH --jobs 1 --rerun`` (one spawned process per instance).  Both are
timed wall-clock from start to end; they run side by side, one core each, so both see the
same machine load.  Prints a Markdown section (and appends it to ``--append``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _expected(bench: Path) -> dict[tuple[str, str], str]:
    out = {}
    p = bench / "expected.csv"
    if p.is_file():
        with open(p, newline="") as f:
            for row in csv.reader(f):
                if len(row) >= 3 and not row[0].startswith("#"):
                    out[(Path(row[0]).name, Path(row[1]).name)] = row[2].strip().lower()
    return out


def _instances(bench: Path) -> list[tuple[str, str, float]]:
    with open(bench / "instances.csv", newline="") as f:
        return [(r[0].strip(), r[1].strip(), float(r[2])) for r in csv.reader(f) if r]


def run_scripts(bench: Path, work: Path, env: dict) -> dict:
    script = ROOT / "scripts" / "vnncomp" / "run_instance.sh"
    expected = _expected(bench)
    counts = {"n": 0, "correct": 0, "wrong": 0, "other": 0}
    t0 = time.monotonic()
    for k, (onnx, vnnlib, timeout) in enumerate(_instances(bench)):
        res = work / f"r{k}.txt"
        subprocess.run(["bash", str(script), "v1", bench.name, str(bench / onnx),
                        str(bench / vnnlib), str(res), f"{timeout:g}"], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        first = res.read_text().split("\n", 1)[0].strip() if res.is_file() else "none"
        exp = expected.get((Path(onnx).name, Path(vnnlib).name), "")
        counts["n"] += 1
        if first in ("sat", "unsat") and exp in ("sat", "unsat"):
            counts["correct" if first == exp else "wrong"] += 1
        else:
            counts["other"] += 1
    counts["wall"] = time.monotonic() - t0
    return counts


def run_bench(bench: Path, work: Path, env: dict) -> dict:
    out = work / "bench"
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-m", "verinet", "bench", str(bench), "--jobs", "1",
                    "--rerun", "--out", str(out)], env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)
    wall = time.monotonic() - t0
    rows = [json.loads(ln) for ln in (out / "results.jsonl").read_text().splitlines()
            if ln.strip()]
    rows = [r for r in rows if "status" in r]
    verdicts = [r.get("verdict", "") for r in rows]
    return {"n": len(rows), "correct": sum(v == "ok" for v in verdicts),
            "wrong": sum(v == "WRONG" for v in verdicts),
            "other": sum(v not in ("ok", "WRONG") for v in verdicts), "wall": wall,
            "instance_time": sum(float(r.get("time", 0.0)) for r in rows)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = Path(os.environ.get("VERINET_BENCHMARKS", ROOT.parent / "shared" / "benchmarks"))
    ap.add_argument("bench", nargs="?", default=str(root / "acasxu"))
    ap.add_argument("--append", default=None, help="append the section to this Markdown file")
    args = ap.parse_args()
    bench = Path(args.bench).resolve()
    env = dict(os.environ, VERINET_PYTHON=sys.executable,
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with tempfile.TemporaryDirectory(prefix="vnncomp-bench-") as tmp:
        work = Path(tmp)
        got: dict[str, dict] = {}
        ta = threading.Thread(target=lambda: got.__setitem__("a", run_scripts(bench, work,
                                                                                env)))
        tb = threading.Thread(target=lambda: got.__setitem__("b", run_bench(bench, work, env)))
        ta.start()
        tb.start()
        ta.join()
        tb.join()
    a, b = got["a"], got["b"]
    lines = ["", f"## {bench.name}: run_instance.sh against `verinet bench`", "",
             "Made by `python scripts/vnncomp_vs_bench.py`: A runs every instance in turn "
             "through `run_instance.sh v1` (a fresh interpreter each); B is `verinet bench "
             "--jobs 1 --rerun` (one spawned process per instance); both at once, one core "
             f"each, on a {os.cpu_count()}-core machine. Wall-clock totals.", "",
             "| run | instances | correct | wrong | other | wall s |",
             "| --- | ---: | ---: | ---: | ---: | ---: |",
             f"| A: run_instance.sh | {a['n']} | {a['correct']} | {a['wrong']} | {a['other']} | "
             f"{a['wall']:.1f} |",
             f"| B: verinet bench | {b['n']} | {b['correct']} | {b['wrong']} | {b['other']} | "
             f"{b['wall']:.1f} |", "",
             f"A/B: {a['wall'] / max(b['wall'], 1e-9):.3f} (B's own per-instance times sum to "
             f"{b['instance_time']:.1f} s)."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.append:
        with open(args.append, "a", encoding="utf-8") as f:
            f.write(text)
    return 0 if a["wrong"] == 0 and b["wrong"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
