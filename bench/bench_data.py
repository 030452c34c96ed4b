"""Data-loading benchmarks.

1. A dataset whose __getitem__ burns ~1 ms of CPU: throughput with num_workers=2 relative to
   num_workers=0 (target >= 1.7x on 2 cores).
2. Collating 256 small tensors per batch: default_collate speed vs torch's (target >= 1.0x).

    python bench/bench_data.py [--items N]
"""
import argparse
import time
import timeit

import torch

import ctorch


class Burn(ctorch.utils.data.Dataset):
    def __init__(self, n, lib):
        self.n = n
        self.lib = lib

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        t0 = time.process_time()
        x = 0
        while time.process_time() - t0 < 0.001:
            x += 1
        return self.lib.full((8,), float(i)), i


def throughput(lib, loader_cls, n, workers):
    ds = Burn(n, lib)
    loader = loader_cls(ds, batch_size=16, num_workers=workers)
    t0 = time.perf_counter()
    count = sum(len(y) for _, y in loader)
    dt = time.perf_counter() - t0
    assert count == n
    return n / dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=800)
    args = ap.parse_args()
    r0 = throughput(ctorch, ctorch.utils.data.DataLoader, args.items, 0)
    r2 = throughput(ctorch, ctorch.utils.data.DataLoader, args.items, 2)
    t0 = throughput(torch, torch.utils.data.DataLoader, args.items, 0)
    t2 = throughput(torch, torch.utils.data.DataLoader, args.items, 2)
    print("1 ms/item dataset: ctorch %.0f items/s (0 workers) -> %.0f (2 workers): %.2fx;  torch %.0f -> %.0f: %.2fx"
          % (r0, r2, r2 / r0, t0, t2, t2 / t0))
    cb = [ctorch.randn(16) for _ in range(256)]
    tb = [torch.randn(16) for _ in range(256)]
    cc = min(timeit.repeat(lambda: ctorch.utils.data.default_collate(cb), number=200, repeat=5)) / 200
    tc = min(timeit.repeat(lambda: torch.utils.data.default_collate(tb), number=200, repeat=5)) / 200
    print("collate 256 x (16,) tensors: ctorch %.1f us, torch %.1f us: %.2fx" % (cc * 1e6, tc * 1e6, tc / cc))


if __name__ == "__main__":
    main()
