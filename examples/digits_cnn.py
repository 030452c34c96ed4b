"""The main job: train a small convolutional network on the 8x8 handwritten digits shipped in
data/digits (1,797 images; fixed split: every fifth image is a test image),
printing a progress bar per epoch and the final test accuracy.

    python examples/digits_cnn.py [--epochs N] [--seed S] [--lib torch] [--plot out.png] [--logdir DIR]

`--lib torch` runs the very same code with real PyTorch (for comparison); the default is
ctorch.
"""
import argparse
import csv
import importlib
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data", "digits", "digits.csv")


def load_digits(lib):
    """Fixed split: every fifth image (rows 4, 9, 14, ...) is a test image: 1,438 train, 359 test."""
    with open(DATA) as f:
        rows = [[int(v) for v in row] for row in csv.reader(f) if row]
    train = [r for i, r in enumerate(rows) if i % 5 != 4]
    test = [r for i, r in enumerate(rows) if i % 5 == 4]

    def tensors(rs):
        x = lib.tensor([r[:64] for r in rs], dtype=lib.float32).reshape(-1, 1, 8, 8) / 16.0
        return x, lib.tensor([r[64] for r in rs], dtype=lib.int64)
    return tensors(train) + tensors(test)


def build_model(lib):
    nn = lib.nn
    return nn.Sequential(
        nn.Conv2d(1, 32, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(32, 64, kernel_size=3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 4 * 4, 128), nn.ReLU(),
        nn.Dropout(0.25),
        nn.Linear(128, 10),
    )


def progress(epoch, epochs, done, total, loss, acc, rate, width=30):
    """One progress line per epoch, redrawn in place about ten times."""
    step = max(total // 10, 1)
    if done != total and (done // step) == ((done - 1) // step if done > 1 else -1):
        return
    filled = int(width * done / total)
    bar = "#" * filled + "-" * (width - filled)
    sys.stdout.write("\repoch %2d/%d [%s] %4d/%d  loss %.4f  acc %.3f  %7.0f items/s" %
                     (epoch, epochs, bar, done, total, loss, acc, rate))
    sys.stdout.flush()


def evaluate(lib, model, x, y, batch=360):
    model.eval()
    correct = 0
    with lib.no_grad():
        for i in range(0, len(x), batch):
            pred = model(x[i:i + batch]).argmax(dim=1)
            correct += int((pred == y[i:i + batch]).sum().item())
    model.train()
    return correct / len(x)


def train(lib, epochs=12, batch_size=32, lr=1e-3, seed=0, logdir=None, quiet=False):
    lib.manual_seed(seed)
    xtr, ytr, xte, yte = load_digits(lib)
    model = build_model(lib)
    opt = lib.optim.Adam(model.parameters(), lr=lr)
    loss_fn = lib.nn.CrossEntropyLoss()
    data = lib.utils.data.TensorDataset(xtr, ytr)
    g = lib.Generator()
    g.manual_seed(seed)
    loader = lib.utils.data.DataLoader(data, batch_size=batch_size, shuffle=True, generator=g)
    writer = None
    if logdir:
        tensorboard = importlib.import_module(lib.__name__ + ".utils.tensorboard")
        writer = tensorboard.SummaryWriter(logdir)
    history = []
    step = 0
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        seen = 0
        loss_sum = 0.0
        correct = 0
        for xb, yb in loader:
            out = model(xb)
            loss = loss_fn(out, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            n = len(yb)
            seen += n
            loss_sum += float(loss.item()) * n
            correct += int((out.argmax(dim=1) == yb).sum().item())
            step += 1
            if writer is not None:
                writer.add_scalar("train/loss", float(loss.item()), step)
            if not quiet:
                progress(epoch, epochs, seen, len(xtr), loss_sum / seen, correct / seen,
                         seen / max(time.perf_counter() - t0, 1e-9))
        test_acc = evaluate(lib, model, xte, yte)
        history.append((loss_sum / seen, correct / seen, test_acc))
        if writer is not None:
            writer.add_scalar("test/accuracy", test_acc, epoch)
        if not quiet:
            sys.stdout.write("  test acc %.4f\n" % test_acc)
    if writer is not None:
        writer.close()
    return model, history


def save_plot(history, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: skipping the plot")
        return
    epochs = range(1, len(history) + 1)
    fig, ax1 = plt.subplots(figsize=(6, 4))
    ax1.plot(epochs, [h[0] for h in history], "o-", label="train loss")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("loss")
    ax2 = ax1.twinx()
    ax2.plot(epochs, [h[1] for h in history], "s--", color="tab:green", label="train acc")
    ax2.plot(epochs, [h[2] for h in history], "^-", color="tab:red", label="test acc")
    ax2.set_ylabel("accuracy")
    fig.legend(loc="center right")
    fig.tight_layout()
    fig.savefig(path)
    print("saved plot to %s" % path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lib", default="ctorch", choices=["ctorch", "torch"])
    ap.add_argument("--plot", default="digits_training.png")
    ap.add_argument("--logdir", default=None)
    args = ap.parse_args()
    lib = importlib.import_module(args.lib)
    t0 = time.perf_counter()
    _, history = train(lib, epochs=args.epochs, seed=args.seed, logdir=args.logdir)
    elapsed = time.perf_counter() - t0
    print("final test accuracy: %.4f  (%s, %.1f s)" % (history[-1][2], args.lib, elapsed))
    if args.plot:
        save_plot(history, args.plot)


if __name__ == "__main__":
    main()
