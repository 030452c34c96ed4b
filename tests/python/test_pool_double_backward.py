"""Double backward of pooling / upsampling / unpooling with a constant incoming gradient:
torch's pool backward ops take the pooled input as a zero-derivative argument, so the input
gradient requires grad under create_graph and its gradient w.r.t. the input is zeros; the
upsample / unpool backwards do not, so there the second grad raises. Compared with torch:
requires_grad, grad_fn name, second-grad values or exception class."""
import numpy as np
import pytest
import torch

import ctorch

from helpers import to_torch


def _run(lib, fn, shape, seed, dtype, allow_unused):
    F = lib.nn.functional
    rng = np.random.default_rng(seed)
    x = lib.tensor(rng.standard_normal(shape).tolist(), dtype=getattr(lib, dtype), requires_grad=True)
    y = fn(F, x)
    g, = lib.autograd.grad(y.sum(), x, create_graph=True)
    info = {"g": g.detach(), "rg": g.requires_grad, "fn": g.grad_fn.name() if g.grad_fn is not None else None}
    try:
        gg = lib.autograd.grad(g.sum(), x, allow_unused=allow_unused)[0]
        info["gg"] = None if gg is None else gg
    except Exception as e:  # noqa: BLE001 - compared by class with torch
        info["err"] = type(e)
    return info


def _unpool(F, x, nd):
    pool = [F.max_pool1d, F.max_pool2d, F.max_pool3d][nd - 1]
    unpool = [F.max_unpool1d, F.max_unpool2d, F.max_unpool3d][nd - 1]
    _, ind = pool(x.detach(), 2, return_indices=True)
    sl = (slice(None), slice(None)) + (slice(0, x.shape[-1] // 2),) * nd
    return unpool(x[sl], ind, 2)


CASES = {
    "max_pool1d": (lambda F, x: F.max_pool1d(x, 2), (2, 3, 8)),
    "max_pool2d": (lambda F, x: F.max_pool2d(x, 2), (2, 3, 6, 6)),
    "max_pool2d_pad_ceil": (lambda F, x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True), (2, 3, 7, 5)),
    "max_pool2d_indices": (lambda F, x: F.max_pool2d(x, 2, return_indices=True)[0], (1, 2, 4, 4)),
    "max_pool3d": (lambda F, x: F.max_pool3d(x, 2), (1, 2, 4, 4, 4)),
    "adaptive_max_pool1d": (lambda F, x: F.adaptive_max_pool1d(x, 3), (2, 3, 8)),
    "adaptive_max_pool2d": (lambda F, x: F.adaptive_max_pool2d(x, (3, 2)), (2, 3, 7, 5)),
    "adaptive_max_pool3d": (lambda F, x: F.adaptive_max_pool3d(x, 2), (1, 2, 4, 5, 3)),
    "avg_pool1d": (lambda F, x: F.avg_pool1d(x, 3, 2, 1), (2, 3, 9)),
    "avg_pool2d": (lambda F, x: F.avg_pool2d(x, 2), (2, 3, 6, 6)),
    "avg_pool2d_div": (lambda F, x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, divisor_override=4), (1, 2, 7, 6)),
    "avg_pool3d": (lambda F, x: F.avg_pool3d(x, 2), (1, 2, 4, 4, 4)),
    "adaptive_avg_pool1d": (lambda F, x: F.adaptive_avg_pool1d(x, 3), (2, 3, 8)),
    "adaptive_avg_pool2d": (lambda F, x: F.adaptive_avg_pool2d(x, (3, 2)), (2, 3, 7, 5)),
    "adaptive_avg_pool2d_1x1": (lambda F, x: F.adaptive_avg_pool2d(x, 1), (2, 3, 5, 5)),
    "adaptive_avg_pool3d": (lambda F, x: F.adaptive_avg_pool3d(x, 2), (1, 2, 4, 5, 3)),
    "nearest2d": (lambda F, x: F.interpolate(x, scale_factor=2, mode="nearest"), (1, 2, 3, 3)),
    "nearest_exact1d": (lambda F, x: F.interpolate(x, scale_factor=2, mode="nearest-exact"), (1, 2, 3)),
    "nearest3d": (lambda F, x: F.interpolate(x, scale_factor=2, mode="nearest"), (1, 2, 2, 2, 2)),
    "linear1d": (lambda F, x: F.interpolate(x, size=7, mode="linear"), (1, 2, 4)),
    "bilinear": (lambda F, x: F.interpolate(x, scale_factor=2, mode="bilinear"), (1, 2, 3, 3)),
    "bilinear_ac": (lambda F, x: F.interpolate(x, size=(5, 4), mode="bilinear", align_corners=True), (1, 2, 3, 3)),
    "bicubic": (lambda F, x: F.interpolate(x, scale_factor=2, mode="bicubic"), (1, 2, 3, 3)),
    "trilinear": (lambda F, x: F.interpolate(x, scale_factor=2, mode="trilinear"), (1, 1, 2, 2, 2)),
    "max_unpool1d": (lambda F, x: _unpool(F, x, 1), (1, 2, 8)),
    "max_unpool2d": (lambda F, x: _unpool(F, x, 2), (1, 2, 4, 4)),
    "max_unpool3d": (lambda F, x: _unpool(F, x, 3), (1, 2, 4, 4, 4)),
}


def _compare(c, t):
    assert c["rg"] == t["rg"]
    assert c["fn"] == t["fn"]
    np.testing.assert_allclose(np.array(c["g"].tolist()), t["g"].numpy(), rtol=1e-6, atol=1e-6)
    assert ("err" in c) == ("err" in t), (c.get("err"), t.get("err"))
    if "err" in t:
        assert c["err"] is t["err"]
        return
    assert (c["gg"] is None) == (t["gg"] is None)
    if t["gg"] is not None:
        assert tuple(c["gg"].shape) == tuple(t["gg"].shape)
        np.testing.assert_array_equal(np.array(c["gg"].tolist()), t["gg"].numpy())


@pytest.mark.parametrize("allow_unused", [False, True])
@pytest.mark.parametrize("name", sorted(CASES))
def test_double_backward_constant_grad(name, allow_unused):
    fn, shape = CASES[name]
    c = _run(ctorch, fn, shape, 1, "float64", allow_unused)
    t = _run(torch, fn, shape, 1, "float64", allow_unused)
    _compare(c, t)


@pytest.mark.parametrize("name", ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d"])
def test_double_backward_float32(name):
    fn, shape = CASES[name]
    _compare(_run(ctorch, fn, shape, 2, "float32", False), _run(torch, fn, shape, 2, "float32", False))


def _second_order(lib, pool, seed):
    """A non-constant incoming gradient: y = pool(x); g = grad((y * y).sum(), x); grad of (g * w).sum()."""
    F = lib.nn.functional
    rng = np.random.default_rng(seed)
    x = lib.tensor(rng.standard_normal((2, 3, 6, 6)).tolist(), dtype=lib.float64, requires_grad=True)
    w = lib.tensor(rng.standard_normal((2, 3, 6, 6)).tolist(), dtype=lib.float64)
    y = pool(F, x)
    g, = lib.autograd.grad((y * y).sum(), x, create_graph=True)
    gg, = lib.autograd.grad((g * w).sum(), x)
    return g.grad_fn.name(), gg


@pytest.mark.parametrize("pool", [lambda F, x: F.max_pool2d(x, 2), lambda F, x: F.avg_pool2d(x, 3, 1, 1),
                                  lambda F, x: F.adaptive_avg_pool2d(x, 4), lambda F, x: F.adaptive_max_pool2d(x, 3)])
def test_double_backward_through_grad(pool):
    cn, cg = _second_order(ctorch, pool, 3)
    tn, tg = _second_order(torch, pool, 3)
    assert cn == tn
    np.testing.assert_allclose(np.array(cg.tolist()), tg.numpy(), rtol=1e-10, atol=1e-10)


def test_gradient_of_grad_accumulates_into_leaf():
    x = ctorch.randn(1, 2, 4, 4, dtype=ctorch.float64, requires_grad=True)
    g, = ctorch.autograd.grad(ctorch.nn.functional.max_pool2d(x, 2).sum(), x, create_graph=True)
    g.sum().backward()
    assert x.grad is not None
    assert to_torch(x.grad).abs().sum().item() == 0
    assert tuple(x.grad.shape) == (1, 2, 4, 4)
