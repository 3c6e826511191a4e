#!/usr/bin/python3
"""test_fashion_mnist.py - the shipped Fashion-MNIST model against PyTorch on all 10,000 test images.

    /usr/bin/python3 tests/models/test_fashion_mnist.py [--tinycnn build/tinycnn] [--torch]
        [--data /usr/share/datasets/fashion-mnist]

Without --torch (needs python3-numpy and dataset-fashion-mnist), against what training recorded
in models/fashion_mnist/reference.json:
  - `tinycnn eval --json` reports exactly PyTorch's number of correct answers (torch_correct);
  - `tinycnn run` on the preprocessed images predicts, image by image, PyTorch's classes (their
    SHA-256, test_pred_sha256).
With --torch (needs python3-torch too), against PyTorch itself: the network is rebuilt in torch
from model.json + model.bin alone (tools/torch2tinycnn.load_tinycnn_as_torch; that its
predictions are the trained network's is the SHA-256 check), then
  - the engine's predicted class equals PyTorch's on every image;
  - every probability agrees to 1e-5 (absolute);
  - `tinycnn eval` reports PyTorch's accuracy and PyTorch's confusion matrix.
Exit status 0 if all holds, 1 if not, 77 (skipped) when a package or the data set is missing.
"""
import argparse
import gzip
import hashlib
import json
import os
import subprocess
import sys
import tempfile

SKIP = 77
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MODEL = os.path.join(ROOT, "models", "fashion_mnist", "model.json")
REFERENCE = os.path.join(ROOT, "models", "fashion_mnist", "reference.json")
IMAGES = "t10k-images-idx3-ubyte.gz"
LABELS = "t10k-labels-idx1-ubyte.gz"
PROB_ATOL = 1e-5


def skip(why):
    print("SKIPPED: " + why)
    sys.exit(SKIP)


def read_idx(np, path):
    """An idx file of unsigned bytes, read independently of the engine."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    if data[:3] != b"\x00\x00\x08":
        raise ValueError("%s: not an idx file of unsigned bytes" % path)
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def preprocess(np, images, pre):
    """The model's "preprocess" on uint8 images [N, H, W] -> float32 [N, 1, H, W]."""
    x = images.astype(np.float32)[:, None, :, :]
    if pre.get("invert", False):
        x = np.float32(255) - x
    x = x * np.float32(pre.get("scale", 1.0))
    mean = np.float32(np.asarray(pre.get("mean", 0.0), np.float32).reshape(-1)[0])
    std = np.float32(np.asarray(pre.get("std", 1.0), np.float32).reshape(-1)[0])
    return (x - mean) / std


class Checks:
    def __init__(self):
        self.failures = 0

    def check(self, what, ok):
        print("%-4s %s" % ("ok" if ok else "FAIL", what))
        self.failures += 0 if ok else 1


def tinycnn_run(np, tinycnn, x, tmp):
    x_path = os.path.join(tmp, "x.npy")
    y_path = os.path.join(tmp, "y.npy")
    np.save(x_path, np.ascontiguousarray(x, dtype="<f4"))
    proc = subprocess.run([tinycnn, "run", "-m", MODEL, "--input", x_path, "--output", y_path],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError("tinycnn run failed (exit %d): %s" % (proc.returncode, proc.stderr))
    return np.load(y_path)


def tinycnn_eval(tinycnn, data):
    proc = subprocess.run([tinycnn, "eval", "-m", MODEL, "--json",
                           "--images", os.path.join(data, IMAGES),
                           "--labels", os.path.join(data, LABELS)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError("tinycnn eval failed (exit %d): %s" % (proc.returncode, proc.stderr))
    return json.loads(proc.stdout)


def torch_probabilities(np, x):
    import torch
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    from torch2tinycnn import load_tinycnn_as_torch
    torch.set_num_threads(2)
    net, _ = load_tinycnn_as_torch(MODEL)
    with torch.no_grad():
        return np.concatenate([net(torch.from_numpy(x[i:i + 1000])).numpy()
                               for i in range(0, len(x), 1000)])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tinycnn", default=os.path.join(ROOT, "build", "tinycnn"))
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--torch", action="store_true", help="compare with PyTorch itself")
    args = ap.parse_args()
    try:
        import numpy as np
    except ImportError:
        skip("python3-numpy is not installed")
    if args.torch:
        try:
            import torch  # noqa: F401
        except ImportError:
            skip("python3-torch is not installed (apt-get install python3-torch)")
    if not all(os.path.exists(os.path.join(args.data, f)) for f in (IMAGES, LABELS)):
        skip("%s/{%s,%s} not found (apt-get install dataset-fashion-mnist)"
             % (args.data, IMAGES, LABELS))

    with open(MODEL) as f:
        pre = json.load(f).get("preprocess", {})
    with open(REFERENCE) as f:
        ref = json.load(f)
    images = read_idx(np, os.path.join(args.data, IMAGES))
    labels = read_idx(np, os.path.join(args.data, LABELS)).astype(np.int64)
    x = preprocess(np, images, pre)
    c = Checks()
    with tempfile.TemporaryDirectory(prefix="tinycnn_fmnist_") as tmp:
        probs = tinycnn_run(np, args.tinycnn, x, tmp)
    result = tinycnn_eval(args.tinycnn, args.data)
    pred = probs.argmax(1)
    n = len(labels)
    c.check("tinycnn run: %d x %d probabilities" % probs.shape, probs.shape == (n, 10))
    c.check("tinycnn eval: %d of %d correct, reference.json (PyTorch at training): %d"
            % (result["correct"], result["total"], ref["torch_correct"]),
            result["correct"] == ref["torch_correct"] and result["total"] == n)
    sha = hashlib.sha256(pred.astype(np.uint8).tobytes()).hexdigest()
    c.check("tinycnn run: predicted classes have PyTorch's SHA-256 (%s...)" % sha[:16],
            sha == ref["test_pred_sha256"])
    c.check("tinycnn run and tinycnn eval agree: %d correct" % int((pred == labels).sum()),
            int((pred == labels).sum()) == result["correct"])

    if args.torch:
        ref_probs = torch_probabilities(np, x)
        ref_pred = ref_probs.argmax(1)
        differ = int((ref_pred != pred).sum())
        diff = float(np.abs(probs - ref_probs).max())
        torch_correct = int((ref_pred == labels).sum())
        confusion = np.zeros((10, 10), np.int64)
        np.add.at(confusion, (labels, ref_pred), 1)
        c.check("PyTorch (rebuilt from the files) predicts the trained network's classes",
                hashlib.sha256(ref_pred.astype(np.uint8).tobytes()).hexdigest()
                == ref["test_pred_sha256"])
        c.check("predicted class: %d of %d images differ from PyTorch" % (differ, n), differ == 0)
        c.check("probabilities: largest |tinycnn - PyTorch| = %.3g (limit %g)" % (diff, PROB_ATOL),
                diff <= PROB_ATOL)
        c.check("tinycnn eval accuracy %.4f = PyTorch's %d / %d"
                % (result["accuracy"], torch_correct, n),
                result["correct"] == torch_correct and result["accuracy"] == torch_correct / n)
        c.check("tinycnn eval confusion matrix = PyTorch's",
                result["confusion"] == confusion.tolist())
    print("%d failure(s)" % c.failures)
    return 1 if c.failures else 0


if __name__ == "__main__":
    sys.exit(main())
