#!/usr/bin/python3
"""gen_torch_cases.py - writes the PyTorch cross-check cases under tests/torch_cases/.

Run with Debian's interpreter (python3-torch, python3-numpy):
    /usr/bin/python3 tools/gen_torch_cases.py
The tests do not need torch; they read what this script wrote. Everything is seeded, so running it
again gives the same files (for the same torch build).

For each case NAME it writes
  NAME.json     a tinycnn model, format version 1 (weights inline, or in NAME.bin for a few cases)
  NAME.in.npy   float32 input [N, *input_shape], N = 1 or 3
  NAME.out.npy  float32 output computed by PyTorch in float32, [N, *output_shape]
and index.txt, one "NAME KIND" line per case.

Weights are float32 values written with '%.9g', which reads back as exactly the same float32, so
the engine multiplies the very numbers torch used. Padding the engine does itself ("same",
"same_lower", asymmetric explicit pads) is done here with F.pad before an unpadded torch call,
so the reference does not depend on how the engine implements it.
"""
import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

SEED = 20240611
OUT_DIR = Path(__file__).resolve().parent.parent / "tests" / "torch_cases"

# Values the "extreme" activation cases always contain, besides random ones in [-90, 90].
EXTREMES = [-90.0, -50.0, -20.5, -10.0, -3.0, -1.0, -0.5, -1e-3, 0.0, 1e-3, 0.5, 1.0, 3.0,
            10.0, 20.5, 50.0, 90.0]


# ---- JSON writing: weights as '%.9g' float32, one layer per line ----

class Inline:
    """A weight written into the JSON: nested (shape from the nesting) or flat."""
    def __init__(self, array, nested=True):
        self.array = np.asarray(array, dtype=np.float32)
        self.nested = nested


class Blob:
    """A weight stored in the case's weights file as {"offset", "shape"}."""
    def __init__(self, array):
        self.array = np.ascontiguousarray(array, dtype=np.float32)


def f32_text(v):
    """Shortest-enough decimal for a float32: 9 significant digits always read back exactly."""
    v = np.float32(v)
    if not np.isfinite(v):
        raise ValueError("weights must be finite")
    text = "%.9g" % float(v)
    assert np.float32(float(text)) == v
    return text


def array_text(a, nested):
    if not nested or a.ndim <= 1:
        return "[" + ", ".join(f32_text(v) for v in a.reshape(-1)) + "]"
    return "[" + ", ".join(array_text(sub, True) for sub in a) + "]"


def to_json(value, blobs):
    """JSON text of value; Blob arrays are appended to blobs (a bytearray)."""
    if isinstance(value, Inline):
        return array_text(value.array, value.nested)
    if isinstance(value, Blob):
        offset = len(blobs)
        blobs.extend(value.array.astype("<f4").tobytes())
        return to_json({"offset": offset, "shape": list(value.array.shape)}, blobs)
    if isinstance(value, dict):
        return "{" + ", ".join('"%s": %s' % (k, to_json(v, blobs)) for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(to_json(v, blobs) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, float):
        assert math.isfinite(value)
        return repr(value)
    if isinstance(value, str):
        return '"%s"' % value
    raise TypeError(type(value))


# ---- references for the padding and activation semantics of the model format ----

def pads_for(padding, in_hw, kernel, stride, dilation):
    """(top, left, bottom, right) for a JSON padding value, ONNX rules for "same"."""
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding in ("same", "same_lower"):
        begin, end = [], []
        for size, k, s, d in zip(in_hw, kernel, stride, dilation):
            out = -(-size // s)
            total = max(0, (out - 1) * s + (k - 1) * d + 1 - size)
            small, large = total // 2, total - total // 2
            begin.append(small if padding == "same" else large)
            end.append(large if padding == "same" else small)
        return (begin[0], begin[1], end[0], end[1])
    if isinstance(padding, int):
        return (padding,) * 4
    if len(padding) == 2:
        return (padding[0], padding[1], padding[0], padding[1])
    return tuple(padding)


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def apply_act(spec, x, slope=None):
    """PyTorch for an activation spec: a name or {"function": name, params}."""
    if spec is None:
        return x
    p = {"function": spec} if isinstance(spec, str) else spec
    f = p["function"]
    if f == "identity":
        return x
    if f == "relu":
        return F.relu(x)
    if f == "relu6":
        return F.relu6(x)
    if f == "leaky_relu":
        return F.leaky_relu(x, p.get("alpha", 0.01))
    if f == "elu":
        return F.elu(x, p.get("alpha", 1.0))
    if f == "selu":
        return F.selu(x)
    if f == "prelu":
        return F.prelu(x, slope)
    if f == "sigmoid":
        return torch.sigmoid(x)
    if f == "hard_sigmoid":  # ONNX HardSigmoid, not torch's relu6(x+3)/6
        return torch.clamp(x * p.get("alpha", 0.2) + p.get("beta", 0.5), 0.0, 1.0)
    if f == "tanh":
        return torch.tanh(x)
    if f == "softplus":
        return F.softplus(x)
    if f == "softsign":
        return F.softsign(x)
    if f == "gelu":
        return F.gelu(x, approximate=p.get("approximate", "none"))
    if f == "silu":
        return F.silu(x)
    if f == "hard_swish":
        return F.hardswish(x)
    if f == "clip":
        return torch.clamp(x, p.get("min"), p.get("max"))
    raise ValueError(f)


# ---- building a model and its reference output together ----

class Net:
    """Layers of one model, run through torch as they are added (so shapes are always known)."""

    def __init__(self, x):
        self.values = {"input": torch.from_numpy(x)}
        self.layers = []
        self.last = "input"

    def shape(self, name=None):
        """Per-sample shape of a value (default: the last layer's output)."""
        return tuple(self.values[name or self.last].shape[1:])

    def add(self, type_, fields, fn, inputs=None, name=None):
        name = name or "l%d" % len(self.layers)
        layer = {"name": name, "type": type_}
        if inputs is not None:
            layer["inputs"] = inputs
        layer.update(fields)
        args = [self.values[i] for i in (inputs or [self.last])]
        with torch.no_grad():
            self.values[name] = fn(*args)
        self.layers.append(layer)
        self.last = name
        return name

    def output(self):
        return self.values[self.last].numpy()


class Cases:
    """Seeded randomness, case numbering and writing."""

    def __init__(self, out_dir):
        self.rng = np.random.RandomState(SEED)
        self.out_dir = out_dir
        self.index = []
        self.n_batch = 0

    def batch(self):
        """Alternates 1 and 3 so that every kind gets both."""
        self.n_batch += 1
        return 1 if self.n_batch % 2 else 3

    def randn(self, *shape, scale=1.0):
        return (self.rng.standard_normal(shape) * scale).astype(np.float32)

    def uniform(self, lo, hi, *shape):
        return self.rng.uniform(lo, hi, shape).astype(np.float32)

    def weight(self, *shape, fan_in):
        """torch's default init range, U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
        bound = 1.0 / math.sqrt(fan_in)
        return self.uniform(-bound, bound, *shape)

    def input(self, shape, batch=None, scale=1.0):
        return self.randn(batch or self.batch(), *shape, scale=scale)

    def write(self, kind, desc, net, x):
        name = "%s_%03d_%s" % (kind, len(self.index), desc)
        y = np.ascontiguousarray(net.output(), dtype=np.float32)
        if not np.all(np.isfinite(y)):
            raise ValueError(name + ": the torch reference is not finite")
        blobs = bytearray()
        head = {"format": "tinycnn", "version": 1, "name": name,
                "input": {"shape": list(x.shape[1:])}}
        layer_lines = [to_json(layer, blobs) for layer in net.layers]
        if blobs:
            head["weights_file"] = name + ".bin"
            with open(self.out_dir / (name + ".bin"), "wb") as f:
                f.write(blobs)
        text = "{\n" + "".join('  "%s": %s,\n' % (k, to_json(v, blobs)) for k, v in head.items())
        text += '  "layers": [\n    ' + ",\n    ".join(layer_lines) + "\n  ]\n}\n"
        (self.out_dir / (name + ".json")).write_text(text)
        np.save(self.out_dir / (name + ".in.npy"), np.ascontiguousarray(x, dtype=np.float32))
        np.save(self.out_dir / (name + ".out.npy"), y)
        self.index.append((name, kind))


# ---- layer builders: JSON fields plus the torch function, given the current input ----

def conv(cs, net, c_out, k, stride=1, padding="valid", dilation=1, groups=1, bias=True,
         act=None, nested=True, blob=False, inputs=None, name=None):
    c_in, h, w = net.shape(inputs[0] if inputs else None)
    kh, kw = pair(k)
    wt = cs.weight(c_out, c_in // groups, kh, kw, fan_in=c_in // groups * kh * kw)
    b = cs.weight(c_out, fan_in=c_in // groups * kh * kw) if bias else None
    t, l, bo, r = pads_for(padding, (h, w), (kh, kw), pair(stride), pair(dilation))
    wrap = Blob if blob else (lambda a: Inline(a, nested))
    fields = {"in_channels": c_in, "out_channels": c_out, "kernel_size": k, "stride": stride,
              "padding": padding, "dilation": dilation, "groups": groups, "weight": wrap(wt)}
    if bias:
        fields["bias"] = wrap(b)
    if act is not None:
        fields["activation"] = act

    def fn(x):
        y = F.conv2d(F.pad(x, (l, r, t, bo)), torch.from_numpy(wt),
                     None if b is None else torch.from_numpy(b), pair(stride), 0,
                     pair(dilation), groups)
        return apply_act(act, y)
    return net.add("conv2d", fields, fn, inputs, name)


def dense(cs, net, n_out, bias=True, act=None, nested=True, blob=False, inputs=None, name=None):
    (n_in,) = net.shape(inputs[0] if inputs else None)
    wt = cs.weight(n_out, n_in, fan_in=n_in)
    b = cs.weight(n_out, fan_in=n_in) if bias else None
    wrap = Blob if blob else (lambda a: Inline(a, nested))
    fields = {"in_features": n_in, "out_features": n_out, "weight": wrap(wt)}
    if bias:
        fields["bias"] = wrap(b)
    if act is not None:
        fields["activation"] = act

    def fn(x):
        return apply_act(act, F.linear(x, torch.from_numpy(wt),
                                       None if b is None else torch.from_numpy(b)))
    return net.add("dense", fields, fn, inputs, name)


def pool(net, type_, k, stride=None, padding=None, dilation=None, ceil_mode=None,
         count_include_pad=None, inputs=None, name=None):
    """max/avg pooling. Symmetric explicit padding goes straight to torch; "same", "same_lower"
    and asymmetric padding are applied with F.pad (-inf for max; for average the divisor counts
    only real values unless count_include_pad)."""
    fields = {"kernel_size": k}
    for key, v in (("stride", stride), ("padding", padding), ("dilation", dilation),
                   ("ceil_mode", ceil_mode), ("count_include_pad", count_include_pad)):
        if v is not None:
            fields[key] = v
    _, h, w = net.shape(inputs[0] if inputs else None)
    ks, st, dl = pair(k), pair(stride if stride is not None else k), pair(dilation or 1)
    t, l, b, r = pads_for(padding if padding is not None else 0, (h, w), ks, st, dl)
    symmetric = t == b and l == r and isinstance(padding, (int, list, type(None)))
    is_max = type_ == "maxpool2d"
    assert symmetric or not ceil_mode, "asymmetric padding with ceil_mode has no torch reference"

    def fn(x):
        if is_max and symmetric:
            return F.max_pool2d(x, ks, st, (t, l), dl, bool(ceil_mode))
        if is_max:
            return F.max_pool2d(F.pad(x, (l, r, t, b), value=-math.inf), ks, st, 0, dl)
        if symmetric:
            return F.avg_pool2d(x, ks, st, (t, l), bool(ceil_mode), bool(count_include_pad))
        xp = F.pad(x, (l, r, t, b))
        if count_include_pad:
            return F.avg_pool2d(xp, ks, st)
        ones = F.pad(torch.ones_like(x), (l, r, t, b))
        return (F.avg_pool2d(xp, ks, st, divisor_override=1)
                / F.avg_pool2d(ones, ks, st, divisor_override=1))
    return net.add(type_, fields, fn, inputs, name)


def activation(net, spec, slope=None, inputs=None, name=None):
    """An activation layer; slope is a number, or an array written as an inline weight."""
    fields = {"function": spec} if isinstance(spec, str) else dict(spec)
    slope_t = None
    if slope is not None:
        fields["slope"] = slope if isinstance(slope, float) else Inline(slope)
        slope_t = torch.tensor(np.atleast_1d(np.float32(slope)))
    return net.add("activation", fields, lambda x: apply_act(fields, x, slope_t), inputs, name)


def batchnorm(cs, net, epsilon=None, small_var=False, inputs=None, name=None):
    c = net.shape(inputs[0] if inputs else None)[0]
    scale, bias = cs.uniform(0.5, 1.5, c), cs.randn(c, scale=0.5)
    mean = cs.randn(c, scale=0.5)
    var = cs.uniform(1e-4, 1e-3, c) if small_var else cs.uniform(0.2, 2.0, c)
    fields = {"scale": Inline(scale), "bias": Inline(bias), "mean": Inline(mean),
              "var": Inline(var)}
    if epsilon is not None:
        fields["epsilon"] = epsilon
    eps = 1e-5 if epsilon is None else epsilon

    def fn(x):
        t = [torch.from_numpy(a) for a in (mean, var, scale, bias)]
        return F.batch_norm(x, t[0], t[1], t[2], t[3], False, 0.0, eps)
    return net.add("batchnorm", fields, fn, inputs, name)


def softmax(net, type_="softmax", axis=None, inputs=None, name=None):
    fields = {} if axis is None else {"axis": axis}
    dim = (axis or 0) + 1 if (axis or 0) >= 0 else axis
    fn = F.softmax if type_ == "softmax" else F.log_softmax
    return net.add(type_, fields, lambda x: fn(x, dim=dim), inputs, name)


def flatten(net, inputs=None, name=None):
    return net.add("flatten", {}, lambda x: x.reshape(x.shape[0], -1), inputs, name)


def global_pool(net, type_, inputs=None, name=None):
    if type_ == "global_maxpool2d":
        return net.add(type_, {}, lambda x: torch.amax(x, (2, 3), keepdim=True), inputs, name)
    return net.add(type_, {}, lambda x: torch.mean(x, (2, 3), keepdim=True), inputs, name)


def add(net, inputs, name=None):
    return net.add("add", {}, lambda *xs: sum(xs[1:], xs[0]), inputs, name)


def concat(net, inputs, axis=None, name=None):
    fields = {} if axis is None else {"axis": axis}
    return net.add("concat", fields, lambda *xs: torch.cat(xs, (axis or 0) + 1), inputs, name)


# ---- the cases, one function per kind ----

FUSED = ["relu", "relu6", {"function": "leaky_relu", "alpha": 0.1}, "elu",
         {"function": "elu", "alpha": 0.7}, "selu", "sigmoid", "hard_sigmoid",
         {"function": "hard_sigmoid", "alpha": 0.25, "beta": 0.4}, "tanh", "softplus",
         "softsign", "gelu", {"function": "gelu", "approximate": "tanh"}, "silu", "hard_swish",
         {"function": "clip", "min": -0.5, "max": 0.5}, "identity"]


def act_desc(spec):
    return spec if isinstance(spec, str) else spec["function"]


def conv_case(cs, desc, in_shape, c_out, k, **kw):
    x = cs.input(in_shape)
    net = Net(x)
    conv(cs, net, c_out, k, **kw)
    cs.write("conv", desc, net, x)


def conv_cases(cs):
    paddings = ["valid", "same", "same_lower", None]  # None: random asymmetric explicit pads
    for k in range(1, 8):
        for pi, padding in enumerate(paddings):
            if padding is None:
                padding = [int(v) for v in cs.rng.randint(0, k + 1, 4)]
            stride = 1 + (k + pi) % 3
            c_in, c_out = 1 + (k + pi) % 3, 2 + pi % 3
            size = 8 + (k + 2 * pi) % 5
            conv_case(cs, "k%d_s%d_%s" % (k, stride, "pad" if pi == 3 else padding),
                      (c_in, size, size + pi % 2), c_out, k, stride=stride, padding=padding,
                      bias=(k + pi) % 4 != 0)
    for stride in (1, 2, 3):
        for dilation in (1, 2, 3):
            for padding in ("valid", "same"):
                conv_case(cs, "s%d_d%d_%s" % (stride, dilation, padding), (2, 11, 10), 3, 3,
                          stride=stride, padding=padding, dilation=dilation)
    rect = [([1, 5], [1, 2], [1, 1], "same"), ([3, 1], [2, 1], [1, 1], "same_lower"),
            ([2, 4], [1, 1], [2, 1], "valid"), ([5, 3], [3, 1], [1, 2], [2, 0, 1, 3]),
            ([4, 2], [2, 3], [1, 1], "same"), ([3, 3], [3, 2], [2, 3], "same_lower"),
            ([1, 1], [2, 3], [1, 1], "valid"), ([6, 5], [1, 2], [1, 1], "same")]
    for i, (k, s, d, p) in enumerate(rect):
        conv_case(cs, "rect%d" % i, (2, 12, 11), 3, k, stride=s, dilation=d, padding=p)
    groups = [(4, 4, 2, 3, 1, "same"), (6, 6, 3, 3, 2, "valid"), (6, 9, 3, 1, 1, "valid"),
              (4, 8, 4, 3, 1, "same"), (3, 3, 3, 3, 1, "same"), (3, 3, 3, 5, 2, "same_lower"),
              (4, 4, 4, 3, 2, [1, 0, 1, 0]), (2, 4, 2, 7, 1, "same"), (5, 5, 5, 1, 1, "valid"),
              (6, 4, 2, 2, 3, "same"), (8, 8, 8, 3, 1, 1), (8, 16, 8, 3, 2, "same"),
              (4, 12, 4, 4, 1, "same_lower"), (6, 12, 6, 3, 3, [2, 1, 0, 2])]
    for c_in, c_out, g, k, s, p in groups:
        kind = "dw" if g == c_in else "g%d" % g
        conv_case(cs, "%s_%dto%d_k%d" % (kind, c_in, c_out, k), (c_in, 9, 10), c_out, k,
                  stride=s, padding=p, groups=g, bias=k != 3)
    for i, act in enumerate(FUSED):
        conv_case(cs, "fused_" + act_desc(act), (2, 8, 8), 3, 3, padding="same", act=act,
                  nested=i % 2 == 0, bias=True)
    for p in (2, [1, 2], [0, 3], [3, 3, 0, 0]):
        conv_case(cs, "padform", (2, 7, 9), 2, 3, padding=p)
    conv_case(cs, "pad_gt_kernel", (1, 5, 5), 2, 2, padding=3)
    conv_case(cs, "pad_gt_kernel_nobias", (2, 4, 6), 2, 1, padding=[4, 2, 1, 3], bias=False)
    conv_case(cs, "one_pixel", (3, 1, 1), 4, 1)
    conv_case(cs, "small_same", (2, 2, 2), 3, 5, padding="same")
    conv_case(cs, "small_same_lower_s3", (2, 2, 3), 3, 4, stride=3, padding="same_lower")
    for c in (8, 12):
        conv_case(cs, "wide%d" % c, (c, 10, 10), c, 3, padding="same", act="relu")
    conv_case(cs, "flat_weights_k5", (3, 12, 12), 4, 5, stride=2, nested=False)
    for blob in range(2):
        conv_case(cs, "weights_file", (3, 9, 9), 4, 3, padding="same", blob=True, bias=blob == 0)


def pool_case(cs, type_, desc, in_shape, k, **kw):
    x = cs.input(in_shape)
    net = Net(x)
    pool(net, type_, k, **kw)
    cs.write("pool", ("max_" if type_ == "maxpool2d" else "avg_") + desc, net, x)


def pool_cases(cs):
    sizes = [(2, 8, 8), (3, 7, 9), (1, 10, 7), (2, 5, 5), (3, 11, 6)]
    # kernel, stride, symmetric padding, dilation, ceil_mode
    maxes = [(2, None, None, None, None), (3, 2, 1, None, None), (3, 2, 1, None, True),
             (2, 2, 1, None, True), (3, 3, 0, None, True), (4, 1, 2, None, False),
             (5, 2, 2, None, None), (1, 2, None, None, None), (3, 1, 1, 2, None),
             (2, 1, 0, 3, None), (3, 2, 1, 2, True), ([2, 3], [1, 2], [1, 1], None, None),
             ([3, 2], [2, 1], [0, 1], [1, 2], True), (2, 3, 1, None, True), (3, 3, 1, None, True),
             ([1, 4], [1, 3], [0, 2], None, True), (4, 4, 2, None, True), (3, 1, 0, 1, False),
             (2, [2, 1], [1, 0], 2, True), (5, 3, 2, 1, True), (2, 2, None, None, False),
             (3, 2, [1, 1, 1, 1], None, False)]
    for i, (k, s, p, d, c) in enumerate(maxes):
        pool_case(cs, "maxpool2d", "%d" % i, sizes[i % 5], k, stride=s, padding=p, dilation=d,
                  ceil_mode=c)
    for i, (k, s, p, c, cip) in enumerate(
            [(2, None, None, None, None), (3, 2, 1, None, None), (3, 2, 1, None, True),
             (3, 2, 1, True, False), (3, 2, 1, True, True), (2, 2, 1, True, True),
             (2, 2, 1, True, False), (4, 3, 2, True, True), (4, 3, 2, True, False),
             (5, 2, 2, False, True), (5, 2, 2, False, False), (3, 3, 1, True, True),
             ([2, 3], [2, 1], [1, 1], True, None), ([3, 5], [1, 2], [1, 2], True, True),
             (1, 1, None, None, None), (2, 3, 1, True, True), (3, 1, 1, None, False),
             (4, 4, 1, True, False), (3, 2, [0, 1], True, True), ([2, 4], 2, [1, 2], False, True),
             (2, 1, 0, True, None), (5, 5, 2, True, True)]):
        pool_case(cs, "avgpool2d", "%d" % i, sizes[(i + 2) % 5], k, stride=s, padding=p,
                  ceil_mode=c, count_include_pad=cip)
    # Padding torch cannot take directly: asymmetric and "same" (no ceil_mode).
    for type_ in ("maxpool2d", "avgpool2d"):
        pool_case(cs, type_, "same_k3s2", (2, 9, 8), 3, stride=2, padding="same")
        pool_case(cs, type_, "same_lower_k2s2", (2, 7, 7), 2, stride=2, padding="same_lower")
        pool_case(cs, type_, "asym", (3, 8, 9), 3, stride=2, padding=[0, 1, 1, 0])
        pool_case(cs, type_, "asym_big", (1, 6, 6), 4, stride=1, padding=[2, 0, 1, 3],
                  count_include_pad=True if type_ == "avgpool2d" else None)
    for type_ in ("global_maxpool2d", "global_avgpool2d"):
        for shape in [(3, 5, 5), (1, 1, 1), (4, 7, 3), (6, 2, 9)]:
            x = cs.input(shape)
            net = Net(x)
            global_pool(net, type_)
            cs.write("pool", "%s_%dx%dx%d" % (type_, *shape), net, x)


def activation_cases(cs):
    specs = ["identity", "relu", "relu6", "leaky_relu", {"function": "leaky_relu", "alpha": 0.2},
             "elu", {"function": "elu", "alpha": 0.3}, "selu", "sigmoid", "hard_sigmoid",
             {"function": "hard_sigmoid", "alpha": 0.16666667, "beta": 0.5}, "tanh", "softplus",
             "softsign", "gelu", {"function": "gelu", "approximate": "none"},
             {"function": "gelu", "approximate": "tanh"}, "silu", "hard_swish",
             {"function": "clip", "min": -1.0, "max": 2.0}, {"function": "clip", "min": 0.25},
             {"function": "clip", "max": -0.5}]
    for spec in specs:
        # Ordinary values, then the extremes (+-90 and friends) in a [1, n] batch of 3.
        x = cs.input((3, 4, 5), scale=3.0)
        net = Net(x)
        activation(net, spec)
        cs.write("activation", act_desc(spec), net, x)
        x = np.stack([np.concatenate([EXTREMES, cs.uniform(-90, 90, 7)]).astype(np.float32)
                      for _ in range(3)])
        net = Net(x)
        activation(net, spec)
        cs.write("activation", act_desc(spec) + "_extreme", net, x)
        x = cs.input((11,), scale=10.0)  # 1-D, wide range
        net = Net(x)
        activation(net, spec)
        cs.write("activation", act_desc(spec) + "_1d", net, x)
    for slope, shape in [(0.25, (3, 4, 4)), (np.array([0.1], np.float32), (2, 3, 3)),
                         (cs.uniform(-0.5, 0.5, 4), (4, 3, 5)), (cs.uniform(0, 1, 5), (5,)),
                         (cs.uniform(0, 1, 3), (3, 6)), (np.float32(-1.5).item(), (24,))]:
        x = cs.input(shape, scale=3.0)
        net = Net(x)
        activation(net, "prelu", slope=slope)
        n = "scalar" if isinstance(slope, float) else "%d" % len(slope)
        cs.write("activation", "prelu_%s_%dd" % (n, len(shape)), net, x)
    x = np.stack([np.array(EXTREMES, np.float32).reshape(1, 17)] * 3) * [[[1]], [[-1]], [[0.5]]]
    x = x.astype(np.float32)
    net = Net(x)
    activation(net, "prelu", slope=np.array([0.3], np.float32))
    cs.write("activation", "prelu_extreme", net, x)


def softmax_cases(cs):
    for type_ in ("softmax", "log_softmax"):
        for shape, axis in [((10,), None), ((5, 7), 0), ((5, 7), 1), ((4, 3, 3), None),
                            ((4, 3, 3), 1), ((4, 3, 3), 2), ((2, 3, 4, 5), 3), ((4, 3, 3), -1),
                            ((1,), None), ((3, 4, 2), -2), ((3, 4, 2), -3)]:
            x = cs.input(shape, scale=2.0)
            net = Net(x)
            softmax(net, type_, axis)
            cs.write("softmax", "%s_%dd_axis%s" % (type_, len(shape), axis), net, x)
        # Large logits: exp() would overflow without subtracting the max.
        big = [(cs.randn(3, 6, scale=300.0) + 1000.0, None),
               (cs.randn(3, 4, 2, 2, scale=500.0), 0),
               (np.array([[1000, -1000, 0, 999.5], [-500, -500, -500, -500],
                          [88.7, 89.0, 89.5, 90.0]], np.float32), None),
               (cs.randn(1, 5, 3, scale=50.0) - 2000.0, 1)]
        for i, (x, axis) in enumerate(big):
            net = Net(x.astype(np.float32))
            softmax(net, type_, axis)
            cs.write("softmax", "%s_large%d" % (type_, i), net, x.astype(np.float32))


def batchnorm_cases(cs):
    for shape, eps, small in [((3, 5, 5), None, False), ((1, 4, 4), None, False),
                              ((6, 3, 2), 1e-3, False), ((4, 4, 4), None, True),
                              ((4, 4, 4), 0.1, True), ((2, 7, 7), 1e-5, False),
                              ((5, 1, 1), None, False), ((8, 3, 3), 0.01, False),
                              ((3, 2, 9), None, True), ((6,), None, False), ((4, 5), 1e-3, False),
                              ((3, 12, 12), None, False)]:
        x = cs.input(shape, scale=2.0)
        net = Net(x)
        batchnorm(cs, net, eps, small)
        cs.write("batchnorm", "%dd_c%d" % (len(shape), shape[0]), net, x)


def dense_cases(cs):
    for i, (n_in, n_out, bias, act) in enumerate(
            [(1, 1, True, None), (3, 1, True, "relu"), (5, 4, False, None), (16, 10, True, None),
             (64, 20, True, "tanh"), (10, 10, False, "sigmoid"), (7, 3, True, "gelu"),
             (12, 5, True, {"function": "leaky_relu", "alpha": 0.05}), (9, 9, True, "selu"),
             (20, 2, True, "softplus"), (6, 8, False, "hard_swish"), (33, 17, True, "silu"),
             (4, 6, True, {"function": "clip", "min": 0.0, "max": 0.3}), (8, 4, True, "relu6"),
             (2, 12, True, {"function": "elu", "alpha": 2.0}), (15, 7, True, "hard_sigmoid"),
             (11, 3, True, "softsign"), (48, 1, True, "identity")]):
        x = cs.input((n_in,), scale=2.0)
        net = Net(x)
        dense(cs, net, n_out, bias=bias, act=act, nested=i % 3 != 1)
        cs.write("dense", "%dto%d" % (n_in, n_out), net, x)
    for _ in range(2):
        x = cs.input((24,))
        net = Net(x)
        dense(cs, net, 6, blob=True, act="relu")
        dense(cs, net, 3, blob=True)
        cs.write("dense", "weights_file", net, x)


def flatten_cases(cs):
    for shape in [(3, 4, 5), (1, 6, 2), (7,), (2, 3)]:
        x = cs.input(shape)
        net = Net(x)
        flatten(net)
        cs.write("flatten", "%dd" % len(shape), net, x)
    x = cs.input((2, 6, 6))
    net = Net(x)
    conv(cs, net, 3, 3, stride=2)
    flatten(net)
    dense(cs, net, 4)
    cs.write("flatten", "conv_dense", net, x)


def graph_cases(cs):
    """Residual add and concat graphs built with "inputs"."""
    for i, c in enumerate((2, 3, 4, 6)):  # resnet basic block
        x = cs.input((c, 8, 8))
        net = Net(x)
        conv(cs, net, c, 3, padding="same", act="relu", name="conv1")
        conv(cs, net, c, 3, padding="same", name="conv2")
        add(net, ["conv2", "input"], name="sum")
        activation(net, "relu")
        cs.write("graph", "residual_c%d" % c, net, x)
    x = cs.input((4, 9, 9))  # downsampling block with a 1x1 projection shortcut
    net = Net(x)
    conv(cs, net, 6, 3, stride=2, padding="same", act="relu", name="a")
    conv(cs, net, 6, 3, padding="same", name="b")
    conv(cs, net, 6, 1, stride=2, inputs=["input"], name="proj")
    add(net, ["b", "proj"])
    cs.write("graph", "residual_projection", net, x)
    for n in (2, 3, 5):  # add of several inputs
        x = cs.input((3, 5, 5))
        net = Net(x)
        names = [conv(cs, net, 3, 3, padding="same", inputs=["input"], name="c%d" % j)
                 for j in range(n - 1)]
        add(net, names + ["input"])
        cs.write("graph", "add%d" % n, net, x)
    x = cs.input((12,))
    net = Net(x)
    dense(cs, net, 8, name="d1")
    dense(cs, net, 8, act="tanh", inputs=["input"], name="d2")
    add(net, ["d1", "d2", "d1"])
    cs.write("graph", "add_dense_repeated_input", net, x)
    x = cs.input((3, 8, 8))  # inception: 1x1, 3x3, 5x5 and pool branches
    net = Net(x)
    conv(cs, net, 2, 1, act="relu", name="b1")
    conv(cs, net, 3, 3, padding="same", act="relu", inputs=["input"], name="b3")
    conv(cs, net, 2, 5, padding="same_lower", inputs=["input"], name="b5")
    pool(net, "maxpool2d", 3, stride=1, padding=1, inputs=["input"], name="bp")
    concat(net, ["b1", "b3", "b5", "bp"])
    conv(cs, net, 4, 1)
    cs.write("graph", "inception", net, x)
    for axis, shapes in [(None, [(2, 4, 5), (3, 4, 5)]), (0, [(1, 3, 3), (4, 3, 3), (2, 3, 3)]),
                         (1, [(2, 3, 5), (2, 1, 5)]), (2, [(2, 4, 2), (2, 4, 3), (2, 4, 1)])]:
        # Branches of different sizes: each a 1x1 conv or a pool cutting the input down.
        c, h, w = (max(s[0] for s in shapes), max(s[1] for s in shapes),
                   max(s[2] for s in shapes))
        x = cs.input((c, h, w))
        net = Net(x)
        names = []
        for j, (sc, sh, sw) in enumerate(shapes):
            conv(cs, net, sc, [h - sh + 1, w - sw + 1], inputs=["input"], name="br%d" % j)
            names.append("br%d" % j)
        concat(net, names, axis)
        cs.write("graph", "concat_axis%s_%d" % (axis, len(shapes)), net, x)
    x = cs.input((6,))
    net = Net(x)
    dense(cs, net, 4, name="d1")
    concat(net, ["d1", "input", "d1"])
    dense(cs, net, 3)
    cs.write("graph", "concat_dense", net, x)
    x = cs.input((2, 6, 6))  # densenet-style: each layer sees all earlier ones
    net = Net(x)
    conv(cs, net, 2, 3, padding="same", act="relu", name="c1")
    concat(net, ["input", "c1"], name="cat1")
    conv(cs, net, 2, 3, padding="same", act="relu", name="c2")
    concat(net, ["cat1", "c2"], name="cat2")
    global_pool(net, "global_avgpool2d")
    flatten(net)
    dense(cs, net, 3)
    softmax(net)
    cs.write("graph", "dense_block", net, x)
    x = cs.input((2, 5, 5))
    net = Net(x)
    concat(net, ["input", "input"], 2)
    activation(net, "tanh")
    cs.write("graph", "concat_input_twice", net, x)
    x = cs.input((3, 8, 6))  # shortcut through average pooling instead of a strided conv
    net = Net(x)
    conv(cs, net, 3, 3, stride=2, padding="same", act="relu", name="c")
    pool(net, "avgpool2d", 2, inputs=["input"], name="p")
    add(net, ["c", "p"])
    cs.write("graph", "residual_avgpool", net, x)
    x = cs.input((2, 4, 4))  # merge after flattening two branches
    net = Net(x)
    conv(cs, net, 2, 3, padding=1, name="c")
    flatten(net, name="f1")
    flatten(net, inputs=["input"], name="f2")
    add(net, ["f1", "f2"])
    dense(cs, net, 5)
    cs.write("graph", "add_flattened", net, x)
    x = cs.input((3, 6, 6))  # a branch that is also reused after the merge
    net = Net(x)
    batchnorm(cs, net, name="bn")
    activation(net, "relu", name="r")
    add(net, ["r", "bn"], name="s")
    concat(net, ["s", "r", "input"])
    cs.write("graph", "reuse", net, x)


def net_cases(cs):
    """Small whole networks mixing every family."""
    for i in range(10):
        x = cs.input((1 + i % 3, 12, 12))
        net = Net(x)
        conv(cs, net, 4, 3, padding="same" if i % 2 else "valid", bias=i % 3 != 0)
        batchnorm(cs, net)
        activation(net, FUSED[i % len(FUSED)])
        if i % 2:
            pool(net, "maxpool2d", 2, ceil_mode=i % 4 == 1)
        else:
            pool(net, "avgpool2d", 3, stride=2, padding=1, count_include_pad=i % 4 == 0)
        conv(cs, net, 6, 3, stride=1 + i % 2, groups=2, act="relu")
        if i % 3 == 0:
            global_pool(net, "global_avgpool2d")
        flatten(net)
        dense(cs, net, 10, act="relu" if i % 2 else None)
        dense(cs, net, 5)
        softmax(net, "log_softmax" if i % 4 == 3 else "softmax")
        cs.write("net", "mix%d" % i, net, x)


def lenet_cases(cs):
    """LeNet-5 on 1x28x28 with every weight in the weights file."""
    for act, pool_type in (("relu", "maxpool2d"), ("tanh", "avgpool2d")):
        x = cs.uniform(0, 1, cs.batch(), 1, 28, 28)
        net = Net(x)
        conv(cs, net, 6, 5, padding=2, blob=True, name="conv1")
        activation(net, act)
        pool(net, pool_type, 2, stride=2)
        conv(cs, net, 16, 5, blob=True, name="conv2")
        activation(net, act)
        pool(net, pool_type, 2, stride=2)
        flatten(net)
        dense(cs, net, 120, act=act, blob=True, name="fc1")
        dense(cs, net, 84, act=act, blob=True, name="fc2")
        dense(cs, net, 10, blob=True, name="fc3")
        softmax(net)
        cs.write("lenet", "%s_%s" % (act, pool_type[:3]), net, x)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder")
    args = parser.parse_args()
    torch.manual_seed(SEED)
    torch.set_default_dtype(torch.float32)
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    for old in args.out.iterdir():
        if old.suffix in (".json", ".npy", ".bin", ".txt"):
            old.unlink()
    cs = Cases(args.out)
    for gen in (conv_cases, pool_cases, activation_cases, softmax_cases, batchnorm_cases,
                dense_cases, flatten_cases, graph_cases, net_cases, lenet_cases):
        gen(cs)
    with open(args.out / "index.txt", "w") as f:
        f.write("# PyTorch cross-check cases: NAME KIND. Written by tools/gen_torch_cases.py\n"
                "# (torch %s, numpy %s, seed %d). Do not edit; rerun the script.\n"
                % (torch.__version__, np.__version__, SEED))
        f.writelines("%s %s\n" % case for case in cs.index)
    kinds = {}
    for _, kind in cs.index:
        kinds[kind] = kinds.get(kind, 0) + 1
    size = sum(p.stat().st_size for p in args.out.iterdir())
    print("%d cases (%s), %.2f MB" % (len(cs.index),
                                      ", ".join("%s %d" % kv for kv in kinds.items()), size / 1e6))


if __name__ == "__main__":
    sys.exit(main())
