"""Timing helpers the bench scripts share (imported as `_common`: the scripts run as
`python bench/<name>.py`, so bench/ is on sys.path)."""
import time

import torch

import ctorch


def best(fn, repeat, warmup=True):
    """Best wall time of `repeat` calls of fn, in seconds (one untimed call first unless warmup=False)."""
    if warmup:
        fn()
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return min(ts)


def set_threads(threads):
    """Both libraries on `threads` threads; 0: ctorch follows torch's default."""
    if threads:
        torch.set_num_threads(threads)
        ctorch.set_num_threads(threads)
    else:
        ctorch.set_num_threads(torch.get_num_threads())
