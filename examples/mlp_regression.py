"""MLP regression on a generated time series: predict the next value from a window of 32.

    python examples/mlp_regression.py [--lib torch] [--epochs N]

Prints the test mean squared error next to the error of repeating the last value.
"""
import math
import time

from _common import parse


def make_series(lib, n=6000, seed=0):
    g = lib.Generator()
    g.manual_seed(seed)
    t = lib.arange(n, dtype=lib.float32)
    clean = (t * 0.02).sin() + 0.5 * (t * 0.057).sin() + 0.25 * (t * 0.131 + 1.0).cos()
    return clean + 0.05 * lib.randn(n, generator=g)


def windows(series, width):
    n = series.shape[0] - width
    idx = series.new_tensor(list(range(width))).long().unsqueeze(0) + series.new_tensor(list(range(n))).long().unsqueeze(1)
    return series[idx], series[width:]


def main():
    args, lib = parse(__doc__.splitlines()[0], epochs=40, width=32, batch_size=64)
    lib.manual_seed(args.seed)
    series = make_series(lib, seed=args.seed)
    x, y = windows(series, args.width)
    split = int(0.8 * x.shape[0])
    xtr, ytr, xte, yte = x[:split], y[:split], x[split:], y[split:]
    nn = lib.nn
    model = nn.Sequential(nn.Linear(args.width, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1))
    opt = lib.optim.Adam(model.parameters(), lr=3e-3)
    sched = lib.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
    loss_fn = nn.MSELoss()
    t0 = time.perf_counter()
    n = xtr.shape[0]
    for epoch in range(args.epochs):
        perm = lib.randperm(n)
        total = 0.0
        for i in range(0, n, args.batch_size):
            idx = perm[i:i + args.batch_size]
            pred = model(xtr[idx]).squeeze(1)
            loss = loss_fn(pred, ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.item()) * idx.shape[0]
        sched.step()
        if (epoch + 1) % 10 == 0:
            print("epoch %3d  train mse %.5f" % (epoch + 1, total / n))
    with lib.no_grad():
        test_mse = float(loss_fn(model(xte).squeeze(1), yte).item())
        naive = float(loss_fn(xte[:, -1], yte).item())
    print("test mse %.5f (repeat-last baseline %.5f), %.1f s" % (test_mse, naive, time.perf_counter() - t0))
    assert math.isfinite(test_mse)


if __name__ == "__main__":
    main()
