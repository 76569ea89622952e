"""Verification tasks in worker processes, each under a hard timeout.

Each worker loads the model once and then decides robustness tasks sent to it.  The
parent watches the clock: a worker still busy ``GRACE`` seconds after its task's budget
is killed (the task is recorded as ``timeout``) and replaced, and the run goes on; a
worker that dies is recorded as ``unknown`` with the reason.  Results come back in the
order they finish.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["Task", "run_tasks", "check_scheduler", "GRACE"]

#: Seconds a worker may overrun its task's budget before it is killed.
GRACE = 5.0

Task = dict[str, Any]  # key, x0, label, eps, lower, upper, timeout, seed


def _init(model_path: str, strategy: str) -> tuple[Any, str]:
    from ..network import load

    return load(model_path), strategy


def _run(state: tuple[Any, str], task: Task) -> dict:
    from .worker import solve

    network, strategy = state
    return solve(network, task, strategy)


def run_tasks(tasks: list[Task], model_path: str, jobs: int, strategy: str = "auto",
              executor: str = "local", scheduler: str | None = None
              ) -> Iterator[tuple[Any, dict]]:
    """Run every task; yield ``(key, result)`` as each finishes (see the module docstring).

    ``executor``: ``local`` (worker processes here, :class:`verinet.procpool.WorkerPool`)
    or ``dask`` (a Dask distributed cluster at ``scheduler``, or a local one on 127.0.0.1
    with ``jobs`` workers)."""
    if executor == "dask":
        yield from _run_dask(tasks, model_path, jobs, strategy, scheduler)
        return
    if not tasks:
        return
    from ..procpool import WorkerPool

    with WorkerPool(min(jobs, len(tasks)), _init, (model_path, strategy), _run,
                    grace=GRACE) as pool:
        for task, res in pool.run(tasks):
            res.setdefault("witness", None)
            yield task["key"], res


def check_scheduler(scheduler: str) -> None:
    """Fail fast (within a few seconds) when the Dask scheduler cannot be reached."""
    from ..cluster import check_scheduler as check

    check(scheduler)


_DASK_WORKERS: dict[tuple[int, str, str], Any] = {}


def _dask_task(model_path: str, strategy: str, task: Task) -> tuple[Any, dict]:
    """Runs inside a Dask worker: the task in a subprocess kept per worker thread (the
    model loaded once), killed when it overruns (see :mod:`.worker`)."""
    import threading

    from .worker import ProcWorker

    k = (threading.get_ident(), model_path, strategy)
    w = _DASK_WORKERS.get(k)
    if w is None:
        w = _DASK_WORKERS[k] = ProcWorker(model_path, strategy)
    return task["key"], w.run(task)


def _run_dask(tasks: list[Task], model_path: str, jobs: int, strategy: str,
              scheduler: str | None) -> Iterator[tuple[Any, dict]]:
    import os

    from ..cluster import connect, distributed, local_cluster

    dd = distributed()
    if not tasks:
        return
    cluster = local_cluster(jobs) if scheduler is None else None
    try:
        client = connect(scheduler or cluster, "5s" if scheduler else "20s",
                         scheduler or "a local cluster")
    except Exception:
        if cluster is not None:
            cluster.close()
        raise
    path = os.path.abspath(model_path)
    try:
        futures = {client.submit(_dask_task, path, strategy, t, pure=False): t["key"]
                   for t in tasks}
        for fut in dd.as_completed(list(futures)):
            try:
                yield fut.result()
            except Exception as e:  # a lost worker: recorded, the run goes on
                yield futures[fut], {"status": "unknown", "time": 0.0, "witness": None,
                             "reason": f"Dask task failed: {type(e).__name__}: {e}"}
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
