"""Save/load a ~200 MB state dict with ctorch and torch; print times and ratios.

    python bench/bench_serialize.py [--mb 200] [--repeat 3] [--dir /tmp]

Both libraries write the same format; each saves its own tensors and loads the file the
other one wrote too (cross-compatibility is exercised, timings are per library). No asserts:
this is a report. mmap loads are timed separately (they map rather than read).
"""
import argparse
import collections
import os
import tempfile

import numpy as np
import torch

import ctorch
from _common import best


def state_dict(lib, mb):
    rng = np.random.RandomState(0)
    n_layers = 24
    per = mb * (1 << 20) // 4 // n_layers
    side = int(per ** 0.5)
    sd = collections.OrderedDict()
    for i in range(n_layers):
        a = rng.randn(side, side).astype(np.float32)
        sd["layers.%d.weight" % i] = lib.from_numpy(a) if lib is ctorch else torch.from_numpy(a)
        b = rng.randn(side).astype(np.float32)
        sd["layers.%d.bias" % i] = lib.from_numpy(b) if lib is ctorch else torch.from_numpy(b)
    return sd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", default=tempfile.gettempdir())
    a = ap.parse_args()
    csd, tsd = state_dict(ctorch, a.mb), state_dict(torch, a.mb)
    nbytes = sum(t.numel() * 4 for t in tsd.values())
    cp, tp = os.path.join(a.dir, "bench_ct.pt"), os.path.join(a.dir, "bench_t.pt")
    rows = []
    s_ct = best(lambda: ctorch.save(csd, cp), a.repeat, warmup=False)
    s_t = best(lambda: torch.save(tsd, tp), a.repeat, warmup=False)
    rows.append(("save", s_ct, s_t))
    l_ct = best(lambda: ctorch.load(tp), a.repeat, warmup=False)
    l_t = best(lambda: torch.load(cp, weights_only=True), a.repeat, warmup=False)
    rows.append(("load (other's file)", l_ct, l_t))
    m_ct = best(lambda: ctorch.load(tp, mmap=True), a.repeat, warmup=False)
    m_t = best(lambda: torch.load(cp, weights_only=True, mmap=True), a.repeat, warmup=False)
    rows.append(("load mmap=True", m_ct, m_t))
    print("state dict: %d tensors, %.1f MB" % (len(tsd), nbytes / 1e6))
    print("%-22s %10s %10s %8s %12s" % ("op", "ctorch s", "torch s", "ratio", "ctorch GB/s"))
    for name, c, t in rows:
        print("%-22s %10.4f %10.4f %8.2f %12.2f" % (name, c, t, t / c, nbytes / c / 1e9))
    for p in (cp, tp):
        os.unlink(p)


if __name__ == "__main__":
    main()
