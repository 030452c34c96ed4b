"""Max / avg / adaptive-avg pooling of ctorch vs torch on CNN shapes (LeNet-5 and ResNet-style),
forward alone and forward+backward, float32, in one process. Prints a markdown table of the best
time of each library and the ratio torch_time / ctorch_time (> 1: ctorch is faster). Not a test.

    python bench/bench_pool.py [--reps R] [--threads T [--cpu-time]] [--only SUBSTRING]

--cpu-time times the process CPU time (time.process_time) instead of wall clock: steadier on a
shared machine, meaningful with --threads 1.
"""
import argparse

import numpy as np
import torch

import ctorch
from _common import add_timing_args, apply_timing_args, best_of


# (name, input shape, call(F, x))
CASES = [
    ("max_pool2d k2 64x6x28x28", (64, 6, 28, 28), lambda F, x: F.max_pool2d(x, 2)),
    ("max_pool2d k2 64x16x10x10", (64, 16, 10, 10), lambda F, x: F.max_pool2d(x, 2)),
    ("max_pool2d k2 16x64x56x56", (16, 64, 56, 56), lambda F, x: F.max_pool2d(x, 2)),
    ("max_pool2d k3 s2 p1 16x64x56x56", (16, 64, 56, 56), lambda F, x: F.max_pool2d(x, 3, 2, 1)),
    ("max_pool2d k2 ceil 64x6x7x7", (64, 6, 7, 7), lambda F, x: F.max_pool2d(x, 2, ceil_mode=True)),
    ("max_pool1d k2 64x32x100", (64, 32, 100), lambda F, x: F.max_pool1d(x, 2)),
    ("max_pool3d k2 8x16x16x16x16", (8, 16, 16, 16, 16), lambda F, x: F.max_pool3d(x, 2)),
    ("avg_pool2d k2 64x6x28x28", (64, 6, 28, 28), lambda F, x: F.avg_pool2d(x, 2)),
    ("avg_pool2d k2 64x16x10x10", (64, 16, 10, 10), lambda F, x: F.avg_pool2d(x, 2)),
    ("avg_pool2d k2 16x64x56x56", (16, 64, 56, 56), lambda F, x: F.avg_pool2d(x, 2)),
    ("avg_pool2d k3 s2 p1 16x64x56x56", (16, 64, 56, 56), lambda F, x: F.avg_pool2d(x, 3, 2, 1)),
    ("adaptive_avg_pool2d 1 16x512x7x7", (16, 512, 7, 7), lambda F, x: F.adaptive_avg_pool2d(x, 1)),
    ("adaptive_avg_pool2d 1 16x64x56x56", (16, 64, 56, 56), lambda F, x: F.adaptive_avg_pool2d(x, 1)),
    ("adaptive_avg_pool2d 7 16x64x14x14", (16, 64, 14, 14), lambda F, x: F.adaptive_avg_pool2d(x, 7)),
    ("adaptive_max_pool2d 1 16x512x7x7", (16, 512, 7, 7), lambda F, x: F.adaptive_max_pool2d(x, 1)),
    ("adaptive_max_pool2d 7 16x64x15x15", (16, 64, 15, 15), lambda F, x: F.adaptive_max_pool2d(x, 7)),
    # channels_last inputs (an NHWC array viewed as NCHW; incoming gradients channels_last too)
    ("CL max_pool2d k2 16x64x56x56", (16, 64, 56, 56), lambda F, x: F.max_pool2d(x, 2)),
    ("CL max_pool2d k3 s2 p1 16x64x56x56", (16, 64, 56, 56), lambda F, x: F.max_pool2d(x, 3, 2, 1)),
    ("CL avg_pool2d k2 16x64x56x56", (16, 64, 56, 56), lambda F, x: F.avg_pool2d(x, 2)),
    ("CL avg_pool2d k3 s2 p1 16x64x56x56", (16, 64, 56, 56), lambda F, x: F.avg_pool2d(x, 3, 2, 1)),
    ("CL adaptive_avg_pool2d 1 16x64x56x56", (16, 64, 56, 56), lambda F, x: F.adaptive_avg_pool2d(x, 1)),
    ("CL adaptive_avg_pool2d 1 16x512x7x7", (16, 512, 7, 7), lambda F, x: F.adaptive_avg_pool2d(x, 1)),
    ("CL adaptive_avg_pool2d 7 16x64x14x14", (16, 64, 14, 14), lambda F, x: F.adaptive_avg_pool2d(x, 7)),
]


def as_lib(lib, a, channels_last):
    """a (NCHW numpy array) as lib's tensor; channels_last: an NHWC copy viewed as NCHW"""
    if not channels_last:
        return lib.from_numpy(a.copy())
    return lib.from_numpy(np.ascontiguousarray(a.transpose(0, 2, 3, 1))).permute(0, 3, 1, 2)


def runner(lib, a, g, call, backward, channels_last=False):
    F = lib.nn.functional
    x = as_lib(lib, a, channels_last)
    if not backward:
        def run():
            with lib.no_grad():
                call(F, x)
        return run
    x.requires_grad_(True)
    gy = as_lib(lib, g, channels_last)

    def run():
        y = call(F, x)
        y.backward(gy)
        x.grad = None
    return run


def main():
    ap = argparse.ArgumentParser()
    add_timing_args(ap, 5)
    ap.add_argument("--only", default="", help="run only the cases whose name contains this")
    args = ap.parse_args()
    clock = apply_timing_args(args)
    print()
    print("| case | pass | torch us | ctorch us | torch/ctorch |")
    print("|---|---|---:|---:|---:|")
    rng = np.random.default_rng(0)
    for name, shape, call in CASES:
        if args.only and args.only not in name:
            continue
        a = rng.standard_normal(shape).astype(np.float32)
        with torch.no_grad():
            g = rng.standard_normal(tuple(call(torch.nn.functional, torch.from_numpy(a)).shape)).astype(np.float32)
        for backward in (False, True):
            cl = name.startswith("CL ")
            tt = best_of(runner(torch, a, g, call, backward, cl), args.reps, clock)
            tc = best_of(runner(ctorch, a, g, call, backward, cl), args.reps, clock)
            print("| %s | %s | %.0f | %.0f | %.2f |" % (name, "fwd+bwd" if backward else "fwd", tt * 1e6, tc * 1e6,
                                                       tt / tc), flush=True)


if __name__ == "__main__":
    main()
