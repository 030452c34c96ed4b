"""LeNet-5 convolutions (nn.Conv2d with bias, batch 64) of ctorch vs torch: forward alone and
forward + backward of .sum() (the first layer's input does not require grad). Not a test.

    python bench/bench_conv_lenet.py [--batch N] [--reps R] [--threads T] [--cpu-time]
"""
import argparse

import torch

import ctorch
from _common import add_timing_args, apply_timing_args, best_of

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=64)
    add_timing_args(ap, 30)
    args = ap.parse_args()
    clock = apply_timing_args(args)
    N = args.batch
    cases = [("conv1 1->6 5x5 p2 28^2", 1, 6, 28, 2, False), ("conv2 6->16 5x5 14^2", 6, 16, 14, 0, True)]
    print("%-26s %-8s %10s %10s %7s" % ("layer", "pass", "ctorch us", "torch us", "ratio"))
    for name, cin, cout, hw, pad, xgrad in cases:
        torch.manual_seed(0)
        mt = torch.nn.Conv2d(cin, cout, 5, padding=pad)
        mc = ctorch.nn.Conv2d(cin, cout, 5, padding=pad)
        with ctorch.no_grad():
            mc.weight.copy_(ctorch.tensor(mt.weight.detach().numpy()))
            mc.bias.copy_(ctorch.tensor(mt.bias.detach().numpy()))
        xt = torch.randn(N, cin, hw, hw)
        xc = ctorch.tensor(xt.numpy())
        for label, bwd in (("fwd", False), ("fwd+bwd", True)):
            res = []
            for lib, m, x in ((ctorch, mc, xc), (torch, mt, xt)):
                if bwd:
                    def run(lib=lib, m=m, x=x):
                        xi = x.detach().requires_grad_(xgrad)
                        m(xi).sum().backward()
                else:
                    def run(lib=lib, m=m, x=x):
                        with lib.no_grad():
                            m(x)
                res.append(best_of(run, args.reps, clock))
            print("%-26s %-8s %10.0f %10.0f %7.2f" % (name, label, res[0] * 1e6, res[1] * 1e6, res[1] / res[0]))


if __name__ == "__main__":
    main()
