#!/usr/bin/python3
"""compare.py - tinycnn against ONNX Runtime (npm onnxruntime-node) on the three networks of
issue 7, side by side on this machine, in one go:

  1. builds tinycnn (Release) into BUILD (default /tmp/build_tinycnn_bench),
  2. builds the networks with fixed seeds and exports them to tinycnn and ONNX (make_models.py),
  3. installs onnxruntime-node from npm into tools/bench/node_modules (CPU binaries only),
  4. for each network, batch 1 and 64, 1 and 2 threads: runs ORT then tinycnn, REPEAT times
     alternating, each for SECONDS, and prints the medians and the ratio tinycnn / ORT of the
     microseconds per image (below 1: tinycnn is faster).

usage: /usr/bin/python3 tools/bench/compare.py [--seconds S] [--repeat R] [--build DIR] [--nice]
Not part of the test suite. --nice runs both engines at nice -15 (root), which shields the
figures from other processes on a busy machine; it favours neither engine.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
NETS = ["lenet", "fashion", "wide"]


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, **kw)


def prepare(build, models):
    run(["cmake", "-S", ROOT, "-B", build, "-DCMAKE_BUILD_TYPE=Release", "-DTC_BUILD_TESTS=OFF"],
        stdout=subprocess.DEVNULL)
    run(["cmake", "--build", build, "-j2"], stdout=subprocess.DEVNULL)
    run(["/usr/bin/python3", os.path.join(HERE, "make_models.py"), models],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not os.path.isdir(os.path.join(HERE, "node_modules", "onnxruntime-node")):
        # The package ships its CPU binaries; its install script only fetches GPU ones.
        run(["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=HERE,
            stdout=subprocess.DEVNULL)


def measure(cmd, nice):
    prefix = ["nice", "-n", "-15"] if nice else []
    out = run(prefix + cmd, stdout=subprocess.PIPE).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--build", default="/tmp/build_tinycnn_bench")
    ap.add_argument("--nice", action="store_true")
    args = ap.parse_args()
    models = os.path.join(args.build, "bench_models")
    prepare(args.build, models)
    tinycnn = os.path.join(args.build, "tinycnn")
    rows = []
    for net in NETS:
        for batch in (1, 64):
            for threads in (1, 2):
                ort_us, tc_us, tc_gf = [], [], []
                for _ in range(args.repeat):
                    o = measure(["node", os.path.join(HERE, "ort_bench.js"),
                                 os.path.join(models, net + ".onnx"), str(batch), str(threads),
                                 str(args.seconds)], args.nice)
                    t = measure([tinycnn, "bench", "-m", os.path.join(models, net + ".json"),
                                 "--batch", str(batch), "--threads", str(threads), "--seconds",
                                 str(args.seconds), "--json"], args.nice)
                    ort_us.append(o["us_per_image"])
                    tc_us.append(t["us_per_image"])
                    tc_gf.append(t["gflops"])
                o_med, t_med = statistics.median(ort_us), statistics.median(tc_us)
                rows.append((net, batch, threads, o_med, t_med, statistics.median(tc_gf),
                             t_med / o_med))
                print("%-8s batch %-3d threads %d: ORT %9.1f us/image, tinycnn %9.1f us/image, "
                      "ratio %.2f" % (net, batch, threads, o_med, t_med, t_med / o_med),
                      file=sys.stderr)
    print("| model | batch | threads | ORT us/image | tinycnn us/image | tinycnn GFLOP/s "
          "| ORT img/s | tinycnn img/s | ratio tinycnn/ORT |")
    print("|---|---|---|---|---|---|---|---|---|")
    for net, batch, threads, o, t, gf, ratio in rows:
        print("| %s | %d | %d | %.1f | %.1f | %.1f | %.0f | %.0f | %.2f |"
              % (net, batch, threads, o, t, gf, 1e6 / o, 1e6 / t, ratio))


if __name__ == "__main__":
    main()
