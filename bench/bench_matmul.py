"""matmul throughput of ctorch vs torch (GFLOP/s and ratio) on 1024^2, 4096^2 and a
batched 64 x 128x128 product, float32 (and float64 for 1024^2). Not a test.

    OPENBLAS_CORETYPE=Haswell python bench/bench_matmul.py
"""
import time

import numpy as np
import torch

import ctorch


def best_time(fn, reps):
    fn()
    best = 1e30
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    torch.set_num_threads(ctorch.get_num_threads())
    rng = np.random.default_rng(0)
    cases = [("1024^2 f32", (1024, 1024), (1024, 1024), "float32", 10),
             ("1024^2 f64", (1024, 1024), (1024, 1024), "float64", 5),
             ("4096^2 f32", (4096, 4096), (4096, 4096), "float32", 3),
             ("64x128x128 f32", (64, 128, 128), (64, 128, 128), "float32", 20)]
    print("threads: ctorch %d, torch %d" % (ctorch.get_num_threads(), torch.get_num_threads()))
    print("%-16s %12s %12s %8s" % ("case", "ctorch GF/s", "torch GF/s", "ratio"))
    for name, sa, sb, dt, reps in cases:
        a = rng.standard_normal(sa).astype(dt)
        b = rng.standard_normal(sb).astype(dt)
        ca, cb = ctorch.tensor(a), ctorch.tensor(b)
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        flops = 2.0 * np.prod(sa[:-1]) * sa[-1] * sb[-1]
        tc = best_time(lambda: ctorch.matmul(ca, cb), reps)
        tt = best_time(lambda: torch.matmul(ta, tb), reps)
        print("%-16s %12.1f %12.1f %8.2f" % (name, flops / tc * 1e-9, flops / tt * 1e-9, tt / tc))


if __name__ == "__main__":
    main()
