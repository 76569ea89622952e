"""Certificates for every ``unsat`` of a benchmark folder: produced, then checked apart.

For each instance that ``expected.csv`` calls ``unsat`` (or every instance with
``--all``): the query is solved once without recording (``solve``), once recording the
search tree (``solve+log``), the certificate completed and written (``write``: Farkas
leaves from HiGHS, one checker walk), then checked by ``python -m verinet.proof.check``
in a fresh process (``check``, wall clock of the whole process).  One process, one
instance after the other; each phase timed on its own.

Writes ``OUT/proofs.csv`` (one row per instance) and ``OUT/PROOFS.md`` (totals and the
slowest instances), and keeps the certificates in ``OUT/certificates/`` with ``--keep``.

    python scripts/proof_report.py ../shared/benchmarks/acasxu --out benchmarks/proofs
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from verinet import load
from verinet.config import VerifierConfig
from verinet.proof.check import ProofError
from verinet.proof.produce import ProofLog, write_proof
from verinet.result import Status
from verinet.spec.vnnlib import read_vnnlib
from verinet.verify import verify

FIELDS = ["onnx", "vnnlib", "status", "semantics", "solve_s", "solve_log_s", "write_s", "check_s",
          "check_rc", "check_out", "nodes", "bound", "farkas", "unchecked", "bytes_gz"]


def instances(folder: Path, all_: bool) -> list[tuple[str, str, float]]:
    want = None
    if not all_:
        with open(folder / "expected.csv") as f:
            want = {(Path(r["onnx"]).name, Path(r["vnnlib"]).name) for r in csv.DictReader(f)
                    if r["expected"] == "unsat"}
    rows = []
    with open(folder / "instances.csv") as f:
        for onnx, prop, timeout in csv.reader(f):
            onnx, prop = onnx.strip(), prop.strip()
            if want is None or (Path(onnx).name, Path(prop).name) in want:
                rows.append((onnx, prop, float(timeout)))
    return rows


def run_one(folder: Path, onnx: str, prop: str, timeout: float, keep: Path | None,
            semantics: str = "float32") -> dict:
    m, p = str(folder / onnx), str(folder / prop)
    net, spec = load(m), read_vnnlib(p)
    cfg = VerifierConfig(semantics=semantics)
    row = {"onnx": onnx, "vnnlib": prop}
    t = time.monotonic()
    r0 = verify(net, spec, config=cfg, timeout=timeout)
    row["solve_s"] = round(time.monotonic() - t, 3)
    log = ProofLog()
    t = time.monotonic()
    r1 = verify(net, spec, config=cfg, timeout=timeout, proof=log)
    row["solve_log_s"] = round(time.monotonic() - t, 3)
    row["status"] = (r1.status.value if r0.status == r1.status
                     else f"{r0.status.value}/{r1.status.value}")
    row["semantics"] = r1.semantics
    if r1.status is not Status.UNSAT:
        return row
    tmp = Path(tempfile.mkdtemp())
    out = (keep or tmp) / f"{Path(onnx).stem}__{Path(prop).stem}.json.gz"
    try:
        s = write_proof(log, m, p, str(out), r1.semantics)
    except ProofError as e:
        row["check_out"] = f"not written: {e}"
        return row
    row.update(write_s=round(s.seconds, 3), nodes=s.nodes, bytes_gz=out.stat().st_size,
               **{k: s.leaves.get(k, 0) for k in ("bound", "farkas", "unchecked")})
    t = time.monotonic()
    c = subprocess.run([sys.executable, "-m", "verinet.proof.check", m, p, str(out)],
                       capture_output=True, text=True)
    row["check_s"] = round(time.monotonic() - t, 3)
    row["check_rc"] = c.returncode
    row["check_out"] = (c.stdout or c.stderr).strip().splitlines()[-1][:120]
    if keep is None:
        os.remove(out)
    return row


def report(rows: list[dict], folder: Path, semantics: str, note: str = "") -> str:
    done = [r for r in rows if r.get("check_rc") is not None]
    valid = [r for r in done if r["check_rc"] == 0]
    tot = {k: sum(float(r.get(k) or 0) for r in done) for k in
           ("solve_s", "solve_log_s", "write_s", "check_s", "bytes_gz", "farkas", "bound",
            "unchecked", "nodes")}
    over = 100 * ((tot["solve_log_s"] + tot["write_s"]) / max(tot["solve_s"], 1e-9) - 1)
    lines = [f"# Certificates: {folder.name} (semantics `{semantics}`)", "",
             f"{len(rows)} instances expected `unsat`; {len(done)} answered `unsat` with a "
             f"certificate written; **{len(valid)} accepted by `check-proof`** (exit 0), "
             f"{int(tot['unchecked'])} unchecked leaves in all." + (f" {note}" if note else ""),
             "",
             "| | total |", "|---|---|",
             f"| solve, no proof | {tot['solve_s']:.1f} s |",
             f"| solve, recording the tree | {tot['solve_log_s']:.1f} s |",
             f"| write (Farkas leaves from HiGHS + one checker walk) | {tot['write_s']:.1f} s |",
             f"| overhead of producing proofs: (solve+log + write) / solve - 1 | {over:.0f}% |",
             f"| check, separate process (`python -m verinet.proof.check`) | "
             f"{tot['check_s']:.1f} s |",
             f"| certificate size, gzip | {tot['bytes_gz'] / 1e6:.1f} MB in all, largest "
             f"{max((float(r.get('bytes_gz') or 0) for r in done), default=0) / 1e6:.2f} MB |",
             f"| nodes / bound leaves / Farkas leaves | {int(tot['nodes'])} / "
             f"{int(tot['bound'])} / {int(tot['farkas'])} |", "",
             "Slowest ten by solve time:", "",
             "| instance | solve | solve+log | write | check | nodes | Farkas | check says |",
             "|---|---|---|---|---|---|---|---|"]
    for r in sorted(done, key=lambda r: -float(r["solve_s"]))[:10]:
        lines.append(f"| {Path(r['onnx']).stem} {Path(r['vnnlib']).stem} | {r['solve_s']} | "
                     f"{r['solve_log_s']} | {r['write_s']} | {r['check_s']} | {r['nodes']} | "
                     f"{r['farkas']} | {r['check_out']} |")
    bad = [r for r in rows if r.get("check_rc") != 0]
    if bad:
        lines += ["", "Not certified:", ""]
        lines += [f"- {Path(r['onnx']).stem} {Path(r['vnnlib']).stem}: status {r.get('status')}, "
                  f"{r.get('check_out', '')}" for r in bad]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/proofs"))
    ap.add_argument("--all", action="store_true", help="every instance, not only unsat ones")
    ap.add_argument("--filter", default="", help="substring an instance must contain")
    ap.add_argument("--keep", action="store_true", help="keep the certificates")
    ap.add_argument("--semantics", choices=("float32", "real"), default="float32",
                    help="what unsat is proved for (verify's --semantics)")
    ap.add_argument("--name", default="", help="report name (default: the folder's name)")
    ap.add_argument("--timeout", type=float, default=None,
                    help="cap every instance's timeout at this many seconds")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    keep = args.out / "certificates" if args.keep else None
    if keep:
        keep.mkdir(exist_ok=True)
    rows = []
    name = args.name or args.folder.name
    csv_path = args.out / f"{name}.csv"
    for onnx, prop, timeout in instances(args.folder, args.all):
        if args.filter and args.filter not in f"{onnx} {prop}":
            continue
        if args.timeout is not None:
            timeout = min(timeout, args.timeout)
        row = run_one(args.folder, onnx, prop, timeout, keep, args.semantics)
        rows.append(row)
        print(row, flush=True)
        with open(csv_path, "w", newline="") as f:
            w = csv.DictWriter(f, FIELDS)
            w.writeheader()
            w.writerows(rows)
    note = f"Timeouts capped at {args.timeout:g} s." if args.timeout is not None else ""
    text = report(rows, args.folder, args.semantics, note)
    (args.out / f"{name}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
