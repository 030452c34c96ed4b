"""The digits MLP of examples/c/digits_mlp.c, step for step through the Python API: the same
split (every fifth image is a test image), initialisation, batch order, loss and optimizer, so
from the same seed it prints the same lines as the C program (and, with --lib torch, what real
PyTorch computes).

    python examples/digits_mlp.py [--epochs 30] [--lib torch]
"""
import math
import os

from _common import DATA, parse


def load(lib):
    rows = []
    with open(os.path.join(DATA, "digits", "digits.csv")) as f:
        for line in f:
            v = [int(t) for t in line.split(",")]
            if len(v) == 65:
                rows.append(v)
    train = [r for i, r in enumerate(rows) if i % 5 != 4]
    test = [r for i, r in enumerate(rows) if i % 5 == 4]

    def split(rs):
        x = lib.tensor([r[:64] for r in rs], dtype=lib.float32) / 16.0
        return x, lib.tensor([r[64] for r in rs], dtype=lib.int64)
    return split(train), split(test)


def param(lib, shape, bound):
    """Uniform in [-bound, bound), as the C program draws it (rand * 2b - b in float32)."""
    u = lib.rand(*shape)
    p = u * lib.tensor(2 * bound) - lib.tensor(bound)
    return p.requires_grad_()


def forward(x, w1, b1, w2, b2):
    return (x @ w1 + b1).clamp_min(0) @ w2 + b2


def cross_entropy(logits, y):
    return (logits.logsumexp(1) - logits.gather(1, y.reshape(-1, 1)).reshape(-1)).mean()


def main():
    args, lib = parse("digits MLP (the C example's twin)", epochs=30)
    (xtr, ytr), (xte, yte) = load(lib)
    ntr, nte = len(ytr), len(yte)
    print("digits: %d train, %d test images" % (ntr, nte))
    lib.manual_seed(args.seed)
    w1, b1 = param(lib, (64, 128), 1 / 8), param(lib, (128,), 1 / 8)
    w2, b2 = param(lib, (128, 10), 1 / math.sqrt(128)), param(lib, (10,), 1 / math.sqrt(128))
    opt = lib.optim.SGD([w1, b1, w2, b2], lr=0.1, momentum=0.9)
    acc = 0.0
    for epoch in range(1, args.epochs + 1):
        perm = lib.randperm(ntr)
        loss_sum = 0.0
        for start in range(0, ntr, 32):
            idx = perm[start:start + 32]
            loss = cross_entropy(forward(xtr[idx], w1, b1, w2, b2), ytr[idx])
            loss.backward()
            opt.step()
            opt.zero_grad()
            loss_sum += loss.item() * len(idx)
        with lib.no_grad():
            acc = (forward(xte, w1, b1, w2, b2).argmax(1) == yte).sum().item() / nte
        print("epoch %2d  loss %.4f  test acc %.4f" % (epoch, loss_sum / ntr, acc))
    print("final test accuracy: %.4f" % acc)


if __name__ == "__main__":
    main()
