"""Channels-last (NHWC) inputs of max_pool2d / avg_pool2d / adaptive_avg_pool2d: values,
indices, output strides and gradients against torch. A channels-last tensor is built as a
contiguous (N, H, W, C) array permuted to (N, C, H, W) in both libraries."""
import numpy as np
import pytest
import torch

import ctorch


def _cl(lib, a, requires_grad=False):
    x = lib.from_numpy(np.ascontiguousarray(a.transpose(0, 2, 3, 1))).permute(0, 3, 1, 2)
    if requires_grad:
        x = x.detach().requires_grad_(True)
    return x


def _close(c, t, tol):
    assert tuple(c.shape) == tuple(t.shape)
    assert str(c.dtype) == str(t.dtype)
    np.testing.assert_allclose(c.detach().numpy(), t.detach().numpy(), rtol=tol, atol=tol, equal_nan=True)


def _data(shape, dtype, seed, nan=False):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape).astype(dtype)
    if nan:
        a[0, 1, 2, 1] = np.nan
        a[-1, -1, -1, -1] = np.nan
    return a


MAX_CASES = [
    ((2, 5, 7, 9), dict(kernel_size=2)),
    ((2, 5, 7, 9), dict(kernel_size=3, stride=2, padding=1)),
    ((2, 5, 7, 9), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ((1, 17, 8, 6), dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 0), dilation=(2, 1))),
    ((3, 33, 5, 5), dict(kernel_size=2, stride=1, ceil_mode=True)),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape,kw", MAX_CASES)
@pytest.mark.parametrize("nan", [False, True])
def test_max_pool2d_channels_last(shape, kw, dtype, nan):
    a = _data(shape, dtype, 1, nan)
    yc, ic = ctorch.nn.functional.max_pool2d(_cl(ctorch, a), return_indices=True, **kw)
    yt, it = torch.nn.functional.max_pool2d(_cl(torch, a), return_indices=True, **kw)
    _close(yc, yt, 0)
    assert ic.tolist() == it.tolist()
    assert yc.stride() == yt.stride() and ic.stride() == it.stride()
    with ctorch.no_grad():  # the values-only path
        yc2 = ctorch.nn.functional.max_pool2d(_cl(ctorch, a), **kw)
    _close(yc2, yt, 0)
    assert yc2.stride() == yt.stride()


AVG_CASES = [
    ((2, 5, 7, 9), dict(kernel_size=2)),
    ((2, 5, 7, 9), dict(kernel_size=3, stride=2, padding=1)),
    ((2, 5, 7, 9), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
    ((1, 17, 8, 6), dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 0), divisor_override=5)),
    ((3, 33, 5, 5), dict(kernel_size=2, stride=1, ceil_mode=True)),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape,kw", AVG_CASES)
def test_avg_pool2d_channels_last(shape, kw, dtype):
    a = _data(shape, dtype, 2)
    yc = ctorch.nn.functional.avg_pool2d(_cl(ctorch, a), **kw)
    yt = torch.nn.functional.avg_pool2d(_cl(torch, a), **kw)
    _close(yc, yt, 1e-5 if dtype == "float32" else 1e-12)
    assert yc.stride() == yt.stride()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape,out", [((2, 5, 7, 9), (3, 4)), ((2, 5, 7, 9), 1), ((1, 19, 6, 6), 3),
                                       ((2, 3, 5, 4), (7, 6)), ((2, 4, 9, 9), (1, 2))])
def test_adaptive_avg_pool2d_channels_last(shape, out, dtype):
    a = _data(shape, dtype, 3, nan=False)
    yc = ctorch.nn.functional.adaptive_avg_pool2d(_cl(ctorch, a), out)
    yt = torch.nn.functional.adaptive_avg_pool2d(_cl(torch, a), out)
    _close(yc, yt, 1e-5 if dtype == "float32" else 1e-12)
    assert yc.stride() == yt.stride()


POOLS = {
    "max": lambda F, x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True),
    "max_k2": lambda F, x: F.max_pool2d(x, 2),
    "avg": lambda F, x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
    "avg_k2": lambda F, x: F.avg_pool2d(x, 2),
    "avg_div": lambda F, x: F.avg_pool2d(x, (2, 3), 1, (1, 0), divisor_override=3),
    "aavg": lambda F, x: F.adaptive_avg_pool2d(x, (3, 4)),
    "aavg_up": lambda F, x: F.adaptive_avg_pool2d(x, (8, 11)),
    "aavg1": lambda F, x: F.adaptive_avg_pool2d(x, 1),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(POOLS))
def test_gradients_channels_last(name, dtype):
    """backward with a channels-last incoming gradient (what a channels-last network passes)"""
    a = _data((2, 6, 7, 9), dtype, 4)
    res = {}
    for lib in (ctorch, torch):
        x = _cl(lib, a, True)
        y = POOLS[name](lib.nn.functional, x)
        gy = _cl(lib, _data(tuple(y.shape), dtype, 5))
        y.backward(gy)
        res[lib.__name__] = (y, x.grad)
    tol = 1e-5 if dtype == "float32" else 1e-12
    _close(res["ctorch"][0], res["torch"][0], tol)
    _close(res["ctorch"][1], res["torch"][1], tol)
    assert res["ctorch"][0].stride() == res["torch"][0].stride()
    assert res["ctorch"][1].stride() == res["torch"][1].stride()


@pytest.mark.parametrize("name", sorted(POOLS))
def test_gradients_channels_last_contiguous_grad(name):
    """a contiguous incoming gradient (y.sum()): same values"""
    a = _data((2, 6, 7, 9), "float64", 6)
    res = {}
    for lib in (ctorch, torch):
        x = _cl(lib, a, True)
        POOLS[name](lib.nn.functional, x).sum().backward()
        res[lib.__name__] = x.grad
    _close(res["ctorch"], res["torch"], 1e-12)


def test_max_pool2d_channels_last_backward_ties():
    """equal values in a window: the gradient goes to the first one, as torch"""
    a = np.zeros((1, 3, 4, 4), np.float32)
    res = {}
    for lib in (ctorch, torch):
        x = _cl(lib, a, True)
        y = lib.nn.functional.max_pool2d(x, 3, 1, 1)
        y.backward(_cl(lib, np.ones(tuple(y.shape), np.float32)))
        res[lib.__name__] = x.grad
    _close(res["ctorch"], res["torch"], 0)


def test_channels_last_float16_and_errors():
    a = _data((1, 4, 6, 6), "float32", 7)
    for f in (lambda F, x: F.max_pool2d(x, 2), lambda F, x: F.avg_pool2d(x, 2),
              lambda F, x: F.adaptive_avg_pool2d(x, 2)):
        yc = f(ctorch.nn.functional, _cl(ctorch, a).to(ctorch.float16))
        yt = f(torch.nn.functional, _cl(torch, a).to(torch.float16))
        _close(yc.float(), yt.float(), 1e-2)
    for lib in (ctorch, torch):
        with pytest.raises(RuntimeError):
            lib.nn.functional.max_pool2d(_cl(lib, a), 2, padding=2)
        with pytest.raises(RuntimeError):
            lib.nn.functional.avg_pool2d(_cl(lib, a), 7)


def test_channels_last_ambiguous_layouts():
    """C == 1 or 1x1 spatial: the tensor is also NCHW-contiguous"""
    for shape in [(2, 1, 6, 6), (2, 8, 1, 1)]:
        a = _data(shape, "float32", 8)
        for f in (lambda F, x: F.max_pool2d(x, 1), lambda F, x: F.avg_pool2d(x, 1),
                  lambda F, x: F.adaptive_avg_pool2d(x, 1)):
            yc = f(ctorch.nn.functional, _cl(ctorch, a))
            yt = f(torch.nn.functional, _cl(torch, a))
            _close(yc, yt, 1e-6)


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (2, 1, 4, 5), (2, 3, 1, 1), (1, 3, 4, 1), (0, 3, 2, 2)])
def test_memory_format_api(shape):
    a = _data(shape, "float32", 9) if 0 not in shape else np.zeros(shape, np.float32)
    for lib in (ctorch, torch):
        x = lib.from_numpy(a.copy())
        y = x.to(memory_format=lib.channels_last)
        z = x.contiguous(memory_format=lib.channels_last)
        res = (y.stride(), z.stride(), y.is_contiguous(), y.is_contiguous(memory_format=lib.channels_last),
               x.is_contiguous(memory_format=lib.channels_last), y.contiguous().stride(),
               str(x.to(lib.float64, memory_format=lib.channels_last).dtype), y.tolist() == x.tolist())
        if lib is ctorch:
            rc = res
        else:
            assert rc == res
    with pytest.raises(RuntimeError):
        ctorch.zeros(2, 3, 4).contiguous(memory_format=ctorch.channels_last)
    assert repr(ctorch.channels_last) == repr(torch.channels_last)


def test_memory_format_pool_outputs():
    a = _data((2, 8, 9, 7), "float32", 10)
    for f in (lambda F, x: F.max_pool2d(x, 3, 2, 1), lambda F, x: F.avg_pool2d(x, 2, ceil_mode=True),
              lambda F, x: F.adaptive_avg_pool2d(x, (4, 3))):
        yc = f(ctorch.nn.functional, ctorch.from_numpy(a.copy()).to(memory_format=ctorch.channels_last))
        yt = f(torch.nn.functional, torch.from_numpy(a.copy()).to(memory_format=torch.channels_last))
        _close(yc, yt, 1e-6)
        assert yc.is_contiguous(memory_format=ctorch.channels_last)
        assert yc.is_contiguous(memory_format=ctorch.channels_last) == yt.is_contiguous(memory_format=torch.channels_last)
        assert yc.stride() == yt.stride()
