#!/usr/bin/python3
"""test_converter_cli.py - the command-line contract of tools/onnx2tinycnn.py.

Small ONNX graphs built with onnx.helper check that
  - an unconvertible model gives exit status 2, one message naming every offending node (name,
    op, reason), and no output files;
  - a zero Pad folds into MaxPool only when its input is known to be >= 0;
  - the preprocessing, labels, name and --append-softmax options land in the JSON, and the
    model runs with a batch size other than the exported one (symbolic batch);
  - opsets above 17 are refused.

    /usr/bin/python3 tests/onnx/test_converter_cli.py [--tinycnn build/tinycnn]
Exit status 0 if all hold, 1 if not, 77 (skipped) without python3-onnx.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

from onnxtest import ROOT, compare, default_tinycnn, require, run_tinycnn

CONVERTER = os.path.join(ROOT, "tools", "onnx2tinycnn.py")


def make_model(nodes, inits, in_shape, out_shape, opset=13):
    from onnx import TensorProto, helper, numpy_helper
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)],
        [numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def run_converter(model, work, *options):
    import onnx
    src = os.path.join(work, "in.onnx")
    out = os.path.join(work, "out.json")
    for f in (out, out[:-5] + ".bin"):
        if os.path.exists(f):
            os.remove(f)
    onnx.save(model, src)
    proc = subprocess.run([sys.executable, CONVERTER, src, "-o", out, "-q"] + list(options),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)
    return proc, out


def main():
    np, _ = require("numpy", "onnx")
    from onnx import helper
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tinycnn", default=default_tinycnn())
    args = p.parse_args()
    rng = np.random.default_rng(7)
    w = rng.standard_normal((2, 3, 3, 3)).astype(np.float32)
    failures = []

    def check(what, ok, detail=""):
        print("%-64s %s" % (what, "ok" if ok else "FAIL " + detail))
        if not ok:
            failures.append(what)

    with tempfile.TemporaryDirectory(prefix="tinycnn-cli-") as work:
        # Three offending nodes, one of them after another failure: all named, nothing written.
        bad = make_model([
            helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
            helper.make_node("Mul", ["c", "c"], ["sq"], name="square"),
            helper.make_node("Transpose", ["sq"], ["t"], name="swap", perm=[0, 1, 3, 2]),
            helper.make_node("Mish", ["t"], ["y"], name="mish"),
        ], {"w": w}, ["N", 3, 6, 6], ["N", 2, 4, 4], opset=17)
        proc, out = run_converter(bad, work)
        err = proc.stderr
        check("unconvertible model: exit status 2", proc.returncode == 2, str(proc.returncode))
        for name, op in (("square", "Mul"), ("swap", "Transpose"), ("mish", "Mish")):
            check("  names node %s (%s)" % (name, op), '"%s" (%s)' % (name, op) in err, err)
        check("  writes no files", not os.path.exists(out) and
              not os.path.exists(out[:-5] + ".bin"))

        # Zero Pad then MaxPool: refused on a raw input, folded after a Relu.
        pads = np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64)
        for relu in (False, True):
            nodes = [helper.make_node("Relu", ["x"], ["r"])] if relu else []
            nodes += [helper.make_node("Pad", ["r" if relu else "x", "pads"], ["p"], name="pad"),
                      helper.make_node("MaxPool", ["p"], ["y"], name="pool",
                                       kernel_shape=[3, 3], strides=[2, 2])]
            model = make_model(nodes, {"pads": pads}, ["N", 3, 6, 6], ["N", 3, 3, 3])
            proc, out = run_converter(model, work)
            if not relu:
                check("Pad + MaxPool of a possibly negative input: refused",
                      proc.returncode == 2 and '"pool" (MaxPool)' in proc.stderr, proc.stderr)
                continue
            x = rng.standard_normal((5, 3, 6, 6)).astype(np.float32)
            xp = np.pad(np.maximum(x, 0), ((0, 0), (0, 0), (1, 1), (1, 1)))
            want = np.stack([[[[xp[n, c, 2 * i:2 * i + 3, 2 * j:2 * j + 3].max()
                                for j in range(3)] for i in range(3)] for c in range(3)]
                             for n in range(5)])
            outs, e = run_tinycnn(args.tinycnn, out, x, work)
            check("Relu + Pad + MaxPool: folded, matches numpy at batch 5",
                  proc.returncode == 0 and e is None and compare(outs[0], want) is None,
                  proc.stderr + str(e))

        # Options: preprocess, labels, name, append-softmax; the batch is symbolic.
        labels = os.path.join(work, "labels.txt")
        with open(labels, "w") as f:
            f.write("cat\ndog\n")
        model = make_model([helper.make_node("Conv", ["x", "w"], ["c"]),
                            helper.make_node("GlobalAveragePool", ["c"], ["g"]),
                            helper.make_node("Flatten", ["g"], ["y"])],
                           {"w": w}, ["N", 3, 6, 6], ["N", 2])
        proc, out = run_converter(model, work, "--name", "pets", "--scale", "0.5", "--mean",
                                  "1,2,3", "--std", "2", "--labels", labels, "--append-softmax")
        doc = json.load(open(out)) if proc.returncode == 0 else {}
        check("options: exit 0", proc.returncode == 0, proc.stderr)
        check("  preprocess, labels, name in the JSON",
              doc.get("preprocess") == {"scale": 0.5, "mean": [1, 2, 3], "std": [2, 2, 2]}
              and doc.get("labels") == ["cat", "dog"] and doc.get("name") == "pets", str(doc))
        check("  ends in the appended softmax",
              doc.get("layers", [{}])[-1].get("type") == "softmax")
        x = rng.standard_normal((4, 3, 6, 6)).astype(np.float32)
        outs, e = run_tinycnn(args.tinycnn, out, x, work)
        # valid 3x3 conv, then the mean over its 4x4 output, then softmax
        logits = np.array([[sum((x[n, :, i:i + 3, j:j + 3] * w[o]).sum() for i in range(4)
                                for j in range(4)) / 16 for o in range(2)] for n in range(4)])
        probs = np.exp(logits - logits.max(1, keepdims=True))
        probs /= probs.sum(1, keepdims=True)
        check("  runs at batch 4 and matches numpy", e is None and
              compare(outs[0], probs.astype(np.float32)) is None, str(e))

        # Opset 18 is beyond the supported range.
        proc, out = run_converter(make_model([helper.make_node("Relu", ["x"], ["y"])], {},
                                             ["N", 3], ["N", 3], opset=18), work)
        check("opset 18: refused", proc.returncode == 2 and "opset 18" in proc.stderr,
              proc.stderr)
    print("%s: %d failure(s)" % ("FAILED" if failures else "PASSED", len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
