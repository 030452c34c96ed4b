"""Pooling / resampling / normalisation / dropout: ctorch vs torch, forward and forward+backward,
same thread count, float32 (16, 64, 56, 56) activations (a ResNet stage). Prints torch time,
ctorch time and ratio = torch / ctorch (> 1 means ctorch is faster). Not a test.

    python bench/bench_nn_pool_norm.py [--quick] [--threads N]
"""
import argparse
import timeit

import numpy as np
import torch

import ctorch


def best(fn, reps=5):
    fn()
    n = 1
    while timeit.timeit(fn, number=n) < 0.05 and n < 1 << 16:
        n *= 2
    return min(timeit.repeat(fn, number=n, repeat=reps)) / n


CASES = [
    ("max_pool2d k3 s2 p1", lambda L, x: L.nn.functional.max_pool2d(x, 3, 2, 1)),
    ("avg_pool2d k3 s2 p1", lambda L, x: L.nn.functional.avg_pool2d(x, 3, 2, 1)),
    ("adaptive_avg_pool2d 1", lambda L, x: L.nn.functional.adaptive_avg_pool2d(x, 1)),
    ("interpolate nearest x2", lambda L, x: L.nn.functional.interpolate(x, scale_factor=2)),
    ("interpolate bilinear x2", lambda L, x: L.nn.functional.interpolate(x, scale_factor=2, mode="bilinear")),
    ("batch_norm train", lambda L, x: L.nn.functional.batch_norm(x, None, None, training=True)),
    ("layer_norm (56,)", lambda L, x: L.nn.functional.layer_norm(x, (56,))),
    ("group_norm 8", lambda L, x: L.nn.functional.group_norm(x, 8)),
    ("dropout 0.5", lambda L, x: L.nn.functional.dropout(x, 0.5)),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ctorch.set_num_threads(args.threads)
    shape = (4, 64, 56, 56) if args.quick else (16, 64, 56, 56)
    a = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    print("%-26s %-8s %10s %10s %7s" % ("case", "pass", "torch ms", "ctorch ms", "ratio"))
    for name, f in CASES:
        for mode in ("fwd", "fwd+bwd"):
            times = {}
            for L in (torch, ctorch):
                x = L.tensor(a, requires_grad=mode != "fwd")
                if mode == "fwd":
                    times[L] = best(lambda: f(L, x))
                else:
                    g = L.ones(*tuple(f(L, x).shape))
                    times[L] = best(lambda: L.autograd.grad(f(L, x), x, g))
            print("%-26s %-8s %10.2f %10.2f %7.2f" % (name, mode, times[torch] * 1e3, times[ctorch] * 1e3,
                                                       times[torch] / times[ctorch]))


if __name__ == "__main__":
    main()
