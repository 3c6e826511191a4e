#!/usr/bin/python3
"""run_conformance.py - the ONNX backend test data, converted and run through tinycnn.

For every test in Debian's libonnx-testdata (node/ and pytorch-converted/ under
/usr/share/libonnx-testdata/data) whose ops are all in the converter's list:
  1. the inputs after input_0 (weights, bounds, axes, ...) become initializers holding the test's
     values: tinycnn models have one input, and in real models these are initializers anyway;
  2. model.onnx is converted with tools/onnx2tinycnn.py's code;
  3. `tinycnn run` runs input_0.pb (its first dim is the batch) and each output is compared with
     output_N.pb at |got - expected| <= 1e-5 + 1e-4 * |expected|.
A test is out of scope by the rules in auto_scope() (dtype, 1-D/3-D, rank-1 tensors, training
mode) or by OUT_OF_SCOPE below, each with its reason; docs/onnx-conformance.md lists them all.
An in-scope test must pass; an out-of-scope test must be refused by the converter (a model it
converts must match). Prints a table per op; exit status 0 if all holds, 1 if not, 77 (skipped)
without python3-onnx or the test data.

    /usr/bin/python3 tests/onnx/run_conformance.py [--tinycnn build/tinycnn] [-v]
        [--only SUBSTRING] [--update-doc docs/onnx-conformance.md]
"""
import argparse
import glob
import os
import sys
import tempfile
import textwrap

from onnxtest import ROOT, SKIP, compare, convert, default_tinycnn, read_pb, require, run_tinycnn

DATA = "/usr/share/libonnx-testdata/data"
SUITES = ["node", "pytorch-converted"]

# The ops the converter claims (issue 5); a test is run when all its ops are here.
CLAIMED = {
    "Conv", "Gemm", "MatMul", "Add", "Sum", "Mul", "Sub", "Div", "BatchNormalization", "Relu",
    "LeakyRelu", "Elu", "Selu", "PRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh",
    "Softplus", "Softsign", "Gelu", "Clip", "Identity", "Dropout", "Softmax", "LogSoftmax",
    "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Pad", "Flatten", "Reshape",
    "Squeeze", "Unsqueeze", "Concat", "Constant",
    "Erf", "Abs",  # only inside the GELU and Softsign patterns
}
SPATIAL = {"Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Pad"}

TWO_INPUTS = ("two run-time inputs of the same shape; tinycnn models have one input, and "
              "freezing the second gives a constant that varies along the batch axis")
BCAST = ("a constant that varies along the last axis of [N, 4, 5]; constants must be "
         "per-channel (axis 1) or scalar: the engine has no general element-wise layer")
RESHAPE = "a reshape that is not a flatten to [N, -1]; the engine has no general reshape layer"
BATCH_AXIS = "works across the batch axis; tinycnn layers see one sample at a time"
CONCAT = ("concatenates two run-time inputs; tinycnn models have one input (and axis 0 is the "
          "batch)")

OUT_OF_SCOPE = {
    "test_abs": "Abs is converted only as part of Softsign, x / (1 + |x|)",
    "test_erf": "Erf is converted only as part of GELU, x * 0.5 * (1 + erf(x / sqrt 2))",
    "test_add": TWO_INPUTS, "test_sub": TWO_INPUTS, "test_mul": TWO_INPUTS,
    "test_div": TWO_INPUTS,
    "test_add_bcast": BCAST, "test_sub_bcast": BCAST, "test_mul_bcast": BCAST,
    "test_div_bcast": BCAST,
    "test_prelu_broadcast": "slope varies along the last axis of [N, 4, 5]; PRelu slopes must "
                            "be per-channel or one value",
    "test_prelu_example": "slope [3, 4, 5] varies along the batch axis",
    "test_constant": "no input: the graph is one Constant",
    "test_constant_pad": "pads with the value 1.2 and no layer follows; only a zero Pad before "
                         "Conv or pooling is supported",
    "test_ConstantPad2d": "pads with the value 2 and no layer follows; only a zero Pad before "
                          "Conv or pooling is supported",
    "test_ZeroPad2d": "a Pad on its own: the engine has no pad layer; a zero Pad folds into a "
                      "following Conv or pooling",
    "test_ReflectionPad2d": "reflect padding", "test_ReplicationPad2d": "edge padding",
    "test_dropout_default_mask": "uses Dropout's mask output",
    "test_dropout_default_mask_ratio": "uses Dropout's mask output",
    "test_maxpool_with_argmax_2d_precomputed_pads": "uses MaxPool's Indices output",
    "test_maxpool_with_argmax_2d_precomputed_strides": "uses MaxPool's Indices output",
    "test_gemm_all_attributes": "transA=1 transposes the batch into the features",
    "test_gemm_transposeA": "transA=1 transposes the batch into the features",
    "test_gemm_default_matrix_bias": "C [3, 4] varies along the batch axis",
    "test_matmul_3d": "batched MatMul with a run-time B (one per sample)",
    "test_matmul_4d": "batched MatMul with a run-time B (one per sample)",
    "test_selu": "alpha 2, gamma 3: the engine's selu has PyTorch's fixed constants",
    "test_softmax_axis_0": BATCH_AXIS, "test_logsoftmax_axis_0": BATCH_AXIS,
    "test_flatten_axis0": BATCH_AXIS, "test_flatten_axis2": BATCH_AXIS,
    "test_flatten_axis3": BATCH_AXIS, "test_flatten_negative_axis1": BATCH_AXIS,
    "test_flatten_negative_axis2": BATCH_AXIS, "test_flatten_negative_axis4": BATCH_AXIS,
    "test_squeeze": "squeezes the batch axis",
    "test_squeeze_negative_axes": RESHAPE,
    "test_unsqueeze_axis_0": "inserts an axis before the batch axis",
    "test_unsqueeze_axis_1": RESHAPE, "test_unsqueeze_axis_2": RESHAPE,
    "test_unsqueeze_axis_3": RESHAPE, "test_unsqueeze_negative_axes": RESHAPE,
    "test_unsqueeze_three_axes": RESHAPE, "test_unsqueeze_two_axes": RESHAPE,
    "test_unsqueeze_unsorted_axes": RESHAPE,
    "test_reshape_extended_dims": RESHAPE, "test_reshape_negative_dim": RESHAPE,
    "test_reshape_reordered_last_dims": RESHAPE, "test_reshape_zero_and_negative_dim": RESHAPE,
    "test_reshape_zero_dim": RESHAPE,
    "test_reshape_negative_extended_dims": BATCH_AXIS, "test_reshape_one_dim": BATCH_AXIS,
    "test_reshape_reordered_all_dims": BATCH_AXIS,
    "test_reshape_allowzero_reordered": "an input with a batch of 0",
    "test_PixelShuffle": RESHAPE + " (and Transpose)",
}
for _name in ["2d_axis_0", "2d_axis_1", "2d_axis_negative_1", "2d_axis_negative_2", "3d_axis_0",
              "3d_axis_1", "3d_axis_2", "3d_axis_negative_1", "3d_axis_negative_2",
              "3d_axis_negative_3"]:
    OUT_OF_SCOPE["test_concat_" + _name] = CONCAT

# Engine bugs found by this suite, reported to the lead: test -> description. A listed test that
# passes is an error too, so the list is kept accurate.
KNOWN_FAILURES = {}  # name -> reason; a listed case that passes is reported as an error


def auto_scope(model, test_dir):
    """The out-of-scope reason that follows from the model itself, or None."""
    from onnx import TensorProto
    inits = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    # Inputs after the first become initializers (freeze_inputs): their dtype is theirs.
    for v in inputs[:1] + list(model.graph.output):
        t = v.type
        if not t.HasField("tensor_type"):
            return "non-tensor (sequence or optional) values"
        if t.tensor_type.elem_type != TensorProto.FLOAT:
            return "dtype %s (only float32)" % TensorProto.DataType.Name(t.tensor_type.elem_type)
    if not inputs:
        return None
    rank = len(inputs[0].type.tensor_type.shape.dim)
    if rank < 2:
        return "a rank-%d input: the first dim is the batch, so no per-sample dims remain" % rank
    ops = {n.op_type for n in model.graph.node}
    if ops & SPATIAL and rank != 4:
        return "%d-D spatial (only 2-D N, C, H, W)" % (rank - 2)
    for n in model.graph.node:
        if any(a.name == "training_mode" and a.i for a in n.attribute):
            return "training mode (batch statistics)"
        if n.op_type == "Dropout" and len(n.input) > 2 and n.input[2]:
            k = [i.name for i in inputs].index(n.input[2]) if n.input[2] in \
                [i.name for i in inputs] else -1
            pb = os.path.join(test_dir, "test_data_set_0", "input_%d.pb" % k)
            if k > 0 and os.path.exists(pb) and bool(read_pb(pb).reshape(-1)[0]):
                return "training mode (random dropout)"
    return None


def freeze_inputs(model, data_set):
    """Turns graph inputs 1.. into initializers holding the data set's values."""
    from onnx import numpy_helper
    inits = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    for k, vi in enumerate(inputs[1:], start=1):
        pb = os.path.join(data_set, "input_%d.pb" % k)
        if os.path.exists(pb):
            model.graph.initializer.append(numpy_helper.from_array(read_pb(pb), vi.name))


def op_key(model):
    ops = []
    for n in model.graph.node:
        if n.op_type != "Constant" and n.op_type not in ops:
            ops.append(n.op_type)
    return "+".join(ops) or "Constant"


def run_test(tinycnn, suite, name, work):
    """(op key, status, detail); status is passed, failed, out, known or not_run."""
    import onnx
    from onnx_import import ConversionError
    test_dir = os.path.join(DATA, suite, name)
    model = onnx.load(os.path.join(test_dir, "model.onnx"))
    ops = {n.op_type for n in model.graph.node}
    if not ops <= CLAIMED:
        return None, "not_run", "ops outside the list: " + ", ".join(sorted(ops - CLAIMED))
    key = op_key(model)
    reason = OUT_OF_SCOPE.get(name) or auto_scope(model, test_dir)
    sets = sorted(glob.glob(os.path.join(test_dir, "test_data_set_*")))
    if sets:
        freeze_inputs(model, sets[0])
    model_json = os.path.join(work, "model.json")
    try:
        convert(model, model_json)
    except ConversionError as e:
        if reason:
            return key, "out", reason
        return key, "failed", "refused: " + "; ".join(p[2] for p in e.problems)
    problems = []
    for data_set in sets:
        x = read_pb(os.path.join(data_set, "input_0.pb"))
        expected = [read_pb(p) for p in sorted(glob.glob(os.path.join(data_set,
                                                                       "output_*.pb")))]
        outs, err = run_tinycnn(tinycnn, model_json, x, work, len(expected))
        problems += [err] if err else [p for p in map(compare, outs, expected) if p]
    if name in KNOWN_FAILURES:
        if problems:
            return key, "known", "%s (%s)" % (KNOWN_FAILURES[name], problems[0])
        return key, "failed", "passes now: remove it from KNOWN_FAILURES"
    if problems:
        return key, "failed", ("converted although out of scope (%s), and " % reason
                               if reason else "") + problems[0]
    if reason:
        return key, "failed", "passes although listed out of scope (%s): update the list" % reason
    return key, "passed", ""


def tables(results):
    """Markdown: the per-op table, the out-of-scope cases and the failures."""
    per_op = {}
    for suite, name, key, status, detail in results:
        if key is not None:
            row = per_op.setdefault(key, {"passed": 0, "failed": 0, "known": 0, "out": 0})
            row[status] += 1
    total = {s: sum(r[s] for r in per_op.values()) for s in ("passed", "failed", "known", "out")}
    lines = ["| op(s) in the test | passed | failed | out of scope |", "|---|---:|---:|---:|"]
    for key in sorted(per_op, key=str.lower):
        r = per_op[key]
        failed = "%d" % (r["failed"] + r["known"]) + (" (%d known)" % r["known"] if r["known"]
                                                        else "")
        lines.append("| %s | %d | %s | %d |" % (key, r["passed"], failed, r["out"]))
    lines.append("| **total** | **%d** | **%d** | **%d** |"
                 % (total["passed"], total["failed"] + total["known"], total["out"]))
    not_run = sum(1 for r in results if r[3] == "not_run")
    lines += ["", "%d more tests use ops outside the list and are not run." % not_run, "",
              "Out of scope, by reason:", ""]
    by_reason = {}
    for s, n, k, st, d in results:
        if st == "out":
            by_reason.setdefault(d, []).append("`%s`" % n)
    for reason in sorted(by_reason, key=lambda r: (-len(by_reason[r]), r)):
        text = "- %s (%d): %s." % (reason, len(by_reason[reason]), ", ".join(by_reason[reason]))
        lines += textwrap.wrap(text, 100, subsequent_indent="  ", break_on_hyphens=False)
    bad = [r for r in results if r[3] in ("failed", "known")]
    if bad:
        lines += ["", "Failures:", ""]
        for s, n, k, st, d in bad:
            text = "- `%s/%s`%s: %s" % (s, n, " (known engine bug)" if st == "known" else "", d)
            lines += textwrap.wrap(text, 100, subsequent_indent="  ", break_on_hyphens=False)
    return "\n".join(lines) + "\n", total


def update_doc(path, text):
    begin, end = "<!-- conformance:begin -->", "<!-- conformance:end -->"
    with open(path, encoding="utf-8") as f:
        doc = f.read()
    head, rest = doc.split(begin, 1)
    with open(path, "w", encoding="utf-8") as f:
        f.write(head + begin + "\n" + text + end + rest.split(end, 1)[1])


def main():
    require("numpy", "onnx")
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tinycnn", default=default_tinycnn())
    p.add_argument("--only", help="run only tests whose name contains this")
    p.add_argument("-v", "--verbose", action="store_true", help="one line per test")
    p.add_argument("--update-doc", metavar="MD", help="rewrite the generated part of this file")
    args = p.parse_args()
    if not os.path.isdir(DATA):
        print("SKIPPED: no ONNX test data at %s (apt-get install libonnx-testdata)" % DATA)
        return SKIP
    results = []
    with tempfile.TemporaryDirectory(prefix="tinycnn-conf-") as work:
        for suite in SUITES:
            for name in sorted(os.listdir(os.path.join(DATA, suite))):
                if args.only and args.only not in name:
                    continue
                key, status, detail = run_test(args.tinycnn, suite, name, work)
                results.append((suite, name, key, status, detail))
                if args.verbose and status != "not_run":
                    print("%-8s %s/%s %s" % (status, suite, name, detail))
    text, total = tables(results)
    print(text)
    if args.update_doc:
        update_doc(os.path.join(ROOT, args.update_doc) if not os.path.isabs(args.update_doc)
                   else args.update_doc, text)
    print("%s: %d passed, %d failed (%d known engine bugs), %d out of scope"
          % ("FAILED" if total["failed"] else "PASSED", total["passed"],
             total["failed"] + total["known"], total["known"], total["out"]))
    return 1 if total["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
