"""Malformed VNN-LIB text: every failure is a SpecParseError located at file:line:column."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verinet.errors import SpecParseError
from verinet.spec import parse_vnnlib

_HEAD = "(declare-const X_0 Real)\n(declare-const Y_0 Real)\n"  # lines 1-2
_BOX = "(assert (>= X_0 0))\n(assert (<= X_0 1))\n"  # lines 3-4

# (text, line, column, fragment of the message); columns are 1-based.
CASES = [
    (_HEAD + _BOX + "(assert (<= Z_0 1))\n", 5, 13, "unknown variable 'Z_0'"),
    (_HEAD + _BOX + "(assert (<= Y_3 1))\n", 5, 13, "undeclared variable Y_3"),
    (_HEAD + _BOX + "(assert (<= Y_0 1.2.3))\n", 5, 17, "bad token '1.2.3'"),
    (_HEAD + _BOX + "(assert (<= Y_0 1)))\n", 5, 20, "unbalanced parentheses"),
    (_HEAD + _BOX + "(assert (<= Y_0 1)\n", 6, 1, "unexpected end of file"),
    (_HEAD + _BOX + "(assert (!= Y_0 1))\n", 5, 10, "unknown operator '!='"),
    (_HEAD + _BOX + "(assert (<= Y_0))\n", 5, 9, "wrong number of arguments for '<='"),
    (_HEAD + _BOX + "(assert (<= Y_0 1) (<= Y_0 2))\n", 5, 1, "for 'assert'"),
    (_HEAD + _BOX + "(assert (or))\n", 5, 9, "wrong number of arguments for 'or'"),
    ("(declare-const Z_0 Real)\n", 1, 16, "cannot declare 'Z_0'"),
    ("(declare-const X_0 Int)\n", 1, 20, "must be declared Real"),
    ("(declare-const X_0 Real)\n(declare-const X_0 Real)\n", 2, 16, "declared twice"),
    ("(declare-const X_0 Real)\n(declare-const X_2 Real)\n(declare-const Y_0 Real)\n",
     2, 16, "X_2 is declared but X_1 is not"),
    ("(declare-const X_0 Real)\n", 2, 1, "no output declared"),
    (_HEAD + "(assert (<= X_0 1))\n(assert (<= Y_0 0))\n", 3, 9, "X_0 has no lower bound"),
    ("(declare-const Y_0 Real)\n", 2, 1, "no input declared"),
    (_HEAD + "  (assert (and (<= Y_0 X_0) (<= X_0 1)))", 3, 16, "X_0 has no lower bound"),
    (_HEAD + "(assert (<= Y_0 1e999))\n", 3, 17, "out of range"),
    (_HEAD + "(assert (<= Y_0 (foo 1)))\n", 3, 18, "unknown operator 'foo'"),
    (_HEAD + "(assert Y_0)\n", 3, 9, "expected a constraint"),
    (_HEAD + "(assert ((<= Y_0 1)))\n", 3, 10, "expected an operator"),
    (_HEAD + "(assert ())\n", 3, 9, "empty list"),
    (_HEAD + "(check)\n", 3, 1, "unknown command 'check'"),
    (_HEAD + "X_0\n", 3, 1, "expected '('"),
    (_HEAD + '(assert (<= Y_0 "1"))\n', 3, 17, "bad token"),
]


@pytest.mark.parametrize(("text", "line", "column", "fragment"), CASES)
def test_error_location(text: str, line: int, column: int, fragment: str) -> None:
    with pytest.raises(SpecParseError) as info:
        parse_vnnlib(text, path="bad.vnnlib")
    err = info.value
    assert (err.line, err.column) == (line, column), str(err)
    assert str(err).startswith(f"bad.vnnlib:{line}:{column}: ")
    assert fragment in str(err)


def test_use_before_declaration() -> None:
    text = "(declare-const X_0 Real)\n(assert (<= Y_0 0))\n(declare-const Y_0 Real)\n"
    with pytest.raises(SpecParseError, match="undeclared variable Y_0") as info:
        parse_vnnlib(text)
    assert (info.value.line, info.value.column) == (2, 13)
    assert str(info.value).startswith("<string>:2:13")


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    text = _HEAD + "(assert " + "(and " * 5000 + ")" * 5001
    with pytest.raises(SpecParseError, match="nesting"):
        parse_vnnlib(text)


def test_dnf_explosion_is_refused() -> None:
    ors = "".join(f"(assert (or (<= Y_0 {i}) (<= Y_0 {i + 1})))\n" for i in range(20))
    with pytest.raises(SpecParseError, match="disjuncts"):
        parse_vnnlib(_HEAD + _BOX + ors)


_ALPHABET = st.sampled_from(list("()XY_0123456789.-+eE <=>;\n\tandorsetclaRl\"|#"))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=_ALPHABET, max_size=80))
def test_garbage_never_raises_anything_else(tail: str) -> None:
    try:
        parse_vnnlib(_HEAD + _BOX + tail)
    except SpecParseError as err:
        assert err.line is not None and err.column is not None
