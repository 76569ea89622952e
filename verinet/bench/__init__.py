"""``verinet bench``: run a VNN-COMP benchmark folder, resume, summarise and compare runs.

* :mod:`verinet.bench.runner` reads ``instances.csv`` / ``expected.csv``, runs each instance in
  its own spawned process under a hard time limit and appends one JSON line per finished
  instance to ``results.jsonl``.
* :mod:`verinet.bench.report` turns rows of ``results.jsonl`` into the summary table (with the
  VNN-COMP score) and compares two runs.
"""

from __future__ import annotations

from .report import compare_text, load_results, score, summarize, summary_markdown, verdict
from .runner import (
    GRACE,
    Instance,
    default_dir,
    instance_key,
    read_expected,
    read_instances,
    run_bench,
)

__all__ = [
    "GRACE",
    "Instance",
    "default_dir",
    "instance_key",
    "read_expected",
    "read_instances",
    "run_bench",
    "compare_text",
    "load_results",
    "score",
    "summarize",
    "summary_markdown",
    "verdict",
]
