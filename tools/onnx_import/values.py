"""values.py - what an ONNX value becomes during conversion, and the list of tinycnn layers.

An ONNX value is one of
  numpy.ndarray  a constant (initializer, Constant node, or folded from constants);
  Tensor         computed at run time: the output of a tinycnn layer, or the model input;
  Padded         the output of a zero Pad, waiting to be absorbed by the next Conv or pooling;
  POISON         the output of a node that could not be converted (its users stay silent);
                 a run-time output of such a node becomes a Tensor of layer PLACEHOLDER instead
                 when ONNX shape inference knows its shape, so its users are still checked.
Shapes of run-time tensors are per sample, as in the tinycnn format: the batch is implicit.
"""
import re

import numpy as np

# Stands for the batch size inside shape vectors (Shape of a run-time tensor); never a real size.
BATCH = np.int64(-(2 ** 62))

POISON = object()
PLACEHOLDER = "(not converted)"  # layer name of stand-in tensors; never written


class Refuse(Exception):
    """A node cannot be converted; the message says why."""


class Tensor:
    """A run-time value: the output of layer `layer` ("input" for the model input).

    Reshape-like ops only change `shape` (a view of the same data); `real` stays the shape the
    layer produces. Before any other op reads a view, the converter makes it real: a flatten
    layer if the view is 1-D, else a refusal (the engine has no general reshape)."""

    __slots__ = ("layer", "shape", "real", "nonneg")

    def __init__(self, layer, shape, nonneg=False, real=None):
        self.layer = layer
        self.shape = tuple(int(d) for d in shape)  # per sample, as ONNX sees it
        self.real = self.shape if real is None else tuple(real)
        self.nonneg = nonneg  # every value is >= 0 (lets a zero Pad fold into MaxPool)

    def numel(self):
        return int(np.prod(self.shape, dtype=np.int64))

    def is_view(self):
        return self.shape != self.real


class Padded:
    """A tensor with zero padding [top, left, bottom, right] that no layer has absorbed yet."""

    __slots__ = ("tensor", "pads")

    def __init__(self, tensor, pads):
        self.tensor = tensor
        self.pads = list(pads)


MAX_NAME = 63  # bytes; the engine keeps 64 with the terminator


def _clean_name(hint):
    name = re.sub(r"\s+", "_", hint.strip().lstrip("/"))
    while len(name.encode("utf-8")) > MAX_NAME - 4:  # room for a "_NNN" suffix
        name = name[1:]  # keep the end: exporters put the distinctive part there
    return name


class Builder:
    """The tinycnn layers made so far, and how many ONNX uses each layer's output still has.

    A layer may be changed after it was made (a bias folded in, an activation fused) only while
    exactly one ONNX use reads its output: the node doing the change.
    """

    def __init__(self):
        self.layers = []   # dicts in JSON field order; weights as numpy arrays
        self.by_name = {}
        self.refs = {}     # layer name -> ONNX uses of its output

    def _unique(self, hint):
        base = _clean_name(hint) or "layer"
        if base == "input":
            base = "input_layer"
        name, k = base, 2
        while name in self.by_name:
            name = "%s_%d" % (base, k)
            k += 1
        return name

    def add(self, type_, hint, inputs, fields, shape, uses, nonneg=False):
        """Appends a layer reading the Tensors `inputs`; returns its output Tensor."""
        name = self._unique(hint)
        layer = {"name": name, "type": type_, "inputs": [t.layer for t in inputs]}
        layer.update(fields)
        self.layers.append(layer)
        self.by_name[name] = layer
        self.refs[name] = uses
        return Tensor(name, shape, nonneg)

    def layer(self, t):
        """The layer dict producing Tensor t (None for the model input)."""
        return self.by_name.get(t.layer)

    def sole_use(self, t):
        """The layer producing t if the current node is the only reader of its output."""
        return self.by_name.get(t.layer) if self.refs.get(t.layer) == 1 else None

    def rebind(self, t, uses, shape=None, nonneg=None):
        """t, as the output of the current node (which read it once and may have changed it);
        with `shape`, a view of it."""
        if t.layer in self.refs:
            self.refs[t.layer] += uses - 1
        return Tensor(t.layer, t.shape if shape is None else shape,
                      t.nonneg if nonneg is None else nonneg, real=t.real)
