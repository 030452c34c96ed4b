"""Conv2d forward+backward of ctorch vs torch on a ResNet-style layer: 3x3, 64 -> 64 channels,
56x56, batch 16, padding 1, float32 (target: ratio torch_time / ctorch_time >= 0.7). Also the
forward alone and a strided / 1x1 / depthwise case. Not a test.

    python bench/bench_conv.py [--batch N] [--reps R] [--threads T [--cpu-time]]
"""
import argparse

import numpy as np
import torch

import ctorch
from _common import add_timing_args, apply_timing_args, best_of


def case(lib, x, w, b, g, stride, padding, groups, backward):
    def run():
        if backward:
            xi = x.detach().requires_grad_(True) if lib is torch else x.detach().requires_grad_(True)
            wi = w.detach().requires_grad_(True)
            bi = b.detach().requires_grad_(True)
            y = lib.nn.functional.conv2d(xi, wi, bi, stride, padding, 1, groups)
            y.backward(g)
        else:
            with lib.no_grad():
                lib.nn.functional.conv2d(x, w, b, stride, padding, 1, groups)
    return run


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=16)
    add_timing_args(ap, 5)
    args = ap.parse_args()
    clock = apply_timing_args(args)
    rng = np.random.default_rng(0)
    N = args.batch
    cases = [("3x3 64->64 56^2 fwd+bwd", 64, 64, 56, 3, 1, 1, 1, True),
             ("3x3 64->64 56^2 fwd", 64, 64, 56, 3, 1, 1, 1, False),
             ("3x3 s2 64->128 56^2 fwd+bwd", 64, 128, 56, 3, 2, 1, 1, True),
             ("1x1 64->256 56^2 fwd+bwd", 64, 256, 56, 1, 1, 0, 1, True),
             ("dw 3x3 64 56^2 fwd+bwd", 64, 64, 56, 3, 1, 1, 64, True)]
    print("%-30s %10s %10s %8s" % ("case", "ctorch ms", "torch ms", "ratio"))
    for name, cin, cout, hw, k, s, p, groups, bwd in cases:
        x = rng.standard_normal((N, cin, hw, hw)).astype(np.float32)
        w = (rng.standard_normal((cout, cin // groups, k, k)) * 0.05).astype(np.float32)
        b = rng.standard_normal(cout).astype(np.float32)
        ho = (hw + 2 * p - k) // s + 1
        g = rng.standard_normal((N, cout, ho, ho)).astype(np.float32)
        tc = best_of(case(ctorch, ctorch.tensor(x), ctorch.tensor(w), ctorch.tensor(b), ctorch.tensor(g), s, p,
                            groups, bwd), args.reps, clock)
        tt = best_of(case(torch, torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b),
                            torch.from_numpy(g), s, p, groups, bwd), args.reps, clock)
        print("%-30s %10.1f %10.1f %8.2f" % (name, tc * 1e3, tt * 1e3, tt / tc))


if __name__ == "__main__":
    main()
