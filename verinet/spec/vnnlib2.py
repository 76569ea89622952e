"""VNN-LIB 2.0 queries: typed, named networks and tensors, indexed variables.

A 2.0 query declares one or more networks, each with typed input, hidden and output
tensors, then asserts a formula over their elements::

    (vnnlib-version <2.0>)
    (declare-network N
        (declare-input  X float32 [1, 2])
        (declare-hidden H float32 [3] "relu_out")
        (declare-output Y float32 [2]))
    (assert (<= X[0,0] 1.0))
    ...

The reader follows the standard's grammar (version line, ``declare-network`` with an
optional ``equal-to`` / ``isomorphic-to``, ``declare-input`` / ``declare-hidden`` /
``declare-output`` with element type, shape and optional ONNX name, then ``assert``\\ s
built from ``and``, ``or``, ``<= >= < > == !=`` and the arithmetic ``+``, ``-`` (unary
or n-ary) and ``*``).  Numbers may use any decimal notation (``1e-3`` as well).
Everything else is refused with ``file:line:column`` and the construct's name; so is a
product of two variables (the POLY theory: verinet decides linear constraints only).

**The joint variable vector.**  Every declared input element of every network (in
declaration order, row-major) is one entry of a flat input ``x``; every hidden and
output element one entry of a flat output ``y``.  The formula becomes a 1.0
:class:`~verinet.spec.property.Property` over ``x`` and ``y`` (the same DNF rules,
strict comparisons kept strict, ``!=`` as ``<`` or ``>``), and
:func:`verinet.network.compose.compose` builds one ONNX model computing ``y`` from
``x`` — so every engine, the attack and the onnxruntime replay work on 2.0 unchanged.

**Semantics.**  Element types are checked against the ONNX files (``real`` matches any
floating type).  What verinet proves: a ``sat`` answer carries a witness that
onnxruntime, running the ONNX file in its declared element type, confirms; an
``unsat`` answer is a proof about the real-valued function that the network's
operators define (verinet's engines work in real arithmetic on float64 weights), which
for ``float32`` queries does not model float32 rounding (see ``docs/vnnlib2.md``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import SpecParseError
from .property import Property
from .vnnlib import parse_vnnlib

__all__ = ["tensor_of", "Tensor", "NetworkDecl", "Query", "is_vnnlib2", "parse_query", "read_query",
           "ELEMENT_TYPES"]

#: Element types the standard allows (ONNX's names) and ``real``.
ELEMENT_TYPES = frozenset({"real", "float16", "bfloat16", "float32", "float64", "int8",
                           "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                           "bool", "float8e4m3fn", "float8e5m2"})
_TOKEN = re.compile(r'\(|\)|;[^\n]*|"[^"\n]*"?|[A-Za-z_][A-Za-z0-9_]*\[[^\]\n]*\]?'
                    r"|\[[^\]\n]*\]?|[^\s();\"]+")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_REF = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:\[([^\]]*)\])?")
_VERSION = re.compile(r"<(\d+)\.(\d+)>")
_COMPARE = {"<=": "<=", ">=": ">=", "<": "<", ">": ">", "==": "=", "!=": "!="}
_SIGN_2 = re.compile(r"\(\s*(?:vnnlib-version|declare-network)\b")


@dataclass(frozen=True)
class Tensor:
    """A declared tensor: ``kind`` is ``input``, ``hidden`` or ``output``; ``offset`` is
    where its elements start in the joint input (inputs) or output (hidden, outputs)."""

    name: str
    kind: str
    dtype: str
    shape: tuple[int, ...]
    onnx_name: str | None
    network: str
    offset: int
    line: int
    column: int

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def element(self, k: int) -> str:
        """The 2.0 name of joint element ``k`` (which lies in this tensor), e.g. ``X[0,3]``."""
        idx = np.unravel_index(k - self.offset, self.shape) if self.shape else ()
        return f"{self.name}[{','.join(str(int(i)) for i in idx)}]" if idx else self.name


def tensor_of(tensors, letter: str, k: int) -> Tensor | None:
    """The tensor holding joint element ``k`` of the input (``X``) or output (``Y``)."""
    kinds = ("input",) if letter == "X" else ("hidden", "output")
    return next((t for t in tensors if t.kind in kinds and t.offset <= k < t.offset + t.size),
                None)


@dataclass(frozen=True)
class NetworkDecl:
    """A ``declare-network``: ``equal_to`` names the network whose file it shares."""

    name: str
    equal_to: str | None
    isomorphic_to: str | None
    inputs: tuple[Tensor, ...]
    hidden: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]
    line: int
    column: int

    @property
    def source(self) -> str:
        """The network whose ONNX file this one runs (itself unless ``equal-to``)."""
        return self.equal_to or self.name


@dataclass(frozen=True)
class Query:
    """A parsed 2.0 query: the networks, the joint :class:`Property` and its layout."""

    version: str
    networks: tuple[NetworkDecl, ...]
    prop: Property
    path: str
    #: Flat input indices no constraint mentions: the property pins them to 0, which keeps
    #: every ``sat`` a witness; an ``unsat`` holds only if no constrained output reads them.
    free_inputs: tuple[int, ...] = ()
    #: Products of variables (POLY), each a tuple of ``("X" or "Y", flat index)`` factors;
    #: product ``k`` is the extra output ``Y_{n_declared + k}`` of the property, which the
    #: composed model computes (:func:`verinet.network.compose.compose`).
    products: tuple[tuple[tuple[str, int], ...], ...] = ()

    @property
    def n_declared_outputs(self) -> int:
        """The joint outputs of the declared networks (without the product terms)."""
        return self.prop.n_outputs - len(self.products)

    @property
    def tensors(self) -> tuple[Tensor, ...]:
        """Every declared tensor, in declaration order."""
        return tuple(t for n in self.networks for t in (*n.inputs, *n.hidden, *n.outputs))

    @property
    def n_inputs(self) -> int:
        return self.prop.n_inputs

    @property
    def n_outputs(self) -> int:
        return self.prop.n_outputs

    def file_networks(self) -> tuple[str, ...]:
        """The names that need a ``--network NAME=PATH`` (all but ``equal-to`` ones)."""
        return tuple(n.name for n in self.networks if n.equal_to is None)


def is_vnnlib2(text: str) -> bool:
    """Whether ``text`` is a 2.0 query (a version line or a network declaration)."""
    body = re.sub(r";[^\n]*", "", text)
    return _SIGN_2.search(body) is not None


def read_query(path: str | Path) -> Query:
    """Read the 2.0 query file ``path``."""
    p = str(path)
    try:
        text = Path(p).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecParseError("no such file", p) from None
    except UnicodeDecodeError:
        raise SpecParseError("not a text file (cannot be decoded as UTF-8)", p) from None
    except OSError as e:
        raise SpecParseError(f"cannot be read ({e.strerror or e})", p) from None
    return parse_query(text, p)


def parse_query(text: str, path: str | None = None) -> Query:
    """Parse the 2.0 query ``text`` (``path`` names it in messages)."""
    return _Reader(text, path or "<query>").query()


# ---------------------------------------------------------------------------- reader
class _Node:
    __slots__ = ("items", "pos")

    def __init__(self, pos: int) -> None:
        self.items: list[_Node | str | tuple[str, int]] = []
        self.pos = pos


class _Reader:
    def __init__(self, text: str, path: str) -> None:
        self.text = text
        self.path = path
        self.vars: dict[str, Tensor] = {}
        self.n_in = 0
        self.used_inputs: set[int] = set()
        self.products: list[tuple[tuple[str, int], ...]] = []
        self.n_out = 0

    def where(self, pos: int) -> tuple[int, int]:
        line = self.text.count("\n", 0, pos) + 1
        return line, pos - (self.text.rfind("\n", 0, pos) + 1) + 1

    def error(self, message: str, pos: int) -> SpecParseError:
        return SpecParseError(message, self.path, *self.where(pos))

    # -- s-expressions --------------------------------------------------------
    def lists(self) -> list[_Node | tuple[str, int]]:
        top: list = []
        stack: list[_Node] = []
        for m in _TOKEN.finditer(self.text):
            tok, pos = m.group(), m.start()
            if tok[0] == ";":
                continue
            if tok == "(":
                node = _Node(pos)
                (stack[-1].items if stack else top).append(node)
                stack.append(node)
            elif tok == ")":
                if not stack:
                    raise self.error("unbalanced ')': nothing to close", pos)
                stack.pop()
            else:
                if (tok[0] == '"' and (len(tok) < 2 or tok[-1] != '"')) or (
                        "[" in tok and not tok.endswith("]")):
                    raise self.error(f"unterminated {tok[0] if tok[0] == chr(34) else '['} "
                                     f"in {tok!r}", pos)
                (stack[-1].items if stack else top).append((tok, pos))
        if stack:
            raise self.error("unbalanced '(': this list is never closed", stack[-1].pos)
        return top

    @staticmethod
    def head(node: _Node) -> str | None:
        first = node.items[0] if node.items else None
        return first[0] if isinstance(first, tuple) else None

    # -- top level --------------------------------------------------------------
    def query(self) -> Query:
        top = self.lists()
        if not top:
            raise self.error("empty query: expected (vnnlib-version <2.0>)", 0)
        for item in top:
            if not isinstance(item, _Node):
                raise self.error(f"unexpected {item[0]!r} outside a list", item[1])
        first = top[0]
        if self.head(first) != "vnnlib-version":
            raise self.error("a VNN-LIB 2.0 query starts with (vnnlib-version <2.0>)",
                             first.pos)
        version = self.version(first)
        networks: list[NetworkDecl] = []
        asserts: list[_Node] = []
        for node in top[1:]:
            h = self.head(node)
            if h == "declare-network":
                if asserts:
                    raise self.error("declare-network after an assert: declare every "
                                     "network first", node.pos)
                networks.append(self.network(node, networks))
            elif h == "assert":
                if len(node.items) != 2:
                    raise self.error(f"assert takes one formula, got {len(node.items) - 1}",
                                     node.pos)
                asserts.append(node)
            else:
                raise self.error(f"unknown command {h or '(...)'!r}: a 2.0 query holds "
                                 "vnnlib-version, declare-network and assert", node.pos)
        if not networks:
            raise self.error("the query declares no network (declare-network ...)", first.pos)
        body = [f"(assert {self.formula(a.items[1])})" for a in asserts]
        n_y = self.n_out + len(self.products)
        lines = [f"(declare-const X_{i} Real)" for i in range(self.n_in)]
        lines += [f"(declare-const Y_{j} Real)" for j in range(n_y)] + body
        free = tuple(i for i in range(self.n_in) if i not in self.used_inputs)
        lines += [f"(assert (and (>= X_{i} 0) (<= X_{i} 0)))" for i in free]
        prop = self.to_property("\n".join(lines) + "\n")
        return Query(version, tuple(networks), prop, self.path, free, tuple(self.products))

    def version(self, node: _Node) -> str:
        if len(node.items) != 2 or not isinstance(node.items[1], tuple):
            raise self.error("expected (vnnlib-version <2.0>)", node.pos)
        tok, pos = node.items[1]
        m = _VERSION.fullmatch(tok)
        if m is None:
            raise self.error(f"bad version {tok!r}: expected <MAJOR.MINOR>, e.g. <2.0>", pos)
        if m.group(1) != "2":
            raise self.error(f"VNN-LIB version {tok} is not supported (this reader reads 2.x; "
                             "1.0 files have no version line)", pos)
        return f"{m.group(1)}.{m.group(2)}"

    def network(self, node: _Node, before: list[NetworkDecl]) -> NetworkDecl:
        items = node.items[1:]
        if not items or not isinstance(items[0], tuple) or not _NAME.fullmatch(items[0][0]):
            raise self.error("declare-network needs a name", node.pos)
        name, npos = items[0]
        known = {n.name for n in before}
        if name in known or name in self.vars:
            raise self.error(f"name {name!r} is declared twice", npos)
        equal = iso = None
        decls: dict[str, list[Tensor]] = {"input": [], "hidden": [], "output": []}
        order = {"input": 0, "hidden": 1, "output": 2}
        last = -1
        for it in items[1:]:
            if not isinstance(it, _Node):
                raise self.error(f"unexpected {it[0]!r} in declare-network {name}", it[1])
            h = self.head(it)
            if h in ("equal-to", "isomorphic-to"):
                if len(it.items) != 2 or not isinstance(it.items[1], tuple):
                    raise self.error(f"({h} NAME) names one network", it.pos)
                other, opos = it.items[1]
                if other not in known:
                    raise self.error(f"{h} {other!r}: no network of that name is declared "
                                     "before this one", opos)
                if equal or iso or last >= 0:
                    raise self.error(f"{h} must come first in declare-network {name}, and "
                                     "only once", it.pos)
                if h == "equal-to":
                    equal = next(n.source for n in before if n.name == other)
                else:
                    iso = other
                continue
            kind = {"declare-input": "input", "declare-hidden": "hidden",
                    "declare-output": "output"}.get(h or "")
            if kind is None:
                raise self.error(f"unknown declaration {h or '(...)'!r} in declare-network "
                                 f"{name}", it.pos)
            if order[kind] < last:
                raise self.error(f"declare-{kind} after a later kind of declaration: declare "
                                 "inputs, then hidden nodes, then outputs", it.pos)
            last = order[kind]
            decls[kind].append(self.tensor(it, kind, name))
        if not decls["input"] or not decls["output"]:
            raise self.error(f"network {name} needs at least one declare-input and one "
                             "declare-output", node.pos)
        line, col = self.where(node.pos)
        return NetworkDecl(name, equal, iso, tuple(decls["input"]), tuple(decls["hidden"]),
                           tuple(decls["output"]), line, col)

    def tensor(self, node: _Node, kind: str, network: str) -> Tensor:
        items = node.items[1:]
        words = [it for it in items if isinstance(it, tuple)]
        if len(words) != len(items) or len(words) not in (3, 4):
            onnx = ' "ONNX-NAME"' if kind == "hidden" else ' ["ONNX-NAME"]'
            raise self.error(f"expected (declare-{kind} NAME TYPE [SHAPE]{onnx})", node.pos)
        (name, pos), (dtype, tpos), (shape_tok, spos) = words[:3]
        if not _NAME.fullmatch(name):
            raise self.error(f"bad tensor name {name!r}", pos)
        if name in self.vars:
            raise self.error(f"name {name!r} is declared twice", pos)
        if dtype not in ELEMENT_TYPES:
            raise self.error(f"unknown element type {dtype!r} (expected one of "
                             f"{', '.join(sorted(ELEMENT_TYPES))})", tpos)
        shape = self.shape(shape_tok, spos)
        onnx_name = None
        if len(words) == 4:
            s, qpos = words[3]
            if not (s.startswith('"') and s.endswith('"') and len(s) >= 2):
                raise self.error(f"expected the ONNX name as a string, got {s!r}", qpos)
            onnx_name = s[1:-1]
        elif kind == "hidden":
            raise self.error("declare-hidden needs the ONNX name of the node's output, as a "
                             'string: (declare-hidden H float32 [n] "tensor_name")', node.pos)
        size = int(np.prod(shape, dtype=np.int64))
        if kind == "input":
            offset, self.n_in = self.n_in, self.n_in + size
        else:
            offset, self.n_out = self.n_out, self.n_out + size
        line, col = self.where(pos)
        t = Tensor(name, kind, dtype, shape, onnx_name, network, offset, line, col)
        self.vars[name] = t
        return t

    def shape(self, tok: str, pos: int) -> tuple[int, ...]:
        if not (tok.startswith("[") and tok.endswith("]")):
            raise self.error(f"expected a shape such as [1, 28, 28], got {tok!r}", pos)
        body = tok[1:-1].strip()
        if not body:
            return ()
        dims = []
        for part in body.split(","):
            p = part.strip()
            if not p.isdigit() or int(p) < 1:
                raise self.error(f"bad dimension {p!r} in shape {tok}: dimensions are "
                                 "positive integers", pos)
            dims.append(int(p))
        return tuple(dims)

    # -- formulas -------------------------------------------------------------
    def formula(self, item) -> str:
        """The 1.0 text of a boolean formula over ``X_i`` / ``Y_j``."""
        if not isinstance(item, _Node):
            raise self.error(f"expected a formula, got {item[0]!r}", item[1])
        h = self.head(item)
        args = item.items[1:]
        if h in ("and", "or"):
            if not args:
                raise self.error(f"({h}) needs at least one argument", item.pos)
            return f"({h} " + " ".join(self.formula(a) for a in args) + ")"
        if h in _COMPARE:
            if len(args) != 2:
                raise self.error(f"({h} A B) compares two terms, got {len(args)}", item.pos)
            a, b = (self.term(x)[0] for x in args)
            if h == "!=":
                return f"(or (< {a} {b}) (> {a} {b}))"
            return f"({_COMPARE[h]} {a} {b})"
        if h == "not":
            raise self.error("(not ...) is not part of VNN-LIB 2.0: negate the comparison "
                             "instead", item.pos)
        raise self.error(f"expected a formula (and, or, <=, >=, <, >, ==, !=), got "
                         f"{h or '(...)'!r}", item.pos)

    def term(self, item) -> tuple[str, bool]:
        """The 1.0 text of an arithmetic term and whether it involves a variable."""
        if isinstance(item, tuple):
            tok, pos = item
            if _NUMBER.fullmatch(tok):
                return repr(float(tok)), False
            return self.variable(tok, pos), True
        h = self.head(item)
        args = item.items[1:]
        if h not in ("+", "-", "*"):
            raise self.error(f"expected a term (a number, a variable, +, -, *), got "
                             f"{h or '(...)'!r}", item.pos)
        if not args:
            raise self.error(f"({h}) needs at least one argument", item.pos)
        parts = [self.term(a) for a in args]
        if h == "*" and sum(v for _, v in parts) > 1:
            return self.product(parts, item.pos), True
        return f"({h} " + " ".join(t for t, _ in parts) + ")", any(v for _, v in parts)

    def product(self, parts: list[tuple[str, bool]], pos: int) -> str:
        """A product of variables (POLY) as one extra output that the composed model
        computes, times the constant factors."""
        factors = []
        for text, var in parts:
            if not var:
                continue
            m = re.fullmatch(r"([XY])_(\d+)", text)
            if m is None:
                raise self.error("a product of variables is supported when each factor is "
                                 "a single variable or a number, e.g. (* 2 X[0] Y[1]); "
                                 "multiply out sums first", pos)
            factors.append((m.group(1), int(m.group(2))))
        key = tuple(sorted(factors))
        if key not in self.products:
            self.products.append(key)
        aux = f"Y_{self.n_out + self.products.index(key)}"
        consts = [t for t, v in parts if not v]
        return f"(* {' '.join(consts)} {aux})" if consts else aux

    def variable(self, tok: str, pos: int) -> str:
        m = _REF.fullmatch(tok)
        if m is None:
            raise self.error(f"{tok!r} is neither a number nor a variable", pos)
        name, idx = m.group(1), m.group(2)
        t = self.vars.get(name)
        if t is None:
            raise self.error(f"undeclared variable {name!r}", pos)
        if idx is None:
            if t.shape and t.size != 1:
                raise self.error(f"{name} has shape {list(t.shape)}: index it, e.g. "
                                 f"{name}[{', '.join('0' * len(t.shape))}]", pos)
            flat = 0
        else:
            parts = [p.strip() for p in idx.split(",")] if idx.strip() else []
            if len(parts) != len(t.shape):
                raise self.error(f"{tok}: {name} has {len(t.shape)} dimension(s) "
                                 f"{list(t.shape)}, the index has {len(parts)}", pos)
            index = []
            for p, d in zip(parts, t.shape):
                if not p.isdigit():
                    raise self.error(f"{tok}: index {p!r} is not a non-negative integer", pos)
                if int(p) >= d:
                    raise self.error(f"{tok}: index {p} is out of range for a dimension of "
                                     f"size {d} (shape {list(t.shape)})", pos)
                index.append(int(p))
            flat = int(np.ravel_multi_index(index, t.shape)) if index else 0
        if t.kind == "input":
            self.used_inputs.add(t.offset + flat)
            return f"X_{t.offset + flat}"
        return f"Y_{t.offset + flat}"

    def to_property(self, text: str) -> Property:
        """Parse the translated 1.0 text; messages speak of the 2.0 names again."""
        try:
            prop = parse_vnnlib(text, self.path)
        except SpecParseError as e:
            msg = str(e)
            prefix = f"{self.path}: "
            if e.line is not None or msg.startswith(prefix):
                msg = msg.split(": ", 1)[-1]
            first = re.search(r"\b([XY])_(\d+)\b", msg)
            msg = re.sub(r"\b([XY])_(\d+)\b", lambda m: self.element(m.group(1),
                                                                      int(m.group(2))), msg)
            where = self.declaration(first.group(1), int(first.group(2))) if first else None
            msg = msg.replace("in the conjunction that starts here", "in one of the conjunctions")
            if where is None:
                raise SpecParseError(msg, self.path) from None
            raise SpecParseError(f"{msg} (the position is the declaration of {where[2]})",
                                 self.path, where[0], where[1]) from None
        return Property(prop.cases, prop.n_inputs, prop.n_outputs, name=self.path)

    def declaration(self, letter: str, k: int) -> tuple[int, int, str] | None:
        """Line, column and name of the declaration of the tensor holding ``X_k``/``Y_k``."""
        t = tensor_of(self.vars.values(), letter, k)
        return None if t is None else (t.line, t.column, t.name)

    def element(self, letter: str, k: int) -> str:
        t = tensor_of(self.vars.values(), letter, k)
        return f"{letter}_{k}" if t is None else t.element(k)
