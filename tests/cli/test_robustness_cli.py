"""``verinet robustness``: the status ladder over a data set, its report, resume and errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from verinet.cli import EXIT_BAD_INPUT, EXIT_OK, main
from verinet.robustness import RunSettings, robustness_run
from verinet.robustness.attack import attack_batch, broken

ROOT = Path(__file__).resolve().parents[2]
DIGITS = ROOT / "benchmarks" / "digits"
MODEL = DIGITS / "digits.onnx"
DATA = DIGITS / "test.npz"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("rob")
    settings = RunSettings(epsilons=(0.01, 0.03, 0.06), timeout=10, jobs=2, limit=24,
                           lower=0.0, upper=1.0)
    return robustness_run(str(MODEL), str(DATA), settings, out=str(out), progress=False), out


def test_bounds_are_ordered_and_statuses_nested(small_run):
    rep, _ = small_run
    eps = [d["eps"] for d in rep.epsilons]
    assert eps == [0.01, 0.03, 0.06]
    for d in rep.epsilons:
        assert d["n"] == 24
        assert d["verified_accuracy"] <= d["attack_accuracy"] <= d["clean_accuracy"]
        lo, hi = d["failure_bracket"]
        assert lo == pytest.approx(1 - d["attack_accuracy"])
        assert hi == pytest.approx(1 - d["verified_accuracy"])
    for i in range(rep.n):
        st = [rep.status(i, e) for e in eps]
        for a, b in zip(st, st[1:]):  # verified shrinks, falsified grows with the radius
            assert not (b == "verified" and a != "verified")
            assert not (a == "falsified" and b != "falsified")
    assert any(r.status == "falsified" for r in rep.rows)
    assert any(r.status == "verified" for r in rep.rows)


def test_every_witness_replays_in_onnxruntime(small_run):
    rep, _ = small_run
    z = np.load(DATA)
    x = z["x"].astype(np.float64)
    sess = ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    n = 0
    for r in rep.rows:
        if r.status != "falsified":
            continue
        w = np.asarray(r.witness)
        assert np.all(np.abs(w - x[r.index]) <= r.eps + 1e-12)
        assert np.all((w >= 0) & (w <= 1))
        y = sess.run(None, {name: w.astype(np.float32)[None]})[0][0]
        assert np.max(np.delete(y, r.label)) >= y[r.label]
        n += 1
    assert n > 0


def test_report_files(small_run):
    rep, out = small_run
    obj = json.loads((out / "report.json").read_text())
    assert [d["eps"] for d in obj["epsilons"]] == [0.01, 0.03, 0.06]
    for key in ("eps", "n", "clean_accuracy", "attack_accuracy", "verified_accuracy"):
        assert key in obj["epsilons"][0]
    rows = [json.loads(ln) for ln in (out / "points.jsonl").read_text().splitlines()]
    assert len({r["key"] for r in rows}) == 24 * 3
    assert (out / "report.md").read_text().startswith("# Robustness of `digits.onnx`")
    png = (out / "accuracy.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_batched_attack_breaks_what_it_reports():
    from verinet.network import load

    net = load(str(MODEL))
    z = np.load(DATA)
    x = z["x"][:40].astype(np.float64)
    lab = z["y"][:40]
    lo, hi = np.clip(x - 0.08, 0, 1), np.clip(x + 0.08, 0, 1)
    found, adv, counts = attack_batch(net, x, lab, lo, hi, 0.08, np.random.default_rng(0))
    assert found.sum() == counts["fgsm"] + counts["pgd"] > 0
    assert np.all(broken(net.evaluate(adv[found]), lab[found]))
    assert np.all((adv >= lo) & (adv <= hi))


def test_no_labels_uses_the_clean_prediction(tmp_path, capsys):
    z = np.load(DATA)
    np.save(tmp_path / "x.npy", z["x"][:5])
    code, out, _ = run(capsys, "robustness", MODEL, "--data", tmp_path / "x.npy", "--eps",
                       "0.01", "--lower", "0", "--upper", "1", "--jobs", "1", "--out",
                       tmp_path / "o")
    assert code == EXIT_OK
    assert "1.000" in out.splitlines()[1]  # clean accuracy 1 by construction


@pytest.mark.parametrize("make, args, words", [
    (lambda d: np.savez(d / "d.npz", x=np.zeros((3, 64)), y=np.zeros(2, dtype=int)), [],
     "2 labels for 3 points"),
    (lambda d: np.savez(d / "d.npz", x=np.zeros((3, 10)), y=np.zeros(3, dtype=int)), [],
     "each point has 10 values"),
    (lambda d: np.savez(d / "d.npz", x=np.full((3, 64), np.nan), y=np.zeros(3, dtype=int)),
     [], "NaN"),
    (lambda d: np.savez(d / "d.npz", x=np.zeros((3, 64)), y=np.zeros(3, dtype=int)),
     ["--eps", "0"], "greater than 0"),
    (lambda d: np.savez(d / "d.npz", x=np.zeros((3, 64)), y=np.zeros(3, dtype=int)),
     ["--eps=-0.1,0.2"], "greater than 0"),
    (lambda d: np.savez(d / "d.npz", x=np.zeros((3, 64)), y=np.full(3, 12)), [],
     "out of range"),
    (lambda d: (d / "d.npz").write_text("not a zip"), [], "not a readable .npz"),
])
def test_bad_input_is_one_line(tmp_path, capsys, make, args, words):
    make(tmp_path)
    argv = ["robustness", MODEL, "--data", tmp_path / "d.npz", "--eps", "0.01",
            "--out", tmp_path / "o", "--jobs", "1", *args]
    code, out, err = run(capsys, *argv)
    assert code == EXIT_BAD_INPUT, err
    assert len(err.strip().splitlines()) == 1 and words in err, err


def test_unwritable_output_folder(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = run(capsys, "robustness", MODEL, "--data", DATA, "--eps", "0.01",
                       "--limit", "2", "--out", blocker / "sub")
    assert code == EXIT_BAD_INPUT and "cannot write the output folder" in err


def test_killed_run_resumes_without_lost_or_repeated_rows(tmp_path):
    out = tmp_path / "o"
    cmd = [sys.executable, "-m", "verinet", "robustness", str(MODEL), "--data", str(DATA),
           "--eps", "0.01,0.02,0.04", "--lower", "0", "--upper", "1", "--limit", "60",
           "--jobs", "2", "--timeout", "10", "--out", str(out)]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    rows_file = out / "points.jsonl"
    t0 = time.monotonic()
    while time.monotonic() - t0 < 120:
        n = len(rows_file.read_text().splitlines()) if rows_file.is_file() else 0
        if n >= 40 or p.poll() is not None:
            break
        time.sleep(0.05)
    killed = p.poll() is None
    if killed:
        os.kill(p.pid, signal.SIGKILL)  # the parent only: its workers see their pipe close
    p.wait()
    first = [ln for ln in rows_file.read_text().splitlines() if ln.strip()]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == EXIT_OK, done.stderr
    rows = []
    for ln in rows_file.read_text().splitlines():
        try:
            rows.append(json.loads(ln))
        except json.JSONDecodeError:  # the torn line of the killed run
            continue
    keys = [r["key"] for r in rows]
    assert killed
    assert len(set(keys)) == 60 * 3  # nothing lost
    assert "rows reused" in done.stdout
    # nothing repeated: a key is written again only when a later witness settles a
    # radius that was left unknown or timed out
    seen: dict[str, dict] = {}
    for r in rows:
        old = seen.get(r["key"])
        if old is not None:
            assert old["status"] in ("unknown", "timeout") and r["status"] == "falsified"
        seen[r["key"]] = r
    before = {json.loads(ln)["key"] for ln in first[:-1]}  # the last line may be torn
    assert before <= set(keys)
    try:  # the killed run's workers are gone (they exit when their pipe closes)
        os.killpg(p.pid, 0)
        t1 = time.monotonic()
        while time.monotonic() - t1 < 30:
            os.killpg(p.pid, 0)
            time.sleep(0.2)
        os.killpg(p.pid, signal.SIGKILL)
        pytest.fail("workers of the killed run were still running after 30 s")
    except ProcessLookupError:
        pass


needs_dask = pytest.mark.skipif(__import__("importlib").util.find_spec("distributed") is None,
                                reason="Dask distributed is not installed "
                                       "(pip install '.[test]')")


def _cli(*args, timeout=300):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "verinet", "robustness", *map(str, args)],
                          env=env, capture_output=True, text=True, timeout=timeout)


@needs_dask
def test_dask_local_cluster_gives_the_same_statuses(tmp_path):
    common = [MODEL, "--data", DATA, "--eps", "0.01,0.03,0.06", "--lower", "0", "--upper",
              "1", "--limit", "16", "--timeout", "10", "--jobs", "2"]
    a = _cli(*common, "--out", tmp_path / "local")
    b = _cli(*common, "--executor", "dask", "--out", tmp_path / "dask")
    assert a.returncode == b.returncode == EXIT_OK, (a.stderr, b.stderr)

    def statuses(folder):
        rows = [json.loads(ln) for ln in (folder / "points.jsonl").read_text().splitlines()]
        return {(r["index"], r["eps"]): r["status"] for r in rows}

    sa, sb = statuses(tmp_path / "local"), statuses(tmp_path / "dask")
    assert len(sa) == 48 and sa == sb


@needs_dask
def test_unreachable_scheduler_fails_fast(tmp_path):
    t0 = time.monotonic()
    p = _cli(MODEL, "--data", DATA, "--eps", "0.01", "--limit", "2", "--executor", "dask",
             "--scheduler", "tcp://127.0.0.1:9", "--out", tmp_path / "o", timeout=60)
    assert time.monotonic() - t0 < 20
    assert p.returncode == EXIT_BAD_INPUT
    assert "cannot reach the Dask scheduler" in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "o" / "points.jsonl").exists() or \
        not (tmp_path / "o" / "points.jsonl").read_text()


def test_radius_brackets_agree_with_the_ladder(tmp_path):
    settings = RunSettings(epsilons=(0.02, 0.06), timeout=10, jobs=2, limit=12, lower=0.0,
                           upper=1.0, radius=True, radius_tol=0.004)
    rep = robustness_run(str(MODEL), str(DATA), settings, out=str(tmp_path), progress=False)
    rad = rep.radius
    assert rad["tol"] == 0.004 and rad["radius_max"] == 0.06
    for p in rad["points"]:
        if p["stopped"] == "misclassified":
            continue
        f = p["falsified"] if p["falsified"] is not None else np.inf
        assert p["certified"] <= f
        for e in (0.02, 0.06):
            st = rep.status(p["index"], e)
            if st == "verified":
                assert p["certified"] >= e
            if st == "falsified":
                assert f <= e
        if not p["stopped"] and p["falsified"] is not None:
            assert f - p["certified"] <= 0.004
    assert (tmp_path / "radii.png").is_file()
    again = robustness_run(str(MODEL), str(DATA), settings, out=str(tmp_path), progress=False)
    assert again.radius["reused"] == sum(p["stopped"] != "misclassified"
                                         for p in rad["points"])
    assert again.radius["points"] == rad["points"]
