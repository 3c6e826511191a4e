"""ops_elem.py - converters for element-wise ops, softmax and the ops that only move data:
activations, Clip, PRelu, Add/Sub/Mul/Div/Sum, Softmax/LogSoftmax, Flatten/Reshape/Squeeze/
Unsqueeze, Concat, Identity/Dropout, Shape.

Folding, to keep the model small and the arithmetic the same:
  - an activation right after a conv2d/dense (that nothing else reads) becomes its fused
    "activation";
  - adding a per-channel constant to a conv2d/dense/batchnorm output goes into its bias;
  - multiplying one by a per-channel constant goes into a batchnorm's scale and bias;
  - other per-channel (or scalar) affine constants become a batchnorm layer with mean 0, var 1,
    epsilon 1e-30, which computes exactly x * scale + bias.
"""
import numpy as np

from .common import AFFINE_EPSILON, const, int_list, num, optional_input, per_channel, tensor
from .fold import reshape_target
from .values import BATCH, Refuse, Tensor

# Functions whose result is never negative (a zero Pad may then fold into MaxPool).
NONNEG = {"relu", "relu6", "sigmoid", "hard_sigmoid", "softplus"}

# SELU constants: ONNX's defaults and the engine's (PyTorch's) are the same float32 values.
SELU_ALPHA = np.float32(1.6732632423543772848170429916717)
SELU_GAMMA = np.float32(1.0507009873554804934193349852946)


def _param(node, key, default):
    """An activation parameter, or None when it equals the engine's default."""
    value = np.float32(node.attrs.get(key, default))
    return None if value == np.float32(default) else num(value)


def _selu(node):
    if (np.float32(node.attrs.get("alpha", SELU_ALPHA)) != SELU_ALPHA
            or np.float32(node.attrs.get("gamma", SELU_GAMMA)) != SELU_GAMMA):
        raise Refuse("only the default alpha and gamma are supported (the engine's selu is "
                     "PyTorch's)")
    return "selu", {}


def _gelu(node):
    approx = node.attrs.get("approximate", "none")
    if approx not in ("none", "tanh"):
        raise Refuse("approximate \"%s\" is not supported" % approx)
    return "gelu", {"approximate": approx} if approx != "none" else {}


OLD = {"consumed_inputs"}  # opset < 6 memory hint, no effect on the result

# ONNX op -> (function(node) -> (engine function, its non-default parameters), attributes)
ACTIVATIONS = {
    "Relu": (lambda node: ("relu", {}), OLD),
    "LeakyRelu": (lambda node: ("leaky_relu", {"alpha": _param(node, "alpha", 0.01)}),
                  OLD | {"alpha"}),
    "Elu": (lambda node: ("elu", {"alpha": _param(node, "alpha", 1.0)}), OLD | {"alpha"}),
    "Selu": (_selu, OLD | {"alpha", "gamma"}),
    "Sigmoid": (lambda node: ("sigmoid", {}), OLD),
    "HardSigmoid": (lambda node: ("hard_sigmoid", {"alpha": _param(node, "alpha", 0.2),
                                                   "beta": _param(node, "beta", 0.5)}),
                    OLD | {"alpha", "beta"}),
    "HardSwish": (lambda node: ("hard_swish", {}), set()),
    "Tanh": (lambda node: ("tanh", {}), OLD),
    "Softplus": (lambda node: ("softplus", {}), set()),
    "Softsign": (lambda node: ("softsign", {}), set()),
    "Gelu": (_gelu, {"approximate"}),
    "Silu": (lambda node: ("silu", {}), set()),
}


def apply_activation(ctx, x, function, params):
    """x through an activation: fused into the conv2d/dense before it when possible."""
    params = {k: v for k, v in params.items() if v is not None}
    nonneg = function in NONNEG or (function == "clip" and params.get("min", -1) >= 0)
    layer = ctx.builder.sole_use(x)
    if (layer is not None and layer["type"] in ("conv2d", "dense")
            and "activation" not in layer and function != "prelu"):
        layer["activation"] = dict(function=function, **params) if params else function
        return ctx.alias(x, nonneg=nonneg)
    return ctx.emit("activation", [x], dict(function=function, **params), x.shape, nonneg=nonneg)


def activation(ctx, node, ins):
    function, params = ACTIVATIONS[node.op][0](node)
    return apply_activation(ctx, tensor(ins[0]), function, params)


def clip(ctx, node, ins):
    x = tensor(ins[0])
    if ctx.opset >= 11:
        bounds = [optional_input(ins, 1), optional_input(ins, 2)]
        lo, hi = (None if b is None else float(const(b, name).reshape(-1)[0])
                  for b, name in zip(bounds, ("min", "max")))
    else:
        lo, hi = node.attrs.get("min"), node.attrs.get("max")
    # Bounds at or beyond the float range do nothing (opset 6's defaults are +-FLT_MAX).
    flt_max = float(np.finfo(np.float32).max)
    lo = None if lo is None or lo <= -flt_max else num(lo)
    hi = None if hi is None or hi >= flt_max else num(hi)
    if lo is not None and hi is not None and lo > hi:
        raise Refuse("min %g is above max %g" % (lo, hi))
    if lo is None and hi is None:
        return ctx.alias(x)
    if lo == 0 and hi is None:
        return apply_activation(ctx, x, "relu", {})
    if lo == 0 and hi == 6:
        return apply_activation(ctx, x, "relu6", {})
    return apply_activation(ctx, x, "clip", {"min": lo, "max": hi})


def prelu(ctx, node, ins):
    x = tensor(ins[0])
    slope = const(ins[1], "slope")
    if ctx.opset < 7 and slope.ndim == 1 and slope.size == x.shape[0]:
        # Before opset 7 (no broadcasting rules yet) a 1-D slope is one value per channel.
        slope = slope.reshape((-1,) + (1,) * (len(x.shape) - 1))
    slopes = per_channel(slope, x, "slope")
    value = num(slopes[0]) if slope.size == 1 else slopes
    return apply_activation(ctx, x, "prelu", {"slope": value})


def affine(ctx, x, scale, shift, suffix="", uses=None):
    """y = x * scale + shift with one value per channel (None: 1 and 0). suffix and uses are
    for a helper value inside the node (see Context.emit)."""
    layer = ctx.builder.sole_use(x)
    mutable = layer is not None and "activation" not in layer
    if mutable and scale is None and layer["type"] in ("conv2d", "dense", "batchnorm"):
        bias = layer.get("bias", np.zeros(x.shape[0], np.float32))
        layer["bias"] = (bias + shift).astype(np.float32)
        return ctx.alias(x, nonneg=False, uses=uses)
    if mutable and layer["type"] == "batchnorm":
        layer["scale"] = (layer["scale"] * scale).astype(np.float32)
        layer["bias"] = (layer["bias"] * scale + (0 if shift is None else shift)) \
            .astype(np.float32)
        return ctx.alias(x, nonneg=False, uses=uses)
    c = x.shape[0]
    fields = {"scale": np.ones(c, np.float32) if scale is None else scale,
              "bias": np.zeros(c, np.float32) if shift is None else shift,
              "mean": np.zeros(c, np.float32), "var": np.ones(c, np.float32),
              "epsilon": AFFINE_EPSILON}
    return ctx.emit("batchnorm", [x], fields, x.shape, suffix=suffix, uses=uses)


def _legacy_broadcast(ctx, node, a, b):
    """Opset < 7 Add/Mul/...: with broadcast=1, B's dims line up with A's from `axis` on."""
    if ctx.opset >= 7 or not node.attrs.get("broadcast", 0) or not isinstance(b, np.ndarray):
        return b
    rank = len(a.shape) + 1 if isinstance(a, Tensor) else np.ndim(a)
    axis = node.attrs.get("axis", rank - b.ndim) % rank
    return b.reshape(b.shape + (1,) * (rank - axis - b.ndim))


def _add_tensors(ctx, tensors):
    shapes = {t.shape for t in tensors}
    if len(shapes) != 1:
        raise Refuse("adds tensors of shapes %s; broadcasting between run-time tensors is not "
                     "supported" % " and ".join(str(list(s)) for s in shapes))
    return ctx.emit("add", tensors, {}, tensors[0].shape,
                    nonneg=all(t.nonneg for t in tensors))


def arithmetic(ctx, node, ins):
    """Add/Sub/Mul/Div of a tensor and a broadcast constant, or Add/Sub of two tensors."""
    a, b = ins[0], _legacy_broadcast(ctx, node, ins[0], ins[1])
    op = node.op
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        raise Refuse("internal: constant inputs should have been folded")
    if not isinstance(a, np.ndarray) and not isinstance(b, np.ndarray):
        x, y = tensor(a, "the first input"), tensor(b, "the second input")
        if op == "Add":
            return _add_tensors(ctx, [x, y])
        if op == "Sub":  # x + (-1) * y: both steps are exact
            neg = affine(ctx, y, np.full(y.shape[0], -1, np.float32), None, "_neg", uses=1)
            return _add_tensors(ctx, [x, neg])
        raise Refuse("%s of two run-time tensors: the engine has no element-wise multiply or "
                     "divide layer" % op)
    const_first = isinstance(a, np.ndarray)
    x = tensor(b if const_first else a)
    vec = per_channel(a if const_first else b, x)
    if op == "Add":
        return affine(ctx, x, None, vec)
    if op == "Sub":
        return affine(ctx, x, np.full_like(vec, -1), vec) if const_first else \
            affine(ctx, x, None, -vec)
    if op == "Mul":
        return affine(ctx, x, vec, None)
    if const_first:
        raise Refuse("divides a constant by a run-time tensor (a reciprocal)")
    return affine(ctx, x, (np.float32(1) / vec).astype(np.float32), None)


def sum_(ctx, node, ins):
    tensors = [tensor(v, "input %d" % i) for i, v in enumerate(ins)]
    return ctx.alias(tensors[0]) if len(tensors) == 1 else _add_tensors(ctx, tensors)


def _axis(ctx, node, t, default):
    """The node's axis attribute on [N, *t.shape] as a per-sample axis (refusing the batch)."""
    rank = len(t.shape) + 1
    axis = int(node.attrs.get("axis", default))
    if not -rank <= axis < rank:
        raise Refuse("axis %d is out of range for rank %d" % (axis, rank))
    axis %= rank
    if axis == 0:
        raise Refuse("axis 0 is the batch axis; tinycnn layers work on each sample alone")
    return axis - 1


def softmax(ctx, node, ins):
    """Opset >= 13: along one axis. Before: over all dims from `axis` on (the input viewed as
    2-D), which is one engine axis only when all but one of those dims are 1."""
    x = tensor(ins[0])
    axis = _axis(ctx, node, x, -1 if ctx.opset >= 13 else 1)
    if ctx.opset < 13:
        tail = x.shape[axis:]
        wide = [i for i, d in enumerate(tail) if d != 1]
        if len(wide) > 1:
            raise Refuse("opset %d softmax over dims %s together (from axis %d) would need a "
                         "reshape; only a single non-unit dim is supported"
                         % (ctx.opset, list(tail), axis + 1))
        axis += wide[0] if wide else 0
    kind = "softmax" if node.op == "Softmax" else "log_softmax"
    fields = {"axis": axis} if axis else {}
    return ctx.emit(kind, [x], fields, x.shape, nonneg=kind == "softmax")


def reshape_to(ctx, x, shape):
    """x seen with the per-sample shape `shape` (same values in the same order): a view, made
    real only when another op reads it (see Context.materialize)."""
    shape = [int(d) for d in shape]
    if int(np.prod(shape)) != x.numel():
        raise Refuse("reshapes %s (%d values) to %s" % (list(x.shape), x.numel(), shape))
    return ctx.alias(x, shape=shape)


def flatten(ctx, node, ins):
    x = tensor(ins[0])
    rank = len(x.shape) + 1
    axis = int(node.attrs.get("axis", 1))
    axis = axis + rank if axis < 0 else axis
    if axis == 0 or int(np.prod(x.shape[:axis - 1])) != 1:
        raise Refuse("Flatten with axis %d on [N, %s] merges the batch axis with others"
                     % (node.attrs.get("axis", 1), ", ".join(map(str, x.shape))))
    return reshape_to(ctx, x, [x.numel()])


def reshape(ctx, node, ins):
    x = tensor(ins[0])
    shape = ins[1] if ctx.opset >= 5 else np.asarray(node.attrs.get("shape", []), np.int64)
    if not isinstance(shape, np.ndarray):
        raise Refuse("the target shape is computed at run time")
    target = reshape_target([BATCH] + list(x.shape), shape, node.attrs.get("allowzero", 0))
    first, rest = target[0], target[1:]
    if BATCH in rest or any(d < -1 for d in rest):
        raise Refuse("target shape %s moves the batch size" % target)
    if first == -1 and -1 not in rest and int(np.prod(rest)) == x.numel():
        first = BATCH  # [-1, per-sample dims]: the -1 is the batch
    if first != BATCH and first != ctx.static_batch:
        raise Refuse("target shape %s changes the batch dimension" % target)
    if -1 in rest:
        known = int(np.prod([d for d in rest if d != -1]))
        if known == 0 or x.numel() % known:
            raise Refuse("target shape %s does not fit %d values per sample" % (target, x.numel()))
        rest = [x.numel() // known if d == -1 else d for d in rest]
    if int(np.prod(rest)) != x.numel():
        raise Refuse("target shape %s does not fit %d values per sample" % (target, x.numel()))
    return reshape_to(ctx, x, rest)


def _axes(ctx, node, ins):
    if ctx.opset >= 13:
        v = optional_input(ins, 1)
        return None if v is None else int_list(v, "axes")
    return node.attrs.get("axes")


def squeeze(ctx, node, ins):
    x = tensor(ins[0])
    rank = len(x.shape) + 1
    axes = _axes(ctx, node, ins)
    full = [BATCH] + list(x.shape)
    axes = [i for i in range(1, rank) if full[i] == 1] if axes is None else \
        sorted(a % rank for a in axes)
    if 0 in axes:
        raise Refuse("squeezes the batch axis")
    if any(full[a] != 1 for a in axes):
        raise Refuse("squeezes axes %s of [N, %s], which are not all 1"
                     % (axes, ", ".join(map(str, x.shape))))
    shape = [d for i, d in enumerate(full) if i not in axes][1:]
    if not shape:
        raise Refuse("squeezes every per-sample dim (a scalar per sample)")
    return reshape_to(ctx, x, shape)


def unsqueeze(ctx, node, ins):
    x = tensor(ins[0])
    axes = _axes(ctx, node, ins) or []
    rank = len(x.shape) + 1 + len(axes)
    shape = [BATCH] + list(x.shape)
    for axis in sorted(a % rank for a in axes):
        shape.insert(axis, 1)
    if shape[0] != BATCH:
        raise Refuse("inserts an axis before the batch axis")
    return reshape_to(ctx, x, shape[1:])


def concat(ctx, node, ins):
    tensors = [tensor(v, "input %d" % i) for i, v in enumerate(ins)]
    axis = _axis(ctx, node, tensors[0], node.attrs.get("axis", 1))
    first = tensors[0].shape
    for t in tensors[1:]:
        if len(t.shape) != len(first) or any(d != e for i, (d, e) in
                                             enumerate(zip(t.shape, first)) if i != axis):
            raise Refuse("inputs of shapes %s and %s differ outside axis %d"
                         % (list(first), list(t.shape), axis + 1))
    if len(tensors) == 1:
        return ctx.alias(tensors[0])
    shape = list(first)
    shape[axis] = sum(t.shape[axis] for t in tensors)
    return ctx.emit("concat", tensors, {"axis": axis} if axis else {}, shape,
                    nonneg=all(t.nonneg for t in tensors))


def identity(ctx, node, ins):
    """Identity and Dropout (inference: the identity)."""
    if node.op == "Dropout":
        if ctx.opset < 7 and not node.attrs.get("is_test", 0):
            raise Refuse("is_test=0 means training mode at opset %d" % ctx.opset)
        mode = optional_input(ins, 2)
        if mode is not None and (not isinstance(mode, np.ndarray) or bool(mode.reshape(-1)[0])):
            raise Refuse("training_mode is true or computed at run time")
    return ctx.alias(tensor(ins[0]))


def shape(ctx, node, ins):
    """Shape of a run-time tensor: [batch, *per-sample dims], the batch as a placeholder."""
    x = tensor(ins[0])
    full = np.array([BATCH] + list(x.shape), dtype=np.int64)
    return full[node.attrs.get("start", 0):node.attrs.get("end", None)]


HANDLERS = dict(
    {op: (activation, attrs) for op, (_, attrs) in ACTIVATIONS.items()},
    Clip=(clip, OLD | {"min", "max"}),
    PRelu=(prelu, OLD),
    Add=(arithmetic, OLD | {"broadcast", "axis"}),
    Sub=(arithmetic, OLD | {"broadcast", "axis"}),
    Mul=(arithmetic, OLD | {"broadcast", "axis"}),
    Div=(arithmetic, OLD | {"broadcast", "axis"}),
    Sum=(sum_, OLD),
    Softmax=(softmax, {"axis"}),
    LogSoftmax=(softmax, {"axis"}),
    Flatten=(flatten, {"axis"}),
    Reshape=(reshape, {"shape", "allowzero"}),
    Squeeze=(squeeze, {"axes"}),
    Unsqueeze=(unsqueeze, {"axes"}),
    Concat=(concat, {"axis"}),
    Identity=(identity, set()),
    Dropout=(identity, OLD | {"ratio", "is_test", "seed"}),
    Shape=(shape, {"start", "end"}),
)
