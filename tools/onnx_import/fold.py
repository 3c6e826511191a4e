"""fold.py - evaluates nodes whose inputs are all constants, with numpy.

Exporters compute weight layouts and shape vectors inside the graph (Transpose of a weight,
Reshape of an initializer, Shape -> Gather -> Concat -> Reshape for `x.view(x.size(0), -1)`,
Pad amounts built from ConstantOfShape/Slice/Transpose). Those parts become constants here.

Shape vectors may contain the batch size, which is symbolic: Shape of a run-time tensor puts
BATCH in its place (see values.py). BATCH may move through the ops that only rearrange values
(Gather, Concat, Unsqueeze, ...); arithmetic on it is refused.
"""
import numpy as np
from onnx import mapping

from .values import BATCH, Refuse


def _attr_or_input(node, ins, attr, index, opset, since):
    """A value that moved from an attribute to input `index` at opset `since`."""
    if opset >= since:
        return None if len(ins) <= index or ins[index] is None else ins[index]
    return node.attrs.get(attr)


def _ints(a):
    return [int(v) for v in np.asarray(a).reshape(-1)]


def _no_batch(*arrays):
    for a in arrays:
        if a is not None and np.asarray(a).dtype == np.int64 and np.any(np.asarray(a) == BATCH):
            raise Refuse("computes with the batch size, which is not fixed in a tinycnn model")


def reshape_target(in_shape, target, allowzero):
    """ONNX Reshape's output shape: 0 copies the input dim (unless allowzero), -1 is inferred."""
    out = []
    for i, v in enumerate(_ints(target)):
        if v == 0 and not allowzero:
            if i >= len(in_shape):
                raise Refuse("shape entry %d is 0 (copy) but the input has only %d dims"
                             % (i, len(in_shape)))
            v = in_shape[i]
        out.append(v)
    if out.count(-1) > 1:
        raise Refuse("shape %s has more than one -1" % out)
    return out


def _reshape(node, ins, opset):
    shape = _attr_or_input(node, ins, "shape", 1, opset, 5)
    data = np.asarray(ins[0])
    target = reshape_target(list(data.shape), shape, node.attrs.get("allowzero", 0))
    return data.reshape(target)


def _axes(node, ins, opset, since=13):
    axes = _attr_or_input(node, ins, "axes", 1, opset, since)
    return None if axes is None else _ints(axes)


def _unsqueeze(node, ins, opset):
    data = np.asarray(ins[0])
    rank = data.ndim + len(_axes(node, ins, opset))
    for axis in sorted(a % rank for a in _axes(node, ins, opset)):
        data = np.expand_dims(data, axis)
    return data


def _squeeze(node, ins, opset):
    data = np.asarray(ins[0])
    axes = _axes(node, ins, opset)
    return np.squeeze(data, axis=None if axes is None else tuple(a % data.ndim for a in axes))


def _slice(node, ins, opset):
    data = np.asarray(ins[0])
    if opset >= 10:
        starts, ends = _ints(ins[1]), _ints(ins[2])
        axes = _ints(ins[3]) if len(ins) > 3 and ins[3] is not None else range(len(starts))
        steps = _ints(ins[4]) if len(ins) > 4 and ins[4] is not None else [1] * len(starts)
    else:
        starts, ends = node.attrs["starts"], node.attrs["ends"]
        axes = node.attrs.get("axes", range(len(starts)))
        steps = [1] * len(starts)
    index = [slice(None)] * data.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps):
        if step == 0:
            raise Refuse("Slice step 0")
        index[axis % data.ndim] = slice(start, end, step)  # numpy clamps as ONNX does
    return data[tuple(index)]


def _cast(node, ins, opset):
    dtype = np.dtype(mapping.TENSOR_TYPE_TO_NP_TYPE[node.attrs["to"]])
    if dtype != np.int64:
        _no_batch(ins[0])  # only int64 can hold the BATCH placeholder
    return np.asarray(ins[0]).astype(dtype)


def _shape(node, ins, opset):
    shape = np.array(np.asarray(ins[0]).shape, dtype=np.int64)
    return shape[node.attrs.get("start", 0):node.attrs.get("end", None)]


def _constant_of_shape(node, ins, opset):
    _no_batch(ins[0])
    value = node.attrs.get("value", np.zeros(1, np.float32))
    return np.full(_ints(ins[0]), np.asarray(value).reshape(-1)[0], dtype=np.asarray(value).dtype)


def _arith(fn):
    def run(node, ins, opset):
        _no_batch(*ins)
        a, b = np.asarray(ins[0]), np.asarray(ins[1])
        if opset < 7 and node.attrs.get("broadcast", 0):
            axis = node.attrs.get("axis", a.ndim - b.ndim)
            b = b.reshape(b.shape + (1,) * (a.ndim - axis - b.ndim))
        return fn(a, b).astype(np.result_type(a, b))
    return run


def _int_div(a, b):
    if np.issubdtype(a.dtype, np.integer):
        return np.trunc(a / b)  # ONNX integer Div truncates toward zero, as C does
    return a / b


def _unary(fn):
    def run(node, ins, opset):
        _no_batch(ins[0])
        a = np.asarray(ins[0])
        return fn(a).astype(a.dtype)
    return run


def _flatten(node, ins, opset):
    data = np.asarray(ins[0])
    axis = node.attrs.get("axis", 1) % (data.ndim + 1)
    return data.reshape(int(np.prod(data.shape[:axis])), -1)


FOLDERS = {
    "Identity": lambda node, ins, opset: np.asarray(ins[0]),
    "Reshape": _reshape,
    "Flatten": _flatten,
    "Transpose": lambda node, ins, opset: np.transpose(np.asarray(ins[0]),
                                                       node.attrs.get("perm")),
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Concat": lambda node, ins, opset: np.concatenate([np.asarray(a).reshape(np.shape(a))
                                                       for a in ins], axis=node.attrs["axis"]),
    "Gather": lambda node, ins, opset: np.take(np.asarray(ins[0]), np.asarray(ins[1]),
                                               axis=node.attrs.get("axis", 0)),
    "Slice": _slice,
    "Cast": _cast,
    "Shape": _shape,
    "ConstantOfShape": _constant_of_shape,
    "Add": _arith(np.add),
    "Sub": _arith(np.subtract),
    "Mul": _arith(np.multiply),
    "Div": _arith(_int_div),
    "Neg": _unary(np.negative),
    "Sqrt": _unary(np.sqrt),
    "Reciprocal": _unary(np.reciprocal),
}


def fold(node, ins, opset):
    """The outputs of `node` given constant inputs (None for absent optional inputs)."""
    if node.op != "Concat":
        # Shapes, indices, axes and pads must be real numbers: numpy would read BATCH (< 0)
        # as "infer this dim" or as an index from the end, silently.
        _no_batch(*ins[1:])
    if node.op == "Dropout":
        return [np.asarray(ins[0])]
    return [np.asarray(FOLDERS[node.op](node, ins, opset))]  # numpy scalars become arrays


def constant_node(node):
    """The value of a Constant node."""
    attrs = node.attrs
    if "value" in attrs:
        return np.asarray(attrs["value"])
    for key, dtype in (("value_float", np.float32), ("value_floats", np.float32),
                       ("value_int", np.int64), ("value_ints", np.int64)):
        if key in attrs:
            return np.asarray(attrs[key], dtype=dtype)
    raise Refuse("Constant with %s is not supported" % ", ".join(sorted(attrs)) or "no value")
