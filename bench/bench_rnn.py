"""LSTM forward+backward, ctorch vs torch (same thread count): 2 layers, hidden 256, seq 64, batch 32.

Prints the best torch and ctorch times of alternating calls, their ratio, and the median ratio of
the alternating pairs (ratio = torch / ctorch, > 1: ctorch faster).

    python bench/bench_rnn.py [--repeat N] [--threads N]
"""
import argparse

import torch

import ctorch
from _common import paired, set_threads


def run(lib, model, x):
    out, (h, c) = model(x)
    loss = out.sum() + h.sum()
    model.zero_grad()
    loss.backward()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=256)
    args = ap.parse_args()
    set_threads(args.threads)
    torch.manual_seed(0)
    H = args.hidden
    tm = torch.nn.LSTM(H, H, num_layers=2)
    cm = ctorch.nn.LSTM(H, H, num_layers=2)
    cm.load_state_dict({k: ctorch.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    x = torch.randn(args.seq, args.batch, H, requires_grad=True)
    cx = ctorch.tensor(x.detach().numpy(), requires_grad=True)
    tt, ct, med = paired(lambda: run(torch, tm, x), lambda: run(ctorch, cm, cx), args.repeat)
    print("LSTM fwd+bwd (layers 2, hidden %d, seq %d, batch %d, threads %d): torch %.2f ms  ctorch %.2f ms  "
          "ratio of bests %.2fx  median pair ratio %.2fx" % (H, args.seq, args.batch, torch.get_num_threads(),
                                                             tt * 1e3, ct * 1e3, tt / ct, med))


if __name__ == "__main__":
    main()
