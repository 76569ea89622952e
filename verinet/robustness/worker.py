"""A verification worker as a plain subprocess speaking JSON lines, with a hard timeout.

``python -m verinet.robustness.worker MODEL STRATEGY`` loads the model once, prints
``{"ready": true}``, then reads one task per line on stdin (the fields of
:data:`~verinet.robustness.pool.Task`) and answers each with one line on stdout.
:class:`ProcWorker` drives it from any process — also from a Dask worker, whose daemonic
process may not fork ``multiprocessing`` children but may start subprocesses — and kills
it when a task overruns its budget by ``GRACE`` seconds (Dask cannot interrupt a task by
itself, so the hard timeout lives here).
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import time
from typing import Any

__all__ = ["ProcWorker", "solve"]

GRACE = 5.0


def solve(network: Any, task: dict, strategy: str) -> dict:
    """Decide one robustness task on a loaded network (never raises)."""
    import numpy as np

    from ..config import SearchConfig, VerifierConfig
    from ..spec.robustness import robustness
    from ..verify import verify

    t0 = time.monotonic()
    try:
        prop = robustness(np.asarray(task["x0"]), task["eps"], task["label"], task["lower"],
                          task["upper"], network=network)
        config = VerifierConfig(search=SearchConfig(strategy=strategy), seed=task["seed"])
        r = verify(network, prop, timeout=task["timeout"], config=config, start=t0)
        out = {"status": r.status.value, "reason": r.reason,
               "witness": None if r.counterexample is None
               else [float(v) for v in r.counterexample.x]}
    except Exception as e:  # recorded, never lost
        out = {"status": "unknown", "reason": f"{type(e).__name__}: {e}", "witness": None}
    out["time"] = time.monotonic() - t0
    return out


class ProcWorker:
    """One ``python -m verinet.robustness.worker`` subprocess (see the module docstring)."""

    def __init__(self, model_path: str, strategy: str):
        self.model_path, self.strategy = model_path, strategy
        self.proc: subprocess.Popen | None = None

    def _start(self) -> None:
        env = dict(os.environ)
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "verinet.robustness.worker", self.model_path,
             self.strategy], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True, bufsize=1, env=env)
        line = self._read_line(120.0)
        if line is None or not json.loads(line).get("ready"):
            self.close()
            raise RuntimeError(f"the verification worker could not load {self.model_path}")

    def _read_line(self, seconds: float) -> str | None:
        assert self.proc is not None and self.proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        try:
            if not sel.select(timeout=max(seconds, 0.0)):
                return None
        finally:
            sel.close()
        line = self.proc.stdout.readline()
        return line if line else None

    def run(self, task: dict) -> dict:
        """The task's result; ``timeout`` if it overran (the subprocess is then killed)."""
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        assert self.proc is not None and self.proc.stdin is not None
        t0 = time.monotonic()
        self.proc.stdin.write(json.dumps(task) + "\n")
        self.proc.stdin.flush()
        line = self._read_line(task["timeout"] + GRACE)
        if line is None:
            code = self.proc.poll()
            self.close()
            if code is None:
                return {"status": "timeout", "time": time.monotonic() - t0, "witness": None,
                        "reason": f"killed {GRACE:g} s after its {task['timeout']:g} s budget"}
            return {"status": "unknown", "time": time.monotonic() - t0, "witness": None,
                    "reason": f"worker exited with code {code}"}
        return json.loads(line)

    def close(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            for f in (self.proc.stdin, self.proc.stdout):
                if f is not None:
                    f.close()
            self.proc = None


def main(argv: list[str]) -> int:
    from ..network import load

    model_path, strategy = argv[0], argv[1]
    network = load(model_path)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        task = json.loads(line)
        res = solve(network, task, strategy)
        print(json.dumps(res), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
