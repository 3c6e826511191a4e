"""onnx_import - the ONNX to tinycnn converter behind tools/onnx2tinycnn.py.

    from onnx_import import build_model, ConversionError
    text, blob = build_model(onnx.load("net.onnx"), "net.json", name="net")

Modules: graph.py (nodes, pattern rewrite), fold.py (constant folding), values.py (what values
become, the layer list), common.py (shared helpers), ops_nn.py and ops_elem.py (one converter per
op family), convert.py (the driver), writer.py (JSON + weights file).
"""
from .convert import ConversionError, convert
from .values import Refuse
from .writer import bin_name, render, write


def _check_preprocess(pre, in_shape):
    """mean and std: 1 value or one per input channel; a single one is spread to match the
    other's length (the format wants equal lengths)."""
    channels = in_shape[0] if len(in_shape) == 3 else 1
    lengths = {len(pre[k]) for k in ("mean", "std") if k in pre}
    n = max(lengths, default=1)
    if lengths - {1, n} or n not in (1, channels):
        raise ConversionError([("(options)", "--mean/--std", "%s values for an input of %d "
                                "channel(s): give 1 or %d" % (" and ".join(
                                    str(len(pre[k])) for k in ("mean", "std") if k in pre),
                                    channels, channels))])
    for k in ("mean", "std"):
        if k in pre and len(pre[k]) != n:
            pre[k] = pre[k] * n
    return pre


def build_model(model, json_path, name=None, preprocess=None, labels=None,
                append_softmax=False):
    """Converts ModelProto `model` into the text of json_path and its weight bytes.

    preprocess: dict for the "preprocess" field, or None; labels: list of strings, or None;
    append_softmax: add a softmax after the first output (a model that ends in logits or
    log-probabilities then gives class probabilities). Raises ConversionError."""
    in_shape, layers, outputs, out_shapes = convert(model)
    if append_softmax:
        first = next(l for l in layers if l["name"] == outputs[0])
        if first["type"] == "softmax":
            raise ConversionError([("(graph)", "--append-softmax",
                                    "the model already ends in softmax")])
        names = {l["name"] for l in layers}
        soft = "softmax" if "softmax" not in names else "softmax_out"
        layers.append({"name": soft, "type": "softmax", "inputs": [outputs[0]]})
        outputs = [soft] + outputs[1:]
    if labels is not None:
        n = 1
        for d in out_shapes[0]:
            n *= d
        if len(labels) != n:
            raise ConversionError([("(graph)", "--labels", "%d labels for an output of %d "
                                    "values" % (len(labels), n))])
    name = (name or model.graph.name or "model").encode("utf-8")[:127].decode("utf-8", "ignore")
    doc = {"format": "tinycnn", "version": 1, "name": name, "input": {"shape": in_shape}}
    if preprocess:
        doc["preprocess"] = _check_preprocess(dict(preprocess), in_shape)
    if labels is not None:
        doc["labels"] = labels
    doc["weights_file"] = bin_name(json_path)
    return render(doc, layers, outputs)


__all__ = ["ConversionError", "Refuse", "build_model", "convert", "render", "write"]
