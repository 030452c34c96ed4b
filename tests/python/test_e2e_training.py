"""End to end: the same small models trained from the same seed on the same data in torch
and ctorch give the same losses (initialisation, data and dropout draws all come from
random streams that match torch's)."""
import pytest
import torch

import ctorch


def mlp(lib):
    nn = lib.nn
    return nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Dropout(0.1), nn.Linear(64, 64), nn.GELU(),
                         nn.LayerNorm(64), nn.Linear(64, 5))


def cnn(lib):
    nn = lib.nn
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 16, 5), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                         nn.Linear(16 * 5 * 5, 32), nn.Tanh(), nn.Linear(32, 10))


CASES = {
    "mlp": (mlp, lambda lib: lib.randn(32, 20), lambda lib: lib.randint(0, 5, (32,)), "adam"),
    "cnn": (cnn, lambda lib: lib.randn(16, 1, 28, 28), lambda lib: lib.randint(0, 10, (16,)), "sgd"),
}


def run(lib, name, steps=20):
    make, xs, ys, opt_name = CASES[name]
    lib.manual_seed(1234)
    model = make(lib)
    x, y = xs(lib), ys(lib)
    if opt_name == "adam":
        opt = lib.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    else:
        opt = lib.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    loss_fn = lib.nn.CrossEntropyLoss(label_smoothing=0.05)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))
    return losses, {k: v.detach().double().reshape(-1)[:5].tolist() for k, v in model.state_dict().items()
                    if v.is_floating_point()}


@pytest.mark.parametrize("name", sorted(CASES))
def test_training_matches_torch(name):
    cl, cs = run(ctorch, name)
    tl, ts = run(torch, name)
    assert cl == pytest.approx(tl, rel=1e-4), "losses diverge:\nctorch %s\ntorch  %s" % (cl, tl)
    assert cs.keys() == ts.keys()
    for k in cs:
        assert cs[k] == pytest.approx(ts[k], rel=1e-3, abs=1e-4), k


def test_c_digits_mlp_matches_python(tmp_path):
    """examples/c/digits_mlp.c (the C API alone) and its Python twin examples/digits_mlp.py print
    the same losses and accuracies, epoch by epoch, as each other and as real torch."""
    import os
    import subprocess
    import sys

    from helpers import c_example
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    c_out = subprocess.run([c_example("digits_mlp", tmp_path), os.path.join(root, "data", "digits", "digits.csv"),
                            "3"], capture_output=True, text=True, env=env).stdout.splitlines()
    py = [subprocess.run([sys.executable, os.path.join(root, "examples", "digits_mlp.py"), "--epochs", "3", "--lib",
                          lib], capture_output=True, text=True, check=True, env=env).stdout.splitlines()
          for lib in ("ctorch", "torch")]
    assert len(c_out) == 5 and c_out[-1].startswith("final test accuracy")
    assert c_out == py[0]

    def numbers(lines):
        return [float(t) for ln in lines for t in ln.split() if t.replace(".", "").isdigit() and "." in t]
    assert numbers(py[1]) == pytest.approx(numbers(c_out), rel=2e-3)
