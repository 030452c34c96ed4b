"""Training benchmarks (nn / optim / main-job rows of bench/RESULTS.md), ctorch vs torch.

- small MLP training step (784-256-10, batch 64, forward + backward + SGD)
- LeNet-5 training step (1x28x28, batch 64)
- autograd MLP 784-256-256-10 batch 64 forward + backward (no optimizer)
- peak RSS of a 100-step MLP training run, each library in its own process
- the main job (examples/digits_cnn.py) wall time, each library in its own process

    python bench/bench_train.py [--threads N]
"""
import argparse
import os
import subprocess
import sys
import time
import timeit

import torch

import ctorch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def mlp_step(lib):
    nn = lib.nn
    lib.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    opt = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = lib.randn(64, 784), lib.randint(0, 10, (64,))
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
    return step


def lenet_step(lib):
    nn = lib.nn
    lib.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84),
                          nn.ReLU(), nn.Linear(84, 10))
    opt = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = lib.randn(64, 1, 28, 28), lib.randint(0, 10, (64,))
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
    return step


def autograd_mlp(lib):
    lib.manual_seed(0)
    w1 = lib.randn(784, 256, requires_grad=True)
    w2 = lib.randn(256, 256, requires_grad=True)
    w3 = lib.randn(256, 10, requires_grad=True)
    x = lib.randn(64, 784)

    def step():
        h = (x @ w1).relu()
        h = (h @ w2).relu()
        (h @ w3).sum().backward()
        w1.grad = w2.grad = w3.grad = None
    return step


RSS_SCRIPT = r"""
import sys
lib = __import__(sys.argv[1])
lib.set_num_threads(int(sys.argv[2]))
nn = lib.nn
lib.manual_seed(0)
model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
opt = lib.optim.Adam(model.parameters(), lr=1e-3)
x, y = lib.randn(64, 784), lib.randint(0, 10, (64,))
for _ in range(100):
    opt.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
# VmHWM is the peak of this process image only; ru_maxrss would also count the parent's pages
# at fork (before exec), i.e. the benchmark process with both libraries loaded
print([int(ln.split()[1]) for ln in open("/proc/self/status") if ln.startswith("VmHWM:")][0])
"""


def best(fn, number=20, repeat=5):
    fn()
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ctorch.set_num_threads(args.threads)
    print("| case | torch | ctorch | torch/ctorch |")
    print("|---|---:|---:|---:|")
    for name, make, n in (("MLP 784-256-10 b64 train step (SGD)", mlp_step, 50),
                          ("LeNet-5 b64 train step (SGD)", lenet_step, 10),
                          ("autograd MLP 784-256-256-10 b64 fwd+bwd", autograd_mlp, 20)):
        t = best(make(torch), n)
        c = best(make(ctorch), n)
        print("| %s | %.3f ms | %.3f ms | %.2f |" % (name, t * 1e3, c * 1e3, t / c))
    rss = {}
    for lib in ("torch", "ctorch"):
        r = subprocess.run([sys.executable, "-c", RSS_SCRIPT, lib, str(args.threads)], capture_output=True, text=True)
        rss[lib] = int(r.stdout.strip().splitlines()[-1]) / 1024.0
    print("| peak RSS, 100-step MLP training (MB) | %.0f | %.0f | %.2f |" % (rss["torch"], rss["ctorch"],
                                                                          rss["torch"] / rss["ctorch"]))
    wall = {}
    for lib in ("torch", "ctorch"):
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "digits_cnn.py"), "--lib", lib, "--plot",
                            ""], capture_output=True, text=True, cwd=ROOT,
                           env=dict(os.environ, OMP_NUM_THREADS=str(args.threads)))
        wall[lib] = time.perf_counter() - t0
        acc = [ln for ln in r.stdout.splitlines() if ln.startswith("final test accuracy")]
        wall[lib + "_acc"] = acc[-1].split()[3] if acc else "?"
    print("| main job wall time (digits CNN, 12 epochs; accuracy %s / %s) | %.1f s | %.1f s | %.2f |" % (
        wall["torch_acc"], wall["ctorch_acc"], wall["torch"], wall["ctorch"], wall["torch"] / wall["ctorch"]))


if __name__ == "__main__":
    main()
