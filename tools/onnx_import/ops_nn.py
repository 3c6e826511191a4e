"""ops_nn.py - converters for the layers with weights or windows: Conv, Gemm, MatMul,
BatchNormalization, MaxPool, AveragePool, the global pools, and Pad (which has no layer of its own:
it folds into the next Conv or pooling).

Each converter takes (ctx, node, ins): ins holds the node's input values (see values.py), None
for absent optional inputs. It returns the value of the node's first output, or raises Refuse.
"""
import numpy as np

from .common import (const, int_list, num, optional_input, pair, padding_field, spatial_input,
                     spatial_name, tensor)
from .values import Padded, Refuse


def _two(node, key, default):
    v = list(node.attrs.get(key, default))
    if len(v) != 2:
        raise Refuse("%s %s: only 2-D windows are supported" % (key, v))
    return [int(a) for a in v]


def resolve_pads(node, in_hw, kernel, strides, dilations):
    """ONNX auto_pad/pads as (mode, [top, left, bottom, right]); mode is "same", "same_lower"
    or None (explicit). SAME splits max(0, (ceil(in/s) - 1) * s + span - in), odd pixel at the
    end (UPPER) or start (LOWER), as the engine's "same"/"same_lower" do."""
    auto = node.attrs.get("auto_pad", "NOTSET") or "NOTSET"
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        begin, end = [], []
        for size, k, s, d in zip(in_hw, kernel, strides, dilations):
            total = max(0, (-(-size // s) - 1) * s + (k - 1) * d + 1 - size)
            small = total // 2
            begin.append(small if auto == "SAME_UPPER" else total - small)
            end.append(total - begin[-1])
        return ("same" if auto == "SAME_UPPER" else "same_lower"), begin + end
    if auto == "VALID":
        return None, [0, 0, 0, 0]
    if auto != "NOTSET":
        raise Refuse("auto_pad %s is not supported" % auto)
    pads = [int(p) for p in node.attrs.get("pads", [0, 0, 0, 0])]
    if len(pads) != 4:
        raise Refuse("pads %s: only 2-D padding is supported" % pads)
    if min(pads) < 0:
        raise Refuse("negative pads %s" % pads)
    return None, pads


def _add_pads(pre, own):
    return [a + b for a, b in zip(pre, own)]


def conv(ctx, node, ins):
    x, pre = spatial_input(ins[0], "Conv")
    w = const(ins[1], "the weight W")
    if w.ndim != 4:
        raise Refuse("%s convolution (weight %s): only 2-D is supported"
                     % (spatial_name(w.ndim - 1), list(w.shape)))
    bias = optional_input(ins, 2)
    bias = None if bias is None else const(bias, "the bias B").reshape(-1)
    c, h, wd = x.shape
    h, wd = h + pre[0] + pre[2], wd + pre[1] + pre[3]
    out_c, cin_g, kh, kw = w.shape
    group = int(node.attrs.get("group", 1))
    if list(node.attrs.get("kernel_shape", [kh, kw])) != [kh, kw]:
        raise Refuse("kernel_shape %s differs from the weight's %s"
                     % (list(node.attrs["kernel_shape"]), [kh, kw]))
    if group < 1 or cin_g * group != c or out_c % group:
        raise Refuse("weight %s with group %d does not fit %d input channels"
                     % (list(w.shape), group, c))
    if bias is not None and bias.size != out_c:
        raise Refuse("bias has %d values for %d output channels" % (bias.size, out_c))
    strides = _two(node, "strides", [1, 1])
    dilations = _two(node, "dilations", [1, 1])
    mode, pads = resolve_pads(node, [h, wd], [kh, kw], strides, dilations)
    if any(pre):
        mode, pads = None, _add_pads(pre, pads)
        h, wd = x.shape[1:]
    out_hw = []
    for size, pb, pe, k, s, d in zip((h, wd), pads[:2], pads[2:], (kh, kw), strides, dilations):
        span = (k - 1) * d + 1
        if size + pb + pe < span:
            raise Refuse("kernel span %d exceeds the padded input %d" % (span, size + pb + pe))
        out_hw.append((size + pb + pe - span) // s + 1)
    fields = {"in_channels": c, "out_channels": out_c, "kernel_size": pair([kh, kw])}
    if strides != [1, 1]:
        fields["stride"] = pair(strides)
    padding = padding_field(mode, pads)
    if padding is not None:
        fields["padding"] = padding
    if dilations != [1, 1]:
        fields["dilation"] = pair(dilations)
    if group != 1:
        fields["groups"] = group
    fields["weight"] = w
    if bias is not None:
        fields["bias"] = bias
    return ctx.emit("conv2d", [x], fields, [out_c] + out_hw)


def _dense(ctx, x, weight, bias):
    """A dense layer: weight [out, in] applied to the 1-D per-sample tensor x."""
    if len(x.shape) != 1:
        raise Refuse("the input is %s per sample; a dense layer needs a flat [N, K] input"
                     % list(x.shape))
    if weight.shape[1] != x.shape[0]:
        raise Refuse("weight %s does not fit %d input features" % (list(weight.shape), x.shape[0]))
    fields = {"in_features": int(weight.shape[1]), "out_features": int(weight.shape[0]),
              "weight": np.ascontiguousarray(weight, dtype=np.float32)}
    if bias is not None:
        fields["bias"] = bias
    return ctx.emit("dense", [x], fields, [weight.shape[0]])


def gemm(ctx, node, ins):
    """Y = alpha * A' B' + beta * C, A = the run-time input: a dense layer, weight [out, in]."""
    if node.attrs.get("transA", 0):
        raise Refuse("transA=1 would transpose the batch into the features")
    x = tensor(ins[0], "A")
    b = const(ins[1], "B")
    if b.ndim != 2:
        raise Refuse("B has shape %s; expected 2-D" % list(b.shape))
    weight = b if node.attrs.get("transB", 0) else b.T
    alpha = np.float32(node.attrs.get("alpha", 1.0))
    if alpha != 1:
        weight = weight * alpha
    bias = optional_input(ins, 2)
    if bias is not None:
        cvec = const(bias, "C")
        if cvec.ndim > 2 or (cvec.ndim == 2 and cvec.shape[0] != 1):
            raise Refuse("C has shape %s: a bias that varies along the batch axis"
                         % list(cvec.shape))
        if cvec.size not in (1, weight.shape[0]):
            raise Refuse("C has %d values for %d outputs" % (cvec.size, weight.shape[0]))
        bias = np.broadcast_to(cvec.reshape(-1) * np.float32(node.attrs.get("beta", 1.0)),
                               (weight.shape[0],)).astype(np.float32)
    return _dense(ctx, x, weight, bias)


def matmul(ctx, node, ins):
    """x @ B with a constant 2-D B: a dense layer with weight B^T (a following Add of a
    per-feature constant folds into its bias)."""
    x = tensor(ins[0], "A (the first input)")
    b = const(ins[1], "B (the second input)")
    if b.ndim != 2:
        raise Refuse("B has shape %s; only a 2-D constant B is supported" % list(b.shape))
    return _dense(ctx, x, b.T, None)


def batchnorm(ctx, node, ins):
    if node.attrs.get("training_mode", 0):
        raise Refuse("training_mode=1 (batch statistics) is not supported")
    if ctx.opset < 7 and not node.attrs.get("is_test", 0):
        raise Refuse("is_test=0 means training mode at opset %d" % ctx.opset)
    if not node.attrs.get("spatial", 1):
        raise Refuse("spatial=0 (statistics per position) is not supported")
    x = tensor(ins[0])
    c = x.shape[0]
    fields = {}
    for key, i in (("scale", 1), ("bias", 2), ("mean", 3), ("var", 4)):
        fields[key] = const(ins[i], key).reshape(-1)
        if fields[key].size != c:
            raise Refuse("%s has %d values for %d channels" % (key, fields[key].size, c))
    fields["epsilon"] = num(node.attrs.get("epsilon", 1e-5))
    return ctx.emit("batchnorm", [x], fields, x.shape)


def _engine_pool_size(size, k, s, d, pb, pe, ceil):
    """Output size as the engine (and PyTorch) computes it, or None if the engine would refuse
    the window layout (a window holding padding only)."""
    span = (k - 1) * d + 1
    extent = size + pb + pe - span
    if extent < 0 or pb > span - 1:
        return None
    n = (extent + (s - 1 if ceil else 0)) // s + 1
    if ceil and (n - 1) * s >= size + pb:
        n -= 1
    return n if (n - 1) * s - pb < size else None


def pool(ctx, node, ins):
    """MaxPool / AveragePool on [C, H, W]; a zero Pad before it folds into its padding."""
    is_max = node.op == "MaxPool"
    x, pre = spatial_input(ins[0], node.op)
    kernel = _two(node, "kernel_shape", [])
    strides = _two(node, "strides", [1, 1])
    dilations = _two(node, "dilations", [1, 1])
    ceil = bool(node.attrs.get("ceil_mode", 0))
    include_pad = bool(node.attrs.get("count_include_pad", 0))
    size = [x.shape[1] + pre[0] + pre[2], x.shape[2] + pre[1] + pre[3]]
    mode, pads = resolve_pads(node, size, kernel, strides, dilations)
    onnx_out = []
    for n_in, pb, pe, k, s, d in zip(size, pads[:2], pads[2:], kernel, strides, dilations):
        if mode:
            onnx_out.append(-(-n_in // s))
        else:
            extent = n_in + pb + pe - ((k - 1) * d + 1)
            onnx_out.append((-(-extent // s) if ceil else extent // s) + 1)
    if any(pre):
        if is_max and not x.nonneg:
            raise Refuse("a zero Pad before MaxPool folds into its padding only when the input "
                         "is known to be >= 0 (after Relu, Sigmoid, ...); here it may be negative")
        if not is_max and any(pads) and not include_pad:
            raise Refuse("a zero Pad before an AveragePool that pads itself with "
                         "count_include_pad=0 cannot be expressed as one padding")
        mode, pads, include_pad = None, _add_pads(pre, pads), not is_max or include_pad
    if mode:
        ceil = False  # SAME sizes ignore ceil_mode
    engine_out = [_engine_pool_size(n_in, k, s, d, pb, pe, ceil)
                  for n_in, pb, pe, k, s, d in zip(x.shape[1:], pads[:2], pads[2:], kernel,
                                                   strides, dilations)]
    if engine_out != onnx_out:
        raise Refuse("output %s differs from the engine's %s: with these pads/ceil_mode a "
                     "window would start in the padding" % (onnx_out, engine_out))
    fields = {"kernel_size": pair(kernel), "stride": pair(strides)}
    padding = padding_field(mode, pads)
    if padding is not None:
        fields["padding"] = padding
    if dilations != [1, 1]:
        if not is_max:
            raise Refuse("dilated AveragePool is not supported")
        fields["dilation"] = pair(dilations)
    if ceil:
        fields["ceil_mode"] = True
    if include_pad and not is_max and any(pads):
        fields["count_include_pad"] = True
    return ctx.emit("maxpool2d" if is_max else "avgpool2d", [x], fields,
                    [x.shape[0]] + onnx_out, nonneg=x.nonneg)


def global_pool(ctx, node, ins):
    x = tensor(ins[0])
    if len(x.shape) != 3:
        raise Refuse("%s on a %s input: only 2-D (N, C, H, W) is supported"
                     % (node.op, spatial_name(len(x.shape))))
    kind = "global_maxpool2d" if node.op == "GlobalMaxPool" else "global_avgpool2d"
    return ctx.emit(kind, [x], {}, [x.shape[0], 1, 1], nonneg=x.nonneg)


def pad(ctx, node, ins):
    """A zero Pad of H and W becomes a Padded value; the next Conv or pooling absorbs it."""
    src = ins[0]
    pre = [0, 0, 0, 0]
    if isinstance(src, Padded):
        pre, src = src.pads, src.tensor
    x = tensor(src)
    mode = node.attrs.get("mode", "constant")
    if mode != "constant":
        raise Refuse("mode \"%s\": only constant zero padding is supported" % mode)
    if ctx.opset >= 11:
        pads = int_list(ins[1], "pads")
        value = optional_input(ins, 2)
        value = 0.0 if value is None else float(np.asarray(const(value, "constant_value"))
                                                .reshape(-1)[0])
    else:
        pads = [int(p) for p in node.attrs.get("pads", node.attrs.get("paddings", []))]
        value = float(node.attrs.get("value", 0.0))
    if value != 0.0:
        raise Refuse("pads with the value %g; only zero padding can fold into Conv or pooling"
                     % value)
    rank = len(x.shape) + 1
    if len(pads) != 2 * rank:
        raise Refuse("pads %s do not match the input rank %d" % (pads, rank))
    begin, end = pads[:rank], pads[rank:]
    if begin[:2] != [0, 0] or end[:2] != [0, 0]:
        raise Refuse("pads %s pad the batch or channel axis" % pads)
    if rank != 4:
        raise Refuse("Pad of a %s input: only 2-D (N, C, H, W) is supported"
                     % spatial_name(rank - 1))
    if min(pads) < 0:
        raise Refuse("negative pads %s (cropping) are not supported" % pads)
    total = _add_pads(pre, [begin[2], begin[3], end[2], end[3]])
    t = ctx.alias(x)
    return Padded(t, total) if any(total) else t


HANDLERS = {
    "Conv": (conv, {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"}),
    "Gemm": (gemm, {"alpha", "beta", "transA", "transB", "broadcast"}),
    "MatMul": (matmul, set()),
    "BatchNormalization": (batchnorm, {"epsilon", "momentum", "spatial", "is_test",
                                       "training_mode", "consumed_inputs"}),
    "MaxPool": (pool, {"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads",
                       "storage_order", "strides"}),
    "AveragePool": (pool, {"auto_pad", "ceil_mode", "count_include_pad", "kernel_shape",
                           "pads", "strides"}),
    "GlobalAveragePool": (global_pool, set()),
    "GlobalMaxPool": (global_pool, set()),
    "Pad": (pad, {"mode", "pads", "paddings", "value"}),
}
