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


def add_timing_args(ap, reps):
    """--reps, --threads, --cpu-time for a kernel benchmark's argument parser."""
    ap.add_argument("--reps", type=int, default=reps)
    ap.add_argument("--threads", type=int, default=0, help="threads for both libraries (0: ctorch's default)")
    ap.add_argument("--cpu-time", action="store_true",
                    help="time the process CPU time (steadier on a shared machine; use with --threads 1)")


def apply_timing_args(args):
    """Set both libraries' threads from args (torch follows ctorch) and print them; returns the
    clock to time with (process CPU time with --cpu-time, else wall time)."""
    if args.threads:
        ctorch.set_num_threads(args.threads)
    torch.set_num_threads(ctorch.get_num_threads())
    print("threads: ctorch %d, torch %d; clock: %s" % (ctorch.get_num_threads(), torch.get_num_threads(),
                                                       "process CPU time" if args.cpu_time else "wall"))
    return time.process_time if args.cpu_time else time.perf_counter


def best_of(fn, reps, clock):
    """Best time of one call of fn over `reps` batches, in seconds of `clock`, after one untimed
    call; each batch runs fn enough times to last ~20 ms, so that short calls are not lost in
    the resolution of process_time."""
    fn()
    n = 1
    while True:
        t0 = clock()
        for _ in range(n):
            fn()
        if clock() - t0 >= 0.02 or n >= 1 << 12:
            break
        n *= 2
    best = 1e30
    for _ in range(reps):
        t0 = clock()
        for _ in range(n):
            fn()
        best = min(best, (clock() - t0) / n)
    return best


def paired(fn_torch, fn_ctorch, repeat, clock=time.perf_counter):
    """Alternate one timed call of each library `repeat` times (after one untimed call of each).
    Returns (best torch, best ctorch, median of the per-pair ratios torch/ctorch): on a shared
    machine whose speed drifts, a pair sees nearly the same conditions, so the median pair
    ratio is steadier than the ratio of two minima taken a few seconds apart."""
    fn_torch()
    fn_ctorch()
    tt, tc, ratios = [], [], []
    for _ in range(repeat):
        t0 = clock()
        fn_torch()
        t1 = clock()
        fn_ctorch()
        t2 = clock()
        tt.append(t1 - t0)
        tc.append(t2 - t1)
        ratios.append((t1 - t0) / (t2 - t1))
    ratios.sort()
    return min(tt), min(tc), ratios[len(ratios) // 2]
