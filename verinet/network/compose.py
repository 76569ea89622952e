"""One ONNX model for a VNN-LIB 2.0 query: every declared network on one joint input.

A 2.0 query may declare several networks (or one network twice, ``equal-to``), several
inputs and outputs per network, and hidden nodes.  :func:`compose` turns the files into
one ONNX model with a single flat float input ``x`` (the query's inputs, in declaration
order) and a single flat output ``y`` (each network's declared hidden nodes and outputs,
in declaration order), which is what :class:`~verinet.spec.vnnlib2.Query`'s property is
written over.  The model is the original graphs, their tensor names prefixed by the
declared network name, joined by exact index operators (``Slice``, ``Reshape``,
``Concat``, and ``Cast`` where an input is not float32); verinet's importer reads it as
any other model, and onnxruntime runs it to replay witnesses.

Errors name the query's network and the file: a missing or unneeded ``--network``, a
declared element type or shape that the file does not have, an unknown hidden node.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..errors import ModelLoadError, SpecMismatchError

__all__ = ["compose", "JOINT_INPUT", "JOINT_OUTPUT", "DTYPES"]

JOINT_INPUT = "verinet_query_x"
JOINT_OUTPUT = "verinet_query_y"
#: The ONNX element type of each VNN-LIB element type name (``real``: any float).
DTYPES = {"float16": TensorProto.FLOAT16, "bfloat16": TensorProto.BFLOAT16,
          "float32": TensorProto.FLOAT, "float64": TensorProto.DOUBLE,
          "int8": TensorProto.INT8, "int16": TensorProto.INT16, "int32": TensorProto.INT32,
          "int64": TensorProto.INT64, "uint8": TensorProto.UINT8, "uint16": TensorProto.UINT16,
          "uint32": TensorProto.UINT32, "uint64": TensorProto.UINT64, "bool": TensorProto.BOOL}
_FLOATS = {TensorProto.FLOAT16, TensorProto.BFLOAT16, TensorProto.FLOAT, TensorProto.DOUBLE}


def _type_name(elem: int) -> str:
    return TensorProto.DataType.Name(elem).lower()


def _check_networks(query, paths: Mapping[str, str]) -> None:
    need = set(query.file_networks())
    given = set(paths)
    for name in sorted(given - need):
        decl = next((n for n in query.networks if n.name == name), None)
        why = ("it is declared equal-to another network and shares its file" if decl
               else "the query declares no network of that name")
        declared = ", ".join(f"{n.name} (line {n.line}:{n.column})" for n in query.networks)
        raise SpecMismatchError(f"{query.path}: --network {name}=...: {why}; declared: "
                                f"{declared}")
    for name in sorted(need - given):
        decl = next(n for n in query.networks if n.name == name)
        raise SpecMismatchError(f"{query.path}:{decl.line}:{decl.column}: network {name!r} "
                                f"has no file: pass --network {name}=PATH")


def _shape(vi: onnx.ValueInfoProto) -> tuple[int | None, ...] | None:
    t = vi.type.tensor_type
    if not t.HasField("shape"):
        return None
    return tuple(int(d.dim_value) if d.HasField("dim_value") and d.dim_value > 0 else None
                 for d in t.shape.dim)


def _fits(declared: tuple[int, ...], actual: tuple[int | None, ...] | None) -> bool:
    """The declared shape matches the file's, symbolic dimensions matching anything and
    dimensions of size 1 ignored on either side."""
    if actual is None:
        return True
    a = [d for d in actual if d != 1]
    d = [x for x in declared if x != 1]
    if len(a) != len(d):
        return False
    return all(x is None or x == y for x, y in zip(a, d))


def _at(where: str, t) -> str:
    """``where`` (``QUERY:LINE:COL: ...``) pointing at the declaration of tensor ``t``."""
    return re.sub(r"^(.*?):\d+:\d+: ", lambda m: f"{m.group(1)}:{t.line}:{t.column}: ",
                  where, count=1)


def _check_tensor(t, vi: onnx.ValueInfoProto | None, path: str, where: str,
                  any_float: bool = False) -> None:
    """``t`` fits ``vi``; ``any_float``: a network ``isomorphic-to`` another, which the
    standard lets differ in float precision (verinet reads it at the file's precision)."""
    if vi is None:
        return
    where = _at(where, t)
    elem = vi.type.tensor_type.elem_type
    if t.dtype == "real" or (any_float and DTYPES.get(t.dtype) in _FLOATS):
        if elem and elem not in _FLOATS:
            raise SpecMismatchError(f"{where}: {t.name} is declared {t.dtype} but {path} gives "
                                    f'"{vi.name}" element type {_type_name(elem)}')
    elif elem and DTYPES.get(t.dtype) != elem:
        raise SpecMismatchError(f"{where}: {t.name} is declared {t.dtype} but {path} gives "
                                f'"{vi.name}" element type {_type_name(elem)}; declare it '
                                f"{_type_name(elem)} (or real)")
    shape = _shape(vi)
    if not _fits(t.shape, shape):
        shown = [d if d is not None else "?" for d in shape or ()]
        raise SpecMismatchError(f"{where}: {t.name} is declared with shape {list(t.shape)} "
                                f'but "{vi.name}" in {path} has shape {shown}')


def _products(query, nodes: list, outs: list[str], const) -> list[str]:
    """Nodes computing the query's products of variables (POLY terms) as extra outputs."""
    if not query.products:
        return []
    declared = "verinet_declared_y"
    if len(outs) == 1:
        nodes.append(helper.make_node("Identity", list(outs), [declared], name=declared))
    else:
        nodes.append(helper.make_node("Concat", list(outs), [declared], axis=0, name=declared))
    extra = []
    for k, factors in enumerate(query.products):
        names = []
        for j, (letter, idx) in enumerate(factors):
            src = JOINT_INPUT if letter == "X" else declared
            name = f"verinet_p{k}_{j}"
            nodes.append(helper.make_node("Slice", [src, const(name + "_s", [idx]),
                                                    const(name + "_e", [idx + 1]),
                                                    const(name + "_a", [0])], [name],
                                          name=name))
            names.append(name)
        acc = names[0]
        for j, name in enumerate(names[1:], 1):
            out = f"verinet_p{k}_m{j}"
            nodes.append(helper.make_node("Mul", [acc, name], [out], name=out))
            acc = out
        extra.append(acc)
    return extra


def _load(path: str) -> onnx.ModelProto:
    if not os.path.isfile(path):
        raise ModelLoadError(f"{path}: no such model file")
    try:
        model = onnx.load(path)
    except Exception as e:
        raise ModelLoadError(f"{path}: not a readable ONNX model ({type(e).__name__}: "
                             f"{str(e).splitlines()[0] if str(e) else ''})") from None
    try:
        return onnx.shape_inference.infer_shapes(model)
    except Exception:
        return model


def _opset(model: onnx.ModelProto, path: str) -> int:
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return int(imp.version)
    raise ModelLoadError(f"{path}: the model imports no version of the standard operator set")


def _rename(graph: onnx.GraphProto, prefix: str) -> tuple[list, list]:
    """The graph's nodes and initializers with every tensor name prefixed."""
    def pre(s: str) -> str:
        return prefix + s if s else s

    nodes = []
    for node in graph.node:
        n = onnx.NodeProto()
        n.CopyFrom(node)
        for a in n.attribute:
            if a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS):
                raise ModelLoadError(f'node "{node.name or node.output[0]}" ({node.op_type}) '
                                     "has a subgraph; verinet does not support control flow")
        n.input[:] = [pre(s) for s in n.input]
        n.output[:] = [pre(s) for s in n.output]
        if n.name:
            n.name = pre(n.name)
        nodes.append(n)
    inits = []
    for init in graph.initializer:
        t = TensorProto()
        t.CopyFrom(init)
        t.name = pre(t.name)
        inits.append(t)
    return nodes, inits


def compose(query, paths: Mapping[str, str]) -> onnx.ModelProto:
    """The joint model of ``query`` given ``paths`` (network name -> ONNX file)."""
    _check_networks(query, paths)
    models = {name: _load(p) for name, p in paths.items()}
    opsets = {name: _opset(m, paths[name]) for name, m in models.items()}
    opset = max(opsets.values())
    if len(set(opsets.values())) > 1:
        shown = ", ".join(f"{n}: {v}" for n, v in sorted(opsets.items()))
        raise ModelLoadError(f"{query.path}: the networks use different ONNX opsets ({shown}); "
                             "export them with one opset")
    nodes: list[onnx.NodeProto] = []
    inits: list[TensorProto] = []
    outs: list[str] = []

    def const(name: str, values, dtype=np.int64) -> str:
        inits.append(numpy_helper.from_array(np.asarray(values, dtype=dtype), name))
        return name

    for k, net in enumerate(query.networks):
        path = paths[net.source]
        model = models[net.source]
        g = model.graph
        where = f"{query.path}:{net.line}:{net.column}: network {net.name} ({path})"
        iso = net.isomorphic_to is not None
        init_names = {i.name for i in g.initializer}
        g_inputs = [vi for vi in g.input if vi.name not in init_names]
        if len(g_inputs) != len(net.inputs):
            raise SpecMismatchError(f"{where}: the query declares {len(net.inputs)} input(s), "
                                    f"the file has {len(g_inputs)} "
                                    f"({', '.join(v.name for v in g_inputs) or 'none'})")
        if len(g.output) != len(net.outputs):
            raise SpecMismatchError(f"{where}: the query declares {len(net.outputs)} "
                                    f"output(s), the file has {len(g.output)} "
                                    f"({', '.join(v.name for v in g.output)})")
        prefix = f"{net.name}/"
        body, weights = _rename(g, prefix)
        inits.extend(weights)
        by_name = {vi.name: vi for vi in (*g.input, *g.output, *g.value_info)}
        for i, t in enumerate(net.inputs):
            vi = g_inputs[i]
            if t.onnx_name is not None:
                vi = next((v for v in g_inputs if v.name == t.onnx_name), None)
                if vi is None:
                    raise SpecMismatchError(f"{_at(where, t)}: input {t.name} names ONNX input "
                                            f'"{t.onnx_name}", which the file does not have')
            _check_tensor(t, vi, path, where, iso)
            elem = vi.type.tensor_type.elem_type or TensorProto.FLOAT
            if elem not in _FLOATS:
                raise ModelLoadError(f'{where}: input "{vi.name}" has element type '
                                     f"{_type_name(elem)}; verinet needs floating-point inputs")
            tag = f"verinet_{k}_{i}"
            shape = [d if d is not None else 1 for d in (_shape(vi) or t.shape)]
            nodes.append(helper.make_node(
                "Slice", [JOINT_INPUT, const(tag + "_s", [t.offset]),
                          const(tag + "_e", [t.offset + t.size]), const(tag + "_a", [0])],
                [tag + "_flat"], name=tag + "_slice"))
            target = prefix + vi.name
            reshaped = tag + "_shaped" if elem != TensorProto.FLOAT else target
            nodes.append(helper.make_node("Reshape", [tag + "_flat",
                                                      const(tag + "_shape", shape)],
                                          [reshaped], name=tag + "_reshape"))
            if elem != TensorProto.FLOAT:
                nodes.append(helper.make_node("Cast", [reshaped], [target], to=elem,
                                              name=tag + "_cast"))
        nodes.extend(body)
        produced = {o for n in g.node for o in n.output} | {v.name for v in g.input}
        for j, t in enumerate((*net.hidden, *net.outputs)):
            if t.kind == "output":
                oi = net.outputs.index(t)
                src = g.output[oi].name if t.onnx_name is None else t.onnx_name
                if t.onnx_name is not None and t.onnx_name not in {o.name for o in g.output}:
                    raise SpecMismatchError(f"{_at(where, t)}: output {t.name} names ONNX output "
                                            f'"{t.onnx_name}", which the file does not have')
            else:
                src = t.onnx_name
                if src not in produced:
                    raise SpecMismatchError(f'{_at(where, t)}: hidden node {t.name} names "{src}", '
                                            "which no node of the file produces")
            _check_tensor(t, by_name.get(src), path, where, iso)
            tag = f"verinet_{k}_o{j}"
            flat = tag + "_flat"
            nodes.append(helper.make_node("Reshape", [prefix + src, const(tag + "_shape", [-1])],
                                          [flat], name=tag + "_reshape"))
            vi = by_name.get(src)
            elem = vi.type.tensor_type.elem_type if vi is not None else TensorProto.FLOAT
            if elem and elem != TensorProto.FLOAT:
                nodes.append(helper.make_node("Cast", [flat], [tag + "_f32"],
                                              to=TensorProto.FLOAT, name=tag + "_cast"))
                flat = tag + "_f32"
            outs.append(flat)
    outs.extend(_products(query, nodes, outs, const))
    if len(outs) == 1:
        nodes.append(helper.make_node("Identity", outs, [JOINT_OUTPUT], name="verinet_out"))
    else:
        nodes.append(helper.make_node("Concat", outs, [JOINT_OUTPUT], axis=0,
                                      name="verinet_concat"))
    graph = helper.make_graph(
        nodes, "verinet_query",
        [helper.make_tensor_value_info(JOINT_INPUT, TensorProto.FLOAT, [query.n_inputs])],
        [helper.make_tensor_value_info(JOINT_OUTPUT, TensorProto.FLOAT, [query.n_outputs])],
        initializer=inits)
    ir = max(m.ir_version for m in models.values())
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                             ir_version=ir, producer_name="verinet")
