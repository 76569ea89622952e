"""Make benchmarks/ROBUSTNESS.md: ``verinet robustness`` on the digits test split and on
the VNN-COMP verivital MNIST CNNs, with independent checks of what it reports.

    python scripts/robustness_report.py [--timeout 10] [--cnn-timeout 60] [--skip-cnn]

Digits: all 397 held-out images at six radii plus ``--radius``, run twice (local worker
processes, then a Dask local cluster) and the statuses compared; every ``falsified``
witness replayed here in onnxruntime (inside the clipped ball, another class scoring at
least the label's); ``verified <= attack <= clean`` checked at every radius.  verivital:
the centres and radii recovered from the benchmark's properties
(:mod:`verinet.robustness.vnncomp`); each (point, radius) that is a benchmark instance
compared with ``expected.csv``.  Plots are copied to ``benchmarks/robustness/``.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from verinet.robustness import RunSettings, robustness_run  # noqa: E402
from verinet.robustness.report import markdown  # noqa: E402
from verinet.robustness.vnncomp import points_from_folder  # noqa: E402

DIGITS = ROOT / "benchmarks" / "digits"
PLOTS = ROOT / "benchmarks" / "robustness"
EPS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.08)


def replay(model: str, x: np.ndarray, rows, lower, upper) -> tuple[int, int]:
    """``(replayed, falsified)``: witnesses that onnxruntime confirms, of all."""
    import onnxruntime as ort

    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    shape = [d if isinstance(d, int) and d > 0 else 1 for d in inp.shape]
    ok = total = 0
    for r in rows:
        if r.status != "falsified":
            continue
        total += 1
        w = np.asarray(r.witness, dtype=np.float64)
        c = x[r.index].reshape(-1)
        inside = np.all(np.abs(w - c) <= r.eps + 1e-12)
        if lower is not None:
            inside &= bool(np.all(w >= lower))
        if upper is not None:
            inside &= bool(np.all(w <= upper))
        y = sess.run(None, {inp.name: w.astype(np.float32).reshape(shape)})[0].reshape(-1)
        ok += bool(inside and np.max(np.delete(y, r.label)) >= y[r.label])
    return ok, total


def ordered(rep) -> bool:
    return all(d["verified_accuracy"] <= d["attack_accuracy"] <= d["clean_accuracy"]
               for d in rep.epsilons)


def digits_section(timeout: float, tmp: Path) -> list[str]:
    model, data = str(DIGITS / "digits.onnx"), str(DIGITS / "test.npz")
    s = RunSettings(epsilons=EPS, timeout=timeout, jobs=2, lower=0.0, upper=1.0, radius=True)
    local = robustness_run(model, data, s, out=str(tmp / "local"), progress=False)
    dask = robustness_run(model, data, s, out=str(tmp / "dask"), progress=False,
                          executor="dask")
    same = [(a.index, a.eps) for a, b in zip(local.rows, dask.rows) if a.status != b.status]
    same_r = local.radius["points"] == dask.radius["points"]
    x = np.load(data)["x"].astype(np.float64)
    ok, total = replay(model, x, local.rows, 0.0, 1.0)
    PLOTS.mkdir(parents=True, exist_ok=True)
    for name in ("accuracy.png", "radii.png"):
        shutil.copy(tmp / "local" / name, PLOTS / name)
    md = markdown(local).split("\n", 2)[2]  # without its title
    return ["## digits: the whole held-out split", "",
            "`verinet robustness benchmarks/digits/digits.onnx --data benchmarks/digits/test.npz "
            f"--eps {','.join(f'{e:g}' for e in EPS)} --lower 0 --upper 1 --timeout {timeout:g} "
            "--jobs 2 --radius`", "", md.rstrip(), "",
            "Checks:", "",
            f"- verified <= attack <= clean at every radius: {ordered(local)}",
            f"- falsified witnesses replayed here in onnxruntime (inside the clipped ball, "
            f"another class at least the label's): {ok} of {total}",
            f"- the same run through the Dask executor (a local cluster on 127.0.0.1, 2 "
            f"workers): {len(local.rows) - len(same)} of {len(local.rows)} statuses identical"
            f"{'' if not same else ', differing: ' + str(same[:5])}; radius brackets "
            f"identical: {same_r}; wall {dask.wall:.1f} s",
            f"- wall time on {os.cpu_count()} cores: {local.wall:.1f} s (attacks "
            f"{local.time_attack:.1f} s, proofs {local.time_verify:.1f} s)", "",
            "![accuracy](robustness/accuracy.png)", "", "![radii](robustness/radii.png)", ""]


def cnn_section(bench: Path, timeout: float, tmp: Path) -> list[str]:
    lines = ["## verivital: MNIST CNNs, points recovered from the VNN-COMP properties", "",
             "Centres, labels and radii read back from the benchmark's VNN-LIB files "
             "(`verinet.robustness.vnncomp`, bounds matched to 1e-6: the files' bounds are "
             f"float32-rounded); proof budget {timeout:g} s per (point, radius), 2 workers.", ""]
    expected = {}
    with open(bench / "expected.csv", newline="") as f:
        for r in csv.DictReader(f):
            expected[(r["onnx"], r["vnnlib"])] = r["expected"]
    for onnx in ("Convnet_avgpool.onnx", "Convnet_maxpool.onnx"):
        x, y, radii, where = points_from_folder(str(bench), onnx)
        data = tmp / f"{onnx}.npz"
        np.savez(data, x=x, y=y)
        s = RunSettings(epsilons=tuple(radii), timeout=timeout, jobs=2, lower=0.0, upper=1.0)
        rep = robustness_run(str(bench / onnx), str(data), s, out=str(tmp / onnx),
                             progress=False)
        agree = contra = undecided = 0
        bad = []
        for k, e, vnnlib in where:
            exp = expected.get((onnx, vnnlib), "")
            st = rep.status(k, e)
            mine = {"verified": "unsat", "falsified": "sat", "misclassified": "sat"}.get(st)
            if mine is None or exp not in ("sat", "unsat"):
                undecided += 1
            elif mine == exp:
                agree += 1
            else:
                contra += 1
                bad.append(f"{vnnlib}: {st}, expected {exp}")
        ok, total = replay(str(bench / onnx), x, rep.rows, 0.0, 1.0)
        md = markdown(rep).split("\n", 2)[2]
        lines += [f"### {onnx}: {len(x)} points, radii {', '.join(f'{r:g}' for r in radii)}",
                  "", md.rstrip(), "",
                  f"Against `expected.csv` ({len(where)} instances): {agree} agree, "
                  f"{contra} contradict, {undecided} not comparable (no answer here, or "
                  "no known answer)." + ("" if not bad else " Contradictions: " +
                                          "; ".join(bad)),
                  f"Witnesses replayed in onnxruntime: {ok} of {total}. verified <= attack "
                  f"<= clean: {ordered(rep)}.", ""]
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--cnn-timeout", type=float, default=60.0)
    ap.add_argument("--skip-cnn", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "ROBUSTNESS.md"))
    args = ap.parse_args()
    bench_root = Path(os.environ.get("VERINET_BENCHMARKS", ROOT.parent / "shared" / "benchmarks"))
    lines = ["# Robustness over data sets", "",
             "Made by `python scripts/robustness_report.py`. Statuses per (point, radius): "
             "misclassified, falsified (a witness confirmed in float64 and onnxruntime), "
             "verified (a proof), unknown, timeout. Attack accuracy bounds robust accuracy "
             "from above, verified accuracy from below.", ""]
    with tempfile.TemporaryDirectory(prefix="robustness-") as tmp:
        lines += digits_section(args.timeout, Path(tmp))
        if not args.skip_cnn and (bench_root / "verivital" / "instances.csv").is_file():
            lines += cnn_section(bench_root / "verivital", args.cnn_timeout, Path(tmp))
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
