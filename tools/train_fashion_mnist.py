#!/usr/bin/python3
"""train_fashion_mnist.py - trains the shipped Fashion-MNIST CNN and exports it for tinycnn.

Run from the repository root with Debian's interpreter (python3-torch, python3-numpy, and the
dataset-fashion-mnist package):

    /usr/bin/python3 tools/train_fashion_mnist.py

It reads the idx .gz files itself, trains with fixed seeds on 2 CPU threads, prints progress,
then writes models/fashion_mnist/model.json + model.bin (through tools/torch2tinycnn.py) and
models/fashion_mnist/reference.json (accuracy, time, sizes). Finally it reloads the exported files
with torch2tinycnn.load_tinycnn_as_torch and checks that they classify the 10,000 test images
exactly as the trained model does.
"""
import argparse
import gzip
import hashlib
import json
import os
import random
import struct
import sys
import time
from pathlib import Path

# Idle OpenMP threads sleep instead of spinning: on a shared 2-core machine spinning threads
# made training up to 3x slower. Must be set before torch starts OpenMP.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch2tinycnn  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = Path("/usr/share/datasets/fashion-mnist")
LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
          "Bag", "Ankle boot"]
SCALE = 1.0 / 255.0


def read_idx(path):
    """An idx file (gzipped or not) as a numpy uint8 array of its declared shape."""
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError("%s: not an unsigned-byte idx file" % path)
    dims = struct.unpack(">%dI" % ndim, raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError("%s: %d bytes of data for shape %s" % (path, data.size, dims))
    return data.reshape(dims)


class ConvLinear(nn.Linear):
    """nn.Linear on a flattened [C, H, W] input, computed as a CxHxW convolution. Same math and
    parameters; it only exists because Debian's torch does matrix products with the reference
    BLAS (about 3 GFLOPS here) while convolutions go through oneDNN (about 20x faster)."""

    def __init__(self, chw, out_features):
        super().__init__(int(np.prod(chw)), out_features)
        self.chw = tuple(chw)

    def forward(self, x):
        w = self.weight.view((self.out_features,) + self.chw)
        return F.conv2d(x.view((-1,) + self.chw), w, self.bias).flatten(1)

    def plain(self):
        """An nn.Linear sharing these parameters (what gets exported)."""
        m = nn.Linear(self.in_features, self.out_features)
        m.weight, m.bias = self.weight, self.bias
        return m


def build_net(widths, hidden, dropout):
    """conv-batchnorm-relu-maxpool blocks, then flatten, dropout, dense+relu, dense (logits)."""
    layers, c, size = [], 1, 28
    for w in widths:
        layers += [nn.Conv2d(c, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                   nn.MaxPool2d(2)]
        c, size = w, size // 2
    layers += [nn.Flatten(), nn.Dropout(dropout), ConvLinear((c, size, size), hidden),
               nn.ReLU(inplace=True), nn.Linear(hidden, 10)]
    return nn.Sequential(*layers)


def for_export(net):
    """The trained net with softmax appended and ConvLinear replaced by nn.Linear, in eval mode."""
    mods = [m.plain() if isinstance(m, ConvLinear) else m for m in net]
    return nn.Sequential(nn.Sequential(*mods), nn.Softmax(dim=1)).eval()


def normalize(x_u8, mean, std):
    """(x * scale - mean) / std in float32, as torch2tinycnn.preprocess_u8 computes it."""
    f32 = torch.float32
    return ((x_u8.float() * torch.tensor(SCALE, dtype=f32) - torch.tensor(mean, dtype=f32))
            / torch.tensor(std, dtype=f32))


def evaluate(net, x_u8, y, mean, std, batch=1000):
    """(accuracy, number correct, predicted classes) of net on uint8 images x_u8."""
    net.eval()
    preds = []
    with torch.no_grad():
        for i in range(0, len(x_u8), batch):
            preds.append(net(normalize(x_u8[i:i + batch], mean, std)).argmax(1))
    pred = torch.cat(preds)
    correct = int((pred == y).sum())
    return correct / len(y), correct, pred


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--opt", choices=["sgd", "adamw"], default="adamw")
    ap.add_argument("--lr", type=float, default=None,
                    help="peak learning rate of the one-cycle schedule (sgd 0.05, adamw 0.003)")
    ap.add_argument("--wd", type=float, default=None, help="weight decay (sgd 5e-4, adamw 0.05)")
    ap.add_argument("--widths", default="24,48,96", help="conv channels per block")
    ap.add_argument("--hidden", type=int, default=192)
    ap.add_argument("--dropout", type=float, default=0.3)
    ap.add_argument("--no-flip", action="store_true", help="no random horizontal flips")
    ap.add_argument("--eval-every", type=int, default=0,
                    help="also measure test accuracy every N epochs (default: only at the end)")
    ap.add_argument("--seed", type=int, default=20240611)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "models" / "fashion_mnist"))
    ap.add_argument("--no-export", action="store_true", help="train and report only")
    args = ap.parse_args()

    t_start = time.time()
    load_start = os.getloadavg()[0]
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)

    x_train = torch.from_numpy(read_idx(DATA / "train-images-idx3-ubyte.gz").copy())
    y_train = torch.from_numpy(read_idx(DATA / "train-labels-idx1-ubyte.gz").astype(np.int64))
    x_test = torch.from_numpy(read_idx(DATA / "t10k-images-idx3-ubyte.gz").copy())
    y_test = torch.from_numpy(read_idx(DATA / "t10k-labels-idx1-ubyte.gz").astype(np.int64))
    x_train, x_test = x_train[:, None], x_test[:, None]  # [N, 1, 28, 28] uint8

    # Normalisation from the training images, in float64, stored as the float32 torch uses.
    pixels = read_idx(DATA / "train-images-idx3-ubyte.gz").astype(np.float64) * SCALE
    mean = float(np.float32(pixels.mean()))
    std = float(np.float32(pixels.std()))
    del pixels
    print("train %d, test %d images; mean %.6f std %.6f" % (len(x_train), len(x_test), mean, std))

    widths = [int(w) for w in args.widths.split(",")]
    net = build_net(widths, args.hidden, args.dropout)
    n_params = sum(p.numel() for p in net.parameters())
    steps = (len(x_train) + args.batch - 1) // args.batch
    if args.opt == "sgd":
        args.lr = args.lr or 0.05
        opt = torch.optim.SGD(net.parameters(), lr=args.lr, momentum=0.9, nesterov=True,
                              weight_decay=5e-4 if args.wd is None else args.wd)
    else:
        args.lr = args.lr or 0.003
        opt = torch.optim.AdamW(net.parameters(), lr=args.lr,
                                weight_decay=0.05 if args.wd is None else args.wd)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, epochs=args.epochs,
                                                steps_per_epoch=steps)
    gen = torch.Generator().manual_seed(args.seed)
    print("net: %s, %d parameters; %d epochs of %d batches" % (
        args.widths, n_params, args.epochs, steps))

    t_train, cpu_train = time.time(), time.process_time()
    for epoch in range(1, args.epochs + 1):
        net.train()
        order = torch.randperm(len(x_train), generator=gen)
        loss_sum, correct = 0.0, 0
        for b in range(steps):
            idx = order[b * args.batch:(b + 1) * args.batch]
            x = normalize(x_train[idx], mean, std)
            if not args.no_flip:
                flip = torch.rand(len(idx), generator=gen) < 0.5
                x = torch.where(flip[:, None, None, None], x.flip(3), x)
            y = y_train[idx]
            logits = net(x)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += float(loss) * len(idx)
            correct += int((logits.argmax(1) == y).sum())
        test = ""
        if args.eval_every and epoch % args.eval_every == 0 and epoch < args.epochs:
            test = "  test acc %.4f" % evaluate(net, x_test, y_test, mean, std)[0]
        print("epoch %2d/%d  loss %.4f  train acc %.4f%s  elapsed %.0f s  (load %.1f)" % (
            epoch, args.epochs, loss_sum / len(x_train), correct / len(x_train), test,
            time.time() - t_start, os.getloadavg()[0]), flush=True)
    train_seconds = time.time() - t_train
    train_cpu_seconds = time.process_time() - cpu_train

    # The shipped model ends in softmax; its argmax is PyTorch's prediction.
    model = for_export(net)
    acc, correct, pred = evaluate(model, x_test, y_test, mean, std)
    print("test accuracy %.4f (%d / %d), training %.0f s" % (acc, correct, len(y_test),
                                                           train_seconds))
    if args.no_export:
        return 0

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    preprocess = {"scale": SCALE, "mean": [mean], "std": [std], "invert": False}
    info = torch2tinycnn.export(model, (1, 28, 28), out / "model.json",
                                name="fashion-mnist-cnn", preprocess=preprocess, labels=LABELS)

    # The exported files alone must classify every test image as the trained model does.
    back, doc = torch2tinycnn.load_tinycnn_as_torch(out / "model.json")
    with torch.no_grad():
        x_all = torch2tinycnn.preprocess_u8(x_test.numpy(), doc["preprocess"])
        probs_t = model(x_all)
        probs_e = back(x_all)
    pred_e = probs_e.argmax(1)
    n_differ = int((pred_e != pred).sum())
    top2 = probs_t.topk(2, dim=1).values
    margin = float((top2[:, 0] - top2[:, 1]).min())
    max_diff = float((probs_e - probs_t).abs().max())
    correct_e = int((pred_e == y_test).sum())
    print("exported model: %d / %d correct, %d predictions differ, max |dp| %.2e" % (
        correct_e, len(y_test), n_differ, max_diff))

    ref = {
        "dataset": "Fashion-MNIST test set (t10k), 10000 images",
        "torch_accuracy": correct / len(y_test),
        "torch_correct": correct,
        "total": len(y_test),
        "exported_correct": correct_e,
        "predictions_differ": n_differ,
        "max_abs_prob_diff_export_vs_torch": max_diff,
        "min_top2_prob_margin": margin,
        "test_pred_sha256": hashlib.sha256(pred.numpy().astype(np.uint8).tobytes()).hexdigest(),
        "training_seconds": round(train_seconds, 1),
        "training_cpu_seconds": round(train_cpu_seconds, 1),
        "total_seconds": round(time.time() - t_start, 1),
        "load_average_1min": [round(load_start, 2), round(os.getloadavg()[0], 2)],
        "epochs": args.epochs,
        "seed": args.seed,
        "threads": args.threads,
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "trainable_parameters": n_params,
        "stored_floats": info["params"],
        "macs_per_image": info["macs"],
        "model_bin_bytes": (out / "model.bin").stat().st_size,
        "normalization": {"mean": mean, "std": std},
        "command": "/usr/bin/python3 tools/train_fashion_mnist.py" + (
            " " + " ".join(sys.argv[1:]) if len(sys.argv) > 1 else ""),
    }
    (out / "reference.json").write_text(json.dumps(ref, indent=2) + "\n")
    print("wrote %s, %s, %s" % (info["json"], info["weights"], out / "reference.json"))
    if n_differ or correct_e != correct:
        print("error: the exported model does not reproduce the trained one", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
