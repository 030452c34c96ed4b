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
