"""Branch and bound's batches bounded in worker processes, or on a Dask cluster.

The frontier stays in the calling process (:mod:`verinet.search.bab`): each round it pops
one batch of domains per worker, and an executor here has them bounded elsewhere and
returns the open children, in order.  A worker loads the model once per case (the case
and its root bounds travel once), builds the search of a conjunction when first asked,
and for each batch returns the open children, its counters, and the point of any
counterexample it confirmed, which this process confirms again before it answers.

Nothing is lost on the way: a batch a worker cannot bound (its model is not the caller's,
by :meth:`~verinet.network.ir.Network.fingerprint`, or it failed) is bounded in this
process instead, and so are the rounds before the first worker is ready.  Each batch
carries the time left; a worker stops there, and a round cut off by the deadline ends
the search as a timeout (never a proof).
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from ..bounds import Bounds
from ..config import VerifierConfig
from ..counterexample import CexChecker
from ..deadline import DeadlineExceeded, until
from ..network.ir import Network
from ..result import Stats
from ..spec.property import Case, Property
from .bab import Executor, Threads, _Domains, _Search

__all__ = ["executor_for", "executor_kind", "Processes", "DaskWorkers"]

#: seconds a worker may overrun its batch's time before it is ended
GRACE = 5.0


def executor_kind(network: Network, config: VerifierConfig) -> str:
    """Where ``verify`` bounds the batches of ``network``: ``config.search.bab_executor``,
    or ``"threads"`` (of this process) for one worker process, or for a network with no
    model file a worker could load."""
    s = config.search
    path = network.meta.get("path")
    if not path or not os.path.isfile(path) or (s.bab_executor == "processes"
                                                 and s.bab_workers < 2):
        return "threads"
    return s.bab_executor


def executor_for(network: Network, config: VerifierConfig) -> Executor | None:
    """The executor :func:`executor_kind` names, for ``network`` as ``verify`` searches it;
    None for threads (branch and bound's default)."""
    kind = executor_kind(network, config)
    if kind == "threads":
        return None
    spec = (os.path.abspath(network.meta["path"]), config.semantics == "real",
            network.fingerprint(), config.check_onnxruntime)
    s = config.search
    if kind == "dask":
        return DaskWorkers(s.bab_workers, spec, s.bab_scheduler)
    return Processes(s.bab_workers, spec)


# ---------------------------------------------------------------- inside a worker
def _init(path: str, real: bool, fingerprint: str, use_ort: bool, case: Case, root: Bounds,
          params: dict) -> dict:
    """A worker's state: the model (only if it is the caller's), the case, its searches."""
    try:
        from .. import allocator
        from ..network import load

        allocator.tune()
        net = load(path)
        net = net.real() if real else net
    except Exception as e:  # reported with each batch; the caller bounds them itself
        return {"error": f"the worker could not load {path}: {type(e).__name__}: {e}"}
    if net.fingerprint() != fingerprint:
        return {"error": f"the model in {path} is not the network being verified"}
    prop = Property((case,), net.n_inputs, net.n_outputs)
    return {"net": net, "case": case, "root": root, "params": params, "searches": {},
            "checker": CexChecker(net, prop, use_onnxruntime=use_ort)}


def _run(state: dict, task: dict) -> dict:
    """Bound one batch (``task``: conjunction ``j``, domains ``doms``, ``timeout``)."""
    from threadpoolctl import threadpool_limits

    if "error" in state:
        return {"status": "error", "reason": state["error"]}
    j = task["j"]
    search = state["searches"].get(j)
    if search is None:
        search = state["searches"][j] = _Search(
            state["net"], state["case"], j, state["checker"], np.inf, Stats(), state["root"],
            **state["params"])
    search.stats, search.cex = Stats(), None
    search.deadline = time.monotonic() + task["timeout"]
    try:
        with threadpool_limits(limits=1, user_api="blas"), until(search.deadline):
            children = search.branch(task["doms"])
    except DeadlineExceeded:
        return {"status": "timeout", "stats": search.stats.to_dict()}
    return {"status": "done", "children": children, "stats": search.stats.to_dict(),
            "x": None if search.cex is None else np.asarray(search.cex.x)}


def _merge(search: _Search, res: dict) -> None:
    """A worker's counters and counterexample into the search (confirmed here again)."""
    with search.lock:
        search.stats.absorb(res.get("stats"))
        x = res.get("x")
        if x is not None and search.cex is None:
            cex = search.checker.confirm(np.asarray(x, dtype=np.float64), "relu-bab worker")
            if cex is not None:
                search.cex = cex
            else:
                search.stats.rejected += 1


class _Remote:
    """What the two remote executors share: the rounds before the workers are ready, and
    the batches they could not bound, go to threads of this process."""

    def __init__(self, workers: int, spec: tuple):
        self.workers = max(1, workers)
        self.spec = spec
        self.local = Threads(self.workers)
        self.args: tuple | None = None
        self.broken = ""  # why the workers are no longer used
        self.remote = 0  # batches bounded by the workers

    def start(self, network: Network, case: Case, root: Bounds, params: dict) -> None:
        self.args = (*self.spec, case, root, params)

    def _collect(self, search: _Search, batches: list[_Domains], results: list[dict | None]
                 ) -> list[_Domains]:
        out: list[_Domains | None] = [None] * len(batches)
        for i, res in enumerate(results):
            if res is None:
                continue
            if res["status"] == "done":
                out[i] = res["children"]
                self.remote += 1
                _merge(search, res)
            elif res["status"] == "timeout" or time.monotonic() > search.deadline:
                search.stats.absorb(res.get("stats"))
                raise DeadlineExceeded()
            elif res["status"] == "error":
                self.broken = res.get("reason", "a worker failed")
        if time.monotonic() > search.deadline:
            raise DeadlineExceeded()
        rest = [i for i, o in enumerate(out) if o is None]
        for i, c in zip(rest, self.local.map(search, [batches[i] for i in rest])):
            out[i] = c
        return out  # type: ignore[return-value]

    def close(self) -> None:
        self.local.close()


class Processes(_Remote):
    """:class:`~verinet.search.bab.Executor` on ``workers`` worker processes of this
    machine (:class:`verinet.procpool.WorkerPool`, started at the first round; with
    ``wait``, that round waits for them instead of running here)."""

    def __init__(self, workers: int, spec: tuple, wait: bool = False):
        super().__init__(workers, spec)
        self._pool: Any = None
        self.wait = wait

    def map(self, search: _Search, batches: list[_Domains]) -> list[_Domains]:
        from ..errors import ModelLoadError
        from ..procpool import WorkerPool

        if self.broken or self.args is None:
            return self.local.map(search, batches)
        try:
            if self._pool is None:
                self._pool = WorkerPool(self.workers, _init, self.args, _run, grace=GRACE)
                while (self.wait and self._pool.ready() < self.workers
                       and time.monotonic() < search.deadline):
                    time.sleep(0.05)
            if not self._pool.ready():  # still starting: this round here
                return self.local.map(search, batches)
            left = search.deadline - time.monotonic()
            tasks = [{"i": i, "j": search.j, "doms": d, "timeout": max(left, 0.0)}
                     for i, d in enumerate(batches)]
            results: list[dict | None] = [None] * len(tasks)
            for task, res in self._pool.run(tasks, until=search.deadline + GRACE):
                results[task["i"]] = res
        except ModelLoadError as e:
            self.broken = str(e)
            return self.local.map(search, batches)
        return self._collect(search, batches, results)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        super().close()


# ---------------------------------------------------------------- Dask
_DASK_STATE: dict[str, dict] = {}


def _dask_run(token: str, args: tuple, task: dict) -> dict:
    """Runs in a Dask worker: the state of the case ``token`` built once per worker."""
    state = _DASK_STATE.get(token)
    if state is None:
        _DASK_STATE.clear()  # one case at a time
        state = _DASK_STATE[token] = _init(*args)
    return _run(state, task)


class DaskWorkers(_Remote):
    """:class:`~verinet.search.bab.Executor` on a Dask distributed cluster at
    ``scheduler`` (``tcp://HOST:PORT``), or on a local one of ``workers`` processes (the
    ``dask`` extra).  Each round sends one batch per worker."""

    def __init__(self, workers: int, spec: tuple, scheduler: str | None = None):
        super().__init__(workers, spec)
        self.scheduler = scheduler
        self._client: Any = None
        self._cluster: Any = None
        self._args: Any = None

    def _connect(self) -> None:
        import uuid

        from ..cluster import connect, local_cluster

        if self.scheduler is None:
            self._cluster = local_cluster(self.workers)
        self._client = connect(self.scheduler or self._cluster,
                               "5s" if self.scheduler else "20s",
                               self.scheduler or "a local cluster")
        self._args = self._client.scatter(self.args, broadcast=True)
        self._token = uuid.uuid4().hex

    def map(self, search: _Search, batches: list[_Domains]) -> list[_Domains]:
        from ..cluster import distributed

        if self.broken or self.args is None:
            return self.local.map(search, batches)
        if self._client is None:
            self._connect()
        left = max(search.deadline - time.monotonic(), 0.0)
        futures = [self._client.submit(_dask_run, self._token, self._args,
                                       {"j": search.j, "doms": d, "timeout": left},
                                       pure=False) for d in batches]
        try:
            distributed().wait(futures, timeout=left + GRACE, return_when="ALL_COMPLETED")
        except TimeoutError:
            pass  # the unfinished ones end the search below
        results: list[dict | None] = []
        for f in futures:
            try:
                results.append(f.result() if f.done() else None)
            except Exception as e:  # a lost worker: the batch is bounded here
                results.append({"status": "failed", "reason": f"{type(e).__name__}: {e}"})
        if any(r is None for r in results):
            for f in futures:
                f.cancel()
            raise DeadlineExceeded()
        return self._collect(search, batches, results)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None
        super().close()
