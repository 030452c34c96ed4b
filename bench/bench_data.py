"""Data-loading benchmarks.

1. A dataset whose __getitem__ burns ~1 ms of CPU: throughput with num_workers=2 relative to
   num_workers=0 (target >= 1.7x on 2 cores).
2. Collating 256 small tensors per batch: default_collate speed vs torch's (target >= 1.0x).
3. Copy-on-read: worker memory growth when the dataset holds millions of Python strings, as a
   plain list and as a ctorch.utils.data.CompactList (a report; the test asserts it).

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
    ap.add_argument("--names", type=int, default=2_000_000, help="strings held for the copy-on-read report")
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
    copy_on_read(args.names)


def _private_dirty_kb():
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            if line.startswith("Private_Dirty:"):
                return int(line.split()[1])
    return 0


def _walk_all(lib):
    class WalkAll(lib.utils.data.IterableDataset):
        """Each worker reads every item once and reports its Private_Dirty growth (kB)."""

        def __init__(self, items):
            self.items = items

        def __iter__(self):
            before = _private_dirty_kb()
            n = sum(1 for x in self.items if x)
            yield _private_dirty_kb() - before, n
    return WalkAll


def copy_on_read(n):
    """Worker memory when the dataset holds n Python strings: a plain list vs CompactList
    (forked workers, 2 of them, each reading the whole list)."""
    import os
    if not os.path.exists("/proc/self/smaps_rollup"):
        return
    names = ["img/%07d.jpg" % i for i in range(n)]
    for label, items in (("list", names), ("CompactList", ctorch.utils.data.CompactList(names))):
        for lib in (ctorch, torch):
            out = list(lib.utils.data.DataLoader(_walk_all(lib)(items), batch_size=None, num_workers=2))
            print("copy-on-read, %d strings in a %s, %s workers: Private_Dirty growth per worker %s MB"
                  % (n, label, lib.__name__, [round(kb / 1024, 1) for kb, _ in out]))


if __name__ == "__main__":
    main()
