"""Time optimizer steps on a ~1M-parameter model in ctorch and torch; print the ratio.

    python bench/bench_optim.py [--steps N] [--threads T]

Gradients are set once (fixed) so only the step itself is timed. No asserts: this is a report.
"""
import argparse
import time

import numpy as np
import torch

import ctorch

SHAPES = [(512, 1024), (1024,), (1024, 480), (480,), (480, 16), (16,)]  # ~1.02M parameters


def build(lib, dtype, shapes=SHAPES):
    rng = np.random.RandomState(0)
    dt = getattr(lib, dtype)
    params = []
    for s in shapes:
        a = rng.randn(*s).astype(np.float64) * 0.01
        p = lib.nn.Parameter(lib.tensor(a.tolist(), dtype=dt))
        p.grad = lib.tensor((rng.randn(*s) * 0.01).tolist(), dtype=dt)
        params.append(p)
    return params


def time_steps(lib, name, kw, dtype, steps, shapes=SHAPES):
    params = build(lib, dtype, shapes)
    opt = getattr(lib.optim, name)(params, **kw)
    for _ in range(3):
        opt.step()
    t0 = time.perf_counter()
    for _ in range(steps):
        opt.step()
    return (time.perf_counter() - t0) / steps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ctorch.set_num_threads(args.threads)
    n = sum(int(np.prod(s)) for s in SHAPES)
    print(f"{n} parameters, {args.threads} thread(s), {args.steps} steps")
    configs = [("SGD", dict(lr=0.01)), ("SGD", dict(lr=0.01, momentum=0.9, nesterov=True)),
               ("Adam", dict(lr=1e-3)), ("AdamW", dict(lr=1e-3, amsgrad=True)), ("RMSprop", dict(lr=1e-3))]
    print(f"{'optimizer':34s} {'dtype':8s} {'ctorch ms':>10s} {'torch ms':>10s} {'torch/ctorch':>12s}")
    for name, kw in configs:
        for dtype in ("float32",):
            tc = time_steps(ctorch, name, kw, dtype, args.steps)
            tt = time_steps(torch, name, kw, dtype, args.steps)
            label = name + "(" + ", ".join(f"{k}={v}" for k, v in kw.items()) + ")"
            print(f"{label:34s} {dtype:8s} {tc * 1e3:10.3f} {tt * 1e3:10.3f} {tt / tc:12.2f}")
    # Many small parameters: per-step overhead (Python bookkeeping + one C call per group).
    small = [(100,)] * 200
    print(f"\n200 parameters of 100 elements (per-step overhead)")
    for name, kw in configs[:3]:
        tc = time_steps(ctorch, name, kw, "float32", args.steps, small)
        tt = time_steps(torch, name, kw, "float32", args.steps, small)
        label = name + "(" + ", ".join(f"{k}={v}" for k, v in kw.items()) + ")"
        print(f"{label:34s} {'float32':8s} {tc * 1e3:10.3f} {tt * 1e3:10.3f} {tt / tc:12.2f}")


if __name__ == "__main__":
    main()
