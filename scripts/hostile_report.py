"""Run the hostile-input catalogue (``tests/hostile/cases.py``) and print its counts.

Every case runs as its own ``python -m verinet`` process (``--in-process``: in this one,
faster, start-up not measured), and is classified as ok, wrong, lost, over-budget or
bad-error.  The exit status is 0 only when every case is ok.

    python scripts/hostile_report.py [--in-process] [--filter REGEX] [--load]

``--load`` keeps the other cores busy with a spinning process each while the cases run,
to check the time budgets on a loaded machine.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.hostile.cases import CASES, classify, run_case  # noqa: E402


def _spin() -> None:  # pragma: no cover - a busy loop for --load
    while True:
        pass


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--in-process", action="store_true")
    ap.add_argument("--filter", default="")
    ap.add_argument("--load", action="store_true")
    args = ap.parse_args()
    spinners = []
    if args.load:
        for _ in range(max(1, (os.cpu_count() or 2) - 1)):
            p = mp.Process(target=_spin, daemon=True)
            p.start()
            spinners.append(p)
    counts: Counter[str] = Counter()
    bad = []
    t0 = time.monotonic()
    try:
        for case in CASES:
            if args.filter and not re.search(args.filter, case.name):
                continue
            with tempfile.TemporaryDirectory() as d:
                o = classify(case, run_case(case, Path(d), in_process=args.in_process))
            counts[o.verdict] += 1
            print(f"{o.verdict:12s} {case.name:32s} exit {o.code:<4d} {o.wall:6.2f} s"
                  + (f"  {o.why}" if o.why else ""), flush=True)
            if o.verdict != "ok":
                bad.append(case.name)
    finally:
        for p in spinners:
            p.terminate()
    tried = sum(counts.values())
    print(f"\n{tried} cases tried in {time.monotonic() - t0:.0f} s"
          + (" (other cores loaded)" if args.load else "") + ": "
          + ", ".join(f"{counts[k]} {k}" for k in ("ok", "wrong", "lost", "over-budget",
                                                    "bad-error")))
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
