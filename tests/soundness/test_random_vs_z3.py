"""Differential soundness: ``verify`` against z3 on random small networks.

On 300 random ReLU networks (2-4 affine layers, 2-10 inputs, 3-30 ReLUs) with random
boxes and output constraints (see ``random_nets``), every answer ``verify`` decides (input
splitting; ReLU splitting over the LP; ReLU branch and bound) must agree with z3's exact
answer, and every ``sat`` must carry a counterexample that the
property's margin confirms.  Half of the runs skip the falsification pass, so that the
search engine itself has to find the counterexamples.

A failure prints hypothesis' falsifying example; ``random_instance(seed, n_in, widths,
n_out, kind)`` rebuilds that query.  Each test prints how many answers each side decided
and the sat/unsat mix.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from verinet.config import AttackConfig, SearchConfig, VerifierConfig
from verinet.counterexample import CexChecker
from verinet.result import Stats, Status
from verinet.search.smt import smt_verify
from verinet.verify import verify

sys.path.insert(0, str(Path(__file__).resolve().parent))
from random_nets import random_instance  # noqa: E402

VERIFY_TIMEOUT = 3.0  # seconds per verify call
Z3_TIMEOUT = 5.0  # seconds per oracle call
EXAMPLES = 300

# drawn parameters -> z3's status ("sat", "unsat", "timeout", "unknown"), shared by the
# tests of this module so that each query is solved once
_ORACLE: dict[tuple, str] = {}


@st.composite
def queries(draw) -> tuple:
    """``(seed, n_in, widths, n_out, kind, weight_bits, attack)``; the seed fixes the
    weights and the property.  Sizes come from ``sampled_from``, which spreads them
    evenly (integer strategies favour their bounds).  Small networks sometimes keep
    full float64 weights (z3 stays fast on them)."""
    seed = draw(st.integers(0, 2**31 - 1))
    n_in = draw(st.sampled_from(range(2, 11)))
    layers = draw(st.sampled_from([1, 2, 3]))
    total = draw(st.sampled_from(range(max(3, layers), 31)))
    cuts = draw(st.lists(st.sampled_from(range(1, total)), min_size=layers - 1,
                         max_size=layers - 1, unique=True))
    widths = tuple(int(w) for w in np.diff([0, *sorted(cuts), total]))
    n_out = draw(st.sampled_from([1, 2, 3, 4]))
    kind = draw(st.sampled_from(["quantile", "quantile", "edge", "edge", "robust"]))
    weight_bits = draw(st.sampled_from([6, 6, None])) if total <= 12 else 6
    attack = draw(st.booleans())
    return seed, n_in, widths, n_out, kind, weight_bits, attack


def _confirmed(inst, cex) -> bool:
    """The counterexample lies in a box and its float64 output meets that case's bad region."""
    y = inst.network.evaluate(cex.x[None])
    return bool(inst.prop.margin(cex.x[None], y)[0] >= 0)


def _oracle(key: tuple, inst) -> str:
    if key not in _ORACLE:
        checker = CexChecker(inst.network, inst.prop)
        out = smt_verify(inst.network, inst.prop, time.monotonic() + Z3_TIMEOUT, Stats(),
                         checker)
        if out.status == "sat":
            assert out.counterexample is not None and _confirmed(inst, out.counterexample), (
                f"z3 sat without a confirmed counterexample: {inst.describe()}")
        _ORACLE[key] = out.status
    return _ORACLE[key]


def _run(strategy: str, engine: str = "auto") -> Counter:
    tally: Counter = Counter()

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(queries())
    def check(q):
        seed, n_in, widths, n_out, kind, weight_bits, attack = q
        inst = random_instance(seed, n_in=n_in, widths=list(widths), n_out=n_out, kind=kind,
                               weight_bits=weight_bits)
        config = VerifierConfig(search=SearchConfig(strategy=strategy, relu_engine=engine),
                                attack=AttackConfig(enabled=attack))
        res = verify(inst.network, inst.prop, timeout=VERIFY_TIMEOUT, config=config)
        want = _oracle(q[:6], inst)
        assert res.status is not Status.ERROR, f"{inst.describe()}: {res.reason}"
        if res.status is Status.SAT:
            assert res.counterexample is not None and _confirmed(inst, res.counterexample), (
                f"sat without a confirmed counterexample: {inst.describe()}")
        if res.status.decided and want in ("sat", "unsat"):
            assert res.status.value == want, (
                f"{strategy} says {res.status.value}, z3 says {want}: {inst.describe()}")
        tally["examples"] += 1
        tally[f"z3 {want}"] += 1
        tally[f"{strategy} {res.status.value}"] += 1
        if res.status.decided and want in ("sat", "unsat"):
            tally["both decided"] += 1
        if res.status is Status.SAT:
            tally[f"{strategy} sat by {res.counterexample.source}"] += 1

    check()
    return tally


def _report(strategy: str, tally: Counter, seconds: float, capsys) -> None:
    with capsys.disabled():
        parts = ", ".join(f"{k}: {v}" for k, v in sorted(tally.items()))
        print(f"\n[{strategy} vs z3, {seconds:.0f} s] {parts}")
    n = tally["examples"]
    z3_sat, z3_unsat = tally["z3 sat"], tally["z3 unsat"]
    assert n >= EXAMPLES * 0.95, f"only {n} examples ran"
    # the generator must keep both answers common, or the comparison proves little
    assert z3_sat >= 0.3 * n and z3_unsat >= 0.3 * n, tally
    assert z3_sat + z3_unsat >= 0.95 * n, f"z3 left too many undecided: {tally}"
    assert tally["both decided"] >= 0.8 * n, f"{strategy} left too many undecided: {tally}"


def test_input_split_agrees_with_z3(capsys):
    t0 = time.monotonic()
    tally = _run("input")
    _report("input", tally, time.monotonic() - t0, capsys)


def test_relu_split_agrees_with_z3(capsys):
    probe = random_instance(0, n_in=2, widths=[3], n_out=1, kind="edge")
    res = verify(probe.network, probe.prop, timeout=VERIFY_TIMEOUT,
                 config=VerifierConfig(search=SearchConfig(strategy="relu")))
    if "not available" in res.reason:
        pytest.skip(f"ReLU splitting: {res.reason}")
    t0 = time.monotonic()
    tally = _run("relu", engine="lp")
    _report("relu", tally, time.monotonic() - t0, capsys)


def test_relu_branch_and_bound_agrees_with_z3(capsys):
    """The batched branch and bound (optimised alpha/beta bounds, z3 at its leaves)."""
    t0 = time.monotonic()
    tally = _run("relu", engine="bab")
    _report("relu", tally, time.monotonic() - t0, capsys)
