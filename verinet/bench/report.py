"""Summaries of benchmark runs: verdicts, the VNN-COMP score, the summary table, comparisons.

Every function here works on rows as written to ``results.jsonl`` (plain dicts with at least
``onnx``, ``vnnlib``, ``status`` and ``time``), so finished runs can be re-read and compared
without running anything.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..errors import InputError

__all__ = ["verdict", "score", "summarize", "summary_markdown", "read_rows", "load_results",
           "compare_text", "SCORE_CORRECT", "SCORE_WRONG"]

SCORE_CORRECT = 10  #: VNN-COMP points for a correct ``sat`` / ``unsat`` answer
SCORE_WRONG = -150  #: VNN-COMP points for a wrong one

_DECIDED = ("sat", "unsat")
Row = dict[str, Any]


def verdict(status: str, expected: str | None) -> str:
    """``ok`` / ``WRONG`` for a decided answer with a known expectation, else ``undecided``
    (no answer) or ``no-expectation`` (an answer that cannot be checked)."""
    if status not in _DECIDED:
        return "undecided"
    if expected not in _DECIDED:
        return "no-expectation"
    return "ok" if status == expected else "WRONG"


def score(rows: Iterable[Row]) -> int:
    """VNN-COMP score: +10 per correct decided answer, -150 per wrong one, 0 otherwise
    (undecided, or decided without an expected answer to check it against)."""
    total = 0
    for r in rows:
        v = r.get("verdict")
        total += SCORE_CORRECT if v == "ok" else SCORE_WRONG if v == "WRONG" else 0
    return total


def summarize(rows: Sequence[Row]) -> dict[str, Any]:
    """Counts, times and score of a run."""
    times = [float(r.get("time", 0.0)) for r in rows]
    peaks = [float(r["peak_mib"]) for r in rows
             if isinstance(r.get("peak_mib"), (int, float)) and not isinstance(r["peak_mib"], bool)]

    def count(status: str) -> int:
        return sum(r.get("status") == status for r in rows)

    return {
        "instances": len(rows),
        "decided": sum(r.get("status") in _DECIDED for r in rows),
        "sat": count("sat"),
        "unsat": count("unsat"),
        "unknown": count("unknown"),
        "timeouts": count("timeout"),
        "errors": count("error"),
        "wrong": sum(r.get("verdict") == "WRONG" for r in rows),
        "total_time": sum(times),
        "median_time": statistics.median(times) if times else 0.0,
        "worst_time": max(times) if times else 0.0,
        "peak_mib": max(peaks) if peaks else None,
        "measured": len(peaks),
        "score": score(rows),
    }


def summary_markdown(rows: Sequence[Row], title: str = "verinet bench", note: str = "") -> str:
    """The summary as Markdown: wrong answers first, then the table, then the undecided."""
    s = summarize(rows)
    lines = [f"# {title}", ""]
    if note:
        lines += [note, ""]
    wrong = [r for r in rows if r.get("verdict") == "WRONG"]
    if wrong:
        lines += [f"## WRONG ANSWERS ({len(wrong)})", ""]
        for r in wrong:
            lines.append(f"- **{r['onnx']} {r['vnnlib']}: answered {r['status']}, expected "
                         f"{r.get('expected')}**")
        lines.append("")
    lines += [
        "| instances | decided | sat | unsat | unknown | timeouts | errors | wrong | "
        "total time (s) | median time (s) | worst time (s) | peak memory (MiB) | score |",
        "| " + " | ".join(["---"] * 13) + " |",
        f"| {s['instances']} | {s['decided']} | {s['sat']} | {s['unsat']} | {s['unknown']} | "
        f"{s['timeouts']} | {s['errors']} | {s['wrong']} | {s['total_time']:.1f} | "
        f"{s['median_time']:.2f} | {s['worst_time']:.2f} | "
        f"{'-' if s['peak_mib'] is None else format(s['peak_mib'], '.0f')} | {s['score']} |",
        "",
        f"Score: VNN-COMP rules, +{SCORE_CORRECT} per correct sat/unsat answer, "
        f"{SCORE_WRONG} per wrong one, 0 otherwise (an answer without an expected result "
        "scores 0).",
        "",
        f"Peak memory: the largest resident set of an instance's process (with any worker "
        f"processes it started), over the {s['measured']} of {s['instances']} instances "
        "that returned an answer (a process killed at its deadline reports none).",
    ]
    undecided = [r for r in rows if r.get("status") not in _DECIDED]
    if undecided:
        lines += ["", "## Undecided", ""]
        for r in undecided:
            reason = f" ({r['reason']})" if r.get("reason") else ""
            lines.append(f"- {r['onnx']} {r['vnnlib']}: {r['status']}{reason}")
    return "\n".join(lines) + "\n"


def _is_row(row: Any) -> bool:
    """A result row: a dict with string ``onnx``, ``vnnlib``, ``status`` and, when present,
    a numeric ``time``."""
    if not isinstance(row, dict):
        return False
    if not all(isinstance(row.get(k), str) for k in ("onnx", "vnnlib", "status")):
        return False
    t = row.get("time")
    return t is None or (isinstance(t, (int, float)) and not isinstance(t, bool))


def read_rows(path: Path) -> list[Row]:
    """The result rows of the JSON-lines file ``path``, in file order; a line that is not a
    row (such as a last line cut short by a kill) is skipped.

    Raises:
        InputError: ``path`` cannot be read or is not a text file (the message names it).
    """
    rows = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    row = json.loads(line)
                except (json.JSONDecodeError, RecursionError):
                    continue
                if _is_row(row):
                    rows.append(row)
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a results file of verinet bench (binary data, not "
                         "JSON lines)") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    return rows


def load_results(path: str | Path) -> list[Row]:
    """The rows of a ``results.jsonl`` file, or of ``DIR/results.jsonl``, the last row of each
    ``(onnx, vnnlib)`` pair; a malformed line (such as a last line cut short by a kill) is
    skipped.

    Raises:
        InputError: naming the file, when it is missing, unreadable, binary, or holds no
        result row at all (empty, or JSON of another kind).
    """
    p = Path(path)
    if p.is_dir():
        if not (p / "results.jsonl").exists():
            raise InputError(f"{p}: a folder without a results.jsonl; pass a results.jsonl "
                             "file or the --out folder of a bench run")
        p = p / "results.jsonl"
    if not p.exists():
        raise InputError(f"{p}: no such results file (expected a results.jsonl or its folder)")
    if not p.is_file():
        raise InputError(f"{p}: not a regular file (expected a results.jsonl or its folder)")
    rows = read_rows(p)
    if not rows:
        raise InputError(f"{p}: not a results file of verinet bench (no line is a JSON row "
                         "with onnx, vnnlib and status)")
    last = {(r["onnx"], r["vnnlib"]): r for r in rows}
    return list(last.values())


def _fmt_time(t: Any) -> str:
    return "-" if t is None else f"{float(t):.2f}"


def compare_text(rows_a: Sequence[Row], rows_b: Sequence[Row], name_a: str = "A",
                 name_b: str = "B") -> str:
    """Two runs side by side per instance (matched on onnx and vnnlib): status and time of
    each, the ratio of times B/A, then the instances decided by one run and not the other."""
    a = {(r["onnx"], r["vnnlib"]): r for r in rows_a}
    b = {(r["onnx"], r["vnnlib"]): r for r in rows_b}
    keys = list(a) + [k for k in b if k not in a]
    lines = [f"A: {name_a}", f"B: {name_b}", "",
             "| onnx | vnnlib | status A | status B | time A (s) | time B (s) | B/A |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for k in keys:
        ra, rb = a.get(k), b.get(k)
        ta = None if ra is None else ra.get("time")
        tb = None if rb is None else rb.get("time")
        ratio = f"{float(tb) / float(ta):.2f}" if ta and tb is not None else "-"
        lines.append(f"| {k[0]} | {k[1]} | {ra['status'] if ra else '-'} | "
                     f"{rb['status'] if rb else '-'} | {_fmt_time(ta)} | {_fmt_time(tb)} | "
                     f"{ratio} |")

    def decided(r: Row | None) -> bool:
        return r is not None and r.get("status") in _DECIDED

    only_a = [k for k in keys if decided(a.get(k)) and not decided(b.get(k))]
    only_b = [k for k in keys if decided(b.get(k)) and not decided(a.get(k))]
    for title, only in ((f"Decided by A only ({len(only_a)})", only_a),
                        (f"Decided by B only ({len(only_b)})", only_b)):
        lines += ["", f"## {title}", ""]
        lines += [f"- {k[0]} {k[1]}" for k in only] or ["- none"]
    differ = [k for k in keys if decided(a.get(k)) and decided(b.get(k))
              and a[k]["status"] != b[k]["status"]]
    if differ:
        lines += ["", f"## CONFLICTING ANSWERS ({len(differ)})", ""]
        lines += [f"- **{k[0]} {k[1]}: A {a[k]['status']}, B {b[k]['status']}**"
                  for k in differ]
    sa, sb = summarize(list(a.values())), summarize(list(b.values()))
    lines += ["", f"Score: A {sa['score']}, B {sb['score']}; decided: A {sa['decided']}, "
              f"B {sb['decided']}; total time: A {sa['total_time']:.1f} s, "
              f"B {sb['total_time']:.1f} s"]
    return "\n".join(lines) + "\n"
