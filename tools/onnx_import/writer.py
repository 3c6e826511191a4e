"""writer.py - writes a converted model as tinycnn format version 1: OUT.json and OUT.bin.

Weights (numpy arrays in the layer dicts) go to OUT.bin as raw little-endian float32, each
referenced as {"offset": bytes, "shape": [...]}. The JSON has one layer per line. Both files
are first written under temporary names and then renamed, so a failure leaves no partial model.
"""
import json
import os

import numpy as np

# Top-level fields in the order the format documents them.
TOP_ORDER = ["format", "version", "name", "input", "preprocess", "labels", "weights_file"]


def _store(value, blob):
    """value with every numpy array replaced by {offset, shape} into blob (a bytearray)."""
    if isinstance(value, np.ndarray):
        offset = len(blob)
        blob += np.ascontiguousarray(value, dtype="<f4").tobytes()
        return {"offset": offset, "shape": [int(d) for d in value.shape]}
    if isinstance(value, dict):
        return {k: _store(v, blob) for k, v in value.items()}
    return value


def render(doc, layers, outputs):
    """The JSON text and the weight bytes of a model."""
    blob = bytearray()
    lines = []
    previous = "input"
    for layer in layers:
        layer = _store(dict(layer), blob)
        if layer["inputs"] == [previous]:
            del layer["inputs"]  # the default: the previous layer
        previous = layer["name"]
        lines.append("    " + json.dumps(layer, allow_nan=False))
    top = ["  %s: %s" % (json.dumps(k), json.dumps(doc[k], allow_nan=False))
           for k in TOP_ORDER if k in doc]
    if len(outputs) != 1 or outputs[0] != previous:
        top_end = ['  "outputs": %s' % json.dumps(outputs)]
    else:
        top_end = []
    if not blob:
        top = [line for line in top if not line.startswith('  "weights_file"')]
    text = "{\n" + ",\n".join(top + ['  "layers": [\n' + ",\n".join(lines) + "\n  ]"]
                                + top_end) + "\n}\n"
    return text, bytes(blob)


def write(json_path, text, blob):
    """Writes OUT.json and, if there are weights, OUT.bin beside it."""
    bin_path = os.path.splitext(json_path)[0] + ".bin"
    files = [(bin_path, blob)] if blob else []
    files.append((json_path, text.encode("utf-8")))  # last: it is what refers to the weights
    temps = []
    try:
        for path, data in files:
            tmp = path + ".tmp%d" % os.getpid()
            temps.append(tmp)
            with open(tmp, "wb") as f:
                f.write(data)
        for (path, _), tmp in zip(files, temps):
            os.replace(tmp, path)
    finally:
        for tmp in temps:
            if os.path.exists(tmp):
                os.remove(tmp)
    return [path for path, _ in files]


def bin_name(json_path):
    return os.path.basename(os.path.splitext(json_path)[0] + ".bin")
