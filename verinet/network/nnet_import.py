"""Reader for the ``.nnet`` text format of Reluplex (Katz et al.) and the ACAS Xu networks.

A ``.nnet`` file holds a fully connected ReLU network together with the constants that
normalise its inputs and outputs.  After any ``//`` comment lines come, one per line:

1. ``numLayers, inputSize, outputSize, maxLayerSize``
2. the ``numLayers + 1`` layer sizes, input first
3. a legacy flag (one integer, unused)
4. the ``inputSize`` input minimums and 5. maximums (raw units)
6. ``inputSize + 1`` means and 7. ``inputSize + 1`` ranges (the last of each is the output's)
8. per layer, one weight row per neuron (``n_in`` values) and then one bias per line.

Values are separated by commas (whitespace is accepted too); trailing commas are ignored.
Hidden layers apply ReLU, the last layer is linear.  The weights act on normalised inputs
``(x_raw - mean) / range`` and produce normalised outputs (``raw = y * range + mean``).
See ``docs/nnet.md`` for the two unit modes of :func:`load_nnet`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError, ModelLoadError
from .ir import Network, NetworkBuilder
from .ops import Affine, Relu

__all__ = ["load_nnet", "UNITS"]

#: The accepted values of ``load_nnet(..., units=...)``.
UNITS = ("normalized", "raw")


@dataclass(frozen=True)
class _Line:
    """One non-comment, non-blank line of the file: its 1-based number and its tokens."""

    number: int
    tokens: list[str]


@dataclass
class _NnetData:
    """The parsed contents of a ``.nnet`` file, all in the file's own (normalised) units."""

    sizes: list[int]
    input_min: np.ndarray
    input_max: np.ndarray
    input_mean: np.ndarray
    input_range: np.ndarray
    output_mean: float
    output_range: float
    weights: list[np.ndarray]  # layer k: (sizes[k + 1], sizes[k])
    biases: list[np.ndarray]  # layer k: (sizes[k + 1],)


class _Reader:
    """Walks the data lines of one file, raising located :class:`ModelLoadError`."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.lines: list[_Line] = []
        in_header = True
        for number, raw in enumerate(text.splitlines(), start=1):
            s = raw.strip()
            if not s:
                continue
            if s.startswith("//"):
                if in_header:
                    continue
                raise self.error(number, "comment lines ('//') may only open the file")
            in_header = False
            # commas and whitespace separate values; the customary trailing comma vanishes
            self.lines.append(_Line(number, s.replace(",", " ").split()))
        self.pos = 0

    def error(self, line: int | None, message: str) -> ModelLoadError:
        where = f"{self.path}:{line}" if line is not None else self.path
        return ModelLoadError(f"{where}: {message}")

    def next_line(self, what: str) -> _Line:
        if self.pos >= len(self.lines):
            last = self.lines[-1].number if self.lines else 0
            raise self.error(
                last + 1, f"the file ends early: expected {what}; the file looks truncated")
        line = self.lines[self.pos]
        self.pos += 1
        return line

    def ints(self, count: int | None, what: str) -> tuple[_Line, list[int]]:
        """The next line as whole numbers (``count`` of them, or any number when ``None``)."""
        line = self.next_line(what)
        self._check_count(line, count, what)
        values = []
        for i, tok in enumerate(line.tokens, start=1):
            try:
                values.append(int(tok))
            except ValueError:
                raise self.error(
                    line.number, f"{what}: value {i} is {tok!r}, expected a whole number"
                ) from None
        return line, values

    def floats(self, count: int, what: str) -> tuple[_Line, np.ndarray]:
        """The next line as ``count`` finite float64 values."""
        line = self.next_line(what)
        self._check_count(line, count, what)
        return line, self._to_floats([line], what)

    def float_block(self, n_lines: int, per_line: int, what: str) -> np.ndarray:
        """The next ``n_lines`` lines, ``per_line`` numbers each, as a ``(n_lines, per_line)``
        float64 array (parsed in one numpy call)."""
        block = []
        for i in range(n_lines):
            line = self.next_line(f"{what}, row {i + 1} of {n_lines}")
            self._check_count(line, per_line, f"{what}, row {i + 1} of {n_lines}")
            block.append(line)
        return self._to_floats(block, what).reshape(n_lines, per_line)

    def _check_count(self, line: _Line, count: int | None, what: str) -> None:
        if count is not None and len(line.tokens) != count:
            raise self.error(
                line.number,
                f"{what}: expected {count} value{'s' if count != 1 else ''}, "
                f"found {len(line.tokens)}")

    def _to_floats(self, lines: list[_Line], what: str) -> np.ndarray:
        flat = [tok for line in lines for tok in line.tokens]
        try:
            values = np.array(flat, dtype=np.float64)
        except ValueError:
            values = None
        if values is not None and np.all(np.isfinite(values)):
            return values
        # slow path: locate the first offending token
        out = []
        for line in lines:
            for i, tok in enumerate(line.tokens, start=1):
                try:
                    v = float(tok)
                except ValueError:
                    raise self.error(
                        line.number, f"{what}: value {i} is {tok!r}, expected a number"
                    ) from None
                if not np.isfinite(v):
                    raise self.error(
                        line.number, f"{what}: value {i} is {tok!r}, expected a finite number")
                out.append(v)
        return np.array(out, dtype=np.float64)

    def expect_end(self) -> None:
        if self.pos < len(self.lines):
            line = self.lines[self.pos]
            raise self.error(
                line.number,
                f"unexpected data after the last layer ({len(self.lines) - self.pos} more "
                "line(s)); the layer sizes in the header do not match the weights")


def _parse(path: str, text: str) -> _NnetData:
    r = _Reader(path, text)
    if not r.lines:
        raise r.error(None, "no data: the file is empty or holds only comments")

    head, (n_layers, n_in, n_out, max_size) = r.ints(
        4, "header (numLayers, inputSize, outputSize, maxLayerSize)")
    if n_layers < 1 or n_in < 1 or n_out < 1:
        raise r.error(head.number, "header: numLayers, inputSize and outputSize must be >= 1, "
                      f"got {n_layers}, {n_in}, {n_out}")
    size_line, sizes = r.ints(n_layers + 1, f"layer sizes (numLayers + 1 = {n_layers + 1})")
    if min(sizes) < 1:
        raise r.error(size_line.number, f"layer sizes must be >= 1, got {sizes}")
    if sizes[0] != n_in or sizes[-1] != n_out:
        raise r.error(
            size_line.number,
            f"layer sizes {sizes} start with {sizes[0]} and end with {sizes[-1]}, but the header "
            f"(line {head.number}) says inputSize {n_in} and outputSize {n_out}")
    if max_size < max(sizes):
        raise r.error(
            head.number,
            f"header: maxLayerSize is {max_size}, but the layer sizes (line {size_line.number}) "
            f"include {max(sizes)}")
    r.ints(1, "legacy flag (one integer, usually 0)")

    min_line, input_min = r.floats(n_in, f"input minimums (inputSize = {n_in})")
    _, input_max = r.floats(n_in, f"input maximums (inputSize = {n_in})")
    bad = np.flatnonzero(input_min > input_max)
    if bad.size:
        raise r.error(
            min_line.number,
            f"input {int(bad[0])}: minimum {input_min[bad[0]]} exceeds maximum "
            f"{input_max[bad[0]]} (next line)")
    _, means = r.floats(n_in + 1, f"means (inputSize + 1 = {n_in + 1}, the last for the output)")
    range_line, ranges = r.floats(
        n_in + 1, f"ranges (inputSize + 1 = {n_in + 1}, the last for the output)")
    if np.any(ranges == 0):
        raise r.error(range_line.number,
                      f"range {int(np.flatnonzero(ranges == 0)[0])} is zero; ranges divide "
                      "the inputs and must be nonzero")

    weights, biases = [], []
    for k in range(n_layers):
        m, n = sizes[k + 1], sizes[k]
        weights.append(r.float_block(m, n, f"layer {k + 1} weights ({m} x {n})"))
        biases.append(r.float_block(m, 1, f"layer {k + 1} biases ({m})").reshape(m))
    r.expect_end()
    return _NnetData(sizes=sizes, input_min=input_min, input_max=input_max,
                     input_mean=means[:n_in], input_range=ranges[:n_in],
                     output_mean=float(means[n_in]), output_range=float(ranges[n_in]),
                     weights=weights, biases=biases)


def _read_text(path: str) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise ModelLoadError(f"{path}: no such file; check the path to the model") from None
    except IsADirectoryError:
        raise ModelLoadError(f"{path}: is a directory, not a model file") from None
    except OSError as e:
        raise ModelLoadError(f"{path}: cannot read the file ({e.strerror})") from None
    # comments may hold any bytes; a stray byte among numbers is reported as a bad value
    return data.decode("utf-8", errors="replace")


def _normalization_meta(d: _NnetData, units: str) -> dict[str, Any]:
    if units == "raw":
        lo, hi = d.input_min.copy(), d.input_max.copy()
    else:
        lo = (d.input_min - d.input_mean) / d.input_range
        hi = (d.input_max - d.input_mean) / d.input_range
        # a negative range flips the interval
        lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
    return {
        "input_min": d.input_min,
        "input_max": d.input_max,
        "input_mean": d.input_mean,
        "input_range": d.input_range,
        "output_mean": d.output_mean,
        "output_range": d.output_range,
        "input_domain": (lo, hi),
    }


def load_nnet(path: str | os.PathLike, *, units: str = "normalized") -> Network:
    """Load a ``.nnet`` network.

    Args:
        path: the ``.nnet`` file.
        units: ``"normalized"`` (default): the network maps normalised inputs
            ``(x_raw - mean) / range`` to normalised outputs, exactly the weights of the
            file (the same function as the VNN-COMP ACAS Xu ONNX files).
            ``"raw"``: the normalisation is folded into the first layer and the output
            scaling ``y * out_range + out_mean`` into the last, so the network maps raw
            inputs to raw outputs.  The raw input clamping that Reluplex applies is not
            part of the function in either mode; ``meta["normalization"]["input_domain"]``
            records the domain in the network's input units instead.
    Returns:
        A layered :class:`Network` with input shape ``(inputSize,)`` and output shape
        ``(outputSize,)``: nodes ``layer1``, ``relu1``, ..., ``layerL`` (no ReLU after the
        last layer).  ``meta`` holds ``format="nnet"``, ``path``, ``units`` and
        ``normalization`` (``input_min``, ``input_max``, ``input_mean``, ``input_range``
        as float64 arrays, ``output_mean``, ``output_range`` as floats, and
        ``input_domain = (lower, upper)``).
    Raises:
        ModelLoadError: the file is missing, unreadable, truncated or inconsistent; the
            message names the file and the 1-based line.
        InputError: ``units`` is not one of :data:`UNITS`.
    """
    if units not in UNITS:
        raise InputError(f"units={units!r}: expected one of {', '.join(map(repr, UNITS))}")
    p = os.fspath(path)
    d = _parse(p, _read_text(p))

    weights = list(d.weights)
    biases = list(d.biases)
    if units == "raw":
        # W (x - mean) / range + b  ==  (W / range) x + (b - W (mean / range))
        W0 = weights[0]
        biases[0] = biases[0] - W0 @ (d.input_mean / d.input_range)
        weights[0] = W0 / d.input_range[None, :]
        # (W h + b) * out_range + out_mean
        weights[-1] = weights[-1] * d.output_range
        biases[-1] = biases[-1] * d.output_range + d.output_mean

    nb = NetworkBuilder()
    nb.add_input("input", (d.sizes[0],))
    prev = "input"
    n_layers = len(weights)
    for k, (W, b) in enumerate(zip(weights, biases, strict=True), start=1):
        m = W.shape[0]
        nb.add(f"layer{k}", Affine((prev,), m, W=W, b=b, origin=f"nnet layer {k}"), (m,))
        prev = f"layer{k}"
        if k < n_layers:
            nb.add(f"relu{k}", Relu((prev,), m), (m,))
            prev = f"relu{k}"
    meta = {
        "format": "nnet",
        "path": p,
        "units": units,
        "normalization": _normalization_meta(d, units),
    }
    return nb.finish(prev, name=os.path.basename(p), meta=meta)
