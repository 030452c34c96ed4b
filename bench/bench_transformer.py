"""TransformerEncoderLayer forward+backward, ctorch vs torch (same thread count): d_model 256, 4 heads,
seq 128, batch 16 (dim_feedforward 1024, dropout 0).

Prints torch time, ctorch time and ratio = torch / ctorch (> 1: ctorch faster).

    python bench/bench_transformer.py [--repeat N] [--threads N]
"""
import argparse

import torch

import ctorch
from _common import best, set_threads


def run(model, x):
    y = model(x)
    loss = (y * y).sum()
    model.zero_grad()
    loss.backward()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--ff", type=int, default=1024)
    args = ap.parse_args()
    set_threads(args.threads)
    torch.manual_seed(0)
    kw = dict(dim_feedforward=args.ff, dropout=0.0, batch_first=True)
    tm = torch.nn.TransformerEncoderLayer(256, 4, **kw)
    cm = ctorch.nn.TransformerEncoderLayer(256, 4, **kw)
    cm.load_state_dict({k: ctorch.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    x = torch.randn(16, 128, 256, requires_grad=True)
    cx = ctorch.tensor(x.detach().numpy(), requires_grad=True)
    tt = best(lambda: run(tm, x), args.repeat)
    ct = best(lambda: run(cm, cx), args.repeat)
    print("TransformerEncoderLayer fwd+bwd (d_model 256, 4 heads, ff %d, seq 128, batch 16, threads %d): "
          "torch %.2f ms  ctorch %.2f ms  ratio %.2fx" % (args.ff, torch.get_num_threads(), tt * 1e3, ct * 1e3, tt / ct))


if __name__ == "__main__":
    main()
