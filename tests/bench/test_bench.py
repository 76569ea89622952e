"""``verinet bench``: runs in spawned processes, kills overrunning instances, resumes,
flags wrong answers (exit 11) and compares runs."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from verinet import cli
from verinet.bench import report, runner
from verinet.config import AttackConfig, SearchConfig, VerifierConfig

SAT = "(declare-const X_0 Real)\n(declare-const Y_0 Real)\n" \
      "(assert (>= X_0 -1))\n(assert (<= X_0 1))\n(assert (>= Y_0 0.5))\n"
UNSAT = "(declare-const X_0 Real)\n(declare-const Y_0 Real)\n" \
        "(assert (>= X_0 -1))\n(assert (<= X_0 1))\n(assert (<= Y_0 -0.5))\n"


def _relu_model() -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"], name="relu")], "relu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def _folder(tmp_path: Path, *, slow: bool = True, lie: bool = False) -> Path:
    d = tmp_path / "bench"
    d.mkdir()
    onnx.save(_relu_model(), str(d / "relu.onnx"))
    (d / "sat.vnnlib").write_text(SAT)
    (d / "unsat.vnnlib").write_text(UNSAT)
    lines = ["relu.onnx,sat.vnnlib,30", "relu.onnx,unsat.vnnlib,30"]
    if slow:
        (d / "slow.vnnlib").write_text(UNSAT)
        lines.append("relu.onnx,slow.vnnlib,1")
    (d / "instances.csv").write_text("\n".join(lines) + "\n")
    (d / "expected.csv").write_text(
        "onnx,vnnlib,expected\n"
        f"relu.onnx,sat.vnnlib,{'unsat' if lie else 'sat'}\n"
        "relu.onnx,unsat.vnnlib,unsat\n")
    return d


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """A short grace period, and the slow instance sleeping well past its budget."""
    monkeypatch.setattr(runner, "GRACE", 1.0)
    monkeypatch.setenv("VERINET_BENCH_TEST_SLEEP", "slow:60")


def _rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def test_run_kill_resume_rerun(tmp_path: Path, quick: None,
                               capsys: pytest.CaptureFixture[str]) -> None:
    d, out = _folder(tmp_path), tmp_path / "out"
    argv = ["bench", str(d), "--jobs", "2", "--out", str(out)]
    assert cli.main(argv) == cli.EXIT_OK
    text = capsys.readouterr().out
    rows = {r["vnnlib"]: r for r in _rows(out)}
    assert rows["sat.vnnlib"]["status"] == "sat" and rows["sat.vnnlib"]["verdict"] == "ok"
    assert rows["unsat.vnnlib"]["status"] == "unsat"
    assert rows["slow.vnnlib"]["status"] == "timeout"  # killed, and the run went on
    assert rows["slow.vnnlib"]["verdict"] == "undecided"
    assert rows["slow.vnnlib"]["time"] < 10
    assert "slow.vnnlib: timeout" in text  # one plain line per instance off a terminal
    summary = (out / "summary.md").read_text()
    assert "WRONG" not in summary
    assert "| 3 | 2 | 1 | 1 | 0 | 1 | 0 | 0 |" in summary
    assert "| 20 |" in summary  # score: two correct answers
    # peak memory: measured in the instances that answered (a killed one reports none)
    peaks = [rows[v]["peak_mib"] for v in ("sat.vnnlib", "unsat.vnnlib")]
    assert all(10 < p < 4096 for p in peaks) and "peak_mib" not in rows["slow.vnnlib"]
    assert f"| {max(peaks):.0f} | 20 |" in summary and "over the 2 of 3 instances" in summary

    # interrupted run: drop one line; only that instance is computed again
    lines = (out / "results.jsonl").read_text().splitlines()
    kept = [ln for ln in lines if json.loads(ln)["vnnlib"] != "unsat.vnnlib"]
    (out / "results.jsonl").write_text("\n".join(kept) + "\n")
    assert cli.main(argv) == cli.EXIT_OK
    text = capsys.readouterr().out
    assert "resuming: 2 instance(s)" in text
    assert "unsat.vnnlib: unsat" in text and "sat.vnnlib: sat" not in text
    assert "slow.vnnlib" not in text.split("# verinet bench")[0]
    assert sorted(r["vnnlib"] for r in _rows(out)) == ["sat.vnnlib", "slow.vnnlib",
                                                       "unsat.vnnlib"]

    # --rerun --filter runs the matching instances again and keeps every other row
    slow_row = next(r for r in _rows(out) if r["vnnlib"] == "slow.vnnlib")
    assert cli.main([*argv, "--rerun", "--filter", " sat"]) == cli.EXIT_OK
    text = capsys.readouterr().out
    assert "resuming" not in text
    assert "sat.vnnlib: sat" in text and "unsat.vnnlib" not in text.split("# verinet")[0]
    rows = _rows(out)
    assert sorted(r["vnnlib"] for r in rows) == ["sat.vnnlib", "slow.vnnlib", "unsat.vnnlib"]
    assert next(r for r in rows if r["vnnlib"] == "slow.vnnlib") == slow_row


def test_wrong_answer_exit_code_and_summary(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    d, out = _folder(tmp_path, slow=False, lie=True), tmp_path / "out"
    assert cli.main(["bench", str(d), "--jobs", "1", "--out", str(out)]) \
        == cli.EXIT_BENCH_WRONG == 11
    text = capsys.readouterr().out
    summary = (out / "summary.md").read_text()
    assert summary in text
    body = summary.split("\n", 2)[2]
    assert body.index("## WRONG ANSWERS") < body.index("| instances |")
    assert "sat.vnnlib: answered sat, expected unsat" in summary
    assert "| -140 |" in summary  # -150 + 10


def test_compare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def row(vnnlib: str, status: str, t: float) -> str:
        return json.dumps({"key": vnnlib, "onnx": "n.onnx", "vnnlib": vnnlib,
                           "status": status, "time": t})

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "results.jsonl").write_text("\n".join(
        [row("p1", "unsat", 2.0), row("p2", "timeout", 10.0), row("p3", "sat", 1.0)]) + "\n")
    (b / "results.jsonl").write_text("\n".join(
        [row("p1", "unsat", 1.0), row("p2", "sat", 4.0), row("p3", "unknown", 3.0)])
        + "\n{not json\n")
    assert cli.main(["bench", "compare", str(a), str(b / "results.jsonl")]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "| n.onnx | p1 | unsat | unsat | 2.00 | 1.00 | 0.50 |" in out
    assert "| n.onnx | p2 | timeout | sat | 10.00 | 4.00 | 0.40 |" in out
    only_a = out.split("## Decided by A only (1)")[1].split("##")[0]
    only_b = out.split("## Decided by B only (1)")[1].split("##")[0]
    assert "n.onnx p3" in only_a and "n.onnx p2" in only_b
    assert cli.main(["bench", "compare", str(a)]) == cli.EXIT_BAD_INPUT
    assert cli.main(["bench", "compare", str(a), str(tmp_path / "none")]) == cli.EXIT_BAD_INPUT


def test_helpers(tmp_path: Path) -> None:
    assert report.verdict("sat", "unsat") == "WRONG"
    assert report.verdict("unsat", None) == "no-expectation"
    assert report.verdict("timeout", "sat") == "undecided"
    cfg, env = VerifierConfig(), runner.environment()

    def key(onnx: str = "a", vnnlib: str = "b", t: float = 30, c: VerifierConfig = cfg,
            e: dict = env) -> str:
        return runner.instance_key(runner.key_fields(onnx, vnnlib, t, c, "p.vnnlib", e))

    assert key(t=30) == key(t=30.0) == key()
    assert len({key(), key(t=31), key(onnx="c"), key(vnnlib="c"),
                key(c=VerifierConfig(seed=1)),
                key(c=VerifierConfig(search=SearchConfig(strategy="relu"))),
                key(c=VerifierConfig(attack=AttackConfig(enabled=False))),
                key(e={**env, "verinet": "9.9"}), key(e={**env, "source_sha256": "0"})}) == 9
    assert runner.results_name("n/a b.onnx", "../p;1.vnnlib") == \
        runner.results_name("n/a b.onnx", "../p;1.vnnlib")
    assert runner.results_name("a.onnx", "p.vnnlib") != runner.results_name("a", "p.vnnlib")
    assert "/" not in runner.results_name("n/a b.onnx", "../p;1.vnnlib")
    d = _folder(tmp_path)
    assert [i.vnnlib for i in runner.read_instances(d, "un|slow", 5.0)] == ["unsat.vnnlib",
                                                                          "slow.vnnlib"]
    assert all(i.timeout == 5.0 for i in runner.read_instances(d, "", 5.0))
    assert runner.default_dir().joinpath("instances.csv").is_file()


def _one(tmp_path: Path, prop: str = SAT, extra: str = "") -> Path:
    d = tmp_path / "one"
    d.mkdir()
    onnx.save(_relu_model(), str(d / "relu.onnx"))
    (d / "p.vnnlib").write_text(prop)
    (d / "instances.csv").write_text("relu.onnx,p.vnnlib,30\n" + extra)
    return d


def test_resume_keyed_by_content_and_cex_replayable(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d, out = _one(tmp_path), tmp_path / "out"
    argv = ["bench", str(d), "--jobs", "1", "--out", str(out)]
    assert cli.main(argv) == cli.EXIT_OK
    capsys.readouterr()
    (row,) = _rows(out)
    assert row["status"] == "sat" and len(row["key"]) == 64 and row["format"] == runner.FORMAT
    # the per-instance results file replays as a valid counterexample
    cex = out / row["results_file"]
    assert cex.read_text().startswith("sat\n((X_0 ")
    assert cli.main(["check-cex", str(d / "relu.onnx"), str(d / "p.vnnlib"), str(cex)]) \
        == cli.EXIT_OK
    assert "valid:" in capsys.readouterr().out

    assert cli.main(argv) == cli.EXIT_OK  # nothing changed: reused
    assert "resuming: 1 instance(s)" in capsys.readouterr().out

    (d / "p.vnnlib").write_text(UNSAT)  # same name, other bytes: run again, row replaced
    assert cli.main(argv) == cli.EXIT_OK
    text = capsys.readouterr().out
    assert "resuming" not in text and "p.vnnlib: unsat" in text
    (row,) = _rows(out)
    assert row["status"] == "unsat" and (out / row["results_file"]).read_text() == "unsat\n"

    assert cli.main([*argv, "--no-attack"]) == cli.EXIT_OK  # other settings: run again
    assert "resuming" not in capsys.readouterr().out
    assert cli.main([*argv, "--no-attack"]) == cli.EXIT_OK
    assert "resuming: 1" in capsys.readouterr().out

    # a row of the older format (no key) is never reused
    old = {k: row[k] for k in ("onnx", "vnnlib", "timeout", "status", "time")}
    (out / "results.jsonl").write_text(json.dumps({**old, "key": "0123456789abcdef"}) + "\n")
    assert cli.main([*argv, "--no-attack"]) == cli.EXIT_OK
    assert "resuming" not in capsys.readouterr().out
    assert len(_rows(out)) == 1 and _rows(out)[0]["format"] == runner.FORMAT


def test_missing_inputs_and_failed_writes_keep_answers(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full to simulate a full disk")
    d = _one(tmp_path, extra="missing.onnx,p.vnnlib,30\n")
    out = tmp_path / "out"
    (out / "results").mkdir(parents=True)
    (out / "summary.md").symlink_to("/dev/full")
    (out / "results" / runner.results_name("relu.onnx", "p.vnnlib")).symlink_to("/dev/full")
    assert cli.main(["bench", str(d), "--jobs", "1", "--out", str(out)]) == cli.EXIT_IO == 6
    cap = capsys.readouterr()
    rows = {r["onnx"]: r for r in _rows(out)}
    assert rows["relu.onnx"]["status"] == "sat"  # the answer is kept
    assert rows["relu.onnx"]["results_file"] is None
    assert "cannot write the results file" in rows["relu.onnx"]["results_file_error"]
    assert rows["missing.onnx"]["status"] == "error" and rows["missing.onnx"]["key"] is None
    assert "missing.onnx: cannot read it" in rows["missing.onnx"]["reason"]
    assert "instances.csv line 2" in rows["missing.onnx"]["reason"]
    assert "| 2 | 1 | 1 | 0 | 0 | 0 | 1 |" in cap.out  # the summary is still printed
    assert "summary.md: cannot write the summary" in cap.err
    assert "internal error" not in cap.err


@pytest.mark.parametrize("tmo", ["nan", "inf", "-1", "0", "abc"])
def test_bad_timeout_named_by_line(tmp_path: Path, tmo: str,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    d = _one(tmp_path, extra=f"relu.onnx,p.vnnlib2,{tmo}\n")
    out = tmp_path / "out"
    assert cli.main(["bench", str(d), "--out", str(out)]) == cli.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert f"instances.csv:2: timeout '{tmo}'" in err and "internal" not in err
    assert not out.exists()  # refused before any work


def test_unusable_out_and_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = _one(tmp_path)
    f = tmp_path / "file.txt"
    f.write_text("x")
    assert cli.main(["bench", str(d), "--out", str(f)]) == cli.EXIT_IO
    assert "file.txt: exists and is not a folder" in capsys.readouterr().err
    assert cli.main(["bench", str(d), "--out", str(f / "sub")]) == cli.EXIT_IO
    assert "cannot create or write" in capsys.readouterr().err
    assert f.read_text() == "x"
    assert cli.main(["bench", str(tmp_path), "--out", str(tmp_path / "o")]) \
        == cli.EXIT_BAD_INPUT
    assert "instances.csv: not found" in capsys.readouterr().err
    (d / "expected.csv").write_bytes(b"\xff\xfe\x00binary")
    assert cli.main(["bench", str(d), "--out", str(tmp_path / "o")]) == cli.EXIT_BAD_INPUT
    assert "expected.csv: not a text file" in capsys.readouterr().err


def test_compare_refuses_non_results(tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"onnx": "n", "vnnlib": "p", "status": "sat", "time": 1}) + "\n")
    binary, empty, other, folder = (tmp_path / n for n in ("b.bin", "e.jsonl", "o.json", "d"))
    binary.write_bytes(bytes(range(256)))
    empty.write_text("")
    other.write_text('{"a": 1}\n[1, 2]\n')
    folder.mkdir()
    for bad, what in ((binary, "not a results file"), (empty, "not a results file"),
                      (other, "not a results file"), (folder, "without a results.jsonl")):
        assert cli.main(["bench", "compare", str(good), str(bad)]) == cli.EXIT_BAD_INPUT
        err = capsys.readouterr().err
        assert str(bad) in err and what in err and "internal" not in err
    assert cli.main(["bench", "compare", str(good), str(good)]) == cli.EXIT_OK


def test_proofs_written_checked_and_keyed(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """``bench --proofs``: every unsat row names a certificate under OUT/proofs that the
    independent checker accepts; a sat row has none; a run without --proofs is not reused
    for one with it (the setting is part of the key); --semantics goes into the rows."""
    from verinet.proof.check import main as check_main

    d = _folder(tmp_path, slow=False)
    out = tmp_path / "out"
    assert cli.main(["bench", str(d), "--out", str(out), "--jobs", "1"]) == 0
    assert all("proof" not in r for r in _rows(out))
    assert cli.main(["bench", str(d), "--out", str(out), "--jobs", "1", "--proofs"]) == 0
    assert "resuming" not in capsys.readouterr().out
    rows = {r["vnnlib"]: r for r in _rows(out)}
    assert rows["sat.vnnlib"]["status"] == "sat" and "proof" not in rows["sat.vnnlib"]
    unsat = rows["unsat.vnnlib"]
    assert unsat["status"] == "unsat" and unsat["semantics"] == "float32"
    assert unsat["proof"]["unchecked"] == 0
    cert = out / runner.PROOFS_DIR / unsat["proof"]["file"]
    assert check_main([str(d / "relu.onnx"), str(d / "unsat.vnnlib"), str(cert)]) == 0
    assert check_main([str(d / "relu.onnx"), str(d / "sat.vnnlib"), str(cert)]) != 0
    assert cli.main(["bench", str(d), "--out", str(out), "--jobs", "1", "--proofs",
                     "--semantics", "real"]) == 0
    assert {r["semantics"] for r in _rows(out)} == {"real"}
