#!/usr/bin/python3
"""compare.py - tinycnn against ONNX Runtime (npm onnxruntime-node) on the three networks of
issue 7, side by side on this machine, in one go:

  1. builds tinycnn (Release) into BUILD (default /tmp/build_tinycnn_bench),
  2. builds the networks with fixed seeds and exports them to tinycnn and ONNX (make_models.py),
  3. installs onnxruntime-node from npm into tools/bench/node_modules (CPU binaries only),
  4. for each network, batch 1 and 64, 1 and 2 threads: runs ORT then tinycnn, REPEAT times
     alternating, each for SECONDS, and prints the medians and the ratio tinycnn / ORT of the
     microseconds per image (below 1: tinycnn is faster), and beside it the median of the
     REPEAT ratios of neighbouring runs (each pair ran within seconds, so a change in the
     machine's load between pairs moves it less).

Then the shipped Fashion-MNIST model as a whole process: `tinycnn predict` on one image (wall
time, peak resident memory) and the model load time, against issue 7's targets.

usage: /usr/bin/python3 tools/bench/compare.py [--seconds S] [--repeat R] [--build DIR] [--nice]
                                               [--process-only]
Not part of the test suite. --nice runs both engines at nice -15 (root), which shields the
figures from other processes on a busy machine; it favours neither engine.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

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
    ap.add_argument("--process-only", action="store_true",
                    help="only the whole-process figures of the shipped model")
    args = ap.parse_args()
    models = os.path.join(args.build, "bench_models")
    prepare(args.build, models)
    tinycnn = os.path.join(args.build, "tinycnn")
    if args.process_only:
        process_figures(tinycnn, args.nice)
        return
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
                paired = statistics.median(t / o for t, o in zip(tc_us, ort_us))
                rows.append((net, batch, threads, o_med, t_med, statistics.median(tc_gf),
                             t_med / o_med, paired))
                print("%-8s batch %-3d threads %d: ORT %9.1f us/image, tinycnn %9.1f us/image, "
                      "ratio %.2f (paired %.2f)"
                      % (net, batch, threads, o_med, t_med, t_med / o_med, paired),
                      file=sys.stderr)
    print("| model | batch | threads | ORT us/image | tinycnn us/image | tinycnn GFLOP/s "
          "| ORT img/s | tinycnn img/s | ratio tinycnn/ORT | median of paired ratios |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for net, batch, threads, o, t, gf, ratio, paired in rows:
        print("| %s | %d | %d | %.1f | %.1f | %.1f | %.0f | %.0f | %.2f | %.2f |"
              % (net, batch, threads, o, t, gf, 1e6 / o, 1e6 / t, ratio, paired))
    process_figures(tinycnn, args.nice)


def peak_rss_kib(cmd):
    """Runs cmd in a fresh interpreter and returns the largest resident size of its children
    (only cmd), in KiB, from getrusage."""
    code = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
            "stdout=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN)"
            ".ru_maxrss)")
    return int(run(["/usr/bin/python3", "-c", code] + cmd, stdout=subprocess.PIPE).stdout)


def process_figures(tinycnn, nice):
    """The shipped Fashion-MNIST model as a whole process: `tinycnn predict` on one image
    (median wall time of 30 runs, peak resident memory) and the model load time."""
    model = os.path.join(ROOT, "models", "fashion_mnist", "model.json")
    image = os.path.join(ROOT, "samples", "fashion_0000_ankle_boot.png")
    prefix = ["nice", "-n", "-15"] if nice else []
    cmd = prefix + [tinycnn, "predict", "-m", model, image]
    walls = []
    devnull = os.open(os.devnull, os.O_WRONLY)
    for _ in range(31):  # posix_spawn + waitpid: less of Python's own time than subprocess
        t0 = time.perf_counter()
        pid = os.posix_spawn(cmd[0] if not nice else "/usr/bin/nice", cmd, os.environ,
                             file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1)])
        _, status = os.waitpid(pid, 0)
        walls.append(time.perf_counter() - t0)
        if status != 0:
            raise RuntimeError("%s failed" % " ".join(cmd))
    os.close(devnull)
    walls = walls[1:]  # the first run reads the files from disk
    rss = peak_rss_kib([tinycnn, "predict", "-m", model, image])
    load = measure([tinycnn, "bench", "-m", model, "--seconds", "0.2", "--json"], nice)["load_ms"]
    summary = run([tinycnn, "summary", "-m", model], stdout=subprocess.PIPE).stdout
    weights = int(re.search(r"\((\d+) bytes\)", summary).group(1))
    arena = int(re.search(r"memory: (\d+) bytes", summary).group(1))
    batch = 16  # predict's default batch: its workspace holds 16 samples
    limit = 3 * (weights + arena * batch) + 8 * 2**20
    print()
    print("| shipped Fashion-MNIST model | measured | target |")
    print("|---|---|---|")
    print("| `tinycnn predict` on one image, whole process (median of 30 after one warm-up; "
          "fastest %.2f ms) | %.2f ms | < 5 ms |"
          % (min(walls) * 1e3, statistics.median(walls) * 1e3))
    print("| model load (parse, check, plan, fuse, pack; median) | %.3f ms | < 5 ms |" % load)
    print("| peak resident memory of that predict run | %.1f MiB | < 3 x (%.2f MiB weights + "
          "%.2f MiB arena for %d) + 8 MiB = %.1f MiB |"
          % (rss / 1024, weights / 2**20, arena * batch / 2**20, batch, limit / 2**20))


if __name__ == "__main__":
    main()
