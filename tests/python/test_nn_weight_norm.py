"""nn.utils.weight_norm / spectral_norm (hook style) and nn.utils.parametrizations.weight_norm /
spectral_norm vs torch: state_dict layout, values, gradients, power-iteration buffers (the
random starts come from generators that match torch's), removal, errors."""
import warnings

import numpy as np
import pytest
import torch

import ctorch


def pair(make):
    torch.manual_seed(0)
    tm = make(torch)
    ctorch.manual_seed(0)
    cm = make(ctorch)
    return tm, cm


def same(c, t, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(c.detach().numpy(), t.detach().numpy(), rtol=rtol, atol=atol)


def sd_same(cm, tm):
    csd, tsd = cm.state_dict(), tm.state_dict()
    assert list(csd.keys()) == list(tsd.keys())
    for k in csd:
        assert tuple(csd[k].shape) == tuple(tsd[k].shape), k
        same(csd[k], tsd[k])


MODULES = [
    lambda lib: lib.nn.Linear(5, 4),
    lambda lib: lib.nn.Conv2d(3, 6, 3),
    lambda lib: lib.nn.ConvTranspose2d(3, 2, 3),
    lambda lib: lib.nn.Conv1d(2, 20, 2),
]


def inputs(lib, m):
    lib.manual_seed(1)
    if isinstance(m, lib.nn.Linear):
        return lib.randn(7, 5)
    if isinstance(m, (lib.nn.Conv2d, lib.nn.ConvTranspose2d)):
        return lib.randn(2, 3, 6, 6)
    return lib.randn(2, 2, 9)


@pytest.mark.parametrize("make", MODULES)
@pytest.mark.parametrize("dim", [0, 1, None, -1])
def test_weight_norm_hook(make, dim):
    tm, cm = pair(make)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.nn.utils.weight_norm(tm, dim=dim)
    with pytest.warns(FutureWarning):
        ctorch.nn.utils.weight_norm(cm, dim=dim)
    sd_same(cm, tm)
    assert isinstance(cm.weight_g, ctorch.nn.Parameter) and "weight" not in dict(cm.named_parameters())
    to, co = tm(inputs(torch, tm)), cm(inputs(ctorch, cm))
    same(co, to)
    same(cm.weight, tm.weight)
    to.square().sum().backward()
    co.square().sum().backward()
    same(cm.weight_g.grad, tm.weight_g.grad, rtol=1e-4, atol=1e-5)
    same(cm.weight_v.grad, tm.weight_v.grad, rtol=1e-4, atol=1e-5)
    torch.nn.utils.remove_weight_norm(tm)
    ctorch.nn.utils.remove_weight_norm(cm)
    sd_same(cm, tm)
    assert isinstance(cm.weight, ctorch.nn.Parameter)


def test_weight_norm_errors():
    m = ctorch.nn.Linear(2, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        ctorch.nn.utils.weight_norm(m)
        with pytest.raises(RuntimeError):
            ctorch.nn.utils.weight_norm(m)
    with pytest.raises(ValueError):
        ctorch.nn.utils.remove_weight_norm(m, "bias")
    with pytest.raises(ValueError):
        ctorch.nn.utils.remove_spectral_norm(ctorch.nn.Linear(2, 3))
    with pytest.raises(ValueError):
        ctorch.nn.utils.spectral_norm(ctorch.nn.Linear(2, 3), n_power_iterations=0)
    with pytest.raises(ValueError):
        ctorch.nn.utils.parametrizations.spectral_norm(ctorch.nn.Linear(2, 3), n_power_iterations=0)
    with pytest.raises(IndexError):
        ctorch.nn.utils.parametrizations.spectral_norm(ctorch.nn.Linear(2, 3), dim=2)


@pytest.mark.parametrize("make", MODULES)
@pytest.mark.parametrize("dim", [0, 1, None])
def test_weight_norm_parametrization(make, dim):
    tm, cm = pair(make)
    torch.nn.utils.parametrizations.weight_norm(tm, dim=dim)
    ctorch.nn.utils.parametrizations.weight_norm(cm, dim=dim)
    sd_same(cm, tm)
    assert type(cm).__name__ == type(tm).__name__
    assert repr(cm) == repr(tm)
    to, co = tm(inputs(torch, tm)), cm(inputs(ctorch, cm))
    same(co, to)
    to.square().sum().backward()
    co.square().sum().backward()
    tp, cp = tm.parametrizations.weight, cm.parametrizations.weight
    same(cp.original0.grad, tp.original0.grad, rtol=1e-4, atol=1e-5)
    same(cp.original1.grad, tp.original1.grad, rtol=1e-4, atol=1e-5)
    # setting the weight goes through right_inverse (g, v recomputed)
    with torch.no_grad():
        tm.weight = tm.weight * 2
    with ctorch.no_grad():
        cm.weight = cm.weight * 2
    sd_same(cm, tm)
    # a state dict written by torch loads into ctorch
    cm.load_state_dict({k: ctorch.from_numpy(v.numpy()) for k, v in tm.state_dict().items()})
    same(cm.weight, tm.weight)
    torch.nn.utils.parametrize.remove_parametrizations(tm, "weight")
    ctorch.nn.utils.parametrize.remove_parametrizations(cm, "weight")
    sd_same(cm, tm)
    assert type(cm).__name__ == type(tm).__name__
    with pytest.raises(ValueError):
        ctorch.nn.utils.parametrize.remove_parametrizations(
            ctorch.nn.utils.parametrizations.weight_norm(ctorch.nn.Linear(2, 2)), "weight", leave_parametrized=False)


@pytest.mark.parametrize("make", MODULES)
@pytest.mark.parametrize("n_iter", [1, 3])
def test_spectral_norm_hook(make, n_iter):
    tm, cm = pair(make)
    torch.manual_seed(5)
    ctorch.manual_seed(5)
    torch.nn.utils.spectral_norm(tm, n_power_iterations=n_iter)
    ctorch.nn.utils.spectral_norm(cm, n_power_iterations=n_iter)
    sd_same(cm, tm)
    for step in range(3):
        to, co = tm(inputs(torch, tm)), cm(inputs(ctorch, cm))
        same(co, to, rtol=1e-4, atol=1e-5)
        sd_same(cm, tm)
    to.square().sum().backward()
    co.square().sum().backward()
    same(cm.weight_orig.grad, tm.weight_orig.grad, rtol=1e-3, atol=1e-4)
    tm.eval()
    cm.eval()
    same(cm(inputs(ctorch, cm)), tm(inputs(torch, tm)), rtol=1e-4, atol=1e-5)
    sd_same(cm, tm)
    torch.nn.utils.remove_spectral_norm(tm)
    ctorch.nn.utils.remove_spectral_norm(cm)
    sd_same(cm, tm)


@pytest.mark.parametrize("make", MODULES + [lambda lib: lib.nn.Embedding(6, 3)])
def test_spectral_norm_parametrization(make):
    tm, cm = pair(make)
    torch.manual_seed(5)
    ctorch.manual_seed(5)
    torch.nn.utils.parametrizations.spectral_norm(tm)
    ctorch.nn.utils.parametrizations.spectral_norm(cm)
    sd_same(cm, tm)
    assert repr(cm) == repr(tm)
    if isinstance(cm, ctorch.nn.Embedding):
        x_t, x_c = torch.tensor([0, 5, 2]), ctorch.tensor([0, 5, 2])
    else:
        x_t, x_c = inputs(torch, tm), inputs(ctorch, cm)
    for _ in range(3):
        to, co = tm(x_t), cm(x_c)
        same(co, to, rtol=1e-4, atol=1e-5)
        sd_same(cm, tm)
    to.square().sum().backward()
    co.square().sum().backward()
    same(cm.parametrizations.weight.original.grad, tm.parametrizations.weight.original.grad, rtol=1e-3, atol=1e-4)
    tm.eval()
    cm.eval()
    same(cm(x_c), tm(x_t), rtol=1e-4, atol=1e-5)
    torch.nn.utils.parametrize.remove_parametrizations(tm, "weight")
    ctorch.nn.utils.parametrize.remove_parametrizations(cm, "weight")
    sd_same(cm, tm)


def test_spectral_norm_of_vector_normalizes():
    tm, cm = pair(lambda lib: lib.nn.Linear(3, 4))
    torch.nn.utils.parametrizations.spectral_norm(tm, "bias")
    ctorch.nn.utils.parametrizations.spectral_norm(cm, "bias")
    same(cm.bias, tm.bias)
    sd_same(cm, tm)
