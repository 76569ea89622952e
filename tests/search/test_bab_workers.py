"""Branch and bound with its batches bounded in worker processes (and on a local Dask
cluster): the same answers as in one process, counterexamples confirmed here, and a
worker whose model is not the network being verified never used."""

from __future__ import annotations

import sys
import time

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.search.test_bab import _case
from verinet.config import AttackConfig, SearchConfig, VerifierConfig
from verinet.counterexample import CexChecker
from verinet.network import load
from verinet.result import Stats, Status
from verinet.search.bab import relu_bab
from verinet.search.bab_workers import DaskWorkers, Processes, executor_for
from verinet.spec.property import Property
from verinet.verify import verify


def _onnx_chain(path, widths, seed, n_in=6, n_out=3):
    """``Gemm -> Relu -> ... -> Gemm`` in float32, random weights, saved at ``path``."""
    rng = np.random.default_rng(seed)
    nodes, inits, x, size = [], [], "X", n_in
    for k, m in enumerate([*widths, n_out]):
        W = rng.normal(0, 1.2 / np.sqrt(size), (m, size)).astype(np.float32)
        b = rng.normal(0, 0.3, m).astype(np.float32)
        inits += [numpy_helper.from_array(W, f"W{k}"), numpy_helper.from_array(b, f"B{k}")]
        y = "Y" if k == len(widths) else f"h{k}"
        nodes.append(helper.make_node("Gemm", [x, f"W{k}", f"B{k}"], [y], transB=1))
        if k < len(widths):
            nodes.append(helper.make_node("Relu", [y], [f"r{k}"]))
            y = f"r{k}"
        x, size = y, m
    graph = helper.make_graph(
        nodes, "chain", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, n_in])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, n_out])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return load(str(path))


def _spec(net):
    return (net.meta["path"], False, net.fingerprint(), True)


@pytest.mark.parametrize("widths,seed,shift", [([24, 24], 2, -0.1), ([24, 24], 3, -0.05),
                                               ([32, 32, 32], 4, -0.1)])
def test_worker_processes_give_the_answers_of_one_process(tmp_path, widths, seed, shift):
    """Every batch in a worker process (``wait``): the answer of the one-process search;
    a ``sat`` point from a worker is confirmed here."""
    net = _onnx_chain(tmp_path / "chain.onnx", widths, seed)
    case = _case(net, seed, shift)
    prop = Property((case,), net.n_inputs, net.n_outputs)
    outs = {}
    for name, ex in (("here", None), ("workers", Processes(2, _spec(net), wait=True))):
        outs[name] = relu_bab(net, case, CexChecker(net, prop), time.monotonic() + 60,
                              Stats(), batch=4, workers=2, executor=ex)
        if ex is not None:
            assert ex.remote > 0 and not ex.broken
    assert outs["here"].status in ("sat", "unsat")
    assert outs["workers"].status == outs["here"].status, outs
    if outs["workers"].status == "sat":
        x = outs["workers"].counterexample.x
        assert (case.box.lower <= x).all() and (x <= case.box.upper).all()
        assert net.evaluate(x[None])[0] @ np.array([1.0, -1.0, 0.0]) <= case.bad[0].b[0]


def test_a_worker_with_another_model_is_never_used(tmp_path):
    """The model file changed under the search: the workers refuse it (fingerprint), and
    every batch is bounded here, with the right answer."""
    net = _onnx_chain(tmp_path / "chain.onnx", [24, 24], 2)
    case = _case(net, 2, -0.1)
    prop = Property((case,), net.n_inputs, net.n_outputs)
    spec = _spec(net)
    _onnx_chain(tmp_path / "chain.onnx", [24, 24], 1)  # another network in the same file
    ex = Processes(2, spec, wait=True)
    out = relu_bab(net, case, CexChecker(net, prop), time.monotonic() + 60, Stats(),
                   batch=4, workers=2, executor=ex)
    assert ex.remote == 0 and "not the network being verified" in ex.broken
    assert out.status == "unsat"


def test_verify_with_processes_and_the_executor_choice(tmp_path):
    net = _onnx_chain(tmp_path / "chain.onnx", [24, 24], 2)
    case = _case(net, 2, -0.05)
    prop = Property((case,), net.n_inputs, net.n_outputs)
    cfg = VerifierConfig(search=SearchConfig(strategy="relu", relu_engine="bab",
                                             bab_workers=2, bab_executor="processes",
                                             bab_batch=4),
                         attack=AttackConfig(enabled=False))
    assert isinstance(executor_for(net, cfg), Processes)
    assert executor_for(net.real(), VerifierConfig()) is None  # threads: none needed
    r = verify(net, prop, timeout=60, config=cfg)
    assert r.status in (Status.SAT, Status.UNSAT)
    ref = verify(net, prop, timeout=60, config=VerifierConfig(
        search=SearchConfig(strategy="relu", relu_engine="bab", bab_batch=4),
        attack=AttackConfig(enabled=False)))
    assert r.status == ref.status
    with pytest.raises(ValueError, match="bab_executor"):
        SearchConfig(bab_executor="gpu")


needs_dask = pytest.mark.skipif(
    __import__("importlib").util.find_spec("distributed") is None,
    reason="Dask distributed is not installed (pip install 'verinet[dask]')")


@needs_dask
def test_dask_local_cluster_gives_the_answer_of_one_process(tmp_path):
    net = _onnx_chain(tmp_path / "chain.onnx", [24, 24], 2)
    case = _case(net, 2, -0.1)
    prop = Property((case,), net.n_inputs, net.n_outputs)
    ex = DaskWorkers(2, _spec(net))
    out = relu_bab(net, case, CexChecker(net, prop), time.monotonic() + 120, Stats(),
                   batch=4, workers=2, executor=ex)
    ref = relu_bab(net, case, CexChecker(net, prop), time.monotonic() + 60, Stats(),
                   batch=4, workers=2)
    assert ex.remote > 0 and not ex.broken
    assert out.status == ref.status and out.status in ("sat", "unsat")


def test_cli_executor_and_scheduler_options(tmp_path, capsys):
    """``verinet verify --jobs 2 --executor processes``: the workers' executor is named in
    the strategy; ``--scheduler`` without ``--executor dask`` is refused in one line."""
    import json

    from verinet.cli import main
    from verinet.spec.vnnlib import write_vnnlib

    net = _onnx_chain(tmp_path / "chain.onnx", [24, 24], 2)
    case = _case(net, 2, -0.05)
    prop = Property((case,), net.n_inputs, net.n_outputs)
    write_vnnlib(prop, tmp_path / "p.vnnlib")
    args = [str(tmp_path / "chain.onnx"), "--vnnlib", str(tmp_path / "p.vnnlib"),
            "--timeout", "60", "--strategy", "relu", "--relu-engine", "bab", "--jobs", "2"]
    code = main(["verify", *args, "--executor", "processes", "--json", "--no-attack"])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["status"] in ("sat", "unsat") and code in (0, 10)
    assert "on worker processes" in out["stats"]["strategy"]
    code = main(["verify", *args, "--scheduler", "tcp://127.0.0.1:1"])
    err = capsys.readouterr().err
    assert code != 0 and "--scheduler needs --executor dask" in err and "Traceback" not in err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc, uses pgrep")
@pytest.mark.parametrize("executor", ["threads", "processes"])
def test_ctrl_c_during_branch_and_bound_exits_130_and_leaves_no_worker(tmp_path, executor):
    """SIGINT while two workers bound batches: exit 130 within seconds, no answer written,
    no traceback, and no worker process left behind."""
    import subprocess
    from pathlib import Path

    from tests.procs import interrupt
    from verinet.spec.vnnlib import write_vnnlib

    net = _onnx_chain(tmp_path / "chain.onnx", [32, 32, 32], 3)  # open for a minute
    case = _case(net, 3, -0.05)
    write_vnnlib(Property((case,), net.n_inputs, net.n_outputs), tmp_path / "p.vnnlib")
    res = tmp_path / "res.txt"
    root = Path(__file__).resolve().parents[2]
    p = subprocess.Popen([sys.executable, "-m", "verinet", "verify", str(tmp_path / "chain.onnx"),
                          "--vnnlib", str(tmp_path / "p.vnnlib"), "--strategy", "relu",
                          "--relu-engine", "bab", "--jobs", "2", "--executor", executor,
                          "--no-attack", "--timeout", "60", "--results-file", str(res)],
                         cwd=root, stderr=subprocess.PIPE, text=True)
    time.sleep(6.0)
    assert p.poll() is None, p.stderr.read()
    kids = [int(x) for x in subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True,
                                           text=True).stdout.split()]
    if executor == "processes":
        assert len(kids) >= 2, kids  # the two workers (and the start method's helper)
    rc, err, took = interrupt(p)
    assert rc == 130, err
    assert took < 5.0
    assert not res.exists() and "Traceback" not in err
    time.sleep(1.0)
    def running(pid: int) -> bool:  # a zombie waiting for its reaper has ended
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return False
        return state != "Z"

    alive = [pid for pid in kids if running(pid)]
    assert not alive, f"worker processes left behind: {alive}"
