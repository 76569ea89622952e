"""VNN-LIB 2.0 queries: the reader, its layout of the joint input/output, and its errors.

Every malformed query must give one line naming the file, line and column.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from verinet.errors import SpecParseError
from verinet.spec.vnnlib import parse_vnnlib
from verinet.spec.vnnlib2 import is_vnnlib2, parse_query

TWO_NETS = """\
(vnnlib-version <2.0>)
; two networks, one with a hidden node
(declare-network N
    (declare-input X float32 [1, 2])
    (declare-hidden H float32 [3] "relu_out")
    (declare-output Y float32 [2])
)
(declare-network M
    (equal-to N)
    (declare-input X2 float32 [1, 2])
    (declare-output Y2 float32 [2])
)
(assert (and (>= X[0,0] -1.0) (<= X[0,0] 1.0) (>= X[0,1] 0) (<= X[0,1] 0.5)))
(assert (and (>= X2[0,0] 2) (<= X2[0,0] 3) (>= X2[0,1] 0) (<= X2[0,1] 1)))
(assert (or (> Y[1] (+ Y2[0] 0.5)) (<= H[2] -1)))
"""


def test_layout_of_two_networks_and_a_hidden_node():
    q = parse_query(TWO_NETS, "q.vnnlib")
    assert q.version == "2.0"
    assert [n.name for n in q.networks] == ["N", "M"]
    assert q.networks[1].source == "N" and q.file_networks() == ("N",)
    names = [(t.name, t.kind, t.offset) for t in q.tensors]
    # inputs first in the joint x; hidden + outputs of each network in the joint y
    assert names == [("X", "input", 0), ("H", "hidden", 0), ("Y", "output", 3),
                     ("X2", "input", 2), ("Y2", "output", 5)]
    assert (q.n_inputs, q.n_outputs) == (4, 7)
    assert q.free_inputs == () and q.products == ()
    box = q.prop.cases[0].box
    assert box.lower.tolist() == [-1.0, 0.0, 2.0, 0.0]
    assert box.upper.tolist() == [1.0, 0.5, 3.0, 1.0]
    # (> Y[1] (+ Y2[0] 0.5)): Y[1] is y_4, Y2[0] is y_5; strict
    rows = [(c.A_out.tolist(), c.b.tolist(), None if c.strict is None else c.strict.tolist())
            for c in q.prop.cases[0].bad]
    assert ([[0, 0, 0, 0, -1, 1, 0]], [-0.5], [True]) in rows
    assert ([[0, 0, 1, 0, 0, 0, 0]], [-1.0], None) in rows


def test_detected_by_content_and_one_zero_unchanged():
    one = "(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(assert (>= X_0 0))\n" \
          "(assert (<= X_0 1))\n(assert (>= Y_0 2))\n"
    assert not is_vnnlib2(one)
    assert is_vnnlib2(TWO_NETS)
    assert is_vnnlib2("; comment\n(declare-network N (declare-input X real [1]))")
    assert not is_vnnlib2("; (declare-network N) in a comment only\n" + one)
    p = parse_vnnlib(one, "p.vnnlib")
    assert p.n_inputs == 1 and p.n_outputs == 1


def test_equality_and_disequality_and_unindexed_scalars():
    q = parse_query("""(vnnlib-version <2.0>)
(declare-network N (declare-input X real []) (declare-output Y real [1]))
(assert (and (>= X 0) (<= X 1)))
(assert (or (== Y[0] 3) (!= Y[0] 4)))
""", "s.vnnlib")
    conj = q.prop.cases[0].bad
    assert len(conj) == 3  # y == 3 (two rows), y < 4, y > 4
    assert sorted(c.k for c in conj) == [1, 1, 2]


def test_products_of_variables_become_extra_outputs():
    q = parse_query("""(vnnlib-version <2.0>)
(declare-network N (declare-input X real [2]) (declare-output Y real [1]))
(assert (and (>= X[0] 0) (<= X[0] 2) (>= X[1] 0) (<= X[1] 2)))
(assert (>= (+ (* 2 X[0] Y[0]) (* Y[0] X[0]) X[1]) 4.5))
""", "p.vnnlib")
    assert q.products == ((("X", 0), ("Y", 0)),)  # one term, found twice
    assert q.n_declared_outputs == 1 and q.n_outputs == 2
    c = q.prop.cases[0].bad[0]
    assert c.A_out.tolist() == [[0.0, -3.0]] and c.A_in.tolist() == [[0.0, -1.0]]


def test_unconstrained_inputs_are_pinned_and_recorded():
    q = parse_query("""(vnnlib-version <2.0>)
(declare-network N (declare-input X real [3]) (declare-output Y real [1]))
(assert (and (>= X[1] 0) (<= X[1] 2)))
(assert (>= Y[0] 4.5))
""", "f.vnnlib")
    assert q.free_inputs == (0, 2)
    box = q.prop.cases[0].box
    assert box.lower.tolist() == [0, 0, 0] and box.upper.tolist() == [0, 2, 0]


HEAD = "(vnnlib-version <2.0>)\n(declare-network N\n    (declare-input X real [2])\n" \
       "    (declare-output Y real [2])\n)\n"


@pytest.mark.parametrize("body, line, col, words", [
    ("(assert (>= Z[0] 1))", 6, 13, "undeclared variable 'Z'"),
    ("(assert (>= X[2] 1))", 6, 13, "out of range"),
    ("(assert (>= X[0,0] 1))", 6, 13, "the index has 2"),
    ("(assert (>= X 1))", 6, 13, "index it"),
    ("(assert (not (>= X[0] 1)))", 6, 9, "not"),
    ("(assert (>= (* (+ X[0] 1) X[1]) 1))", 6, 13, "multiply out"),
    ("(assert (>= X[0] 1)", 6, 1, ""),
    ("(assert (>= X[0] abc))", 6, 18, "undeclared variable 'abc'"),
    ("(assert (>= X[0] 1x))", 6, 18, "neither a number nor a variable"),
    ("(assert (foo X[0] 1))", 6, 9, "expected a formula"),
])
def test_malformed_query_names_file_line_and_column(body, line, col, words):
    with pytest.raises(SpecParseError) as ei:
        parse_query(HEAD + body + "\n", "bad.vnnlib")
    msg = str(ei.value)
    assert "\n" not in msg
    assert msg.startswith(f"bad.vnnlib:{line}:{col}:"), msg
    assert words in msg


@pytest.mark.parametrize("text, words", [
    ("(vnnlib-version <2.0>)\n(declare-network N (equal-to M) (declare-input X real [1]) "
     "(declare-output Y real [1]))\n", "M"),
    ("(vnnlib-version <2.0>)\n(declare-network N (declare-input X complex [1]) "
     "(declare-output Y real [1]))\n", "complex"),
    ("(vnnlib-version <2.0>)\n(declare-network N (declare-input X real [0]) "
     "(declare-output Y real [1]))\n", "dimension"),
    ("(vnnlib-version <3.0>)\n", "3.0"),
])
def test_malformed_declarations(text, words):
    with pytest.raises(SpecParseError) as ei:
        parse_query(text, "d.vnnlib")
    msg = str(ei.value)
    assert re.match(r"d\.vnnlib:\d+:\d+: ", msg), msg
    assert words in msg and "\n" not in msg


def test_reader_agrees_with_one_zero_on_translated_bounds():
    q = parse_query(HEAD + "(assert (and (>= X[0] -0.25) (<= X[0] 0.75) (>= X[1] 1e-3) "
                    "(<= X[1] 2)))\n(assert (<= (- Y[0] Y[1]) 0))\n", "t.vnnlib")
    p = parse_vnnlib("(declare-const X_0 Real)\n(declare-const X_1 Real)\n"
                     "(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n"
                     "(assert (>= X_0 -0.25))\n(assert (<= X_0 0.75))\n"
                     "(assert (>= X_1 1e-3))\n(assert (<= X_1 2))\n"
                     "(assert (<= (- Y_0 Y_1) 0))\n", "t1.vnnlib")
    assert q.prop.cases[0].box == p.cases[0].box
    assert np.array_equal(q.prop.cases[0].bad[0].A_out, p.cases[0].bad[0].A_out)


def test_an_unbounded_input_points_at_its_declaration():
    with pytest.raises(SpecParseError) as ei:
        parse_query(HEAD + "(assert (>= X[0] 0))\n(assert (and (>= X[1] 0) (<= X[1] 1)))\n"
                    "(assert (>= Y[0] 1))\n", "u.vnnlib")
    msg = str(ei.value)
    assert msg.startswith("u.vnnlib:3:20: X[0] has no upper bound"), msg
    assert "declaration of X" in msg
