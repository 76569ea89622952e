"""Worker processes that keep state between tasks, each task under a hard timeout.

:class:`WorkerPool` starts ``jobs`` spawned processes; each calls ``init(*init_args)``
once (say, to load a model) and then ``run(state, task)`` for every task it is sent.
The parent watches the clock: a worker still busy ``grace`` seconds after its task's
budget (``task["timeout"]``) is killed and replaced and the task reported as
``{"status": "timeout"}``; a worker that dies mid-task is reported as ``unknown`` with
its exit code.  ``init`` and ``run`` must be module-level functions (they are pickled).
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.connection import wait
from typing import Any

from .errors import ModelLoadError

__all__ = ["WorkerPool"]


def _main(conn: Any, init: Callable, init_args: tuple, run: Callable) -> None:
    state = init(*init_args)
    conn.send(("ready", None))
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        try:
            conn.send(("done", run(state, task)))
        except (BrokenPipeError, OSError):  # the parent is gone
            return


class _Worker:
    def __init__(self, ctx: Any, init: Callable, init_args: tuple, run: Callable):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_main, args=(child, init, init_args, run), daemon=True)
        self.proc.start()
        child.close()
        self.task: dict | None = None
        self.started = 0.0
        self.ready = False

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)
        self.conn.close()


class WorkerPool:
    """See the module docstring; use as a context manager."""

    def __init__(self, jobs: int, init: Callable, init_args: tuple, run: Callable,
                 grace: float = 5.0):
        self._ctx = mp.get_context("spawn")
        self._spec = (init, init_args, run)
        self.grace = grace
        self.workers = [self._new() for _ in range(max(1, jobs))]
        self._queue: list[dict] = []

    def _new(self) -> _Worker:
        return _Worker(self._ctx, *self._spec)

    @property
    def queued(self) -> int:
        """Tasks waiting for a worker."""
        return len(self._queue)

    def ready(self) -> int:
        """Workers that have finished starting (a look, without waiting)."""
        starting = [w for w in self.workers if not w.ready]
        if starting:
            for conn in wait([w.conn for w in starting], timeout=0):
                w = next(w for w in starting if w.conn is conn)
                try:
                    kind, _ = conn.recv()
                except (EOFError, OSError):
                    code = w.proc.exitcode
                    raise ModelLoadError(f"a worker process failed to start "
                                         f"(exit code {code})") from None
                w.ready = kind == "ready"
        return sum(w.ready for w in self.workers)

    def submit(self, task: dict) -> None:
        """Queue one more task behind the others (while :meth:`run` is iterating)."""
        self._queue.insert(0, task)

    def run(self, tasks: Iterable[dict], until: float | None = None
            ) -> Iterator[tuple[dict, dict]]:
        """Yield ``(task, result)`` as tasks finish, in any order (tasks given to
        :meth:`submit` meanwhile included); stop at ``time.monotonic() == until`` if
        given, with tasks left unfinished (:meth:`close` ends their workers)."""
        queue = self._queue = list(reversed(list(tasks)))
        workers = self.workers
        while queue or any(w.task is not None for w in workers):
            if until is not None and time.monotonic() > until:
                return
            for w in workers:
                if w.ready and w.task is None and queue:
                    w.task = queue.pop()
                    w.started = time.monotonic()
                    w.conn.send(w.task)
            watched = [w.conn for w in workers if w.task is not None or not w.ready]
            ready = wait(watched, timeout=0.2)
            now = time.monotonic()
            for i, w in enumerate(workers):
                if w.conn in ready:
                    try:
                        kind, res = w.conn.recv()
                    except (EOFError, OSError):
                        code = w.proc.exitcode
                        workers[i] = self._new()
                        w.kill()
                        if w.task is None:
                            raise ModelLoadError(f"a worker process failed to start "
                                                 f"(exit code {code})") from None
                        yield w.task, {"status": "unknown", "time": now - w.started,
                                       "reason": f"worker exited with code {code}"}
                        continue
                    if kind == "ready":
                        w.ready = True
                        continue
                    task, w.task = w.task, None
                    yield task, res
                elif w.task is not None and now - w.started > w.task["timeout"] + self.grace:
                    task = w.task
                    w.kill()
                    workers[i] = self._new()
                    yield task, {"status": "timeout", "time": now - w.started,
                                 "reason": f"killed {self.grace:g} s after its "
                                           f"{task['timeout']:g} s budget"}

    def close(self) -> None:
        for w in self.workers:
            try:
                if w.proc.is_alive() and w.task is None and w.ready:
                    w.conn.send(None)
            except (OSError, BrokenPipeError):
                pass
        for w in self.workers:
            if w.task is None and w.ready:  # told to stop: give it a moment to exit
                w.proc.join(0.5)
            w.kill()  # busy or still starting: ended at once

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
