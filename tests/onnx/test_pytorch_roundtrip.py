#!/usr/bin/python3
"""test_pytorch_roundtrip.py - small PyTorch networks exported to ONNX, converted, and run.

Each network below is exported with torch.onnx.export at opsets 11 and 13 (batch dimension
symbolic), converted with tools/onnx2tinycnn.py's code, run with `tinycnn run` on a seeded batch
of 3, and compared with PyTorch's own output at |got - torch| <= 1e-5 + 1e-4 * |torch|. The
exporter decomposes GELU (Erf/Mul/Add), Softsign (Abs/Add/Div), Hardswish at opset 11
(HardSigmoid/Mul), SiLU (Sigmoid/Mul) and ZeroPad2d (a separate Pad): the converter must fuse
them back.

    /usr/bin/python3 tests/onnx/test_pytorch_roundtrip.py [--tinycnn build/tinycnn] [-k NAME]
Exit status 0 if all match, 1 if not, 77 (skipped) without python3-torch or python3-onnx.
"""
import argparse
import io
import sys
import tempfile

from onnxtest import compare, convert, default_tinycnn, require, run_tinycnn

OPSETS = [11, 13]
SEED = 20240917


def build_nets(torch):
    nn = torch.nn

    def bn(c):
        """A BatchNorm2d with non-trivial running statistics (eval mode uses them)."""
        layer = nn.BatchNorm2d(c)
        with torch.no_grad():
            layer.running_mean.uniform_(-0.5, 0.5)
            layer.running_var.uniform_(0.5, 2.0)
            layer.weight.uniform_(0.5, 1.5)
            layer.bias.uniform_(-0.2, 0.2)
        return layer

    class Residual(nn.Module):
        """conv-bn-relu-conv-bn + identity, relu; global average pool; linear; softmax."""
        def __init__(self):
            super().__init__()
            self.c1, self.b1 = nn.Conv2d(4, 4, 3, padding=1), bn(4)
            self.c2, self.b2 = nn.Conv2d(4, 4, 3, padding=1, bias=False), bn(4)
            self.fc = nn.Linear(4, 5)

        def forward(self, x):
            y = torch.relu(self.b1(self.c1(x)))
            y = torch.relu(self.b2(self.c2(y)) + x)
            return torch.softmax(self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(y, 1),
                                                       1)), dim=1)

    class Separable(nn.Module):
        """depthwise 3x3 stride 2 - bn - relu6, pointwise 1x1 - bn - hardswish, dropout."""
        def __init__(self):
            super().__init__()
            self.dw, self.b1 = nn.Conv2d(4, 4, 3, stride=2, padding=1, groups=4), bn(4)
            self.pw, self.b2 = nn.Conv2d(4, 8, 1), bn(8)
            self.drop = nn.Dropout(0.3)

        def forward(self, x):
            y = nn.functional.relu6(self.b1(self.dw(x)))
            return self.drop(nn.functional.hardswish(self.b2(self.pw(y))))

    class Branches(nn.Module):
        """three branches (1x1, padded 3x3, maxpool + 1x1) concatenated on channels."""
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(4, 3, 1)
            self.b = nn.Conv2d(4, 5, 3, padding=1)
            self.c = nn.Conv2d(4, 2, 1)
            self.pool = nn.MaxPool2d(3, stride=1, padding=1)

        def forward(self, x):
            y = torch.cat([torch.relu(self.a(x)), torch.tanh(self.b(x)),
                           self.c(self.pool(x))], dim=1)
            return y.view(y.size(0), -1)

    class CeilPools(nn.Module):
        """max and average pooling with ceil_mode, padding and both count_include_pad."""
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 3)
            self.p1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
            self.p2 = nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True)
            self.p3 = nn.AvgPool2d(2, stride=2, padding=1, ceil_mode=True,
                                   count_include_pad=False)

        def forward(self, x):
            y = self.p1(torch.relu(self.conv(x)))
            return self.p3(self.p2(y))

    class Padded(nn.Module):
        """ZeroPad2d read by a conv and an average pool; a zero pad before a max pool of
        non-negative values; a scale and shift; a difference of two tensors. Three outputs."""
        def __init__(self):
            super().__init__()
            self.pad = nn.ZeroPad2d((1, 2, 0, 1))
            self.conv = nn.Conv2d(4, 6, 3, dilation=2)
            self.pool = nn.AvgPool2d(2)

        def forward(self, x):
            padded = self.pad(x)
            y = self.conv(padded) * 0.5 + 1.0
            y = y - 2.0 * torch.relu(y)
            m = nn.functional.max_pool2d(nn.functional.pad(torch.relu(x), (1, 1, 1, 1)), 3,
                                         stride=2)
            return y, self.pool(padded), m

    class Views(nn.Module):
        """squeeze twice, unsqueeze, then flatten: reshapes whose end result is a flatten."""
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 6, 3)
            self.fc = nn.Linear(6, 5)

        def forward(self, x):
            y = nn.functional.adaptive_avg_pool2d(torch.relu(self.conv(x)), 1)
            y = self.fc(y.squeeze(3).squeeze(2)).unsqueeze(-1)
            return torch.log_softmax(y.reshape(y.shape[0], -1), dim=1)

    class MatMulHead(nn.Module):
        """x @ W + b (MatMul then Add) and log_softmax."""
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(256, 7) * 0.1)
            self.b = nn.Parameter(torch.randn(7))

        def forward(self, x):
            return torch.log_softmax(torch.flatten(x, 1) @ self.w + self.b, dim=1)

    def act_net(act, channels=4):
        """act after a conv (fused), after a batchnorm (a layer), and after a linear layer."""
        return nn.Sequential(nn.Conv2d(4, channels, 3, padding=1), act(), bn(channels), act(),
                             nn.Flatten(), nn.Linear(channels * 64, 6), act())

    acts = {
        "relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.1), "elu": lambda: nn.ELU(0.7),
        "selu": nn.SELU, "prelu": lambda: nn.PReLU(4), "sigmoid": nn.Sigmoid,
        "hardsigmoid": nn.Hardsigmoid, "hardswish": nn.Hardswish, "tanh": nn.Tanh,
        "softplus": nn.Softplus, "softsign": nn.Softsign, "gelu": nn.GELU, "relu6": nn.ReLU6,
        "silu": nn.SiLU, "hardtanh": lambda: nn.Hardtanh(-0.5, 0.75),
    }
    nets = {"residual": Residual(), "separable": Separable(), "branches": Branches(),
            "ceil_pools": CeilPools(), "padded": Padded(), "views": Views(),
            "matmul_head": MatMulHead()}
    for name, act in acts.items():
        nets["act_" + name] = act_net(act) if name != "prelu" else \
            nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.PReLU(4), bn(4), nn.PReLU(),
                          nn.Flatten(), nn.Linear(256, 6), nn.PReLU())
    return nets


def main():
    torch, np, onnx = require("torch", "numpy", "onnx")
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tinycnn", default=default_tinycnn())
    p.add_argument("-k", help="run only networks whose name contains this")
    args = p.parse_args()
    torch.manual_seed(SEED)
    nets = build_nets(torch)
    x = torch.randn(3, 4, 8, 8) * 2
    failures = 0
    with tempfile.TemporaryDirectory(prefix="tinycnn-torch-") as work:
        for name, net in nets.items():
            if args.k and args.k not in name:
                continue
            net.eval()
            with torch.no_grad():
                expected = net(x)
            expected = [t.numpy() for t in (expected if isinstance(expected, tuple)
                                            else (expected,))]
            names = ["y%d" % k for k in range(len(expected))]
            for opset in OPSETS:
                buf = io.BytesIO()
                axes = {n: {0: "batch"} for n in ["x"] + names}
                torch.onnx.export(net, x[:2], buf, opset_version=opset, input_names=["x"],
                                  output_names=names, dynamic_axes=axes)
                model_json = "%s/%s_%d.json" % (work, name, opset)
                try:
                    convert(onnx.load_from_string(buf.getvalue()), model_json)
                    outs, problem = run_tinycnn(args.tinycnn, model_json, x.numpy(), work,
                                                len(expected))
                    problem = problem or next((p for p in map(compare, outs, expected) if p),
                                              None)
                except Exception as e:
                    problem = e.report() if hasattr(e, "report") else repr(e)
                print("%-24s opset %d  %s" % (name, opset, "ok" if problem is None
                                              else "FAIL: " + problem))
                failures += problem is not None
    print("%s: %d failure(s)" % ("FAILED" if failures else "PASSED", failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
