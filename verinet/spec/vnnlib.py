"""VNN-LIB 1.0 reader and writer.

A VNN-LIB file states the **counterexample region** of a network with inputs ``X_i`` and
outputs ``Y_j``: the property is ``sat`` when some assignment meets every ``assert``.

Accepted language (everything else is a :class:`~verinet.errors.SpecParseError` with
``file:line:column``):

* ``(declare-const X_i Real)`` and ``(declare-const Y_j Real)``, numbered from 0 without gaps,
  declared before use.  SMT-LIB boilerplate (``set-logic``, ``set-info``, ``set-option``,
  ``check-sat``, ``get-model``, ``exit``) is accepted and ignored.
* ``(assert F)``; several asserts are conjoined.  ``F`` is built from ``and``, ``or`` (each
  with at least one argument, nested freely, input and output constraints mixed) and the
  comparisons ``<=``, ``>=``, ``<``, ``>``, ``=`` between two terms.  **Strict comparisons
  stay strict**: the row is marked in ``Conjunction.strict``, proofs read it as non-strict
  (sound: that only adds the boundary to the bad region) and a counterexample must meet it
  strictly; a strict bound on one input also bounds the (closed) box.  ``=`` becomes two
  rows.  ``Property.non_strict()`` gives the VNN-COMP reading, ``<`` as ``<=``.
* A term is a declared variable, a number in any decimal notation (``-1``, ``.5``,
  ``1e-3``, ``-6.0E+2``, ``+3``), or, as an extension, a linear combination built from
  ``+``, ``-`` (unary or n-ary) and ``*`` by a constant.
* ``;`` starts a comment that runs to the end of the line.

The reader expands the formula into disjunctive normal form (the cross product of the
asserts' disjunctions, in text order).  In each conjunction a row on one input with
coefficient ``+1`` or ``-1`` (``X_i <= c``, ``X_i >= c``) is an input bound; bounds intersect
(the tightest wins).  Every other row goes to ``A_in``/``A_out``.  Conjunctions whose box
is empty are dropped; the others are grouped by identical box into cases, in order of first
appearance.  Every input must have a finite lower and upper bound in every conjunction.

The writer emits the same canonical form back; floats are written with ``repr`` so that
reading the text gives bit-identical arrays.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from .. import deadline
from ..errors import SpecParseError
from .property import Box, Case, Conjunction, Property

__all__ = ["read_vnnlib", "parse_vnnlib", "write_vnnlib", "MAX_DISJUNCTS"]

#: The largest number of conjunctions the DNF expansion may produce.
MAX_DISJUNCTS = 100_000
_MAX_DEPTH = 200

_TOKEN = re.compile(r"\(|\)|;[^\n]*|[^\s();]+")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_SYMBOL = re.compile(r"[A-Za-z~!@$%^&*_+\-=<>.?/][A-Za-z0-9~!@$%^&*_+\-=<>.?/]*")
_VARIABLE = re.compile(r"([XY])_(\d+)")
_IGNORED = frozenset({"set-logic", "set-info", "set-option", "check-sat", "get-model", "exit"})
_COMPARE = frozenset({"<=", ">=", "<", ">", "="})
# Constructs of VNN-LIB 2.0 that 1.0 does not have.
_V2_SIGN = re.compile(
    r"\(\s*(?:vnnlib-version|declare-network|declare-input|declare-output|declare-hidden"
    r"|isomorphic-to|equal-to|==\s)"
    r"|\(\s*(?:declare-const\s+[^\s()]+\s+(?:float16|float32|float64|bfloat16|int\d+"
    r"|uint\d+|bool)\b)"
    r"|[A-Za-z_][A-Za-z0-9_]*\s*\[[^\]\n]*\]|\[[0-9,\s]*\]")


class _List:
    """A parenthesised list of items; ``pos`` is the offset of its ``(``."""

    __slots__ = ("items", "pos")

    def __init__(self, pos: int) -> None:
        self.items: list[_List | _Atom] = []
        self.pos = pos


class _Atom:
    """A number or symbol token at offset ``pos``."""

    __slots__ = ("text", "pos")

    def __init__(self, text: str, pos: int) -> None:
        self.text = text
        self.pos = pos


# A linear term: coefficients keyed by variable (X_i -> i, Y_j -> -1 - j) and a constant.
_Term = tuple[dict[int, float], float]
# A row ``sum(coef * var) <= b`` (``< b`` when strict), with the offset of the comparison
# that produced it.
_Row = tuple[dict[int, float], float, int, bool]


class _Reader:
    """One pass over one text: tokens -> lists -> DNF rows -> :class:`Property`."""

    def __init__(self, text: str, path: str | None) -> None:
        self.text = text
        self.path = path
        self.x_decl: dict[int, int] = {}  # index -> offset of its declaration
        self.y_decl: dict[int, int] = {}

    # ------------------------------------------------------------------ errors
    def locate(self, pos: int) -> tuple[int, int]:
        """1-based line and column of the character offset ``pos``."""
        line = self.text.count("\n", 0, pos) + 1
        column = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        return line, column

    def error(self, message: str, pos: int) -> SpecParseError:
        return SpecParseError(message, self.path, *self.locate(pos))

    def refuse_version_2(self) -> None:
        """Refuse VNN-LIB 2.0 text by what it contains (a version line, network, input,
        output or hidden declarations, typed tensors, indexed variables), naming the
        first such construct, before it could be misread as 1.0."""
        body = re.sub(r";[^\n]*", lambda m: " " * len(m.group()), self.text)
        m = _V2_SIGN.search(body)
        if m is not None:
            raise self.error(
                f"VNN-LIB 2.0 is not supported by this reader (found {m.group().strip()!r}); "
                "run a 2.0 query as 'verinet verify QUERY --network NAME=MODEL', or write "
                "the property in VNN-LIB 1.0: (declare-const X_i Real) per input and "
                "(declare-const Y_j Real) per output, with flat indices", m.start())

    # ------------------------------------------------------------------ syntax
    def parse_lists(self) -> list[_List | _Atom]:
        top: list[_List | _Atom] = []
        stack: list[_List] = []
        for count, m in enumerate(_TOKEN.finditer(self.text)):
            if count & 4095 == 0:
                deadline.check()  # a huge file read under a time budget (verify, attack)
            tok = m.group()
            c = tok[0]
            if c == ";":
                continue
            pos = m.start()
            if c == "(":
                if len(stack) >= _MAX_DEPTH:
                    raise self.error(f"nesting deeper than {_MAX_DEPTH} levels", pos)
                node = _List(pos)
                (stack[-1].items if stack else top).append(node)
                stack.append(node)
            elif c == ")":
                if not stack:
                    raise self.error("unbalanced parentheses: ')' without a matching '('", pos)
                stack.pop()
            else:
                if not (_NUMBER.fullmatch(tok) or _SYMBOL.fullmatch(tok)):
                    raise self.error(f"bad token {tok!r}: expected a number or a name", pos)
                (stack[-1].items if stack else top).append(_Atom(tok, pos))
        if stack:
            line, column = self.locate(stack[-1].pos)
            raise self.error(f"unexpected end of file: '(' opened at line {line}, "
                             f"column {column} is never closed", len(self.text))
        return top

    # ------------------------------------------------------------------ commands
    def read(self) -> Property:
        self.refuse_version_2()
        dnf: list[list[_Row]] = [[]]
        for node in self.parse_lists():
            if not isinstance(node, _List):
                raise self.error(f"expected '(' before {node.text!r}", node.pos)
            head = self.head(node, "a command")
            if head == "declare-const":
                self.declare(node)
            elif head == "assert":
                self.arity(node, "assert", 1, 1)
                dnf = self.conjoin(dnf, self.formula(node.items[1]), node.pos)
            elif head not in _IGNORED:
                raise self.error(f"unknown command {head!r}: expected declare-const or assert",
                                 node.pos)
        n_in = self.check_numbering(self.x_decl, "X", "input")
        n_out = self.check_numbering(self.y_decl, "Y", "output")
        return self.build(dnf, n_in, n_out)

    def head(self, node: _List, what: str) -> str:
        if not node.items:
            raise self.error(f"empty list: expected {what}", node.pos)
        first = node.items[0]
        if not isinstance(first, _Atom):
            raise self.error(f"expected {what} name after '('", first.pos)
        return first.text

    def arity(self, node: _List, op: str, least: int, most: int | None) -> None:
        n = len(node.items) - 1
        if n < least or (most is not None and n > most):
            want = (f"{least}" if most == least else
                    f"at least {least}" if most is None else f"{least} to {most}")
            raise self.error(f"wrong number of arguments for {op!r}: expected {want}, got {n}",
                             node.pos)

    def declare(self, node: _List) -> None:
        self.arity(node, "declare-const", 2, 2)
        name, sort = node.items[1], node.items[2]
        if not isinstance(name, _Atom):
            raise self.error("expected a variable name", name.pos)
        m = _VARIABLE.fullmatch(name.text)
        if not m:
            raise self.error(f"cannot declare {name.text!r}: only inputs X_i and outputs Y_j "
                             "may be declared", name.pos)
        if not isinstance(sort, _Atom) or sort.text != "Real":
            got = sort.text if isinstance(sort, _Atom) else "a list"
            raise self.error(f"{name.text} must be declared Real, not {got}", sort.pos)
        table = self.x_decl if m.group(1) == "X" else self.y_decl
        idx = int(m.group(2))
        if idx in table:
            raise self.error(f"{name.text} is declared twice", name.pos)
        table[idx] = name.pos

    def check_numbering(self, table: dict[int, int], letter: str, what: str) -> int:
        if not table:
            raise self.error(f"no {what} declared: add (declare-const {letter}_0 Real)",
                             len(self.text))
        n = len(table)
        if max(table) != n - 1:
            missing = min(set(range(n + 1)) - set(table))
            late = min(i for i in table if i > missing)
            raise self.error(f"{letter}_{late} is declared but {letter}_{missing} is not; "
                             f"{what}s must be numbered {letter}_0, {letter}_1, ... without gaps",
                             table[late])
        return n

    # ------------------------------------------------------------------ formulas -> DNF
    def conjoin(self, left: list[list[_Row]], right: list[list[_Row]], pos: int
                ) -> list[list[_Row]]:
        """The DNF of ``left and right`` (``left``'s lists may be extended in place)."""
        if len(right) == 1:
            for conj in left:
                conj.extend(right[0])
            return left
        if len(left) * len(right) > MAX_DISJUNCTS:
            raise self.error(f"the formula expands to more than {MAX_DISJUNCTS} disjuncts",
                             pos)
        return [a + b for a in left for b in right]

    def formula(self, node: _List | _Atom) -> list[list[_Row]]:
        if not isinstance(node, _List):
            raise self.error(f"expected a constraint '(...)', got {node.text!r}", node.pos)
        op = self.head(node, "an operator")
        if op == "and":
            self.arity(node, op, 1, None)
            out: list[list[_Row]] = [[]]
            for child in node.items[1:]:
                out = self.conjoin(out, self.formula(child), child.pos)
            return out
        if op == "or":
            self.arity(node, op, 1, None)
            alts = [conj for child in node.items[1:] for conj in self.formula(child)]
            if len(alts) > MAX_DISJUNCTS:
                raise self.error(f"the formula expands to more than {MAX_DISJUNCTS} "
                                 "disjuncts", node.pos)
            return alts
        if op in _COMPARE:
            self.arity(node, op, 2, 2)
            lhs, rhs = self.term(node.items[1]), self.term(node.items[2])
            strict = op in ("<", ">")
            if op in ("<=", "<"):
                return [[_row(lhs, rhs, node.pos, strict)]]
            if op in (">=", ">"):
                return [[_row(rhs, lhs, node.pos, strict)]]
            return [[_row(lhs, rhs, node.pos), _row(rhs, lhs, node.pos)]]
        raise self.error(f"unknown operator {op!r}: expected and, or, <=, >=, <, >, =",
                         node.items[0].pos)

    def term(self, node: _List | _Atom) -> _Term:
        if isinstance(node, _Atom):
            return self.atom(node)
        op = self.head(node, "an operator")
        args = node.items[1:]
        if op == "+":
            self.arity(node, op, 1, None)
            return _linear([(1.0, self.term(a)) for a in args])
        if op == "-":
            self.arity(node, op, 1, None)
            if len(args) == 1:
                return _linear([(-1.0, self.term(args[0]))])
            first = [(1.0, self.term(args[0]))]
            return _linear(first + [(-1.0, self.term(a)) for a in args[1:]])
        if op == "*":
            self.arity(node, op, 2, None)
            terms = [self.term(a) for a in args]
            scale = 1.0
            var: _Term | None = None
            for t in terms:
                if not t[0]:
                    scale *= t[1]
                elif var is None:
                    var = t
                else:
                    raise self.error("nonlinear term: '*' may multiply at most one variable "
                                     "expression", node.pos)
            return _linear([(scale, var if var is not None else ({}, 1.0))])
        raise self.error(f"unknown operator {op!r} in a term: expected a variable, a number, "
                         "+, - or *", node.items[0].pos)

    def atom(self, node: _Atom) -> _Term:
        text = node.text
        if _NUMBER.fullmatch(text):
            value = float(text)
            if not math.isfinite(value):
                raise self.error(f"number {text} is out of range", node.pos)
            return {}, value
        m = _VARIABLE.fullmatch(text)
        if m:
            table = self.x_decl if m.group(1) == "X" else self.y_decl
            idx = int(m.group(2))
            if idx not in table or table[idx] > node.pos:
                raise self.error(f"undeclared variable {text}: declare it first with "
                                 f"(declare-const {text} Real)", node.pos)
            return {idx if m.group(1) == "X" else -1 - idx: 1.0}, 0.0
        raise self.error(f"unknown variable {text!r}: only declared X_i and Y_j and numbers "
                         "may appear here", node.pos)

    # ------------------------------------------------------------------ DNF -> Property
    def build(self, dnf: list[list[_Row]], n_in: int, n_out: int) -> Property:
        groups: dict[bytes, tuple[Box, list[Conjunction]]] = {}
        for count, conj in enumerate(dnf):
            if count & 255 == 0:
                deadline.check()
            made = self.conjunction(conj, n_in, n_out)
            if made is None:
                continue
            box, c = made
            key = box.lower.tobytes() + box.upper.tobytes()
            if key in groups:
                groups[key][1].append(c)
            else:
                groups[key] = (box, [c])
        cases = tuple(Case(box, tuple(cs)) for box, cs in groups.values())
        return Property(cases, n_in, n_out, name=self.path or "")

    def conjunction(self, rows: list[_Row], n_in: int, n_out: int
                    ) -> tuple[Box, Conjunction] | None:
        lo_i: list[int] = []
        lo_v: list[float] = []
        hi_i: list[int] = []
        hi_v: list[float] = []
        general: list[_Row] = []
        for row in rows:
            coefs, b, _, strict = row
            if len(coefs) == 1:
                ((key, a),) = coefs.items()
                if key >= 0 and a in (1.0, -1.0):
                    (hi_i if a > 0 else lo_i).append(key)
                    (hi_v if a > 0 else lo_v).append(b if a > 0 else -b)
                    if not strict:
                        continue
                    # a strict bound: the closed box for proofs, and the strict row kept
                    # so that a counterexample must meet it strictly
            general.append(row)
        lower = np.full(n_in, -np.inf)
        upper = np.full(n_in, np.inf)
        np.maximum.at(lower, np.asarray(lo_i, dtype=np.intp), np.asarray(lo_v, dtype=float))
        np.minimum.at(upper, np.asarray(hi_i, dtype=np.intp), np.asarray(hi_v, dtype=float))
        lower += 0.0  # -0.0 -> 0.0, so equal boxes group together
        upper += 0.0
        if np.any(lower > upper):
            return None
        where = rows[0][2] if rows else len(self.text)
        for bound, name in ((lower, "lower"), (upper, "upper")):
            missing = np.flatnonzero(~np.isfinite(bound))
            if missing.size:
                raise self.error(f"X_{int(missing[0])} has no {name} bound in the conjunction "
                                 "that starts here; a property must bound every input",
                                 where)
        k = len(general)
        a = np.zeros((k, n_in + n_out))
        b = np.empty(k)
        strict = np.zeros(k, dtype=bool)
        for r, (coefs, rhs, _, st) in enumerate(general):
            b[r] = rhs
            strict[r] = st
            for key, v in coefs.items():
                a[r, key if key >= 0 else n_in - 1 - key] = v
        return Box(lower, upper), Conjunction(a[:, n_in:], b, a[:, :n_in], strict)


def _linear(parts: list[tuple[float, _Term]]) -> _Term:
    """``sum(scale * term)`` of linear terms."""
    coefs: dict[int, float] = {}
    const = 0.0
    for scale, (c, k) in parts:
        for key, v in c.items():
            coefs[key] = coefs.get(key, 0.0) + scale * v
        const += scale * k
    return coefs, const


def _row(lhs: _Term, rhs: _Term, pos: int, strict: bool = False) -> _Row:
    """The row ``lhs <= rhs`` (``<`` when ``strict``) as ``sum(coef * var) <= b`` (zero
    coefficients dropped)."""
    coefs = dict(lhs[0])
    for key, v in rhs[0].items():
        coefs[key] = coefs.get(key, 0.0) - v
    coefs = {key: v for key, v in coefs.items() if v != 0.0}
    return coefs, rhs[1] - lhs[1], pos, strict


def parse_vnnlib(text: str, path: str | None = None) -> Property:
    """Parse VNN-LIB ``text`` (``path`` is used in messages and as the property name)."""
    return _Reader(text, path).read()


def read_vnnlib(path: str | Path) -> Property:
    """Read a VNN-LIB file into a :class:`Property` named after ``path``."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecParseError(f"cannot read the property file: {exc}", str(path)) from None
    return parse_vnnlib(text, str(path))


# ---------------------------------------------------------------------- writer
def _var(key: int) -> str:
    return f"X_{key}" if key >= 0 else f"Y_{-1 - key}"


def _num(v: float) -> str:
    return repr(float(v))


def _row_text(a_in: np.ndarray | None, a_out: np.ndarray, b: float,
              strict: bool = False) -> str:
    """One row ``a_in @ x + a_out @ y <= b`` (``<`` when ``strict``) as a comparison, in
    the simplest form."""
    le, ge = ("<", ">") if strict else ("<=", ">=")
    items = [(int(i), float(v)) for i, v in enumerate(a_in) if v != 0.0] if a_in is not None \
        else []
    items += [(-1 - int(j), float(v)) for j, v in enumerate(a_out) if v != 0.0]
    if len(items) == 1 and abs(items[0][1]) == 1.0:
        key, v = items[0]
        return f"({le} {_var(key)} {_num(b)})" if v > 0 else f"({ge} {_var(key)} {_num(-b)})"
    if len(items) == 2 and b == 0.0 and {items[0][1], items[1][1]} == {1.0, -1.0}:
        pos, neg = (items[0], items[1]) if items[0][1] > 0 else (items[1], items[0])
        return f"({le} {_var(pos[0])} {_var(neg[0])})"
    if not items:
        return f"({le} 0.0 {_num(b)})"
    terms = " ".join(f"(* {_num(v)} {_var(key)})" for key, v in items)
    return f"({le} (+ {terms}) {_num(b)})"


def _conj_lines(box: Box, conj: Conjunction) -> list[str]:
    lines = []
    for i, (lo, hi) in enumerate(zip(box.lower.tolist(), box.upper.tolist(), strict=True)):
        lines.append(f"(>= X_{i} {_num(lo)})")
        lines.append(f"(<= X_{i} {_num(hi)})")
    for r in range(conj.k):
        a_in = None if conj.A_in is None else conj.A_in[r]
        strict = conj.strict is not None and bool(conj.strict[r])
        lines.append(_row_text(a_in, conj.A_out[r], float(conj.b[r]), strict))
    return lines


def write_vnnlib(prop: Property, path: str | Path | None = None) -> str:
    """The VNN-LIB text of ``prop`` (written to ``path`` as well when given).

    One case with one conjunction uses the standard layout (one ``assert`` per bound and
    row); otherwise one ``(assert (or (and ...) ...))`` with each box folded into its
    ``and``.  Cases without conjunctions are omitted; a property without any is written
    with an empty input box, which reads back as zero cases.
    """
    out = []
    if prop.name:
        out.append(f"; {prop.name.splitlines()[0]}")
    out += [f"(declare-const X_{i} Real)" for i in range(prop.n_inputs)]
    out += [f"(declare-const Y_{j} Real)" for j in range(prop.n_outputs)]
    pairs = [(case.box, conj) for case in prop.cases for conj in case.bad]
    if not pairs:
        out.append("; no case can be met: the input box below is empty")
        out.append("(assert (>= X_0 1.0))")
        out.append("(assert (<= X_0 -1.0))")
    elif len(pairs) == 1:
        out += [f"(assert {line})" for line in _conj_lines(*pairs[0])]
    else:
        out.append("(assert (or")
        out += [f"  (and {' '.join(_conj_lines(box, conj))})" for box, conj in pairs]
        out.append("))")
    text = "\n".join(out) + "\n"
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text
