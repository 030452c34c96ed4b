"""Core benchmarks: ctorch and torch side by side in one process, same thread count.

Prints one row per case: torch time, ctorch time and ratio = torch / ctorch (> 1 means
ctorch is faster). `--markdown` prints the table as Markdown for bench/RESULTS.md.

    python bench/bench_core.py [--quick] [--markdown] [--only SUBSTRING] [--threads N] [--cpu]

--cpu times with time.process_time (CPU seconds of the process, all threads) instead of the
wall clock: on a shared, loaded machine it is the steadier measure (use it with --threads 1).
"""
import argparse
import gc
import os
import platform
import subprocess
import sys
import time
import timeit

import torch

import ctorch


TIMER = time.perf_counter


def best_time(fn, min_time=0.2, repeat=5):
    """Seconds per call: the best of `repeat` runs of enough calls to last min_time."""
    fn()
    n = 1
    while True:
        t = timeit.timeit(fn, number=n, timer=TIMER)
        if t >= min_time / 5 or n > 1 << 24:
            break
        n *= 4
    per = min(timeit.repeat(fn, number=n, repeat=repeat, timer=TIMER)) / n
    return per


def cases(quick):
    big = 10_000_000 if not quick else 1_000_000
    red = 4096 if not quick else 1024
    out = []

    def add(name, make):
        out.append((name, make))

    def tiny(lib):
        a, b = lib.ones(1), lib.ones(1)
        return a, b

    add("overhead: a + b (1 elem)", lambda lib: (lambda a, b: (lambda: a + b))(*tiny(lib)))
    add("overhead: a.sum()", lambda lib: (lambda a: (lambda: a.sum()))(lib.ones(1)))
    add("overhead: a[0]", lambda lib: (lambda a: (lambda: a[0]))(lib.ones(4)))
    add("overhead: a.view(-1)", lambda lib: (lambda a: (lambda: a.view(-1)))(lib.ones(1)))

    def ew(op):
        def make(lib):
            x = lib.rand(big)
            y = lib.rand(big)
            return {"add": lambda: x + y, "mul": lambda: x * y, "exp": lambda: x.exp(),
                    "sigmoid": lambda: x.sigmoid()}[op]
        return make

    for op in ("add", "mul", "exp", "sigmoid"):
        add("elementwise %s %s f32" % (op, "10M" if not quick else "1M"), ew(op))

    def bcast(lib):
        x = lib.rand(big // 1000, 1000)
        y = lib.rand(1000)
        return lambda: x + y
    add("elementwise add broadcast (N,1000)+(1000)", bcast)

    def reduce_case(op, dim):
        def make(lib):
            x = lib.rand(red, red)
            return lambda: getattr(x, op)(dim=dim) if op != "max" else x.max(dim=dim)
        return make

    for op in ("sum", "mean", "max"):
        for dim in (0, 1):
            add("reduce %s dim=%d %dx%d" % (op, dim, red, red), reduce_case(op, dim))

    def mm(n):
        def make(lib):
            a, b = lib.rand(n, n), lib.rand(n, n)
            return lambda: a @ b
        return make
    add("matmul 1024x1024", mm(1024 if not quick else 256))
    if not quick:
        add("matmul 4096x4096", mm(4096))

    def bmm(lib):
        a, b = lib.rand(64, 128, 128), lib.rand(64, 128, 128)
        return lambda: lib.bmm(a, b)
    add("bmm 64x128x128", bmm)

    def transposed_add(lib):
        x = lib.rand(2048, 2048).t()
        y = lib.rand(2048, 2048)
        return lambda: x + y
    add("non-contiguous: transposed add 2048^2", transposed_add)

    def strided_copy(lib):
        x = lib.rand(4096, 4096)[::2, ::2]
        return lambda: x.contiguous()
    add("non-contiguous: strided slice copy", strided_copy)

    def mlp(lib):
        w1 = lib.randn(784, 256, requires_grad=True)
        w2 = lib.randn(256, 256, requires_grad=True)
        w3 = lib.randn(256, 10, requires_grad=True)
        x = lib.randn(64, 784)

        def step():
            h = (x @ w1).relu()
            h = (h @ w2).relu()
            loss = (h @ w3).sum()
            loss.backward()
            w1.grad = None
            w2.grad = None
            w3.grad = None
        return step
    add("autograd: MLP 784-256-256-10 b64 fwd+bwd", mlp)

    def chain(lib):
        x = lib.ones(4, requires_grad=True)

        def step():
            y = x
            for _ in range(1000):
                y = y * 1.0001
            y.sum().backward()
            x.grad = None
        return step
    add("autograd: chain of 1000 tiny ops fwd+bwd", chain)

    def mm_chain(lib):
        n = 1024 if not quick else 256
        a = lib.rand(n, n, requires_grad=True)
        b = lib.rand(n, n)

        def step():
            y = (a @ b) @ b
            y.sum().backward()
            a.grad = None
        return step
    add("autograd: 1024^2 matmul chain fwd+bwd", mm_chain)
    return out


def import_time(mod):
    code = "import time; t=time.perf_counter(); import %s; print(time.perf_counter()-t)" % mod
    best = 1e9
    for _ in range(3):
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if r.returncode == 0:
            best = min(best, float(r.stdout.strip()))
    return best


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--only", default="")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--cpu", action="store_true")
    args = ap.parse_args()
    global TIMER
    if args.cpu:
        TIMER = time.process_time
    if args.threads:
        ctorch.set_num_threads(args.threads)
    threads = ctorch.get_num_threads()
    torch.set_num_threads(threads)
    rows = []
    for name, make in cases(args.quick):
        if args.only and args.only not in name:
            continue
        res = []
        for lib in (torch, ctorch):
            try:
                fn = make(lib)
                res.append(best_time(fn))
            except Exception as e:  # an op not available yet
                res.append(None)
                err = "%s: %s" % (type(e).__name__, str(e).splitlines()[0][:60])
            gc.collect()
        t, c = res
        ratio = (t / c) if (t and c) else None
        rows.append((name, t, c, ratio, None if c else err))
        if not args.markdown:
            print("%-45s torch %10s  ctorch %10s  ratio %s" % (
                name, fmt(t), fmt(c), "%.2f" % ratio if ratio else "n/a (%s)" % rows[-1][4]))
    if not args.only or "import" in args.only:
        ti, ci = import_time("torch"), import_time("ctorch")
        rows.append(("import time", ti, ci, ti / ci, None))
        if not args.markdown:
            print("%-45s torch %10s  ctorch %10s  ratio %.2f" % ("import time", fmt(ti), fmt(ci), ti / ci))
    if args.markdown:
        print("CPU: %s, %d threads, torch %s, Python %s, %s time\n" % (
            cpu_name(), threads, torch.__version__, platform.python_version(),
            "CPU (process_time)" if args.cpu else "wall-clock"))
        print("| case | torch | ctorch | torch/ctorch |")
        print("|---|---:|---:|---:|")
        for name, t, c, r, err in rows:
            print("| %s | %s | %s | %s |" % (name, fmt(t), fmt(c), "%.2f" % r if r else "n/a (%s)" % err))


def fmt(s):
    if s is None:
        return "-"
    if s < 1e-6:
        return "%.0f ns" % (s * 1e9)
    if s < 1e-3:
        return "%.2f us" % (s * 1e6)
    if s < 1:
        return "%.2f ms" % (s * 1e3)
    return "%.2f s" % s


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
