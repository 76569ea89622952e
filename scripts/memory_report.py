"""Peak memory beside time, per benchmark, from ``verinet bench`` result folders.

    python scripts/memory_report.py NAME=OUT_FOLDER [NAME=OUT_FOLDER ...] --out FILE.md

Each ``OUT_FOLDER`` is the ``--out`` of a ``verinet bench`` run; its ``results.jsonl``
rows carry ``peak_mib``, the peak resident memory of the instance's process (with any
workers it started).  The report gives, per benchmark, the instances, how many answered
(a process killed at its deadline reports no peak), the largest peak with its instance,
the median peak, and the total and worst time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path


def _rows(folder: Path) -> list[dict]:
    """The last row of each instance in ``folder/results.jsonl``."""
    from verinet.bench.report import read_rows

    last = {(r["onnx"], r["vnnlib"]): r for r in read_rows(folder / "results.jsonl")}
    return list(last.values())


def table(runs: list[tuple[str, Path]]) -> str:
    lines = ["| benchmark | instances | with a peak | largest peak (MiB) | at | median peak "
             "(MiB) | total time (s) | worst time (s) |", "|" + "---|" * 8]
    for name, folder in runs:
        rows = _rows(folder)
        peaks = [(float(r["peak_mib"]), r) for r in rows
                 if isinstance(r.get("peak_mib"), (int, float))]
        times = [float(r.get("time") or 0.0) for r in rows]
        if peaks:
            top, at = max(peaks, key=lambda p: p[0])
            where = f"{Path(at['onnx']).stem} {Path(at['vnnlib']).stem}"
            med = f"{statistics.median(p for p, _ in peaks):.0f}"
            top_s = f"{top:.0f}"
        else:
            where, med, top_s = "-", "-", "-"
        lines.append(f"| {name} | {len(rows)} | {len(peaks)} | {top_s} | {where} | {med} | "
                     f"{sum(times):.1f} | {max(times, default=0.0):.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", metavar="NAME=OUT_FOLDER")
    ap.add_argument("--out", type=Path, default=None, help="write the table here")
    args = ap.parse_args(argv)
    runs = []
    for spec in args.runs:
        name, sep, folder = spec.partition("=")
        if not sep or not (Path(folder) / "results.jsonl").is_file():
            print(f"memory_report: {spec}: expected NAME=FOLDER with a results.jsonl",
                  file=sys.stderr)
            return 2
        runs.append((name, Path(folder)))
    text = table(runs)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
