"""Hostile VNN-LIB text: version 2.0 is refused as such, and random or mutated text either
parses or raises a located :class:`SpecParseError`, never anything else."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from verinet.errors import InputError, SpecParseError
from verinet.spec import parse_vnnlib, write_vnnlib

V2 = [
    "(vnnlib-version <2.0>)\n(declare-network f (declare-input X float32 [1,2]))\n",
    "(declare-network f\n  (declare-input X Real [1,5])\n  (declare-output Y Real [1,5]))\n",
    "(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(assert (<= X[0,0] 1.0))\n",
    "(declare-const X float32)\n",
]


@pytest.mark.parametrize("text", V2)
def test_version_2_refused_by_name(text):
    with pytest.raises(SpecParseError, match=r"^p\.vnnlib:\d+:\d+: VNN-LIB 2\.0 is not supported"):
        parse_vnnlib(text, "p.vnnlib")


def test_version_2_words_in_comments_are_ignored():
    text = ("; converted from (vnnlib-version <2.0>) X[0,1]\n(declare-const X_0 Real)\n"
            "(declare-const Y_0 Real)\n(assert (>= X_0 0))\n(assert (<= X_0 1))\n"
            "(assert (>= Y_0 1))\n")
    assert parse_vnnlib(text).n_inputs == 1


GOOD = ("(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n"
        "(declare-const Y_1 Real)\n(assert (>= X_0 -1.5))\n(assert (<= X_0 2e-1))\n"
        "(assert (>= X_1 0))\n(assert (<= X_1 .75))\n"
        "(assert (or (and (< Y_0 Y_1) (>= Y_1 0.5)) (> (+ Y_0 (* 2 X_1)) 3)))\n")

ATOMS = ["(", ")", "assert", "declare-const", "X_0", "X_1", "Y_0", "Y_7", "Real", "<=", "<",
         ">=", "=", "and", "or", "+", "-", "*", "0", "-1e400", "1e400", "nan", "inf", "1e-320",
         "1e300", "-1e300", ".5", "+3", "[1,5]", "float32", "é", "\u00a0", ";c\n", "\n", " "]


def _check(text: str) -> None:
    try:
        prop = parse_vnnlib(text, "f.vnnlib")
    except SpecParseError as exc:
        assert re.match(r"f\.vnnlib(:\d+(:\d+)?)?: ", str(exc)), str(exc)
        return
    except InputError as exc:  # a structurally valid property with a non-finite number
        assert "finite" in str(exc) or "box" in str(exc), str(exc)
        pytest.fail(f"InputError instead of a located SpecParseError: {exc}")
    for case in prop.cases:
        assert all(math.isfinite(v) for v in case.box.lower.tolist() + case.box.upper.tolist())
    assert parse_vnnlib(write_vnnlib(prop)) == prop


@settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(ATOMS), max_size=60))
def test_random_token_soup(tokens):
    _check(" ".join(tokens))


@settings(max_examples=150, deadline=2000)
@given(st.integers(0, len(GOOD)), st.integers(0, len(GOOD)), st.text(max_size=8))
def test_mutated_valid_property(cut, at, insert):
    _check(GOOD[:cut])
    _check(GOOD[:at] + insert + GOOD[at:])


@pytest.mark.slow
@settings(max_examples=3000, deadline=5000)
@given(st.lists(st.sampled_from(ATOMS), max_size=200), st.integers(0, len(GOOD)),
       st.text(max_size=20))
def test_fuzz_long(tokens, at, insert):
    _check(" ".join(tokens))
    _check(GOOD[:at] + insert + GOOD[at:])


@pytest.mark.parametrize("literal", ["1e400", "-1e400", "nan", "inf", "-inf"])
def test_non_finite_literals_located(literal):
    text = GOOD.replace("(<= X_0 2e-1)", f"(<= X_0 {literal})")
    with pytest.raises(SpecParseError, match=r"f\.vnnlib:\d+:\d+"):
        parse_vnnlib(text, "f.vnnlib")
