"""The status ladder over a data set and a list of radii, resumable.

For each point (label from the data, else the model's clean prediction) and radius:

1. ``misclassified`` when the clean prediction (argmax of the float64 forward pass) is not
   the label: a failure at every radius, never attacked or verified;
2. attacks, radius by radius from the smallest, batched over every point still open
   (:mod:`.attack`); a candidate becomes ``falsified`` only once confirmed in float64 and
   by onnxruntime on the model file (:class:`~verinet.counterexample.CexChecker`);
   balls are nested, so the witness also falsifies the point at every larger radius;
3. the complete verifier on what is left, radius by radius from the largest, in worker
   processes with a hard timeout each (:mod:`.pool`): ``verified`` (``unsat``) also holds
   at every smaller radius; a ``sat`` found there is ``falsified`` as above; else
   ``unknown`` or ``timeout``.

Every decided row is appended at once to ``OUT/points.jsonl``, keyed by the model's
hash, the point's index and content, the radius and the settings; a later run with the
same key reuses the row, so an interrupted run resumes and loses nothing.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from .attack import attack_batch
from .data import load_points

__all__ = ["RunSettings", "PointResult", "RobustnessReport", "robustness_run", "STATUSES"]

STATUSES = ("misclassified", "falsified", "verified", "unknown", "timeout")
_FINAL_WORK = ("misclassified", "falsified", "verified")


@dataclass(frozen=True)
class RunSettings:
    """What a run does (all of it goes into the resume key, but ``jobs``)."""

    epsilons: tuple[float, ...]
    timeout: float = 30.0
    jobs: int = 0  # 0: every core
    limit: int | None = None
    seed: int = 0
    lower: float | None = None
    upper: float | None = None
    restarts: int = 4
    steps: int = 40
    strategy: str = "auto"
    radius: bool = False
    radius_max: float | None = None  # None: the largest radius of ``epsilons``
    radius_tol: float | None = None  # None: radius_max / 64

    def key(self) -> str:
        d = asdict(self)
        d.pop("jobs")
        d.pop("limit")
        d.pop("epsilons")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class PointResult:
    """One (point, radius): its status and how it was reached."""

    index: int
    eps: float
    status: str
    label: int
    prediction: int
    source: str  # clean, fgsm, pgd, verify, implied
    time: float = 0.0
    reason: str = ""
    witness: list[float] | None = None
    key: str = ""


@dataclass
class RobustnessReport:
    """The outcome of :func:`robustness_run`: per-point rows and per-radius statistics."""

    model: str
    data: str
    n: int
    settings: RunSettings
    rows: list[PointResult]
    epsilons: list[dict] = field(default_factory=list)
    time_attack: float = 0.0
    time_verify: float = 0.0
    wall: float = 0.0
    reused: int = 0
    radius: dict | None = None  # with settings.radius: see :mod:`.radius`
    #: up to six falsified points for the image triplets: index, eps, label, the
    #: adversarial class, the clean point and the witness (image inputs only)
    examples: list[dict] = field(default_factory=list)
    image_shape: tuple[int, ...] | None = None

    def status(self, index: int, eps: float) -> str:
        for r in self.rows:
            if r.index == index and r.eps == eps:
                return r.status
        raise KeyError((index, eps))


def _file_hash(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def _row_key(model_hash: str, settings_key: str, index: int, x: np.ndarray, label: int,
             eps: float) -> str:
    h = hashlib.sha256(np.ascontiguousarray(x, dtype=np.float64).tobytes())
    h.update(f"{label}|{eps!r}|{model_hash}|{settings_key}|{index}".encode())
    return h.hexdigest()[:24]


def _read_rows(path: Path) -> dict[str, dict]:
    """Rows of an earlier run (a torn last line, from a killed run, is skipped)."""
    rows: dict[str, dict] = {}
    if not path.is_file():
        return rows
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(r, dict) and r.get("key") and r.get("status") in STATUSES:
            rows[r["key"]] = r
    return rows


def _check_epsilons(eps: tuple[float, ...]) -> tuple[float, ...]:
    if not eps:
        raise InputError("no radius given: --eps takes one or more numbers, e.g. 0.01,0.02")
    for e in eps:
        if not (isinstance(e, (int, float)) and math.isfinite(e) and e > 0):
            raise InputError(f"every radius must be a finite number greater than 0, got {e!r}")
    return tuple(sorted(set(float(e) for e in eps)))


def robustness_run(model: str, data: str, settings: RunSettings, *, labels: str | None = None,
                   out: str | None = None, progress: bool | None = None,
                   executor: str = "local", scheduler: str | None = None,
                   image_shape: tuple[int, ...] | None = None) -> RobustnessReport:
    """Run the ladder (see the module docstring) and return the report.

    Args:
        model: an ONNX (or ``.nnet``) classifier; the class is the argmax of its outputs
            (logits or softmax alike).
        data: points and labels (see :func:`~verinet.robustness.data.load_points`).
        settings: radii, budgets and options.
        labels: a separate labels file (for ``.npy`` points).
        out: the folder for ``points.jsonl`` (resume) and the reports (``report.json``,
            ``report.md``, ``accuracy.png``); ``None``: no files.
        progress: show a progress bar (default: when stderr is a terminal).
        executor: where proofs run: ``local`` worker processes, or ``dask`` (the cluster
            at ``scheduler``, else a local one on 127.0.0.1); statuses do not depend on it.
        image_shape: how to draw a point as an image (``(H, W)`` or ``(H, W, 3)``);
            default: the model's input shape when it is one, else a square.
    """
    from ..network import load

    t_start = time.monotonic()
    epsilons = _check_epsilons(tuple(settings.epsilons))
    if executor not in ("local", "dask"):
        raise InputError(f"--executor {executor!r}: expected local or dask")
    if scheduler is not None and executor != "dask":
        raise InputError("--scheduler needs --executor dask")
    if scheduler is not None:
        from .pool import check_scheduler

        check_scheduler(scheduler)
    if not (math.isfinite(settings.timeout) and settings.timeout > 0):
        raise InputError(f"--timeout must be a number of seconds greater than 0, got "
                         f"{settings.timeout!r}")
    out_dir = Path(out) if out else None
    if out_dir is not None:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            probe = out_dir / ".verinet-write-test"
            probe.write_text("")
            probe.unlink()
        except OSError as e:
            raise InputError(f"{out_dir}: cannot write the output folder "
                             f"({e.strerror or e})") from None
    network = load(model)
    x, y = load_points(data, labels)
    if settings.limit is not None:
        x, y = x[:settings.limit], (None if y is None else y[:settings.limit])
    n_in = network.n_inputs
    if int(np.prod(x.shape[1:])) != n_in:
        raise InputError(f"{data}: each point has {int(np.prod(x.shape[1:]))} values "
                         f"(shape {list(x.shape[1:])}) but {model} takes {n_in} inputs")
    x = x.reshape(x.shape[0], n_in)
    scores = network.evaluate(x)
    pred = np.argmax(scores, axis=1)
    if y is not None and np.any(y >= network.n_outputs):
        bad = int(np.flatnonzero(y >= network.n_outputs)[0])
        raise InputError(f"{labels or data}: label {int(y[bad])} of point {bad} is out of "
                         f"range for {network.n_outputs} classes")
    label = pred.copy() if y is None else y
    lo_dom = -np.inf if settings.lower is None else float(settings.lower)
    hi_dom = np.inf if settings.upper is None else float(settings.upper)
    if np.any(x < lo_dom) or np.any(x > hi_dom):
        raise InputError(f"{data}: some point lies outside the input domain "
                         f"[{settings.lower}, {settings.upper}] (--lower/--upper)")

    model_hash, s_key = _file_hash(model), settings.key()
    N = x.shape[0]
    keys = {(i, e): _row_key(model_hash, s_key, i, x[i], int(label[i]), e)
            for i in range(N) for e in epsilons}
    rows_path = out_dir / "points.jsonl" if out_dir is not None else None
    earlier = _read_rows(rows_path) if rows_path is not None else {}
    decided: dict[tuple[int, float], PointResult] = {}
    reused = 0
    for (i, e), k in keys.items():
        r = earlier.get(k)
        if r is not None:
            decided[(i, e)] = PointResult(**{f: r.get(f) for f in PointResult.__dataclass_fields__
                                            if f in r})
            reused += 1
    sink = open(rows_path, "a", encoding="utf-8") if rows_path is not None else None

    def record(i: int, e: float, status: str, source: str, t: float = 0.0, reason: str = "",
               witness: list[float] | None = None) -> None:
        old = decided.get((i, e))
        if old is not None and not (status == "falsified"
                                    and old.status in ("unknown", "timeout")):
            return  # a witness found later also settles a larger radius left open
        r = PointResult(i, e, status, int(label[i]), int(pred[i]), source, t, reason,
                        witness, keys[(i, e)])
        decided[(i, e)] = r
        if sink is not None:
            sink.write(json.dumps(asdict(r)) + "\n")
            sink.flush()
        if bar is not None and old is None:
            bar.update(1)

    rng = np.random.default_rng(settings.seed)
    time_attack = time_verify = 0.0
    show = sys.stderr.isatty() if progress is None else progress
    bar = None
    if show:
        from tqdm import tqdm

        bar = tqdm(total=len(keys), initial=len(decided), desc="points x radii",
                   unit="row", file=sys.stderr)
    try:
        for i in np.flatnonzero(pred != label):
            for e in epsilons:
                record(int(i), e, "misclassified", "clean")
        confirm = _Confirmer(network, x, label, settings)
        # attacks, smallest radius first; a witness also breaks every larger ball
        for e in epsilons:
            todo = np.array([i for i in range(N) if (i, e) not in decided], dtype=np.int64)
            if todo.size == 0:
                continue
            ta = time.monotonic()
            lo = np.maximum(x[todo] - e, lo_dom)
            hi = np.minimum(x[todo] + e, hi_dom)
            found, x_adv, _ = attack_batch(network, x[todo], label[todo], lo, hi, e, rng,
                                           restarts=settings.restarts, steps=settings.steps)
            for j in np.flatnonzero(found):
                i = int(todo[j])
                w = confirm(i, e, x_adv[j])
                if w is None:
                    continue
                for e2 in epsilons:
                    if e2 >= e:
                        record(i, e2, "falsified", "attack" if e2 == e else "implied",
                               reason="" if e2 == e else f"witness at eps {e!r}", witness=w)
            time_attack += time.monotonic() - ta
        # proofs, largest radius first; a proof also covers every smaller ball
        from .pool import run_tasks

        jobs = settings.jobs or os.cpu_count() or 1
        for e in reversed(epsilons):
            todo = [i for i in range(N) if (i, e) not in decided]
            if not todo:
                continue
            tv = time.monotonic()
            tasks = [{"key": i, "x0": x[i].tolist(), "label": int(label[i]), "eps": e,
                      "lower": settings.lower, "upper": settings.upper,
                      "timeout": settings.timeout, "seed": settings.seed} for i in todo]
            for i, res in run_tasks(tasks, model, jobs, settings.strategy, executor,
                                    scheduler):
                st = res["status"]
                if st == "unsat":
                    for e2 in epsilons:
                        if e2 <= e:
                            record(i, e2, "verified", "verify" if e2 == e else "implied",
                                   res["time"] if e2 == e else 0.0,
                                   "" if e2 == e else f"proved at eps {e!r}")
                elif st == "sat" and res.get("witness") is not None:
                    for e2 in epsilons:
                        if e2 >= e:
                            record(i, e2, "falsified", "verify" if e2 == e else "implied",
                                   res["time"] if e2 == e else 0.0,
                                   "" if e2 == e else f"witness at eps {e!r}",
                                   res["witness"])
                else:
                    status = "timeout" if st == "timeout" else "unknown"
                    record(i, e, status, "verify", res["time"], res.get("reason", ""))
            time_verify += time.monotonic() - tv
    finally:
        if bar is not None:
            bar.close()
        if sink is not None:
            sink.close()
    rows = [decided[(i, e)] for i in range(N) for e in epsilons]
    radius = None
    if settings.radius:
        tr = time.monotonic()
        radius = _radius(network, model, x, label, pred, rows, epsilons, settings, lo_dom,
                         hi_dom, rng, out_dir, model_hash, s_key, executor, scheduler,
                         confirm)
        time_verify += time.monotonic() - tr
    rep = RobustnessReport(model, data, N, settings, rows, time_attack=time_attack,
                           time_verify=time_verify, wall=time.monotonic() - t_start,
                           reused=reused, radius=radius)
    rep.image_shape = _image_shape(network, image_shape)
    if rep.image_shape is not None:
        rep.examples = _examples(network, x, rows)
    from .report import summarise, write_reports

    rep.epsilons = summarise(rep, epsilons)
    if out_dir is not None:
        write_reports(rep, out_dir)
    return rep


class _Confirmer:
    """``confirm(i, eps, x_adv)``: the witness (float64 + onnxruntime, see
    :class:`~verinet.counterexample.CexChecker`) that ``x_adv`` breaks point ``i`` on its
    ball of radius ``eps``, or ``None``; one onnxruntime session for every call."""

    def __init__(self, network, x: np.ndarray, label: np.ndarray, settings: RunSettings):
        self.network, self.x, self.label, self.settings = network, x, label, settings
        self.checker = None

    def __call__(self, i: int, eps: float, x_adv: np.ndarray) -> list[float] | None:
        from ..counterexample import CexChecker
        from ..spec.robustness import robustness

        s = self.settings
        prop = robustness(self.x[i], eps, int(self.label[i]), s.lower, s.upper,
                          network=self.network)
        if self.checker is None:
            self.checker = CexChecker(self.network, prop)
        self.checker.prop = prop
        cex = self.checker.confirm(x_adv, source="attack")
        return None if cex is None else [float(v) for v in cex.x]


def _radius_row(key: str, i: int, r: dict) -> dict:
    f = r["falsified"]
    return {"key": key, "index": i, "certified": float(r["certified"]),
            "falsified": float(f) if math.isfinite(f) else None, "stopped": r["stopped"]}


def _radius(network, model: str, x, label, pred, rows, epsilons, settings: RunSettings,
            lo_dom: float, hi_dom: float, rng, out_dir, model_hash: str, s_key: str,
            executor: str, scheduler: str | None, confirm: _Confirmer) -> dict:
    """Largest certified radii (:mod:`.radius`), resumable through ``OUT/radius.jsonl``."""
    from .pool import run_tasks
    from .radius import radius_intervals

    r_max = float(settings.radius_max or max(epsilons))
    tol = float(settings.radius_tol or r_max / 64)
    if not (r_max > 0 and tol > 0 and math.isfinite(r_max) and math.isfinite(tol)):
        raise InputError("--radius-max and --radius-tol must be numbers greater than 0")
    keys = {i: _row_key(model_hash, s_key, i, x[i], int(label[i]), -1.0) + f"r{r_max!r}t{tol!r}"
            for i in range(x.shape[0])}
    path = out_dir / "radius.jsonl" if out_dir is not None else None
    earlier = {}
    if path is not None and path.is_file():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                r = json.loads(line)
                earlier[r["key"]] = r
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
    correct = pred == label
    done = {i: earlier[keys[i]] for i in range(x.shape[0]) if keys[i] in earlier}
    todo = correct & np.array([i not in done for i in range(x.shape[0])])
    seeds: dict[int, tuple[float, float]] = {}
    for r in rows:
        c, f = seeds.get(r.index, (0.0, math.inf))
        if r.status == "verified":
            c = max(c, r.eps)
        if r.status == "falsified" and r.witness is not None:
            f = min(f, float(np.max(np.abs(np.asarray(r.witness) - x[r.index]))))
        seeds[r.index] = (c, f)
    def prove(items):
        tasks = [{"key": i, "x0": x[i].tolist(), "label": int(label[i]), "eps": e,
                  "lower": settings.lower, "upper": settings.upper,
                  "timeout": settings.timeout, "seed": settings.seed} for i, e in items]
        got = {}
        jobs = settings.jobs or os.cpu_count() or 1
        for i, res in run_tasks(tasks, model, jobs, settings.strategy, executor, scheduler):
            got[i] = (res["status"], res.get("witness"))
        return got

    found = radius_intervals(network, x, label, todo, lo_dom, hi_dom, r_max, tol, seeds,
                             confirm, prove, rng, settings.restarts, settings.steps)
    if path is not None:
        with open(path, "a", encoding="utf-8") as f:
            for i, r in found.items():
                done[i] = _radius_row(keys[i], i, r)
                f.write(json.dumps(done[i]) + "\n")
    else:
        done.update({i: _radius_row(keys[i], i, r) for i, r in found.items()})
    points = []
    for i in range(x.shape[0]):
        if not correct[i]:
            points.append({"index": i, "certified": 0.0, "falsified": 0.0,
                           "stopped": "misclassified"})
            continue
        r = done[i]
        points.append({"index": i, "certified": float(r["certified"]),
                       "falsified": r.get("falsified"), "stopped": r.get("stopped", "")})
    n = x.shape[0]
    curves = []
    for e in epsilons:
        ver = sum(p["certified"] >= e for p in points if p["stopped"] != "misclassified")
        att = sum(p["falsified"] is None or p["falsified"] > e for p in points
                  if p["stopped"] != "misclassified")
        curves.append({"eps": e, "verified_accuracy": ver / n, "attack_accuracy": att / n})
    return {"radius_max": r_max, "tol": tol, "points": points, "curves": curves,
            "reused": len(done) - len(found)}


def _image_shape(network, given: tuple[int, ...] | None) -> tuple[int, ...] | None:
    """The per-sample shape to draw points with, or ``None`` when they are not images."""
    from ..imageio import as_image

    n = network.n_inputs
    if given is not None:
        if int(np.prod(given)) != n:
            raise InputError(f"--image-shape {'x'.join(map(str, given))} has "
                             f"{int(np.prod(given))} values, the model takes {n}")
        return tuple(given)
    shape = tuple(int(d) for d in network.input_shape)
    try:
        as_image(np.zeros(n), shape)
        return shape
    except InputError:
        side = int(round(math.sqrt(n)))
        return (side, side) if side * side == n and side > 1 else None


def _examples(network, x: np.ndarray, rows: list[PointResult], k: int = 6) -> list[dict]:
    """Up to ``k`` falsified points, each at the smallest radius it was broken at."""
    best: dict[int, PointResult] = {}
    for r in rows:
        if r.status == "falsified" and r.source != "implied" and r.witness is not None:
            if r.index not in best or r.eps < best[r.index].eps:
                best[r.index] = r
    chosen = sorted(best.values(), key=lambda r: (r.eps, r.index))[:k]
    out = []
    for r in chosen:
        w = np.asarray(r.witness)
        adv = int(np.argmax(network.evaluate(w[None])[0]))
        out.append({"index": r.index, "eps": r.eps, "label": r.label, "adversarial": adv,
                    "x": x[r.index], "witness": w})
    return out
