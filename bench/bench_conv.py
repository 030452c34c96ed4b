"""Conv2d forward+backward of ctorch vs torch on a ResNet-style layer: 3x3, 64 -> 64 channels,
56x56, batch 16, padding 1, float32 (target: ratio torch_time / ctorch_time >= 0.7). Also the
forward alone and a strided / 1x1 / depthwise case. Not a test.

    python bench/bench_conv.py [--batch N] [--reps R] [--threads T [--cpu-time]]
"""
import argparse
import time

import numpy as np
import torch

import ctorch


CLOCK = time.perf_counter


def best_time(fn, reps):
    fn()
    best = 1e30
    for _ in range(reps):
        t0 = CLOCK()
        fn()
        best = min(best, CLOCK() - t0)
    return best


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
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="threads for both libraries (0: ctorch's default)")
    ap.add_argument("--cpu-time", action="store_true",
                    help="with --threads 1: time the process CPU time (steadier on a shared machine)")
    args = ap.parse_args()
    global CLOCK
    if args.cpu_time:
        CLOCK = time.process_time
    if args.threads:
        ctorch.set_num_threads(args.threads)
    torch.set_num_threads(ctorch.get_num_threads())
    print("threads: ctorch %d, torch %d" % (ctorch.get_num_threads(), torch.get_num_threads()))
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
        tc = best_time(case(ctorch, ctorch.tensor(x), ctorch.tensor(w), ctorch.tensor(b), ctorch.tensor(g), s, p,
                            groups, bwd), args.reps)
        tt = best_time(case(torch, torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b),
                            torch.from_numpy(g), s, p, groups, bwd), args.reps)
        print("%-30s %10.1f %10.1f %8.2f" % (name, tc * 1e3, tt * 1e3, tt / tc))


if __name__ == "__main__":
    main()
