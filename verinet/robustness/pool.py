"""Verification tasks in worker processes, each under a hard timeout.

Each worker loads the model once and then decides robustness tasks sent to it.  The
parent watches the clock: a worker still busy ``GRACE`` seconds after its task's budget
is killed (the task is recorded as ``timeout``) and replaced, and the run goes on; a
worker that dies is recorded as ``unknown`` with the reason.  Results come back in the
order they finish.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import wait
from typing import Any

from ..errors import ModelLoadError

__all__ = ["Task", "run_tasks", "GRACE"]

#: Seconds a worker may overrun its task's budget before it is killed.
GRACE = 5.0

Task = dict[str, Any]  # key, x0, label, eps, lower, upper, timeout, seed


def _worker(conn: Any, model_path: str, strategy: str) -> None:
    import numpy as np

    from ..config import SearchConfig, VerifierConfig
    from ..network import load
    from ..spec.robustness import robustness
    from ..verify import verify

    network = load(model_path)
    conn.send(("ready", None))
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        t0 = time.monotonic()
        try:
            prop = robustness(np.asarray(task["x0"]), task["eps"], task["label"],
                              task["lower"], task["upper"], network=network)
            config = VerifierConfig(search=SearchConfig(strategy=strategy), seed=task["seed"])
            r = verify(network, prop, timeout=task["timeout"], config=config, start=t0)
            out = {"status": r.status.value, "reason": r.reason,
                   "witness": None if r.counterexample is None
                   else [float(v) for v in r.counterexample.x]}
        except Exception as e:  # recorded, never lost
            out = {"status": "unknown", "reason": f"{type(e).__name__}: {e}", "witness": None}
        out["time"] = time.monotonic() - t0
        conn.send((task["key"], out))


class _Worker:
    def __init__(self, ctx: Any, model_path: str, strategy: str):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child, model_path, strategy),
                                daemon=True)
        self.proc.start()
        child.close()
        self.task: Task | None = None
        self.started = 0.0
        self.ready = False
        self.born = time.monotonic()

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)
        self.conn.close()


def run_tasks(tasks: list[Task], model_path: str, jobs: int, strategy: str = "auto",
              on_start: Callable[[], None] | None = None) -> Iterator[tuple[Any, dict]]:
    """Run every task; yield ``(key, result)`` as each finishes (see the module docstring)."""
    ctx = mp.get_context("spawn")
    queue = list(reversed(tasks))
    workers = [_Worker(ctx, model_path, strategy) for _ in range(max(1, min(jobs, len(tasks))))]
    if on_start is not None:
        on_start()
    try:
        while queue or any(w.task is not None for w in workers):
            for w in workers:
                if w.ready and w.task is None and queue:
                    w.task = queue.pop()
                    w.started = time.monotonic()
                    w.conn.send(w.task)
            watched = [w for w in workers if w.task is not None or not w.ready]
            ready = wait([w.conn for w in watched], timeout=0.2)
            now = time.monotonic()
            for i, w in enumerate(workers):
                if w.conn in ready:
                    try:
                        got_key, res = w.conn.recv()
                    except (EOFError, OSError):
                        workers[i] = _Worker(ctx, model_path, strategy)
                        w.kill()
                        if w.task is None:  # died while loading the model
                            raise ModelLoadError(f"a worker could not load {model_path} "
                                               f"(exit code {w.proc.exitcode})") from None
                        yield w.task["key"], {"status": "unknown", "time": now - w.started,
                                              "witness": None, "reason": "worker exited "
                                              f"with code {w.proc.exitcode}"}
                        continue
                    if got_key == "ready":
                        w.ready = True
                        continue
                    w.task = None
                    yield got_key, res
                elif w.task is not None and now - w.started > w.task["timeout"] + GRACE:
                    key, budget = w.task["key"], w.task["timeout"]
                    w.kill()
                    workers[i] = _Worker(ctx, model_path, strategy)
                    yield key, {"status": "timeout", "time": now - w.started, "witness": None,
                                "reason": f"killed {GRACE:g} s after its {budget:g} s budget"}
    finally:
        for w in workers:
            try:
                if w.proc.is_alive() and w.task is None:
                    w.conn.send(None)
            except (OSError, BrokenPipeError):
                pass
            w.proc.join(0.5)
            w.kill()
