#!/usr/bin/python3
"""onnx2tinycnn.py - converts an ONNX model into a tinycnn model (format version 1).

    /usr/bin/python3 tools/onnx2tinycnn.py IN.onnx -o OUT.json [--name N]
        [--scale S] [--mean M[,M...]] [--std D[,D...]] [--invert] [--labels FILE]
        [--append-softmax]

writes OUT.json and OUT.bin (the weights) beside it. Needs Debian's python3-onnx and
python3-numpy. If any node cannot be converted, prints one message naming every such node
(name, op, reason), writes nothing and exits with status 2. docs/onnx.md describes what is
supported; the code is in tools/onnx_import/.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import onnx  # noqa: E402

from onnx_import import ConversionError, build_model, write  # noqa: E402

EXIT_OK, EXIT_RUNTIME, EXIT_USAGE = 0, 1, 2


def _floats(text):
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError("expected a number or a comma-separated list, got %r"
                                         % text)


def _parse_args(argv):
    p = argparse.ArgumentParser(
        prog="onnx2tinycnn.py",
        description="Converts an ONNX model (opsets 7 to 17) into tinycnn's format: OUT.json "
                    "and OUT.bin beside it.")
    p.add_argument("model", metavar="IN.onnx", help="the ONNX model")
    p.add_argument("-o", "--output", metavar="OUT.json", required=True,
                   help="the model JSON to write; the weights go to OUT.bin")
    p.add_argument("--name", metavar="N", help="model name (default: the ONNX graph name)")
    p.add_argument("--scale", type=float, metavar="S", help="preprocess: multiply pixel values (0..255) "
                   "by S, e.g. 0.00392156862745098 for [0, 1]")
    p.add_argument("--mean", type=_floats, metavar="M[,M...]", help="preprocess: subtract, one value or one per "
                   "channel")
    p.add_argument("--std", type=_floats, metavar="D[,D...]", help="preprocess: then divide by, one value or one "
                   "per channel")
    p.add_argument("--invert", action="store_true", help="preprocess: v = 255 - v first "
                   "(dark ink on a light background)")
    p.add_argument("--labels", metavar="FILE", help="class names, one per line")
    p.add_argument("--append-softmax", action="store_true",
                   help="add a softmax after the output, so that a model ending in logits or "
                   "log-probabilities gives class probabilities")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    return p.parse_args(argv)


def _preprocess(args):
    pre = {}
    if args.invert:
        pre["invert"] = True
    if args.scale is not None:
        pre["scale"] = args.scale
    if args.mean is not None:
        pre["mean"] = args.mean
    if args.std is not None:
        if any(s <= 0 for s in args.std):
            raise ValueError("--std values must be > 0")
        pre["std"] = args.std
    return pre or None


def main(argv=None):
    args = _parse_args(argv)
    prog = "onnx2tinycnn"
    try:
        preprocess = _preprocess(args)
        labels = None
        if args.labels:
            with open(args.labels, encoding="utf-8") as f:
                labels = [line.rstrip("\r\n") for line in f if line.strip()]
        model = onnx.load(args.model)
    except (OSError, ValueError, onnx.onnx_cpp2py_export.checker.ValidationError) as e:
        print("%s: %s" % (prog, e), file=sys.stderr)
        return EXIT_USAGE
    except Exception as e:  # a file that is not an ONNX protobuf
        print("%s: %s: cannot read the model: %s" % (prog, args.model, e), file=sys.stderr)
        return EXIT_USAGE
    try:
        text, blob = build_model(model, args.output, name=args.name, preprocess=preprocess,
                                 labels=labels, append_softmax=args.append_softmax)
    except ConversionError as e:
        print("%s: %s: cannot be converted (%d problem%s; see docs/onnx.md); nothing "
              "written:\n%s" % (prog, args.model, len(e.problems),
                                 "s" if len(e.problems) > 1 else "", e.report()),
              file=sys.stderr)
        return EXIT_USAGE
    try:
        written = write(args.output, text, blob)
    except OSError as e:
        print("%s: cannot write %s: %s" % (prog, args.output, e.strerror or e), file=sys.stderr)
        return EXIT_RUNTIME
    if not args.quiet:
        print("wrote %s" % " and ".join("%s (%d bytes)" % (p, os.path.getsize(p))
                                         for p in written))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
