"""The hostile-input suite: every case of :mod:`cases` handled well (see its docstring).

The default run takes the fast cases in this process; the ``slow`` run repeats every case
as a real ``python -m verinet`` process, with start-up excluded from the time budget.
``python scripts/hostile_report.py`` prints the counts.
"""

from __future__ import annotations

import pytest

from .cases import CASES, classify, run_case

FAST = [c for c in CASES if not c.slow and not c.subprocess_only]


@pytest.mark.parametrize("case", FAST, ids=[c.name for c in FAST])
def test_case_in_process(case, tmp_path):
    o = classify(case, run_case(case, tmp_path, in_process=True))
    assert o.verdict == "ok", f"{case.name}: {o.verdict}: {o.why}"


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_as_process(case, tmp_path):
    o = classify(case, run_case(case, tmp_path, in_process=False))
    assert o.verdict == "ok", f"{case.name}: {o.verdict}: {o.why}"


def test_catalogue_is_broad():
    names = [c.name for c in CASES]
    assert len(names) == len(set(names)), "case names must be unique"
    assert len(CASES) >= 80
    assert sum(c.truth is not None for c in CASES) >= 25
