"""Fast paths of max / avg / adaptive avg pooling (src/kernels/cpu/pool.c, pool_impl.h) vs torch:
kernel == stride and strided / padded windows over rows shorter and longer than one 16-lane
step, odd sizes with ceil_mode, NaN and tied values (torch's index choice), float64,
non-contiguous and channels_last-strided inputs, empty batches, gradients."""
import numpy as np
import pytest
import torch

import ctorch
from helpers import assert_same, check, check_grad, make_pair

F32 = dict(rtol=1e-5, atol=1e-6)

# (input spatial shape, kwargs) for 2-d max / avg pools
CASES_2D = [
    ((28, 28), dict(kernel_size=2)),
    ((10, 10), dict(kernel_size=2)),
    ((7, 7), dict(kernel_size=2)),
    ((7, 7), dict(kernel_size=2, ceil_mode=True)),
    ((7, 9), dict(kernel_size=3, stride=2, padding=1)),
    ((9, 70), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ((5, 41), dict(kernel_size=2, stride=1)),
    ((6, 37), dict(kernel_size=3, stride=1, padding=1)),
    ((8, 66), dict(kernel_size=(2, 3), stride=(2, 3))),
    ((4, 35), dict(kernel_size=(1, 2), stride=(1, 2))),
    ((11, 34), dict(kernel_size=2, stride=2, padding=1)),
    ((9, 57), dict(kernel_size=3)),
    ((8, 61), dict(kernel_size=4, padding=2, ceil_mode=True)),
    ((6, 50), dict(kernel_size=(2, 5), stride=(1, 3), padding=(1, 2))),
]


def _mp(lib, x, **kw):
    return lib.nn.functional.max_pool2d(x, return_indices=True, **kw)


@pytest.mark.parametrize("case", range(len(CASES_2D)))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_max_pool2d_values_indices(case, dtype):
    hw, kw = CASES_2D[case]
    check(lambda lib, x: _mp(lib, x, **kw), make_pair((2, 3) + hw, dtype, seed=case), **F32)
    check(lambda lib, x: _mp(lib, x, **kw), make_pair((3,) + hw, dtype, seed=case + 50), **F32)


@pytest.mark.parametrize("case", range(len(CASES_2D)))
def test_max_pool2d_noncontig_channels_last(case):
    hw, kw = CASES_2D[case]
    check(lambda lib, x: _mp(lib, x, **kw), make_pair((3, 2) + hw, "float32", seed=case, noncontig=True))
    a = np.random.default_rng(case).standard_normal((2, 3) + hw).astype(np.float32)
    res = {}
    for lib in (ctorch, torch):
        # channels_last memory layout: a (N, H, W, C) buffer viewed as (N, C, H, W)
        x = lib.tensor(np.ascontiguousarray(a.transpose(0, 2, 3, 1))).permute(0, 3, 1, 2)
        res[lib] = _mp(lib, x, **kw)
        # a strided slice too
        res[(lib, 1)] = lib.nn.functional.max_pool2d(x[:, :, ::2, 1:], 2, return_indices=True)
    for c, t in zip(res[ctorch] + res[(ctorch, 1)], res[torch] + res[(torch, 1)]):
        assert_same(c, t)


def _tricky(shape, seed):
    """values with many ties (small integers), NaNs and infinities"""
    rng = np.random.default_rng(seed)
    a = rng.integers(-2, 3, size=shape).astype(np.float64)
    flat = a.reshape(-1)
    flat[rng.random(flat.size) < 0.08] = np.nan
    flat[rng.random(flat.size) < 0.05] = -np.inf
    flat[rng.random(flat.size) < 0.02] = np.inf
    return a


@pytest.mark.parametrize("case", range(len(CASES_2D)))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_max_pool2d_nan_ties(case, dtype):
    hw, kw = CASES_2D[case]
    a = _tricky((2, 3) + hw, case)
    ct, tt = ctorch.tensor(a, dtype=getattr(ctorch, dtype)), torch.tensor(a, dtype=getattr(torch, dtype))
    cy, ci = _mp(ctorch, ct, **kw)
    ty, ti = _mp(torch, tt, **kw)
    assert_same(cy, ty)
    assert_same(ci, ti)


def test_max_pool2d_all_neg_inf():
    a = np.full((1, 2, 6, 40), -np.inf)
    a[0, 1, ::3, ::5] = np.nan
    for kw in (dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=2, stride=1)):
        check(lambda lib, x: _mp(lib, x, **kw), (ctorch.tensor(a, dtype=ctorch.float32),
                                                 torch.tensor(a, dtype=torch.float32)))


@pytest.mark.parametrize("nd", [1, 3])
def test_max_pool_1d_3d_fast(nd):
    shape = (2, 3, 37) if nd == 1 else (2, 2, 5, 6, 35)
    fn = getattr(torch.nn.functional, "max_pool%dd" % nd).__name__
    for kw in (dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True), dict(kernel_size=2,
                                                                                                   stride=1)):
        check(lambda lib, x: getattr(lib.nn.functional, fn)(x, return_indices=True, **kw),
              make_pair(shape, "float32", seed=nd))
        a = _tricky(shape, nd)
        check(lambda lib, x: getattr(lib.nn.functional, fn)(x, return_indices=True, **kw),
              (ctorch.tensor(a, dtype=ctorch.float32), torch.tensor(a, dtype=torch.float32)))


def test_max_pool2d_empty_batch():
    for kw in (dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1)):
        check(lambda lib, x: _mp(lib, x, **kw), make_pair((0, 3, 8, 8), "float32"))
    for lib in (ctorch, torch):
        x = lib.zeros(0, 3, 8, 8, requires_grad=True)
        y = lib.nn.functional.max_pool2d(x, 2)
        y.sum().backward()
        assert tuple(x.grad.shape) == (0, 3, 8, 8)


@pytest.mark.parametrize("case", range(len(CASES_2D)))
def test_max_pool2d_grad(case):
    hw, kw = CASES_2D[case]
    check_grad(lambda lib, x: lib.nn.functional.max_pool2d(x, **kw), (2, 3) + hw, seed=case)
    check_grad(lambda lib, x: lib.nn.functional.max_pool2d(x, **kw), (3, 2) + hw, dtype="float32", seed=case,
               noncontig=True, rtol=1e-5, atol=1e-6)


def test_max_pool2d_grad_ties():
    # tied maxima: the gradient goes to the first one, as in torch
    a = _tricky((2, 3, 9, 34), 7)
    a[np.isnan(a)] = 1.0
    for kw in (dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1)):
        g = {}
        for lib in (ctorch, torch):
            x = lib.tensor(a, requires_grad=True)
            y = lib.nn.functional.max_pool2d(x, **kw)
            y.backward(lib.ones(tuple(y.shape), dtype=y.dtype))
            g[lib] = x.grad
        assert_same(g[ctorch], g[torch])


def test_max_unpool_bad_index_still_raises():
    check(lambda lib, x: lib.nn.functional.max_unpool2d(x, lib.tensor([[[[0, 99]]]]), 2, output_size=(2, 2)),
          make_pair((1, 1, 1, 2), "float32"))


# ------------------------------------------------------------------ avg pools


@pytest.mark.parametrize("case", range(len(CASES_2D)))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_avg_pool2d_fast(case, dtype):
    hw, kw = CASES_2D[case]
    for extra in (dict(), dict(count_include_pad=False), dict(divisor_override=3)):
        check(lambda lib, x: lib.nn.functional.avg_pool2d(x, **kw, **extra), make_pair((2, 3) + hw, dtype, seed=case),
              **F32)
    check(lambda lib, x: lib.nn.functional.avg_pool2d(x, **kw), make_pair((3, 2) + hw, dtype, seed=case,
                                                                           noncontig=True), **F32)
    check_grad(lambda lib, x: lib.nn.functional.avg_pool2d(x, **kw), (2, 3) + hw, seed=case)
    check_grad(lambda lib, x: lib.nn.functional.avg_pool2d(x, count_include_pad=False, **kw), (2, 3) + hw, seed=case)
    for extra in (dict(), dict(count_include_pad=False), dict(divisor_override=5)):
        check_grad(lambda lib, x: lib.nn.functional.avg_pool2d(x, **kw, **extra), (2, 3) + hw, dtype="float32",
                   seed=case, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
                                dict(kernel_size=(2, 3, 2), stride=1, padding=1, count_include_pad=False)])
def test_avg_pool_1d_3d_fast(kw):
    k1 = {key: (v[0] if isinstance(v, tuple) else v) for key, v in kw.items()}
    check_grad(lambda lib, x: lib.nn.functional.avg_pool1d(x, **k1), (2, 3, 37), dtype="float32", rtol=1e-5,
               atol=1e-6)
    check_grad(lambda lib, x: lib.nn.functional.avg_pool3d(x, **kw), (2, 2, 5, 6, 35), dtype="float32", rtol=1e-5,
               atol=1e-6)


def test_avg_pool_nan_empty():
    a = _tricky((2, 3, 7, 33), 3)
    check(lambda lib, x: lib.nn.functional.avg_pool2d(x, 2), (ctorch.tensor(a), torch.tensor(a)))
    check(lambda lib, x: lib.nn.functional.avg_pool2d(x, 3, 2, 1), make_pair((0, 3, 8, 8), "float32"))


@pytest.mark.parametrize("shape,out", [((2, 5, 7, 7), 1), ((2, 3, 14, 14), 7), ((2, 3, 9, 20), (3, 4)),
                                       ((2, 3, 10, 10), (3, 4)), ((3, 33, 35), 1), ((2, 2, 4, 6, 8), (2, 3, 4)),
                                       ((0, 3, 5, 5), 1)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_adaptive_avg_fast(shape, out, dtype):
    nd = 3 if len(shape) == 5 else 2
    fn = "adaptive_avg_pool%dd" % nd
    check(lambda lib, x: getattr(lib.nn.functional, fn)(x, out), make_pair(shape, dtype, seed=len(shape)), **F32)
    if shape[0]:
        check(lambda lib, x: getattr(lib.nn.functional, fn)(x, out), make_pair(shape, dtype, noncontig=True), **F32)
        check_grad(lambda lib, x: getattr(lib.nn.functional, fn)(x, out), shape)


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1),
                                dict(kernel_size=(1, 17), stride=(1, 2), padding=(0, 8)),
                                dict(kernel_size=2, stride=2, dilation=2, padding=1),
                                dict(kernel_size=3, stride=1, dilation=(1, 3), padding=1)])
def test_pool2d_wide_rows(kw):
    # rows of more than 32 16-output steps (masks computed per step), kernels wider than the
    # vector path takes, dilation
    shape = (1, 2, 3, 1100)
    check(lambda lib, x: _mp(lib, x, **kw), make_pair(shape, "float32", seed=1))
    a = _tricky(shape, 2)
    check(lambda lib, x: _mp(lib, x, **kw), (ctorch.tensor(a, dtype=ctorch.float32),
                                             torch.tensor(a, dtype=torch.float32)))
    if "dilation" not in kw:
        check(lambda lib, x: lib.nn.functional.avg_pool2d(x, **kw), make_pair(shape, "float32", seed=3), **F32)
        check(lambda lib, x: lib.nn.functional.avg_pool2d(x, count_include_pad=False, **kw),
              make_pair(shape, "float32", seed=3), **F32)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_pool2d_half(dtype):
    for kw in (dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)):
        check(lambda lib, x: _mp(lib, x, **kw), make_pair((2, 3, 9, 35), dtype, seed=4))
        check(lambda lib, x: lib.nn.functional.avg_pool2d(x, **kw), make_pair((2, 3, 9, 35), dtype, seed=4),
              rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("case", range(len(CASES_2D)))
def test_max_pool_values_only(case):
    # no indices and no gradient asked for: the values-only kernel
    hw, kw = CASES_2D[case]
    a = _tricky((2, 3) + hw, case + 100)
    for dtype in ("float32", "float64"):
        check(lambda lib, x: lib.nn.functional.max_pool2d(x, **kw),
              (ctorch.tensor(a, dtype=getattr(ctorch, dtype)), torch.tensor(a, dtype=getattr(torch, dtype))))
    check(lambda lib, x: lib.nn.MaxPool2d(**kw)(x), make_pair((3, 2) + hw, "float32", seed=case, noncontig=True))
    check(lambda lib, x: lib.nn.functional.max_pool2d(x, **kw), make_pair((2, 3) + hw, "int32", seed=case))
    k1 = {key: (v[-1] if isinstance(v, tuple) else v) for key, v in kw.items()}
    check(lambda lib, x: lib.nn.functional.max_pool1d(x, **k1), make_pair((2, 3, hw[1]), "float32", seed=case))
    res = {}
    for lib in (ctorch, torch):
        x = lib.tensor(a, dtype=lib.float32, requires_grad=True)
        with lib.no_grad():
            res[lib] = lib.nn.functional.max_pool2d(x, **kw)
        assert not res[lib].requires_grad
    assert_same(res[ctorch], res[torch])


def test_max_pool_values_only_3d_and_errors():
    kw = dict(kernel_size=2, stride=2, padding=1)
    check(lambda lib, x: lib.nn.functional.max_pool3d(x, **kw), make_pair((2, 2, 5, 6, 35), "float32", seed=9))
    for bad in (dict(kernel_size=2, padding=2), dict(kernel_size=0), dict(kernel_size=2, stride=0)):
        check(lambda lib, x: lib.nn.functional.max_pool2d(x, **bad), make_pair((2, 3, 8, 8), "float32"))
    check(lambda lib, x: lib.nn.functional.max_pool2d(x, 2), make_pair((8,), "float32"))
    check(lambda lib, x: lib.nn.functional.max_pool1d(x, 2), make_pair((2, 3, 8), "int64"))


@pytest.mark.parametrize("shape", [(3, 5, 40), (7, 3, 40), (2, 1, 64), (67, 40), (0, 3, 40), (130, 2, 48)])
@pytest.mark.parametrize("k", [2, 4])
def test_pool1d_whole_windows(shape, k):
    # 1-d pools cut into whole windows: planes joined into longer rows
    for dtype in ("float32", "float64"):
        check(lambda lib, x: lib.nn.functional.max_pool1d(x, k), make_pair(shape, dtype, seed=k), **F32)
        check(lambda lib, x: lib.nn.functional.avg_pool1d(x, k), make_pair(shape, dtype, seed=k), **F32)
    a = _tricky(shape, k)
    check(lambda lib, x: lib.nn.functional.max_pool1d(x, k), (ctorch.tensor(a, dtype=ctorch.float32),
                                                             torch.tensor(a, dtype=torch.float32)))


@pytest.mark.parametrize("shape,out", [((2, 5, 7, 7), 1), ((2, 3, 14, 14), 7), ((2, 3, 15, 15), 7),
                                       ((2, 3, 40, 41), 1), ((1, 2, 16, 16), 1), ((2, 2, 4, 6, 8), (2, 3, 4)),
                                       ((2, 2, 5, 6, 9), 1), ((3, 33, 35), (11, 5)), ((0, 3, 5, 5), 1)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_adaptive_max_fast(shape, out, dtype):
    # global pools (one window per plane: merged lanes / accumulators), kernel = stride windows
    nd = 3 if len(shape) == 5 else 2
    fn = "adaptive_max_pool%dd" % nd
    for seed in range(2):
        a = _tricky(shape, seed) if seed else np.random.default_rng(0).standard_normal(shape)
        check(lambda lib, x: getattr(lib.nn.functional, fn)(x, out, return_indices=True),
              (ctorch.tensor(a, dtype=getattr(ctorch, dtype)), torch.tensor(a, dtype=getattr(torch, dtype))))
    if shape[0]:
        check_grad(lambda lib, x: getattr(lib.nn.functional, fn)(x, out), shape, dtype=dtype, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fill", [-np.inf, np.nan, 2.0])
def test_adaptive_max_global_special(fill):
    # all -inf (index 0), NaN at a few places (the last one), ties (the first one)
    a = np.full((2, 3, 9, 11), fill)
    a[0, 1, 3, 4] = a[1, 2, 8, 10] = a[1, 0, 0, 0] = 1.0 if np.isnan(fill) else np.nan
    a[0, 2, 5, 5] = 7.0
    for dtype in ("float32", "float64"):
        check(lambda lib, x: lib.nn.functional.adaptive_max_pool2d(x, 1, return_indices=True),
              (ctorch.tensor(a, dtype=getattr(ctorch, dtype)), torch.tensor(a, dtype=getattr(torch, dtype))))
