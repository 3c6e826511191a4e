"""onnxtest.py - helpers shared by the ONNX test scripts in this folder.

Run the scripts with Debian's interpreter (/usr/bin/python3): they need python3-onnx and
python3-numpy (and python3-torch for the round trip). A script whose packages are missing
exits with status 77, which ctest reports as skipped.
"""
import os
import subprocess
import sys

SKIP = 77  # ctest's SKIP_RETURN_CODE

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tools"))

# Tolerance of every comparison: |got - expected| <= ATOL + RTOL * |expected|.
ATOL, RTOL = 1e-5, 1e-4


def require(*modules):
    """Imports the modules, or exits with SKIP naming the missing Debian package."""
    loaded = []
    for name in modules:
        try:
            loaded.append(__import__(name))
        except ImportError:
            print("SKIPPED: python module %s is not installed (apt-get install python3-%s)"
                  % (name, name))
            sys.exit(SKIP)
    return loaded


def default_tinycnn():
    for candidate in ("build/tinycnn", "../build/tinycnn"):
        path = os.path.join(ROOT, candidate)
        if os.path.exists(path):
            return path
    return os.path.join(ROOT, "build", "tinycnn")


def read_pb(path):
    """A serialized ONNX TensorProto as a numpy array."""
    import onnx
    from onnx import numpy_helper
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


def run_tinycnn(tinycnn, model_json, x, workdir, n_outputs=1):
    """Runs `tinycnn run` on the float32 array x; returns (outputs, error text or None)."""
    import numpy as np
    in_path = os.path.join(workdir, "in.npy")
    out_paths = [os.path.join(workdir, "out%d.npy" % k) for k in range(n_outputs)]
    np.save(in_path, np.ascontiguousarray(x, dtype=np.float32))
    cmd = [tinycnn, "run", "-m", model_json, "--input", in_path]
    for p in out_paths:
        cmd += ["--output", p]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)
    if proc.returncode != 0:
        return None, "tinycnn run exited %d: %s" % (proc.returncode, proc.stderr.strip())
    return [np.load(p) for p in out_paths], None


def compare(got, expected, scale_atol=0.0):
    """None if got matches expected within the tolerance, else a one-line description.
    scale_atol adds scale_atol * max|expected| to the absolute tolerance (for outputs in the
    thousands, where a small value comes from cancellation and float32 rounding of the big ones
    decides its last digits)."""
    import numpy as np
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape:
        return "shape %s, expected %s" % (list(got.shape), list(expected.shape))
    err = np.abs(got - expected)
    atol = ATOL + scale_atol * (np.nanmax(np.abs(expected)) if expected.size else 0.0)
    bad = ~(err <= atol + RTOL * np.abs(expected))
    bad |= np.isnan(got) != np.isnan(expected)
    bad &= ~(np.isnan(got) & np.isnan(expected))
    if not bad.any():
        return None
    i = np.unravel_index(np.argmax(np.where(bad, err, -1)), expected.shape)
    return "%d of %d values differ; worst at %s: got %.9g, expected %.9g" % (
        int(bad.sum()), expected.size, list(map(int, i)), got[i], expected[i])


def convert(model, json_path, **options):
    """Converts a ModelProto into json_path (+ .bin); raises onnx_import.ConversionError."""
    from onnx_import import build_model, write
    text, blob = build_model(model, json_path, **options)
    write(json_path, text, blob)
