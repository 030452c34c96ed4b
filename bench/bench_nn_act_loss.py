"""Activation / softmax / loss benchmarks: ctorch and torch side by side, same thread count.

Prints torch time, ctorch time and ratio = torch / ctorch (> 1: ctorch faster), forward and
forward+backward.

    python bench/bench_nn_act_loss.py [--threads N] [--only SUBSTRING] [--cpu-time]

--cpu-time: process CPU time (all threads) instead of wall time, steadier on a loaded machine.
"""
import argparse
import time
import timeit

import numpy as np
import torch

import ctorch


TIMER = time.perf_counter


def best(fn, repeat=5):
    fn()
    n = 1
    while timeit.timeit(fn, number=n, timer=TIMER) < 0.04 and n < 1 << 20:
        n *= 4
    return min(timeit.repeat(fn, number=n, repeat=repeat, timer=TIMER)) / n


def cases():
    r = np.random.default_rng(0)
    x = r.normal(size=(256, 1024)).astype(np.float32)
    t = r.integers(0, 1024, size=256)
    y = r.normal(size=(256, 1024)).astype(np.float32)
    out = []
    for name, f in [("relu", lambda F, a: F.relu(a)), ("gelu", lambda F, a: F.gelu(a)),
                    ("silu", lambda F, a: F.silu(a)), ("softplus", lambda F, a: F.softplus(a)),
                    ("softmax(-1)", lambda F, a: F.softmax(a, -1)), ("log_softmax(0)", lambda F, a: F.log_softmax(a, 0)),
                    ("mse_loss", lambda F, a, b: F.mse_loss(a, b)),
                    ("bce_with_logits", lambda F, a, b: F.binary_cross_entropy_with_logits(a, b.sigmoid())),
                    ("cross_entropy", lambda F, a, tt: F.cross_entropy(a, tt)),
                    ("cross_entropy(ls=0.1)", lambda F, a, tt: F.cross_entropy(a, tt, label_smoothing=0.1))]:
        nargs = f.__code__.co_argcount - 1
        extra = [] if nargs == 1 else [t if "cross" in name else y]
        out.append((name, f, extra))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", default="")
    ap.add_argument("--cpu-time", action="store_true", help="process CPU time instead of wall time")
    args = ap.parse_args()
    if args.cpu_time:
        global TIMER
        TIMER = time.process_time
    torch.set_num_threads(args.threads)
    ctorch.set_num_threads(args.threads)
    x = np.random.default_rng(1).normal(size=(256, 1024)).astype(np.float32)
    print(f"{'case (256x1024 float32)':28s} {'torch us':>10s} {'ctorch us':>10s} {'ratio':>7s}   "
          f"{'fwd+bwd torch':>13s} {'ctorch':>8s} {'ratio':>7s}")
    for name, f, extra in cases():
        if args.only not in name:
            continue
        res = []
        for lib in (torch, ctorch):
            F = lib.nn.functional
            a = lib.tensor(x, requires_grad=True)
            ex = [lib.tensor(e) for e in extra]
            fwd = best(lambda: f(F, a.detach(), *ex))

            def fb():
                o = f(F, a, *ex)
                lib.autograd.grad(o, [a], lib.ones(tuple(o.shape)))
            res.append((fwd, best(fb)))
        (tf, tb), (cf, cb) = res
        print(f"{name:28s} {tf * 1e6:10.1f} {cf * 1e6:10.1f} {tf / cf:7.2f}   {tb * 1e6:13.1f} {cb * 1e6:8.1f} "
              f"{tb / cb:7.2f}")


if __name__ == "__main__":
    main()
