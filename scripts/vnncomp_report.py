"""Run ACAS Xu (or any VNN-COMP folder) through scripts/vnncomp/run_instance.sh the way the
competition harness does, side by side with plain ``verinet verify``, and write a Markdown report.

    python scripts/vnncomp_report.py [BENCH] [--pair PAIR_PY] [--out benchmarks/VNNCOMP.md]
    python scripts/vnncomp_report.py --from-csv PREFIX   # render an earlier pair run

``PAIR_PY`` is an independent side-by-side harness (default ``../shared/tools/pair.py``) that runs
command A then command B on each instance, replays every ``sat`` witness in onnxruntime with its
own VNN-LIB reader and writes ``PREFIX_a.csv`` / ``PREFIX_b.csv``.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run_pair(pair: Path, bench: Path, prefix: str) -> None:
    run = ROOT / "scripts" / "vnncomp" / "run_instance.sh"
    a = f"{run} v1 {bench.name} {{onnx}} {{vnnlib}} {{results}} {{timeout}}"
    b = (f"{sys.executable} -m verinet verify {{onnx}} --vnnlib {{vnnlib}} --timeout {{timeout}} "
         "--strict-as-nonstrict --results-file {results}")
    env = dict(os.environ, VERINET_PYTHON=sys.executable,
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    subprocess.run([sys.executable, str(pair), str(bench), "--a", a, "--b", b, "--out", prefix],
                   env=env, check=True)


def _summary(rows: list[dict[str, str]]) -> dict[str, object]:
    walls = [float(r["wall"]) for r in rows]
    correct = [r for r in rows if r["verdict"] == "correct"]
    return {"n": len(rows), "correct": len(correct),
            "wrong": sum(r["verdict"].startswith("WRONG") for r in rows),
            "late": sum(r["verdict"] == "late" for r in rows),
            "unsolved": sum(r["verdict"] == "unsolved" for r in rows),
            "total": sum(walls), "median": statistics.median(walls) if walls else 0.0,
            "worst": max(walls) if walls else 0.0}


def render(prefix: str, bench: str) -> str:
    sides = {}
    for side in "ab":
        with open(f"{prefix}_{side}.csv", newline="") as f:
            sides[side] = list(csv.DictReader(f))
    a, b = _summary(sides["a"]), _summary(sides["b"])
    lines = [f"# {bench} through the VNN-COMP scripts",
             "",
             "Made by `python scripts/vnncomp_report.py`. Each instance is run twice, back to",
             "back (same machine load), by an independent harness that replays every `sat`",
             "witness in onnxruntime with its own VNN-LIB reader: A is",
             "`scripts/vnncomp/run_instance.sh v1 ...` as the competition calls it, B is the same",
             "verifier called directly (`verinet verify ONNX --vnnlib VNNLIB --timeout T",
             "--strict-as-nonstrict --results-file R`, what `verinet bench` runs in each",
             "instance's process). Times are wall-clock seconds per instance, interpreter",
             "start-up included.",
             "",
             "| run | instances | correct | wrong | late | unsolved | total s | median s "
             "| worst s |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, s in (("A: run_instance.sh", a), ("B: verinet verify", b)):
        lines.append(f"| {name} | {s['n']} | {s['correct']} | {s['wrong']} | {s['late']} | "
                     f"{s['unsolved']} | {s['total']:.1f} | {s['median']:.2f} | {s['worst']:.2f} |")
    ratio = a["total"] / max(b["total"], 1e-9)
    lines += ["", f"Total time A/B: {ratio:.3f} (the scripts' own overhead: "
              f"{(ratio - 1) * 100:+.1f} %).", ""]
    diff = [(ra, rb) for ra, rb in zip(sides["a"], sides["b"]) if ra["answer"] != rb["answer"]]
    lines.append(f"Instances answered differently by A and B: {len(diff)}.")
    for ra, rb in diff:
        lines.append(f"- {ra['onnx']} {ra['vnnlib']}: A {ra['answer']}, B {rb['answer']}")
    slow = sorted(sides["a"], key=lambda r: -float(r["wall"]))[:5]
    lines += ["", "Slowest instances under A:", "", "| onnx | vnnlib | expected | A | s |",
              "| --- | --- | --- | --- | ---: |"]
    lines += [f"| {r['onnx']} | {r['vnnlib']} | {r['expected']} | {r['answer']} | "
              f"{float(r['wall']):.2f} |" for r in slow]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    bench_root = Path(os.environ.get("VERINET_BENCHMARKS", ROOT.parent / "shared" / "benchmarks"))
    ap.add_argument("bench", nargs="?", default=str(bench_root / "acasxu"))
    ap.add_argument("--pair", default=str(ROOT.parent / "shared" / "tools" / "pair.py"))
    ap.add_argument("--from-csv", metavar="PREFIX", help="render an earlier pair run")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "VNNCOMP.md"))
    args = ap.parse_args()
    bench = Path(args.bench)
    prefix = args.from_csv
    if prefix is None:
        if not (bench / "instances.csv").is_file() or not Path(args.pair).is_file():
            print(f"vnncomp_report: need {bench}/instances.csv and {args.pair}", file=sys.stderr)
            return 2
        prefix = os.path.join(tempfile.mkdtemp(prefix="vnncomp-"), "pair")
        _run_pair(Path(args.pair), bench, prefix)
    Path(args.out).write_text(render(prefix, bench.name), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
