"""ONNX export time of a ResNet-18-sized model (11.7M parameters, 224x224 input).

Prints the time of one forward pass (what tracing costs at least), of a static export and of
an export with a dynamic batch axis (two traced forward passes), the file size, and, with
onnxruntime installed, the largest difference between onnxruntime's and ctorch's outputs.

    python bench/bench_onnx.py [--size 224] [--repeat 3]
"""
import argparse
import io
import time

import ctorch
from ctorch import nn

F = nn.functional


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class ResNet18(nn.Module):
    def __init__(self, classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        layers, cin = [], 64
        for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers.append(nn.Sequential(Block(cin, cout, stride), Block(cout, cout, 1)))
            cin = cout
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(ctorch.flatten(self.avgpool(x), 1))


def best(fn, repeat):
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = fn()
        ts.append(time.perf_counter() - t0)
    return min(ts), r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    for name in ("Conv2d", "BatchNorm2d", "MaxPool2d", "AdaptiveAvgPool2d", "Linear"):
        if not hasattr(nn, name):
            print("bench_onnx: nn.%s is not available in this build" % name)
            return
    ctorch.manual_seed(0)
    m = ResNet18().eval()
    nparams = sum(p.numel() for p in m.parameters())
    x = ctorch.randn(1, 3, args.size, args.size)

    def fwd():
        with ctorch.no_grad():
            return m(x)

    def export(dynamic):
        f = io.BytesIO()
        ctorch.onnx.export(m, (x,), f, input_names=["x"], output_names=["y"],
                           dynamic_axes={"x": {0: "N"}, "y": {0: "N"}} if dynamic else None)
        return f.getvalue()

    t_fwd, ref = best(fwd, args.repeat)
    t_static, data = best(lambda: export(False), args.repeat)
    t_dyn, data_dyn = best(lambda: export(True), args.repeat)
    print("ResNet-18 (%.1fM parameters), input 1x3x%dx%d, %d threads" % (nparams / 1e6, args.size, args.size,
                                                                        ctorch.get_num_threads()))
    print("  forward (no grad)          %8.1f ms" % (t_fwd * 1e3))
    print("  export, static shapes      %8.1f ms  (%.1f MB)" % (t_static * 1e3, len(data) / 1e6))
    print("  export, dynamic batch axis %8.1f ms  (two traced runs)" % (t_dyn * 1e3))
    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError:
        return
    sess = ort.InferenceSession(data_dyn, providers=["CPUExecutionProvider"])
    got = sess.run(None, {"x": np.array(x.tolist(), np.float32)})[0]
    print("  max |onnxruntime - ctorch|  %.2e" % float(np.abs(got - np.array(ref.tolist(), np.float32)).max()))


if __name__ == "__main__":
    main()
