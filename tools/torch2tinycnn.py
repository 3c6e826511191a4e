#!/usr/bin/python3
"""torch2tinycnn.py - exports a PyTorch nn.Sequential to a tinycnn model (format version 1).

Run with Debian's interpreter (python3-torch, python3-numpy): /usr/bin/python3.

As a module:
    from torch2tinycnn import export, load_tinycnn_as_torch
    export(model, (1, 28, 28), "model.json", name="my-net", preprocess={...}, labels=[...],
           fold_batchnorm=False)
writes model.json and model.bin (raw little-endian float32; each weight {"offset", "shape"}).
load_tinycnn_as_torch("model.json") rebuilds a torch nn.Sequential from the files alone, so an
export can be checked against the model it came from.

As a command:
    torch2tinycnn.py NET.pt --input-shape 1,28,28 -o model.json [--fold-batchnorm] [--name N]
                     [--labels labels.txt] [--preprocess '{"scale": 0.00392156862745098}']
converts a whole model saved with torch.save(model, "NET.pt"), and
    torch2tinycnn.py --selftest [--tinycnn PATH] [--keep DIR]
exports random networks covering every supported module, reloads each with
load_tinycnn_as_torch, and, when PATH is an executable tinycnn, compares `tinycnn run` with torch
(atol 1e-5 + rtol 1e-4). Exit status 0 when every check passes.

Supported modules (nested nn.Sequential is flattened): Conv2d (zeros padding, any stride,
padding incl. 'same'/'valid', dilation, groups, bias or not), BatchNorm2d (running statistics;
kept as a `batchnorm` layer or folded into the conv before it), ReLU, ReLU6, LeakyReLU, ELU,
SELU, PReLU, Sigmoid, Hardsigmoid, Tanh, Softplus (beta 1, threshold 20), Softsign, GELU, SiLU,
Hardswish, Hardtanh, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d/AdaptiveMaxPool2d (to 1, or to a
size that divides the input), Flatten (start_dim 1, end_dim -1), Linear, Softmax, LogSoftmax.
Identity and Dropout (all kinds; identity in eval mode) are skipped. An activation right after
Conv2d or Linear becomes that layer's fused "activation" (not PReLU). Anything else raises
UnsupportedModelError naming every offending module; nothing is written then.
"""
import argparse
import warnings
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

FORMAT_VERSION = 1
PREPROCESS_KEYS = ("scale", "mean", "std", "invert", "background", "resize")
_DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
             nn.FeatureAlphaDropout)


class UnsupportedModelError(ValueError):
    """The model has modules tinycnn cannot represent; .problems lists (name, type, reason)."""

    def __init__(self, problems):
        self.problems = problems
        lines = ["%s (%s): %s" % p for p in problems]
        super().__init__("cannot export %d module(s):\n  %s" % (len(problems), "\n  ".join(lines)))


# ---- activations: torch module -> tinycnn {"function": ..., params} ----

def _activation_spec(m):
    """The tinycnn activation for module m as (spec dict, reason); spec None if unsupported."""
    t = type(m)  # exact types: ReLU6 is a subclass of Hardtanh in torch
    simple = {nn.ReLU: "relu", nn.ReLU6: "relu6", nn.SELU: "selu", nn.Sigmoid: "sigmoid",
              nn.Tanh: "tanh", nn.Softsign: "softsign", nn.SiLU: "silu",
              nn.Hardswish: "hard_swish"}
    if t in simple:
        return {"function": simple[t]}, None
    if t is nn.LeakyReLU:
        return {"function": "leaky_relu", "alpha": float(m.negative_slope)}, None
    if t is nn.ELU:
        return {"function": "elu", "alpha": float(m.alpha)}, None
    if t is nn.Hardsigmoid:
        return {"function": "hard_sigmoid", "alpha": 1.0 / 6.0, "beta": 0.5}, None
    if t is nn.Hardtanh:
        return {"function": "clip", "min": float(m.min_val), "max": float(m.max_val)}, None
    if t is nn.GELU:
        return {"function": "gelu", "approximate": m.approximate}, None
    if t is nn.Softplus:
        if m.beta != 1 or m.threshold != 20:
            return None, "only beta=1, threshold=20 (got beta=%g, threshold=%g)" % (
                m.beta, m.threshold)
        return {"function": "softplus"}, None
    if t is nn.PReLU:
        return {"function": "prelu"}, None  # slopes are added by the caller
    return None, None


def _fusable(spec):
    return spec is not None and spec["function"] != "prelu"


def _fused_field(spec):
    return spec["function"] if len(spec) == 1 else dict(spec)


# ---- walking the model ----

def _flatten_modules(model, prefix=""):
    """(dotted name, module) for every leaf of model, nested nn.Sequential flattened."""
    if type(model) is nn.Sequential:  # a subclass may have its own forward()
        out = []
        for child_name, child in model.named_children():
            out += _flatten_modules(child, prefix + child_name + ".")
        return out
    return [(prefix[:-1] if prefix else type(model).__name__, model)]


def _pair(v):
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) else (int(v), int(v))


def _short(v):
    """[a, a] -> a for readability; the format takes both."""
    return v[0] if len(v) == 2 and v[0] == v[1] else list(v)


def _conv_padding(m):
    """Explicit [top, left, bottom, right] padding of a Conv2d (torch 'same' pads the odd
    pixel at the end, which explicit padding states exactly)."""
    if isinstance(m.padding, str):
        if m.padding == "valid":
            return [0, 0, 0, 0]
        pads = []
        for k, d in zip(m.kernel_size, m.dilation):
            total = d * (k - 1)
            pads.append((total // 2, total - total // 2))
        return [pads[0][0], pads[1][0], pads[0][1], pads[1][1]]
    ph, pw = _pair(m.padding)
    return [ph, pw, ph, pw]


def _padding_field(pad):
    t, left, b, r = pad
    if t == b and left == r:
        return _short([t, left])
    return list(pad)


def _check_module(m, in_shape):
    """Why tinycnn cannot run module m on per-sample input in_shape, or None if it can."""
    nd = len(in_shape)
    if type(m) is nn.Conv2d:
        if m.padding_mode != "zeros":
            return "padding_mode %r (only 'zeros')" % m.padding_mode
        if nd != 3:
            return "needs a [C, H, W] input, got %s" % (list(in_shape),)
        return None
    if type(m) is nn.BatchNorm2d:
        if not m.track_running_stats or m.running_mean is None:
            return "track_running_stats=False (batch statistics even in eval mode)"
        return None if nd == 3 else "needs a [C, H, W] input, got %s" % (list(in_shape),)
    if type(m) in (nn.MaxPool2d, nn.AvgPool2d):
        if nd != 3:
            return "needs a [C, H, W] input, got %s" % (list(in_shape),)
        if isinstance(m, nn.MaxPool2d) and m.return_indices:
            return "return_indices=True"
        if isinstance(m, nn.AvgPool2d) and m.divisor_override is not None:
            return "divisor_override=%r" % m.divisor_override
        return None
    if type(m) in (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d):
        if nd != 3:
            return "needs a [C, H, W] input, got %s" % (list(in_shape),)
        if isinstance(m, nn.AdaptiveMaxPool2d) and m.return_indices:
            return "return_indices=True"
        oh, ow = _adaptive_size(m, in_shape)
        if in_shape[1] % oh or in_shape[2] % ow:
            return "output size %s does not divide the input %s" % ((oh, ow), list(in_shape[1:]))
        return None
    if type(m) is nn.Flatten:
        if m.start_dim != 1 or m.end_dim != -1:
            return "only start_dim=1, end_dim=-1 (got %d, %d)" % (m.start_dim, m.end_dim)
        return None
    if type(m) is nn.Linear:
        return None if nd == 1 else "needs a 1-D input per sample, got %s" % (list(in_shape),)
    if type(m) in (nn.Softmax, nn.LogSoftmax):
        if m.dim is None:
            return "dim=None (implicit dimension); give dim explicitly"
        dim = m.dim + nd + 1 if m.dim < 0 else m.dim
        if not 1 <= dim <= nd:
            return "dim=%d is the batch dimension or out of range" % m.dim
        return None
    if type(m) is nn.PReLU:
        n = m.weight.numel()
        if n != 1 and (nd < 1 or in_shape[0] != n):
            return "%d slopes but the input has shape %s" % (n, list(in_shape))
        return None
    spec, reason = _activation_spec(m)
    if spec is not None:
        return None
    return reason or "module type not supported by tinycnn"


def _adaptive_size(m, in_shape):
    oh, ow = _pair(m.output_size) if m.output_size is not None else (None, None)
    return (oh if oh is not None else in_shape[1], ow if ow is not None else in_shape[2])


class _Weights:
    """Collects float32 arrays into one little-endian blob."""

    def __init__(self):
        self.chunks = []
        self.size = 0

    def add(self, array):
        a = np.ascontiguousarray(np.asarray(array, dtype="<f4"))
        if not np.all(np.isfinite(a)):
            raise ValueError("weights must be finite")
        ref = {"offset": self.size, "shape": list(a.shape)}
        self.chunks.append(a.tobytes())
        self.size += a.nbytes
        return ref

    def blob(self):
        return b"".join(self.chunks)


def _t(x):
    return x.detach().cpu().to(torch.float64).numpy()


def _bn_factors(bn):
    """(per-channel scale, shift) in float64 such that bn(x) = x * scale + shift."""
    c = bn.num_features
    gamma = _t(bn.weight) if bn.weight is not None else np.ones(c)
    beta = _t(bn.bias) if bn.bias is not None else np.zeros(c)
    factor = gamma / np.sqrt(_t(bn.running_var) + bn.eps)
    return factor, beta - _t(bn.running_mean) * factor


class _Namer:
    """Layer names: the user's module name when it is not an automatic index, else kind + n."""

    def __init__(self):
        self.used = set()
        self.count = {}

    def __call__(self, torch_name, kind):
        last = torch_name.split(".")[-1]
        name = None
        if not last.isdigit() and torch_name != "input":
            name = torch_name[:63]
        while name is None or name in self.used or name == "input":
            self.count[kind] = self.count.get(kind, 0) + 1
            sep = "_" if kind[-1].isdigit() else ""
            name = "%s%s%d" % (kind, sep, self.count[kind])
        self.used.add(name)
        return name


# ---- export ----

def _trace(mods, input_shape):
    """Per-sample input shape of every module and the output shape, by running them."""
    x = torch.zeros((2,) + tuple(input_shape))
    shapes = []
    with torch.no_grad():
        for name, m in mods:
            shapes.append(tuple(x.shape[1:]))
            try:
                x = m(x)
            except Exception as e:  # the model itself cannot run on this input
                raise UnsupportedModelError([(name, type(m).__name__, "fails on input %s: %s" % (
                    list(shapes[-1]), e))])
    return shapes, tuple(x.shape[1:])


def convert(model, input_shape, fold_batchnorm=False):
    """Builds the tinycnn layer list for model. Returns (layers, weights blob, stats) where stats
    holds "params" (float32 values in the blob) and "macs" (multiply-adds per sample of conv,
    dense and batchnorm, counted as `tinycnn summary` does). Raises UnsupportedModelError
    listing every module tinycnn cannot run."""
    was_training = model.training
    model.eval()
    try:
        mods = _flatten_modules(model)
        shapes, _ = _trace(mods, input_shape)
        problems = []
        for (name, m), shape in zip(mods, shapes):
            if isinstance(m, _DROPOUTS) or type(m) is nn.Identity:
                continue
            reason = _check_module(m, shape)
            if reason:
                problems.append((name, type(m).__name__, reason))
        if problems:
            raise UnsupportedModelError(problems)
        kept = [(n, m, s) for (n, m), s in zip(mods, shapes)
                if not (isinstance(m, _DROPOUTS) or type(m) is nn.Identity)]
        with torch.no_grad():
            return _emit(kept, fold_batchnorm)
    finally:
        model.train(was_training)


def _emit(kept, fold_batchnorm):
    """The tinycnn layers for the supported modules in kept [(torch name, module, input shape)]."""
    layers, weights, namer = [], _Weights(), _Namer()
    macs = 0
    i = 0
    while i < len(kept):
        tname, m, shape = kept[i]
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            layer, used, n_macs = _emit_weighted(kept, i, fold_batchnorm, namer, weights)
            i += used
        else:
            layer, n_macs = _emit_other(tname, m, shape, namer, weights)
            i += 1
        layers.append(layer)
        macs += n_macs
    return layers, weights.blob(), {"params": weights.size // 4, "macs": int(macs)}


def _emit_weighted(kept, i, fold_batchnorm, namer, weights):
    """conv2d or dense from kept[i], folding a following BatchNorm2d if asked and fusing a
    following activation. Returns (layer, modules consumed, MACs)."""
    tname, m, shape = kept[i]
    used = 1
    w = _t(m.weight)
    b = _t(m.bias) if m.bias is not None else None
    if isinstance(m, nn.Conv2d):
        layer = {"name": namer(tname, "conv"), "type": "conv2d",
                 "in_channels": m.in_channels, "out_channels": m.out_channels,
                 "kernel_size": _short(m.kernel_size), "stride": _short(m.stride),
                 "padding": _padding_field(_conv_padding(m)),
                 "dilation": _short(m.dilation), "groups": m.groups}
        if fold_batchnorm and i + 1 < len(kept) and isinstance(kept[i + 1][1], nn.BatchNorm2d):
            factor, shift = _bn_factors(kept[i + 1][1])
            w = w * factor[:, None, None, None]
            b = (b if b is not None else 0.0) * factor + shift
            used += 1
        out_h, out_w = _conv_out_hw(m, shape)
        macs = m.out_channels * out_h * out_w * w[0].size
    else:
        layer = {"name": namer(tname, "fc"), "type": "dense",
                 "in_features": m.in_features, "out_features": m.out_features}
        macs = w.size
    layer["weight"] = weights.add(w)
    if b is not None:
        layer["bias"] = weights.add(b)
    if i + used < len(kept):
        spec = _activation_spec(kept[i + used][1])[0]
        if _fusable(spec):
            layer["activation"] = _fused_field(spec)
            used += 1
    return layer, used, macs


def _emit_other(tname, m, shape, namer, weights):
    """The layer for a module without a fusable successor. Returns (layer, MACs)."""
    if isinstance(m, nn.BatchNorm2d):
        c = m.num_features
        return {"name": namer(tname, "bn"), "type": "batchnorm",
                "scale": weights.add(_t(m.weight) if m.weight is not None else np.ones(c)),
                "bias": weights.add(_t(m.bias) if m.bias is not None else np.zeros(c)),
                "mean": weights.add(_t(m.running_mean)),
                "var": weights.add(_t(m.running_var)),
                "epsilon": float(m.eps)}, int(np.prod(shape))  # tinycnn: 1 MAC per element
    if type(m) in (nn.MaxPool2d, nn.AvgPool2d):
        is_max = type(m) is nn.MaxPool2d
        layer = {"name": namer(tname, "pool"), "type": "maxpool2d" if is_max else "avgpool2d",
                 "kernel_size": _short(_pair(m.kernel_size)),
                 "stride": _short(_pair(m.stride if m.stride is not None else m.kernel_size)),
                 "padding": _short(_pair(m.padding)), "ceil_mode": bool(m.ceil_mode)}
        if is_max:
            layer["dilation"] = _short(_pair(m.dilation))
        else:  # torch counts padding by default, tinycnn does not: always say which
            layer["count_include_pad"] = bool(m.count_include_pad)
        return layer, 0
    if type(m) in (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d):
        is_max = type(m) is nn.AdaptiveMaxPool2d
        oh, ow = _adaptive_size(m, shape)
        if (oh, ow) == (1, 1):
            return {"name": namer(tname, "gpool"),
                    "type": "global_maxpool2d" if is_max else "global_avgpool2d"}, 0
        k = _short([shape[1] // oh, shape[2] // ow])  # divides exactly (checked)
        return {"name": namer(tname, "pool"), "type": "maxpool2d" if is_max else "avgpool2d",
                "kernel_size": k, "stride": k}, 0
    if type(m) is nn.Flatten:
        return {"name": namer(tname, "flatten"), "type": "flatten"}, 0
    if type(m) in (nn.Softmax, nn.LogSoftmax):
        soft = type(m) is nn.Softmax
        layer = {"name": namer(tname, "prob" if soft else "logprob"),
                 "type": "softmax" if soft else "log_softmax"}
        dim = m.dim + len(shape) + 1 if m.dim < 0 else m.dim  # on the batched tensor
        if dim != 1:
            layer["axis"] = dim - 1
        return layer, 0
    if type(m) is nn.PReLU:
        return {"name": namer(tname, "prelu"), "type": "activation", "function": "prelu",
                "slope": weights.add(_t(m.weight))}, 0
    spec = _activation_spec(m)[0]
    return dict({"name": namer(tname, spec["function"]), "type": "activation"}, **spec), 0


def _conv_out_hw(m, shape):
    pad = _conv_padding(m)
    out = []
    for ax in range(2):
        span = shape[1 + ax] + pad[ax] + pad[ax + 2] - m.dilation[ax] * (m.kernel_size[ax] - 1) - 1
        out.append(span // m.stride[ax] + 1)
    return out


def _dump(doc):
    """JSON with one layer per line (readable diffs, short files)."""
    head = ["  %s: %s" % (json.dumps(k), json.dumps(v)) for k, v in doc.items() if k != "layers"]
    body = ",\n".join("    " + json.dumps(layer) for layer in doc["layers"])
    return "{\n" + ",\n".join(head) + ',\n  "layers": [\n' + body + "\n  ]\n}\n"


def _write_atomic(path, data):
    tmp = path.with_name(path.name + ".tmp%d" % os.getpid())
    tmp.write_bytes(data)
    os.replace(tmp, path)


def export(model, input_shape, json_path, name=None, preprocess=None, labels=None,
           fold_batchnorm=False, weights_path=None):
    """Writes model as a tinycnn JSON at json_path plus a weights file (default: json_path with
    suffix .bin; none if the model has no weights). input_shape is per sample, e.g. (1, 28, 28).
    Returns a dict: "json", "weights" (paths), "params", "macs", "layers" (count).
    Raises UnsupportedModelError (nothing written) when a module cannot be exported."""
    json_path = Path(json_path)
    if not json_path.parent.is_dir():
        raise ValueError("%s: directory %s does not exist" % (json_path, json_path.parent))
    input_shape = tuple(int(d) for d in input_shape)
    layers, blob, stats = convert(model, input_shape, fold_batchnorm)
    if labels is not None and len(labels) != _output_len(model, input_shape):
        raise ValueError("%d labels but the model has %d outputs" % (
            len(labels), _output_len(model, input_shape)))
    unknown = sorted(set(preprocess or {}) - set(PREPROCESS_KEYS))
    if unknown:
        raise ValueError("unknown preprocess field(s) %s; tinycnn knows %s" % (
            unknown, list(PREPROCESS_KEYS)))
    doc = {"format": "tinycnn", "version": FORMAT_VERSION}
    if name:
        doc["name"] = str(name)
    doc["input"] = {"shape": list(input_shape)}
    if preprocess:
        doc["preprocess"] = dict(preprocess)
    if labels is not None:
        doc["labels"] = [str(s) for s in labels]
    wpath = None
    if blob:
        wpath = Path(weights_path) if weights_path else json_path.with_suffix(".bin")
        doc["weights_file"] = os.path.relpath(wpath, json_path.parent)
    doc["layers"] = layers
    if wpath:
        _write_atomic(wpath, blob)
    _write_atomic(json_path, _dump(doc).encode())
    return dict(stats, json=str(json_path), weights=str(wpath) if wpath else None,
                layers=len(layers))


def _output_len(model, input_shape):
    was_training = model.training
    model.eval()
    with torch.no_grad():
        n = model(torch.zeros((1,) + tuple(input_shape))).numel()
    model.train(was_training)
    return n


# ---- reading a tinycnn model back into torch (independent of the export path) ----

class _Pad(nn.Module):
    def __init__(self, pad):  # [top, left, bottom, right]
        super().__init__()
        self.pad = (pad[1], pad[3], pad[0], pad[2])

    def forward(self, x):
        return F.pad(x, self.pad)


class _Act(nn.Module):
    """A tinycnn activation spec as a torch function (written from the format description)."""

    def __init__(self, spec, slope=None):
        super().__init__()
        self.spec = spec if isinstance(spec, dict) else {"function": spec}
        self.slope = slope

    def forward(self, x):
        s, f = self.spec, self.spec["function"]
        if f == "identity":
            return x
        if f == "relu":
            return F.relu(x)
        if f == "relu6":
            return torch.clamp(x, 0.0, 6.0)
        if f == "leaky_relu":
            return F.leaky_relu(x, s.get("alpha", 0.01))
        if f == "elu":
            return F.elu(x, s.get("alpha", 1.0))
        if f == "selu":
            return F.selu(x)
        if f == "prelu":
            w = self.slope.reshape(-1)
            if w.numel() > 1:
                w = w.reshape((1, -1) + (1,) * (x.dim() - 2))
            return torch.where(x < 0, w * x, x)
        if f == "sigmoid":
            return torch.sigmoid(x)
        if f == "hard_sigmoid":
            return torch.clamp(s.get("alpha", 0.2) * x + s.get("beta", 0.5), 0.0, 1.0)
        if f == "tanh":
            return torch.tanh(x)
        if f == "softplus":
            return F.softplus(x)
        if f == "softsign":
            return x / (1 + x.abs())
        if f == "gelu":
            return F.gelu(x, approximate=s.get("approximate", "none"))
        if f == "silu":
            return x * torch.sigmoid(x)
        if f == "hard_swish":
            return x * torch.clamp(x + 3, 0.0, 6.0) / 6
        if f == "clip":
            return torch.clamp(x, s.get("min", -math.inf), s.get("max", math.inf))
        raise ValueError("unknown activation %r" % f)


def _resolve_padding(pad):
    if isinstance(pad, int):
        return [pad] * 4
    if len(pad) == 2:
        return [pad[0], pad[1], pad[0], pad[1]]
    return list(pad)


def _same_pads(size, k, s, d, lower):
    out = -(-size // s)
    total = max(0, (out - 1) * s + (k - 1) * d + 1 - size)
    small = total // 2
    return (total - small, small) if lower else (small, total - small)


class _SamePad(nn.Module):
    def __init__(self, k, s, d, lower):
        super().__init__()
        self.k, self.s, self.d, self.lower = k, s, d, lower

    def forward(self, x):
        t, b = _same_pads(x.shape[2], self.k[0], self.s[0], self.d[0], self.lower)
        left, r = _same_pads(x.shape[3], self.k[1], self.s[1], self.d[1], self.lower)
        return F.pad(x, (left, r, t, b))


def load_tinycnn_as_torch(json_path):
    """Rebuilds a sequential tinycnn model (no "inputs"/"outputs") as a torch nn.Sequential in
    eval mode, reading the JSON and its weights file. Returns (module, json document)."""
    json_path = Path(json_path)
    doc = json.loads(json_path.read_text())
    if doc.get("format") != "tinycnn" or doc.get("version") != FORMAT_VERSION:
        raise ValueError("%s: not a tinycnn version 1 model" % json_path)
    blob = b""
    if "weights_file" in doc:
        blob = (json_path.parent / doc["weights_file"]).read_bytes()

    def weight(ref):
        if isinstance(ref, dict):
            n = int(np.prod(ref["shape"]))
            a = np.frombuffer(blob, dtype="<f4", count=n, offset=ref["offset"])
            return torch.from_numpy(a.reshape(ref["shape"]).astype(np.float32))
        return torch.tensor(np.asarray(ref, dtype=np.float32))

    mods = []
    for layer in doc["layers"]:
        if "inputs" in layer:
            raise ValueError("layer %s: graphs with \"inputs\" are not supported here" %
                             layer.get("name"))
        t = layer["type"]
        if t == "conv2d":
            k, s = _pair(layer["kernel_size"]), _pair(layer.get("stride", 1))
            d = _pair(layer.get("dilation", 1))
            pad = layer.get("padding", "valid")
            if isinstance(pad, str):
                if pad != "valid":
                    mods.append(_SamePad(k, s, d, pad == "same_lower"))
            else:
                mods.append(_Pad(_resolve_padding(pad)))
            conv = nn.Conv2d(layer["in_channels"], layer["out_channels"], k, s, 0, d,
                             layer.get("groups", 1), bias="bias" in layer)
            conv.weight.data = weight(layer["weight"]).reshape(conv.weight.shape)
            if "bias" in layer:
                conv.bias.data = weight(layer["bias"]).reshape(-1)
            mods.append(conv)
        elif t == "dense":
            fc = nn.Linear(layer["in_features"], layer["out_features"], bias="bias" in layer)
            fc.weight.data = weight(layer["weight"]).reshape(fc.weight.shape)
            if "bias" in layer:
                fc.bias.data = weight(layer["bias"]).reshape(-1)
            mods.append(fc)
        elif t == "batchnorm":
            mods.append(_BatchNorm(*[weight(layer[k]).reshape(-1)
                                     for k in ("scale", "bias", "mean", "var")],
                                   layer.get("epsilon", 1e-5)))
        elif t in ("maxpool2d", "avgpool2d"):
            k = _pair(layer["kernel_size"])
            s = _pair(layer.get("stride", layer["kernel_size"]))
            pad = _resolve_padding(layer.get("padding", 0))
            if pad[0] != pad[2] or pad[1] != pad[3]:
                raise ValueError("asymmetric pool padding is not supported here")
            if t == "maxpool2d":
                mods.append(nn.MaxPool2d(k, s, (pad[0], pad[1]), _pair(layer.get("dilation", 1)),
                                         ceil_mode=layer.get("ceil_mode", False)))
            else:
                mods.append(nn.AvgPool2d(k, s, (pad[0], pad[1]), layer.get("ceil_mode", False),
                                         layer.get("count_include_pad", False)))
        elif t == "global_avgpool2d":
            mods.append(nn.AdaptiveAvgPool2d(1))
        elif t == "global_maxpool2d":
            mods.append(nn.AdaptiveMaxPool2d(1))
        elif t == "flatten":
            mods.append(nn.Flatten())
        elif t in ("softmax", "log_softmax"):
            axis = layer.get("axis", 0)
            dim = axis + 1 if axis >= 0 else axis
            mods.append(nn.Softmax(dim) if t == "softmax" else nn.LogSoftmax(dim))
        elif t == "activation":
            spec = {k: v for k, v in layer.items() if k not in ("name", "type", "slope")}
            slope = None
            if "slope" in layer:
                sl = layer["slope"]
                slope = torch.tensor([float(sl)]) if isinstance(sl, (int, float)) else weight(sl)
            mods.append(_Act(spec, slope))
        else:
            raise ValueError("layer type %r is not supported here" % t)
        if t in ("conv2d", "dense") and "activation" in layer:
            mods.append(_Act(layer["activation"]))
    return nn.Sequential(*mods).eval(), doc


class _BatchNorm(nn.Module):
    def __init__(self, scale, bias, mean, var, eps):
        super().__init__()
        self.scale, self.bias, self.mean, self.var, self.eps = scale, bias, mean, var, eps

    def forward(self, x):
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return ((x - self.mean.reshape(shape)) / torch.sqrt(self.var.reshape(shape) + self.eps)
                * self.scale.reshape(shape) + self.bias.reshape(shape))


def preprocess_u8(images, pre):
    """Applies a tinycnn "preprocess" (invert, scale, mean, std) to uint8 images [N, C, H, W]
    that already have the model's size; returns float32 as torch."""
    x = images.astype(np.float32)
    if pre.get("invert", False):
        x = 255.0 - x
    x = x * np.float32(pre.get("scale", 1.0))
    c = x.shape[1]
    mean = np.broadcast_to(np.asarray(pre.get("mean", 0.0), np.float32), (c,))
    std = np.broadcast_to(np.asarray(pre.get("std", 1.0), np.float32), (c,))
    return torch.from_numpy((x - mean[None, :, None, None]) / std[None, :, None, None])


# ---- self-test ----

def _npy_save(path, array):
    np.save(path, np.ascontiguousarray(array, dtype="<f4"))


def _randomize_bn(model, gen):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=gen) * 0.5)
            m.running_var.copy_(torch.rand(c, generator=gen) * 2 + 0.2)
            if m.weight is not None:
                m.weight.data.copy_(torch.randn(c, generator=gen) * 0.5 + 1)
                m.bias.data.copy_(torch.randn(c, generator=gen) * 0.3)
        if isinstance(m, nn.PReLU):
            m.weight.data.copy_(torch.randn(m.weight.shape, generator=gen) * 0.3)


def _selftest_nets():
    """(name, model, input shape) covering every supported module at least once."""
    return [
        ("basic", nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
            nn.Sequential(nn.Conv2d(4, 6, 3, padding="same", bias=False), nn.BatchNorm2d(6),
                          nn.ReLU6()),
            nn.AvgPool2d(2), nn.Flatten(), nn.Dropout(0.5), nn.Linear(6 * 3 * 3, 8),
            nn.LeakyReLU(0.1), nn.Identity(), nn.Linear(8, 5), nn.Softmax(dim=1)), (1, 13, 12)),
        ("strided", nn.Sequential(
            nn.Conv2d(3, 8, (3, 5), stride=(2, 1), padding=(2, 1), dilation=(1, 2)), nn.ELU(0.7),
            nn.Conv2d(8, 8, 3, groups=4, padding="same", dilation=2), nn.SELU(),
            nn.BatchNorm2d(8, affine=False), nn.PReLU(8),
            nn.Conv2d(8, 4, 2, stride=2, padding="valid"), nn.Sigmoid(),
            nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3), nn.LogSoftmax(dim=-1)),
            (3, 15, 11)),
        ("acts1", nn.Sequential(
            nn.Conv2d(2, 6, 1), nn.Hardsigmoid(), nn.Conv2d(6, 6, 3, padding=1), nn.Tanh(),
            nn.Conv2d(6, 6, 3, padding="same"), nn.Softplus(), nn.Softsign(),
            nn.Conv2d(6, 6, 2, padding="same"), nn.GELU(), nn.GELU(approximate="tanh"),
            nn.Flatten(), nn.Linear(6 * 9 * 10, 5)), (2, 9, 10)),
        ("acts2", nn.Sequential(
            nn.Conv2d(2, 6, 3, padding=1), nn.SiLU(), nn.Hardswish(),
            nn.Conv2d(6, 6, 3, padding=1), nn.Hardtanh(-0.5, 0.7), nn.PReLU(),
            nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=True, ceil_mode=True),
            nn.Dropout2d(0.2), nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(6, 4),
            nn.GELU()), (2, 9, 10)),
        ("softmax_c", nn.Sequential(
            nn.Conv2d(3, 5, 3), nn.ReLU(), nn.AdaptiveAvgPool2d((2, 3)), nn.Softmax(dim=1)),
            (3, 8, 11)),
    ]


def _compare(name, got, want, atol=1e-5, rtol=1e-4):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        return "%s: shape %s, expected %s" % (name, got.shape, want.shape)
    bad = np.abs(got - want) > atol + rtol * np.abs(want)
    if bad.any():
        i = np.unravel_index(np.argmax(np.abs(got - want)), got.shape)
        return "%s: %d values differ, worst at %s: %r vs %r" % (
            name, int(bad.sum()), i, got[i], want[i])
    return None


def selftest(tinycnn=None, keep=None):
    """Exports the test nets and checks them; returns the number of failures."""
    warnings.filterwarnings("ignore", message="Using padding='same'")
    torch.manual_seed(1234)
    gen = torch.Generator().manual_seed(99)
    failures = 0
    tmp = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="torch2tinycnn."))
    tmp.mkdir(parents=True, exist_ok=True)
    use_c = tinycnn and os.access(tinycnn, os.X_OK)
    if tinycnn and not use_c:
        print("note: %s is not an executable; checking only the torch reload" % tinycnn)

    def check(label, problem):
        nonlocal failures
        failures += problem is not None
        print("%-28s %s" % (label, "FAIL " + problem if problem else "ok"))

    for name, net, shape in _selftest_nets():
        net.eval()
        with torch.no_grad():
            _randomize_bn(net, gen)
            x = torch.randn((3,) + shape, generator=gen) * 2
            want = net(x).numpy()
        _npy_save(tmp / (name + ".in.npy"), x.numpy())
        for fold in (False, True):
            tag = "%s%s" % (name, "_folded" if fold else "")
            jpath = tmp / (tag + ".json")
            export(net, shape, jpath, name=tag, fold_batchnorm=fold)
            back, _ = load_tinycnn_as_torch(jpath)
            with torch.no_grad():
                check(tag + " reload", _compare(tag, back(x).numpy(), want))
            if use_c:
                out = tmp / (tag + ".out.npy")
                r = subprocess.run([tinycnn, "run", "-m", str(jpath), "--input",
                                    str(tmp / (name + ".in.npy")), "--output", str(out)],
                                   capture_output=True, text=True)
                if r.returncode != 0:
                    check(tag + " tinycnn run", "exit %d: %s" % (r.returncode, r.stderr.strip()))
                else:
                    check(tag + " tinycnn run", _compare(tag, np.load(out), want))
            if name == "basic":
                n_bn = sum(1 for layer in json.loads(jpath.read_text())["layers"]
                           if layer["type"] == "batchnorm")
                check(tag + " batchnorm count",
                      None if n_bn == (0 if fold else 2) else "%d batchnorm layers" % n_bn)

    # Unsupported modules: every one is named, nothing is written.
    bad = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, padding_mode="reflect"), nn.ReLU(),
                        nn.Upsample(scale_factor=2), nn.Flatten(), nn.Linear(2 * 6 * 6, 2),
                        nn.Softplus(beta=2), nn.Softmax(dim=0))
    jpath = tmp / "bad.json"
    try:
        export(bad, (1, 3, 3), jpath)
        check("unsupported refused", "no error raised")
    except UnsupportedModelError as e:
        names = sorted(p[0] for p in e.problems)
        problem = None if names == ["0", "2", "5", "6"] else "reported %s" % names
        if jpath.exists() or jpath.with_suffix(".bin").exists():
            problem = "files were written"
        check("unsupported refused", problem)
    if not keep:
        shutil.rmtree(tmp)
    print("%d failure(s)%s" % (failures, "" if use_c else " (tinycnn run not checked)"))
    return failures


def export_file(args):
    """The CLI export: a whole pickled module (torch.save(model)) to a tinycnn model."""
    model = torch.load(args.model, map_location="cpu")
    if not isinstance(model, nn.Module):
        raise SystemExit("%s: holds a %s, not a module; save the whole model with "
                         "torch.save(model, path), not its state_dict" % (
                             args.model, type(model).__name__))
    shape = tuple(int(d) for d in args.input_shape.split(","))
    labels = None
    if args.labels:
        labels = [s for s in Path(args.labels).read_text().splitlines() if s.strip()]
    preprocess = json.loads(args.preprocess) if args.preprocess else None
    try:
        info = export(model, shape, args.output, name=args.name, preprocess=preprocess,
                      labels=labels, fold_batchnorm=args.fold_batchnorm)
    except (UnsupportedModelError, ValueError, OSError) as e:
        print("torch2tinycnn: %s" % e, file=sys.stderr)
        return 1
    print("wrote %s (%d layers) and %s: %d parameters, %d MACs per sample" % (
        info["json"], info["layers"], info["weights"], info["params"], info["macs"]))
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 epilog="example: torch2tinycnn.py net.pt --input-shape 1,28,28 "
                                        "-o model.json --labels labels.txt")
    ap.add_argument("model", nargs="?", help="a whole model saved with torch.save(model, path)")
    ap.add_argument("--input-shape", help="per-sample input shape, e.g. 1,28,28")
    ap.add_argument("-o", "--output", help="model JSON to write (weights go beside it, .bin)")
    ap.add_argument("--name", help="model name")
    ap.add_argument("--labels", help="text file with one class label per line")
    ap.add_argument("--preprocess", help='preprocess object as JSON, e.g. \'{"scale": 0.0039}\'')
    ap.add_argument("--fold-batchnorm", action="store_true",
                    help="fold BatchNorm2d into the convolution before it")
    ap.add_argument("--selftest", action="store_true", help="export and check random networks")
    ap.add_argument("--tinycnn", help="self-test: path of the tinycnn command to check against")
    ap.add_argument("--keep", help="self-test: directory to keep the files in")
    args = ap.parse_args(argv)
    if args.selftest:
        return 1 if selftest(args.tinycnn, args.keep) else 0
    if not (args.model and args.input_shape and args.output):
        ap.error("give MODEL, --input-shape and -o (or --selftest)")
    return export_file(args)


if __name__ == "__main__":
    sys.exit(main())
