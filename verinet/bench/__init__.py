"""``verinet bench``: run a VNN-COMP benchmark folder, resume, summarise and compare runs.

* :mod:`verinet.bench.runner` reads ``instances.csv`` / ``expected.csv``, runs each instance in
  its own spawned process under a hard time limit, writes its VNN-COMP results file under
  ``OUT/results`` and appends one JSON line per finished instance to ``results.jsonl``; a
  later run reuses a row only when its content key (hashes of the model and property bytes,
  timeout, verinet and library versions, every verifier setting) matches.
* :mod:`verinet.bench.report` turns rows of ``results.jsonl`` into the summary table (with the
  VNN-COMP score) and compares two runs.
"""

from __future__ import annotations

from .report import (
    compare_text,
    load_results,
    read_rows,
    score,
    summarize,
    summary_markdown,
    verdict,
)
from .runner import (
    FORMAT,
    GRACE,
    BenchIOError,
    BenchRun,
    Instance,
    default_dir,
    environment,
    instance_config,
    instance_key,
    key_fields,
    read_expected,
    read_instances,
    results_name,
    run_bench,
)

__all__ = [
    "FORMAT",
    "GRACE",
    "BenchIOError",
    "BenchRun",
    "Instance",
    "default_dir",
    "environment",
    "instance_config",
    "instance_key",
    "key_fields",
    "read_expected",
    "read_instances",
    "results_name",
    "run_bench",
    "compare_text",
    "load_results",
    "read_rows",
    "score",
    "summarize",
    "summary_markdown",
    "verdict",
]
