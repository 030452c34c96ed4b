"""Pooling, unpooling, lp pooling, interpolate/upsample, grid_sample and affine_grid vs torch:
forward values, indices, gradients (float64 tight, float32 loose), double backward of the
linear ones, modules (repr, forward), bad inputs."""
import warnings

import numpy as np
import pytest
import torch

import ctorch
from helpers import assert_same, check, check_grad, make_pair

F64 = dict(dtype="float64", rtol=1e-9, atol=1e-10)
F32 = dict(dtype="float32", rtol=1e-4, atol=1e-5)


def _spatial(nd, n=7):
    return (2, 3) + (n,) * nd


def _fn(lib, name):
    return getattr(lib.nn.functional, name)


def _double_backward(fn, shape, dtype="float64", seed=0):
    """d/dv of <grad(fn(x), x, v), u>: checks the recorded backward of a linear op."""
    rng = np.random.default_rng(seed)
    xa = rng.uniform(-2, 2, size=shape)
    res = {}
    for lib in (ctorch, torch):
        dt = getattr(lib, dtype)
        x = lib.tensor(xa, dtype=dt, requires_grad=True)
        y = fn(lib, x)
        va = np.random.default_rng(seed + 1).uniform(-1, 1, size=tuple(y.shape))
        v = lib.tensor(va, dtype=dt, requires_grad=True)
        (g,) = lib.autograd.grad(y, x, grad_outputs=v, create_graph=True)
        ua = np.random.default_rng(seed + 2).uniform(-1, 1, size=tuple(g.shape))
        u = lib.tensor(ua, dtype=dt)
        (gv,) = lib.autograd.grad(g, v, grad_outputs=u)
        res[lib] = (g, gv)
    assert_same(res[ctorch][0], res[torch][0], 1e-9, 1e-10)
    assert_same(res[ctorch][1], res[torch][1], 1e-9, 1e-10)


# ------------------------------------------------------------------ max pool

MAX_OPTS = [dict(kernel_size=3), dict(kernel_size=2, stride=1), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
            dict(kernel_size=2, dilation=2, padding=1), dict(kernel_size=(3, 2, 2), stride=(1, 2, 3))]


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("opt", range(len(MAX_OPTS)))
def test_max_pool(nd, opt):
    kw = dict(MAX_OPTS[opt])
    for k in ("kernel_size", "stride"):
        if isinstance(kw.get(k), tuple):
            kw[k] = kw[k][:nd]
    name = "max_pool%dd" % nd
    check(lambda lib, x: _fn(lib, name)(x, return_indices=True, **kw), make_pair(_spatial(nd), "float64", seed=nd))
    check(lambda lib, x: _fn(lib, name)(x, **kw), make_pair(_spatial(nd), "float32", seed=nd, noncontig=True))
    check_grad(lambda lib, x: _fn(lib, name)(x, **kw), _spatial(nd), **F64)
    check_grad(lambda lib, x: _fn(lib, name)(x, **kw), _spatial(nd), **F32)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_max_pool_unbatched_half_nan(nd):
    name = "max_pool%dd" % nd
    check(lambda lib, x: _fn(lib, name)(x, 2, return_indices=True), make_pair((3,) + (6,) * nd, "float32", seed=1))
    for dt in ("float16", "bfloat16"):
        check(lambda lib, x: _fn(lib, name)(x, 2), make_pair(_spatial(nd, 6), dt, seed=2))
    a = np.random.default_rng(0).uniform(-1, 1, size=_spatial(nd, 4))
    a.reshape(-1)[[1, 5, 17]] = np.nan
    check(lambda lib, x: _fn(lib, name)(x, 2, return_indices=True), (ctorch.tensor(a), torch.tensor(a)))


def test_max_pool_double_backward_and_names():
    _double_backward(lambda lib, x: lib.nn.functional.max_pool2d(x, 3, 2, 1), (2, 3, 7, 6))
    _double_backward(lambda lib, x: lib.nn.functional.max_pool3d(x, 2), (1, 2, 4, 4, 4))
    for name, shp in [("max_pool2d", (1, 2, 4, 4)), ("max_pool3d", (1, 2, 4, 4, 4)), ("avg_pool2d", (1, 2, 4, 4)),
                      ("avg_pool3d", (1, 2, 4, 4, 4))]:
        c = _fn(ctorch, name)(ctorch.ones(*shp, requires_grad=True), 2)
        t = _fn(torch, name)(torch.ones(*shp, requires_grad=True), 2)
        assert c.grad_fn.name() == t.grad_fn.name()
    c = ctorch.nn.functional.max_pool2d(ctorch.ones(1, 1, 4, 4, requires_grad=True), 2, return_indices=True)[1]
    assert c.dtype == ctorch.int64 and not c.requires_grad


# ------------------------------------------------------------------ avg pool

AVG_OPTS = [dict(kernel_size=3), dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=3, stride=2, padding=1,
            ceil_mode=True), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
            dict(kernel_size=2, stride=1, padding=1, count_include_pad=False), dict(kernel_size=(2, 3, 3), stride=(2, 1, 2))]


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("opt", range(len(AVG_OPTS)))
def test_avg_pool(nd, opt):
    kw = dict(AVG_OPTS[opt])
    for k in ("kernel_size", "stride"):
        if isinstance(kw.get(k), tuple):
            kw[k] = kw[k][:nd]
    name = "avg_pool%dd" % nd
    check(lambda lib, x: _fn(lib, name)(x, **kw), make_pair(_spatial(nd), "float32", seed=nd, noncontig=True))
    check_grad(lambda lib, x: _fn(lib, name)(x, **kw), _spatial(nd), **F64)
    check_grad(lambda lib, x: _fn(lib, name)(x, **kw), _spatial(nd), **F32)


@pytest.mark.parametrize("nd", [2, 3])
def test_avg_pool_divisor_and_double_backward(nd):
    name = "avg_pool%dd" % nd
    check_grad(lambda lib, x: _fn(lib, name)(x, 3, 2, 1, divisor_override=5), _spatial(nd), **F64)
    if nd == 2:  # torch has no bfloat16 avg_pool3d on CPU
        check(lambda lib, x: _fn(lib, name)(x, 2), make_pair(_spatial(nd, 6), "bfloat16", seed=1))
    _double_backward(lambda lib, x: _fn(lib, name)(x, 3, 2, 1, True, False), _spatial(nd))
    _double_backward(lambda lib, x: _fn(lib, name)(x, 3, 2, 1, divisor_override=4), _spatial(nd))


# ------------------------------------------------------------------ adaptive pools

@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("out", [1, 3, 5, 9])
def test_adaptive_pools(nd, out):
    avg, mx = "adaptive_avg_pool%dd" % nd, "adaptive_max_pool%dd" % nd
    check(lambda lib, x: _fn(lib, avg)(x, out), make_pair(_spatial(nd), "float32", seed=out, noncontig=True))
    check(lambda lib, x: _fn(lib, mx)(x, out, return_indices=True), make_pair(_spatial(nd), "float64", seed=out))
    check_grad(lambda lib, x: _fn(lib, avg)(x, out), _spatial(nd), **F64)
    check_grad(lambda lib, x: _fn(lib, mx)(x, out), _spatial(nd), **F64)
    check_grad(lambda lib, x: _fn(lib, avg)(x, out), _spatial(nd), **F32)


def test_adaptive_none_sizes_double_backward_names():
    check(lambda lib, x: lib.nn.functional.adaptive_avg_pool2d(x, (None, 3)), make_pair((2, 3, 5, 7), seed=0))
    check(lambda lib, x: lib.nn.functional.adaptive_max_pool3d(x, (2, None, 3)), make_pair((2, 3, 5, 7, 4), seed=0))
    _double_backward(lambda lib, x: lib.nn.functional.adaptive_avg_pool2d(x, (3, 4)), (2, 3, 7, 5))
    _double_backward(lambda lib, x: lib.nn.functional.adaptive_max_pool2d(x, 3), (2, 3, 7, 5))
    for name, shp in [("adaptive_avg_pool2d", (1, 2, 4, 4)), ("adaptive_avg_pool3d", (1, 2, 4, 4, 4)),
                      ("adaptive_max_pool2d", (1, 2, 4, 4)), ("adaptive_max_pool3d", (1, 2, 4, 4, 4))]:
        c = _fn(ctorch, name)(ctorch.ones(*shp, requires_grad=True), 2)
        t = _fn(torch, name)(torch.ones(*shp, requires_grad=True), 2)
        assert c.grad_fn.name() == t.grad_fn.name()


# ------------------------------------------------------------------ unpool, lp pool

@pytest.mark.parametrize("nd", [1, 2, 3])
def test_max_unpool(nd):
    shp = _spatial(nd, 6)

    def fn(lib, x, output_size=None, k=2, s=None):
        o, i = _fn(lib, "max_pool%dd" % nd)(x, k, s, return_indices=True)
        return _fn(lib, "max_unpool%dd" % nd)(o, i, k, s, output_size=output_size)

    check_grad(fn, shp, **F64)
    check_grad(lambda lib, x: fn(lib, x, k=3, s=2, output_size=(7,) * nd), _spatial(nd, 7), **F64)
    check_grad(lambda lib, x: fn(lib, x, output_size=(2, 3) + (7,) * nd), _spatial(nd, 7), **F32)
    check(lambda lib, x: fn(lib, x, output_size=(9,) * nd), make_pair(shp, seed=1))  # out of range: ValueError
    check(lambda lib, x: fn(lib, x, output_size=(1,) * nd), make_pair(shp, seed=1))


def test_max_unpool_bad_index():
    for lib in (ctorch, torch):
        with pytest.raises(RuntimeError):
            lib.nn.functional.max_unpool2d(lib.ones(1, 1, 2, 2), lib.tensor([[[[0, 1], [2, 99]]]]), 2)


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("p", [1.0, 2.0, 3.5])
def test_lp_pool(nd, p):
    name = "lp_pool%dd" % nd
    shp = _spatial(nd, 6)
    check_grad(lambda lib, x: _fn(lib, name)(x, p, 2), shp, low=0.2, high=2, create_graph=True, **F64)
    check_grad(lambda lib, x: _fn(lib, name)(x, p, 2), shp, low=0.2, high=2, **F64)
    check_grad(lambda lib, x: _fn(lib, name)(x, p, 3, 2, ceil_mode=True), shp, low=0.2, high=2, **F64)
    check_grad(lambda lib, x: _fn(lib, name)(x, p, 2, 1), shp, low=0.2, high=2, **F32)


# ------------------------------------------------------------------ pool errors

def test_pool_errors():
    x = make_pair((2, 3, 6, 6), seed=0)
    cases = [
        lambda lib, x: lib.nn.functional.max_pool2d(x, 0),
        lambda lib, x: lib.nn.functional.max_pool2d(x, 2, padding=2),
        lambda lib, x: lib.nn.functional.max_pool2d(x, 2, stride=0),
        lambda lib, x: lib.nn.functional.max_pool2d(x, 8),
        lambda lib, x: lib.nn.functional.max_pool3d(x, 2),
        lambda lib, x: lib.nn.functional.avg_pool2d(x, 3, padding=2),
        lambda lib, x: lib.nn.functional.avg_pool2d(x, 7),
        lambda lib, x: lib.nn.functional.avg_pool2d(x, 2, divisor_override=0),
        lambda lib, x: lib.nn.functional.avg_pool3d(x, 2),
        lambda lib, x: lib.nn.functional.max_pool1d(x, 2),
        lambda lib, x: lib.nn.functional.adaptive_avg_pool3d(x, 2),
        lambda lib, x: lib.nn.functional.max_pool2d(x.long(), 2),
        lambda lib, x: lib.nn.functional.avg_pool2d(x.long(), 2),
        lambda lib, x: lib.nn.functional.avg_pool2d(x.long(), (2, 3), divisor_override=4),
        lambda lib, x: lib.nn.functional.max_pool3d(x.long().reshape(1, 2, 3, 6, 6), 2, return_indices=True),
        lambda lib, x: lib.nn.functional.max_pool1d(x.long().reshape(6, 36), 2),
        lambda lib, x: lib.nn.functional.adaptive_avg_pool2d(x.long(), 2),
        lambda lib, x: lib.nn.functional.adaptive_max_pool2d(x.long(), 2),
        lambda lib, x: lib.nn.functional.lp_pool2d(x.long(), 2.0, 2),
        lambda lib, x: lib.nn.functional.lp_pool2d(x.long(), 2, 2),
        lambda lib, x: lib.nn.functional.lp_pool1d(x.reshape(6, 36), 2, (2,)),
        lambda lib, x: lib.nn.functional.max_pool2d(x, 2).long(),
    ]
    for fn in cases:
        check(fn, x)


# ------------------------------------------------------------------ interpolate

INTERP = [("nearest", (2, 3, 5)), ("nearest", (2, 3, 5, 4)), ("nearest", (1, 2, 3, 4, 5)),
          ("nearest-exact", (2, 3, 5)), ("nearest-exact", (2, 3, 5, 4)), ("nearest-exact", (1, 2, 3, 4, 5)),
          ("linear", (2, 3, 5)), ("bilinear", (2, 3, 5, 4)), ("trilinear", (1, 2, 3, 4, 5)),
          ("bicubic", (2, 3, 5, 4)), ("area", (2, 3, 7, 5)), ("area", (2, 3, 7))]
SIZES = [dict(scale_factor=2), dict(scale_factor=1.7), dict(size=3), dict(scale_factor=0.6), dict(size=8),
         dict(scale_factor=2.5, recompute_scale_factor=True)]


@pytest.mark.parametrize("case", range(len(INTERP)))
@pytest.mark.parametrize("sz", range(len(SIZES)))
def test_interpolate(case, sz):
    mode, shp = INTERP[case]
    kw = SIZES[sz]
    for ac in ([None] if mode in ("nearest", "nearest-exact", "area") else [False, True]):
        f = lambda lib, x: lib.nn.functional.interpolate(x, mode=mode, align_corners=ac, **kw)  # noqa: E731
        check_grad(f, shp, **F64)
        check_grad(f, shp, **F32)


def test_interpolate_scale_tuple_half_names_double_backward():
    check(lambda lib, x: lib.nn.functional.interpolate(x, scale_factor=(1.5, 2.25), mode="bilinear"),
          make_pair((2, 3, 5, 4), seed=0, noncontig=True))
    check(lambda lib, x: lib.nn.functional.interpolate(x, size=(3, 7), mode="nearest"), make_pair((2, 3, 5, 4), seed=1))
    check(lambda lib, x: lib.nn.functional.interpolate(x, scale_factor=2, mode="bilinear"),
          make_pair((2, 3, 5, 4), "bfloat16", seed=1))
    for mode, shp in [("nearest", (1, 1, 3, 3)), ("bilinear", (1, 1, 3, 3)), ("bicubic", (1, 1, 3, 3)),
                      ("linear", (1, 1, 3)), ("trilinear", (1, 1, 2, 2, 2)), ("nearest-exact", (1, 1, 3))]:
        c = ctorch.nn.functional.interpolate(ctorch.ones(*shp, requires_grad=True), scale_factor=2, mode=mode)
        t = torch.nn.functional.interpolate(torch.ones(*shp, requires_grad=True), scale_factor=2, mode=mode)
        assert c.grad_fn.name() == t.grad_fn.name()
    _double_backward(lambda lib, x: lib.nn.functional.interpolate(x, scale_factor=1.5, mode="bicubic",
                                                                  align_corners=True), (2, 3, 5, 4))
    _double_backward(lambda lib, x: lib.nn.functional.interpolate(x, size=(4, 9), mode="nearest"), (2, 3, 5, 4))


def test_interpolate_errors():
    x = make_pair((2, 3, 5, 4), seed=0)
    cases = [
        lambda lib, x: lib.nn.functional.interpolate(x, scale_factor=2, mode="nearest", align_corners=True),
        lambda lib, x: lib.nn.functional.interpolate(x, size=3, scale_factor=2),
        lambda lib, x: lib.nn.functional.interpolate(x),
        lambda lib, x: lib.nn.functional.interpolate(x, size=(3, 4, 5)),
        lambda lib, x: lib.nn.functional.interpolate(x, scale_factor=(2, 3, 4)),
        lambda lib, x: lib.nn.functional.interpolate(x, scale_factor=2, mode="linear"),
        lambda lib, x: lib.nn.functional.interpolate(x, scale_factor=2, mode="trilinear"),
        lambda lib, x: lib.nn.functional.interpolate(x, size=3, recompute_scale_factor=True),
        lambda lib, x: lib.nn.functional.interpolate(x, scale_factor=2, mode="linear", antialias=True),
        lambda lib, x: lib.nn.functional.interpolate(x.reshape(6, 20), scale_factor=2),
        lambda lib, x: lib.nn.functional.interpolate(x, scale_factor=2, mode="lanczos"),
        lambda lib, x: lib.nn.functional.interpolate(x.long(), scale_factor=2),
    ]
    for fn in cases:
        check(fn, x)


# ------------------------------------------------------------------ grid_sample / affine_grid

@pytest.mark.parametrize("nd", [2, 3])
@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("pm", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("ac", [False, True])
def test_grid_sample(nd, mode, pm, ac):
    ish = (2, 3, 5, 4) if nd == 2 else (2, 2, 4, 3, 5)
    gsh = (2, 3, 6, 2) if nd == 2 else (2, 3, 2, 4, 3)
    f = lambda lib, x, g: lib.nn.functional.grid_sample(x, g, mode=mode, padding_mode=pm, align_corners=ac)  # noqa
    check_grad(f, ish, gsh, low=-1.3, high=1.3, **F64)
    check_grad(f, ish, gsh, low=-1.3, high=1.3, seed=3, **F32)


@pytest.mark.parametrize("ac", [False, True])
def test_affine_grid(ac):
    check_grad(lambda lib, t: lib.nn.functional.affine_grid(t, (2, 3, 5, 4), align_corners=ac), (2, 2, 3), **F64)
    check_grad(lambda lib, t: lib.nn.functional.affine_grid(t, (2, 3, 2, 4, 3), align_corners=ac), (2, 3, 4), **F64)
    check_grad(lambda lib, t: lib.nn.functional.affine_grid(t, [2, 1, 6, 1], align_corners=ac), (2, 2, 3), **F32)

    def chain(lib, x, t):
        g = lib.nn.functional.affine_grid(t, (2, 3, 4, 5), align_corners=ac)
        return lib.nn.functional.grid_sample(x, g, align_corners=ac)
    check_grad(chain, (2, 3, 5, 6), (2, 2, 3), **F64)


def test_grid_sample_errors():
    x = make_pair((2, 3, 5, 4), seed=0)
    g = make_pair((2, 3, 6, 2), seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        th = make_pair((2, 2, 3), seed=2)
        for fn in [lambda lib, x, g, t: lib.nn.functional.grid_sample(x, g, mode="area"),
                   lambda lib, x, g, t: lib.nn.functional.grid_sample(x, g, padding_mode="edge"),
                   lambda lib, x, g, t: lib.nn.functional.grid_sample(x.long(), g.long()),
                   lambda lib, x, g, t: lib.nn.functional.affine_grid(x, (2, 3, 4, 4)),
                   lambda lib, x, g, t: lib.nn.functional.affine_grid(t.long(), (2, 3, 4, 4)),
                   lambda lib, x, g, t: lib.nn.functional.affine_grid(t, (2, 3, 4)),
                   lambda lib, x, g, t: lib.nn.functional.affine_grid(t, (2, 3, 0, 4))]:
            check(fn, x, g, th)


# ------------------------------------------------------------------ modules

MODULES = ["MaxPool2d(3)", "MaxPool1d(3, 2, 1, ceil_mode=True)", "MaxPool3d((2, 3, 1), dilation=2)",
           "MaxPool2d(2, return_indices=True)", "AvgPool1d(3)", "AvgPool2d(3, 2, 1, divisor_override=2)",
           "AvgPool3d(2, count_include_pad=False)", "AdaptiveAvgPool1d(3)", "AdaptiveAvgPool2d((3, None))",
           "AdaptiveAvgPool3d(2)", "AdaptiveMaxPool1d(3)", "AdaptiveMaxPool2d(3, True)", "AdaptiveMaxPool3d(2)",
           "MaxUnpool1d(2)", "MaxUnpool2d(2, 1)", "MaxUnpool3d(2)", "LPPool1d(2, 3)", "LPPool2d(1.5, 2, 1, True)",
           "LPPool3d(2, 2)", "Upsample(scale_factor=2)", "Upsample(size=(3, 4), mode='bilinear')",
           "Upsample(scale_factor=(2, 1.5), mode='bicubic', align_corners=True)", "UpsamplingNearest2d(scale_factor=2)",
           "UpsamplingBilinear2d(size=3)"]


@pytest.mark.parametrize("m", MODULES)
def test_module_repr(m):
    assert repr(eval("ctorch.nn." + m)) == repr(eval("torch.nn." + m))


def test_module_forward():
    x = make_pair((2, 3, 6, 6), "float64", seed=0)
    x1 = make_pair((2, 3, 6), "float64", seed=1)
    x3 = make_pair((2, 3, 4, 4, 4), "float64", seed=2)
    for m, inp in [("MaxPool2d(3, 2, 1)", x), ("MaxPool2d(2, return_indices=True)", x), ("MaxPool1d(2)", x1),
                   ("MaxPool3d(2)", x3), ("AvgPool2d(3, 2, 1, ceil_mode=True)", x), ("AvgPool1d(3, 1, 1)", x1),
                   ("AvgPool3d(2)", x3), ("AdaptiveAvgPool2d((3, None))", x), ("AdaptiveMaxPool1d(4, True)", x1),
                   ("AdaptiveAvgPool3d(3)", x3), ("LPPool2d(2, 2)", x), ("Upsample(scale_factor=2, mode='bilinear')", x),
                   ("UpsamplingBilinear2d(scale_factor=2)", x), ("UpsamplingNearest2d(size=5)", x),
                   ("Upsample(scale_factor=1.5, mode='trilinear')", x3)]:
        check(lambda lib, t: eval("lib.nn." + m)(t), inp)

    def unpool(lib, t):
        o, i = lib.nn.MaxPool2d(2, return_indices=True)(t)
        return lib.nn.MaxUnpool2d(2)(o, i)
    check(unpool, x)


def test_interpolate_same_and_double_size_dims():
    # torch's 2-d nearest copies/shifts for same/double sizes whatever the scale; 1-d and 3-d use
    # the scale; linear-type modes copy a dim whose size does not change
    for shp, sc, mode in [((1, 2, 3), 2.228, "nearest"), ((1, 2, 1, 3), (1, 2.228), "nearest"),
                          ((1, 2, 4, 3), (1.1, 2.1), "nearest"), ((1, 1, 1, 4, 3), (1, 1.1, 2.228), "nearest"),
                          ((1, 2, 4), 1.1, "nearest"), ((1, 2, 4, 5), (1.1, 1.3), "bilinear"),
                          ((1, 2, 4, 5), (1.1, 1.3), "bicubic"), ((1, 2, 4), 1.2, "linear"),
                          ((1, 1, 2, 3, 4), (1.2, 2.1, 1.4), "trilinear"), ((1, 2, 4, 3), (1.1, 2.228), "nearest-exact")]:
        check(lambda lib, x: lib.nn.functional.interpolate(x, scale_factor=sc, mode=mode),
              make_pair(shp, "float64", seed=1))


def test_pool_shape_checks():
    for fn, shp in [(lambda lib, x: lib.nn.functional.max_pool2d(x, 3, padding=2, dilation=2), (1, 2, 7, 7)),
                    (lambda lib, x: lib.nn.functional.max_pool1d(x, 3, padding=2, dilation=2), (1, 2, 7)),
                    (lambda lib, x: lib.nn.functional.avg_pool3d(x, (3, 2, 3), padding=(0, 0, 1)), (2, 3, 6, 3, 2)),
                    (lambda lib, x: lib.nn.functional.max_pool3d(x, (3, 2, 3), padding=(0, 0, 1)), (2, 3, 6, 3, 2)),
                    (lambda lib, x: lib.nn.functional.avg_pool2d(x, (2, 3), padding=(0, 1)), (3, 6, 3, 2))]:
        check(fn, make_pair(shp, "float64", seed=0))


def test_interpolate_nearest_backward_shortcuts():
    # torch's nearest backwards copy/shift for same/double sizes even where the forward used the scale
    for shp, sc in [((1, 2, 3), 2.228), ((1, 2, 8), 1.124), ((1, 1, 2, 2, 3), (1.0, 1.166, 2.228)),
                    ((1, 2, 4, 3), (1.1, 2.1))]:
        check_grad(lambda lib, x: lib.nn.functional.interpolate(x, scale_factor=sc), shp, **F64)


def test_1d_grad_fn_names_and_lp_inf():
    for name in ["max_pool1d", "avg_pool1d", "adaptive_avg_pool1d", "adaptive_max_pool1d"]:
        c = _fn(ctorch, name)(ctorch.ones(1, 2, 6, requires_grad=True), 2)
        t = _fn(torch, name)(torch.ones(1, 2, 6, requires_grad=True), 2)
        assert c.grad_fn.name() == t.grad_fn.name()
    for nd in (2, 3):
        for p in (float("inf"), -float("inf")):
            check(lambda lib, x: _fn(lib, "lp_pool%dd" % nd)(x, p, 2), make_pair(_spatial(nd, 4), seed=nd))


def test_affine_grid_double_backward():
    for size in [(2, 3, 5, 4), (2, 3, 2, 4, 3)]:
        th = (2, 2, 3) if len(size) == 4 else (2, 3, 4)
        _double_backward(lambda lib, t: lib.nn.functional.affine_grid(t, size, align_corners=False), th)
