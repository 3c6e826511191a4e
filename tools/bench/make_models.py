#!/usr/bin/python3
"""make_models.py - builds the three benchmark networks of issue 7 with fixed seeds (random
weights: speed does not depend on them) and writes each as tinycnn (NAME.json + NAME.bin, via
tools/torch2tinycnn.py) and as ONNX (NAME.onnx), into the directory given (default ./models).

Run with Debian's interpreter: /usr/bin/python3 make_models.py [OUT_DIR]
"""
import os
import sys

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
from torch2tinycnn import export  # noqa: E402


def lenet():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
        nn.Softmax(dim=1))


def fashion():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10), nn.Softmax(dim=1))


def wide():
    return nn.Sequential(
        nn.Conv2d(1, 64, 3, padding=1), nn.ReLU(),
        nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(6272, 10), nn.Softmax(dim=1))


NETS = {"lenet": lenet, "fashion": fashion, "wide": wide}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "models")
    os.makedirs(out, exist_ok=True)
    for seed, (name, make) in enumerate(NETS.items()):
        torch.manual_seed(1000 + seed)
        model = make().eval()
        export(model, (1, 28, 28), os.path.join(out, name + ".json"), name=name)
        x = torch.zeros(1, 1, 28, 28)
        torch.onnx.export(model, x, os.path.join(out, name + ".onnx"), input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}},
                          opset_version=13)
        print("wrote", name)


if __name__ == "__main__":
    main()
