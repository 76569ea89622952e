#!/usr/bin/env python3
"""ReLU splitting against z3 on the digits robustness instances (64 inputs).

Usage::

    python scripts/run_digits.py [--timeout S] [--smt-timeout S] [--out FILE]

Every instance of ``benchmarks/digits/instances.csv`` is decided twice: by ``verify`` with
``--strategy relu`` (falsification pass off, so the ReLU-splitting engine answers on its
own) and by the exact z3 engine alone.  Input splitting cannot help on 64 inputs.  The
report lists both answers, their times and whether they agree wherever both decided;
a disagreement makes the exit code 1.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folder", type=Path, default=ROOT / "benchmarks" / "digits")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--smt-timeout", type=float, default=60.0)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "digits" / "RESULTS.md")
    args = ap.parse_args(argv)

    from verinet.config import AttackConfig, SearchConfig, VerifierConfig
    from verinet.network import load
    from verinet.spec import read_vnnlib
    from verinet.verify import verify

    relu_cfg = VerifierConfig(search=SearchConfig(strategy="relu"),
                              attack=AttackConfig(enabled=False))
    smt_cfg = VerifierConfig(search=SearchConfig(strategy="smt"),
                             attack=AttackConfig(enabled=False))
    rows = []
    with open(args.folder / "instances.csv") as f:
        for onnx, vnnlib, _ in csv.reader(f):
            net = load(args.folder / onnx)
            prop = read_vnnlib(args.folder / vnnlib)
            t = time.monotonic()
            r = verify(net, prop, timeout=args.timeout, config=relu_cfg, start=t)
            z = verify(net, prop, timeout=args.smt_timeout, config=smt_cfg)
            both = r.status.decided and z.status.decided
            agree = (r.status == z.status) if both else None
            rows.append((vnnlib, r, z, agree))
            verdict = "" if agree is None else ("agree" if agree else "DISAGREE")
            print(f"{vnnlib:24s} relu {r.status.value:8s} {r.time:7.2f} s "
                  f"({r.stats.nodes} nodes, {r.stats.lps} LPs)   z3 {z.status.value:8s} "
                  f"{z.time:7.2f} s   {verdict}", flush=True)
    lines = ["# Digits robustness: ReLU splitting against z3", "",
             f"Produced by `python scripts/run_digits.py` (relu budget {args.timeout:g} s, "
             f"z3 budget {args.smt_timeout:g} s, falsification pass off).", "",
             "| property | relu answer | relu time (s) | nodes | LPs | z3 answer | z3 time (s) "
             "| agree |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, r, z, agree in rows:
        lines.append(f"| {name} | {r.status.value} | {r.time:.2f} | {r.stats.nodes} | "
                     f"{r.stats.lps} | {z.status.value} | {z.time:.2f} | "
                     f"{'-' if agree is None else ('yes' if agree else '**NO**')} |")
    n_dec = sum(r.status.decided for _, r, _, _ in rows)
    n_both = sum(a is not None for *_, a in rows)
    n_bad = sum(a is False for *_, a in rows)
    lines += ["", f"relu decided {n_dec} of {len(rows)}; both decided {n_both}; "
                  f"disagreements {n_bad}."]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines[-1:]))
    return 1 if n_bad else 0


if __name__ == "__main__":
    sys.exit(main())
