"""Statistics per radius, and the report as JSON, Markdown, a printed table and plots.

Per radius, over the same ``n`` points:

- ``clean_accuracy``: the clean prediction is the label;
- ``attack_accuracy``: not misclassified and not falsified — an **upper** bound on the
  robust accuracy (attacks can only miss counterexamples);
- ``verified_accuracy``: proved — a **lower** bound;
- ``gap``: the points neither falsified nor verified (``unknown`` + ``timeout``);
- ``failure_bracket``: the fraction of points that fail at this radius lies in
  ``[1 - attack_accuracy, 1 - verified_accuracy]``.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

__all__ = ["summarise", "markdown", "write_reports", "plot", "plot_radii", "plot_examples",
           "table"]


def summarise(rep, epsilons) -> list[dict]:
    out = []
    for e in epsilons:
        rows = [r for r in rep.rows if r.eps == e]
        n = len(rows)
        c = {s: sum(r.status == s for r in rows) for s in
             ("misclassified", "falsified", "verified", "unknown", "timeout")}
        clean = (n - c["misclassified"]) / n if n else 0.0
        attack = (n - c["misclassified"] - c["falsified"]) / n if n else 0.0
        verified = c["verified"] / n if n else 0.0
        out.append({"eps": e, "n": n, "clean_accuracy": clean, "attack_accuracy": attack,
                    "verified_accuracy": verified, "gap": (c["unknown"] + c["timeout"]) / n
                    if n else 0.0, "failure_bracket": [1 - attack, 1 - verified], **c,
                    "proof_seconds": sum(r.time for r in rows if r.source == "verify")})
    return out


def markdown(rep) -> str:
    s = rep.settings
    reused = f"; rows reused from an earlier run: {rep.reused}" if rep.reused else ""
    lines = [f"# Robustness of `{Path(rep.model).name}` on `{Path(rep.data).name}`", "",
             f"{rep.n} points; per-(point, radius) proof budget {s.timeout:g} s; attacks: "
             f"FGSM, then PGD ({s.restarts} restarts x {s.steps} steps); seed {s.seed}; "
             f"wall time {rep.wall:.1f} s (attacks {rep.time_attack:.1f} s, proofs "
             f"{rep.time_verify:.1f} s){reused}.",
             "", "attack accuracy is an upper bound on robust accuracy, verified accuracy a "
             "lower bound; the failure rate lies in the bracket.", "",
             "| eps | clean acc | attack acc | verified acc | gap | failure rate in | "
             "misclassified | falsified | verified | unknown | timeout |",
             "| ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    for d in rep.epsilons:
        lo, hi = d["failure_bracket"]
        lines.append(f"| {d['eps']:g} | {d['clean_accuracy']:.3f} | {d['attack_accuracy']:.3f} "
                     f"| {d['verified_accuracy']:.3f} | {d['gap']:.3f} | [{lo:.3f}, {hi:.3f}] | "
                     f"{d['misclassified']} | {d['falsified']} | {d['verified']} | "
                     f"{d['unknown']} | {d['timeout']} |")
    if rep.radius is not None:
        rad = rep.radius
        pts = [p for p in rad["points"] if p["stopped"] != "misclassified"]
        exact = sum(p["falsified"] is not None and p["falsified"] - p["certified"] <= rad["tol"]
                    for p in pts)
        lines += ["", f"## Largest certified radius (`--radius`, tolerance {rad['tol']:g}, "
                  f"up to {rad['radius_max']:g})", "",
                  f"{len(pts)} correctly classified points; {exact} bracketed to within the "
                  f"tolerance; {sum(p['falsified'] is None for p in pts)} with no "
                  "counterexample up to the largest radius. Median certified radius "
                  f"{_median([p['certified'] for p in pts]):.4g}.", "",
                  "| eps | attack acc (from radii) | verified acc (from radii) |",
                  "| ---: | ---: | ---: |"]
        lines += [f"| {c['eps']:g} | {c['attack_accuracy']:.3f} | {c['verified_accuracy']:.3f} |"
                  for c in rad["curves"]]
    return "\n".join(lines) + "\n"


def _median(v: list[float]) -> float:
    v = sorted(v)
    return v[len(v) // 2] if v else 0.0


def plot_radii(rep, path: Path) -> None:
    """Per point, the interval [certified, nearest counterexample], sorted."""
    plt = _pyplot()

    rad = rep.radius
    pts = [p for p in rad["points"] if p["stopped"] != "misclassified"]
    pts.sort(key=lambda p: (p["certified"], p["falsified"] or rad["radius_max"]))
    fig, ax = plt.subplots(figsize=(7.0, 4.2), dpi=110)
    xs = np.arange(len(pts))
    top = np.array([p["falsified"] if p["falsified"] is not None else rad["radius_max"]
                    for p in pts])
    low = np.array([p["certified"] for p in pts])
    ax.vlines(xs, low, top, color="tab:orange", lw=1, label="undecided")
    ax.plot(xs, low, ".", ms=2, color="tab:blue", label="certified radius (proof)")
    none = np.array([p["falsified"] is None for p in pts], dtype=bool)
    ax.plot(xs[~none], top[~none], ".", ms=3, color="tab:red", label="nearest counterexample")
    if none.any():
        ax.plot(xs[none], top[none], "^", ms=3, color="gray",
                label=f"no counterexample up to {rad['radius_max']:g}")
    ax.set_xlabel("points, sorted by certified radius")
    ax.set_ylabel("L-infinity radius")
    ax.set_title("per-point robustness radius: proved below, broken above")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_examples(rep, path: Path) -> None:
    """Original / adversarial / difference for a few falsified points."""
    plt = _pyplot()

    from ..imageio import as_image

    ex = rep.examples
    fig, axes = plt.subplots(len(ex), 3, figsize=(6.0, 2.0 * len(ex)), dpi=100,
                             squeeze=False)
    for row, e in zip(axes, ex):
        a, b = as_image(e["x"], rep.image_shape), as_image(e["witness"], rep.image_shape)
        d = np.abs(b - a)
        grey = {"cmap": "gray", "vmin": 0.0, "vmax": 1.0} if a.ndim == 2 else {}
        row[0].imshow(np.clip(a, 0, 1), **grey)
        row[0].set_title(f"point {e['index']}: class {e['label']}", fontsize=8)
        row[1].imshow(np.clip(b, 0, 1), **grey)
        row[1].set_title(f"eps {e['eps']:g}: class {e['adversarial']}", fontsize=8)
        row[2].imshow(d if d.ndim == 2 else d / max(d.max(), 1e-12), cmap="magma"
                      if d.ndim == 2 else None)
        row[2].set_title(f"|difference|, max {d.max():.3g}", fontsize=8)
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def table(rep) -> str:
    head = (f"{'eps':>8} {'clean':>7} {'attack':>7} {'verified':>9} {'gap':>6}  "
            "failure rate in")
    lines = [head]
    for d in rep.epsilons:
        lo, hi = d["failure_bracket"]
        lines.append(f"{d['eps']:>8g} {d['clean_accuracy']:>7.3f} {d['attack_accuracy']:>7.3f} "
                     f"{d['verified_accuracy']:>9.3f} {d['gap']:>6.3f}  [{lo:.3f}, {hi:.3f}]")
    return "\n".join(lines)


def _pyplot():
    """matplotlib's pyplot on the Agg backend (files only, no screen)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot(rep, path: Path) -> None:
    """Both accuracy curves against the radius, the gap between them shaded."""
    plt = _pyplot()

    eps = [d["eps"] for d in rep.epsilons]
    att = [d["attack_accuracy"] for d in rep.epsilons]
    ver = [d["verified_accuracy"] for d in rep.epsilons]
    clean = rep.epsilons[0]["clean_accuracy"] if rep.epsilons else 0.0
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    ax.fill_between(eps, ver, att, color="tab:orange", alpha=0.25,
                    label="gap (undecided)")
    ax.plot(eps, att, "o-", color="tab:red", label="accuracy under attack (upper bound)")
    ax.plot(eps, ver, "s-", color="tab:blue", label="verified accuracy (lower bound)")
    ax.axhline(clean, color="gray", ls="--", lw=1, label=f"clean accuracy {clean:.3f}")
    ax.set_xlabel("L-infinity radius eps")
    ax.set_ylabel("fraction of points")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"{Path(rep.model).name}: robust accuracy is in the band")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_reports(rep, out: Path) -> list[Path]:
    """``report.json``, ``report.md`` and ``accuracy.png`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    s = asdict(rep.settings)
    obj = {"model": rep.model, "data": rep.data, "n": rep.n, "settings": s,
           "epsilons": rep.epsilons, "time_attack": rep.time_attack,
           "time_verify": rep.time_verify, "wall": rep.wall, "reused_rows": rep.reused,
           "rows_file": "points.jsonl", "radius": rep.radius}
    paths = [out / "report.json", out / "report.md", out / "accuracy.png"]
    paths[0].write_text(json.dumps(obj, indent=1) + "\n", encoding="utf-8")
    paths[1].write_text(markdown(rep), encoding="utf-8")
    plot(rep, paths[2])
    if rep.radius is not None:
        paths.append(out / "radii.png")
        plot_radii(rep, paths[-1])
    if rep.examples:
        paths.append(out / "falsified.png")
        plot_examples(rep, paths[-1])
    return paths
