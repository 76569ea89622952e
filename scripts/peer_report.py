"""verinet against a peer verifier (default nnenum), side by side, and a Markdown report.

    python scripts/peer_report.py BENCH --out benchmarks/peers/NAME [--filter RE]
    python scripts/peer_report.py BENCH --out benchmarks/peers/NAME --from-csv   # re-render

Runs ``../shared/tools/pair.py`` (an independent harness: each instance through command A,
then command B, back to back so both see the same load; every ``sat`` witness of A replayed
in onnxruntime by the harness's own reader) with A = ``verinet verify`` and B = the peer's
runner, then writes ``NAME.md`` beside the harness's ``NAME_a.csv`` / ``NAME_b.csv``.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _summary(rows: list[dict[str, str]]) -> dict:
    walls = [float(r["wall"]) for r in rows]
    ok = [r for r in rows if r["verdict"] == "correct"]
    return {"n": len(rows), "correct": len(ok),
            "wrong": sum(r["verdict"].startswith("WRONG") for r in rows),
            "unsolved": sum(r["verdict"] == "unsolved" for r in rows),
            "total": sum(walls), "median": statistics.median(walls) if walls else 0.0}


def render(bench: Path, prefix: Path, peer: str, command: str) -> str:
    a, b = _rows(Path(f"{prefix}_a.csv")), _rows(Path(f"{prefix}_b.csv"))
    sa, sb = _summary(a), _summary(b)
    lines = [f"# verinet and {peer} side by side: {bench.name}", "",
             f"Made by `{command}`: each instance through verinet, then through {peer}, back "
             "to back (the same machine load for both), by the independent harness "
             "`../shared/tools/pair.py`, which replays every verinet `sat` witness in "
             f"onnxruntime. {peer} prints no witness; its `sat` is judged by expected.csv. "
             "Times are wall clock per instance, start-up included.", "",
             f"| | verinet | {peer} |", "|---|---|---|",
             f"| instances | {sa['n']} | {sb['n']} |",
             f"| correct | {sa['correct']} | {sb['correct']} |",
             f"| wrong | {sa['wrong']} | {sb['wrong']} |",
             f"| no answer | {sa['unsolved']} | {sb['unsolved']} |",
             f"| total time | {sa['total']:.1f} s | {sb['total']:.1f} s |",
             f"| median time | {sa['median']:.2f} s | {sb['median']:.2f} s |", "",
             f"verinet's total time is **{sa['total'] / max(sb['total'], 1e-9):.2f}x** "
             f"{peer}'s in this run.", "",
             f"Slowest fifteen for either (verinet / {peer}):", "",
             f"| instance | expected | verinet | {peer} | ratio |", "|---|---|---|---|---|"]
    pairs = sorted(zip(a, b), key=lambda p: -max(float(p[0]["wall"]), float(p[1]["wall"])))
    for ra, rb in pairs[:15]:
        wa, wb = float(ra["wall"]), float(rb["wall"])
        lines.append(f"| {Path(ra['onnx']).stem} {Path(ra['vnnlib']).stem} | {ra['expected']} | "
                     f"{ra['answer']} ({ra['verdict']}) {wa:.2f} s | {rb['answer']} "
                     f"({rb['verdict']}) {wb:.2f} s | {wa / max(wb, 1e-9):.2f} |")
    bad = [(ra, rb) for ra, rb in zip(a, b) if ra["verdict"] not in ("correct", "unverified")]
    if bad:
        lines += ["", "verinet without a correct answer:", ""]
        lines += [f"- {Path(ra['onnx']).stem} {Path(ra['vnnlib']).stem}: {ra['answer']} "
                  f"({ra['verdict']}), {peer}: {rb['answer']} ({rb['verdict']})"
                  for ra, rb in bad]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bench", type=Path)
    ap.add_argument("--out", type=Path, required=True, help="prefix of the CSV and .md files")
    ap.add_argument("--filter", default="", help="instances whose 'onnx,vnnlib' match")
    ap.add_argument("--peer", default="nnenum")
    ap.add_argument("--peer-cmd", default=str(SHARED / "peers" / "run_nnenum.sh") +
                    " {onnx} {vnnlib} {timeout}")
    ap.add_argument("--pair", type=Path, default=SHARED / "tools" / "pair.py")
    ap.add_argument("--max-timeout", type=float, default=0.0,
                    help="cap every instance's timeout at this many seconds (0: no cap)")
    ap.add_argument("--from-csv", action="store_true", help="render an earlier run")
    args = ap.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    a = (f"{sys.executable} -m verinet verify {{onnx}} --vnnlib {{vnnlib}} "
         "--timeout {timeout} --results-file {results}")
    cmd = [sys.executable, str(args.pair), str(args.bench), "--a", a, "--b", args.peer_cmd,
           "--out", str(args.out)] + (["--filter", args.filter] if args.filter else [])
    cmd += ["--max-timeout", str(args.max_timeout)] if args.max_timeout else []
    shown = (f"python scripts/peer_report.py {args.bench.name}" +
             (f" --filter '{args.filter}'" if args.filter else "") +
             (f" --max-timeout {args.max_timeout:g}" if args.max_timeout else ""))
    if not args.from_csv:
        out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)
        print(json.dumps(json.loads(out.stdout.strip().splitlines()[-1])))
    text = render(args.bench, args.out, args.peer, shown)
    Path(f"{args.out}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
