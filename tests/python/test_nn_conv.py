"""Convolution family vs torch: conv1d/2d/3d, conv_transpose1d/2d/3d, pad, unfold/fold,
pixel_shuffle/unshuffle, linear/bilinear (forward, backward, errors) and their modules
(default init for the same seed, repr, forward/backward with the same weights)."""
import numpy as np
import pytest
import torch

import ctorch
from helpers import assert_same, check, check_grad, make_pair


def F(lib):
    return lib.nn.functional


def to_c(t):
    return ctorch.tensor(t.detach().numpy())


# ------------------------------------------------------------------ convolution

CONV_CASES = [
    # (nd, input shape, weight shape, kwargs)
    (1, (2, 4, 11), (6, 4, 3), {}),
    (1, (2, 4, 11), (6, 2, 3), dict(stride=2, padding=2, dilation=2, groups=2)),
    (1, (1, 3, 7), (5, 3, 4), dict(padding="same")),
    (1, (2, 3, 9), (3, 1, 3), dict(groups=3, padding="valid")),
    (1, (2, 2, 301), (4, 1, 3), dict(groups=2, padding=1, stride=2)),  # depthwise, rows wider than 256
    (2, (2, 4, 7, 6), (6, 4, 3, 3), {}),
    (2, (2, 4, 7, 6), (6, 4, 3, 2), dict(stride=(2, 1), padding=(1, 2))),
    (2, (1, 4, 9, 8), (8, 2, 3, 3), dict(groups=2, dilation=(2, 1), padding=1)),
    (2, (2, 4, 9, 8), (4, 1, 3, 3), dict(groups=4, padding=1)),  # depthwise
    (2, (2, 4, 8, 7), (6, 4, 4, 3), dict(padding="same", dilation=2)),  # asymmetric 'same'
    (2, (2, 4, 5, 5), (6, 4, 1, 1), {}),  # 1x1 direct path
    (2, (3, 2, 5, 6), (3, 2, 5, 6), {}),  # kernel = input
    (2, (1, 3, 10, 9), (4, 3, 3, 3), dict(stride=3)),
    (3, (2, 2, 5, 6, 4), (4, 2, 3, 2, 2), {}),
    (3, (1, 4, 5, 5, 5), (4, 2, 3, 3, 3), dict(stride=2, padding=1, groups=2, dilation=(1, 2, 1))),
]


@pytest.mark.parametrize("nd,xs,ws,kw", CONV_CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_conv_grad_float64(nd, xs, ws, kw, bias):
    fn = "conv%dd" % nd
    if bias:
        check_grad(lambda lib, x, w, b: getattr(F(lib), fn)(x, w, b, **kw), xs, ws, (ws[0],), rtol=1e-9, atol=1e-9)
    else:
        check_grad(lambda lib, x, w: getattr(F(lib), fn)(x, w, None, **kw), xs, ws, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("nd,xs,ws,kw", CONV_CASES[::2])
def test_conv_grad_float32(nd, xs, ws, kw):
    fn = "conv%dd" % nd
    check_grad(lambda lib, x, w, b: getattr(F(lib), fn)(x, w, b, **kw), xs, ws, (ws[0],), dtype="float32",
               rtol=1e-4, atol=1e-4)


BIL_CASES = [
    # float32 batches of 8+ take the batch-in-lanes kernels (NOTE [ Batch-in-lanes convolution ])
    ((16, 6, 9, 8), (5, 6, 3, 3), dict(padding=1)),               # one sample group
    ((12, 5, 7, 7), (4, 5, 3, 2), dict(stride=(1, 2), padding=(1, 0))),
    ((40, 3, 6, 6), (4, 3, 3, 3), dict(dilation=2, padding=2)),    # three groups, the last partial
    ((16, 4, 8, 8), (6, 2, 3, 3), dict(groups=2, padding=1)),
]


@pytest.mark.parametrize("xs,ws,kw", BIL_CASES)
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_conv_grad_float32_batch_lanes(xs, ws, kw, threads):
    """The lane kernels split the weight gradient over input-channel blocks when a batch has
    fewer sample groups than threads; every split must still give torch's gradients."""
    old = ctorch.get_num_threads()
    ctorch.set_num_threads(threads)
    try:
        check_grad(lambda lib, x, w, b: F(lib).conv2d(x, w, b, **kw), xs, ws, (ws[0],), dtype="float32",
                   rtol=1e-4, atol=1e-4)
    finally:
        ctorch.set_num_threads(old)


CONVT_CASES = [
    (1, (2, 4, 7), (4, 3, 3), {}),
    (1, (2, 4, 7), (4, 2, 3), dict(stride=2, padding=1, output_padding=1, groups=2)),
    (1, (1, 3, 5), (3, 2, 4), dict(stride=3, dilation=2, output_padding=2)),
    (2, (2, 4, 5, 6), (4, 3, 3, 3), {}),
    (2, (2, 4, 5, 6), (4, 2, 3, 2), dict(stride=(2, 3), padding=(1, 0), output_padding=(1, 2), groups=2)),
    (2, (1, 4, 4, 4), (4, 1, 3, 3), dict(groups=4, dilation=2, padding=2)),
    (2, (2, 3, 4, 5), (3, 5, 1, 1), {}),
    (3, (1, 2, 3, 4, 3), (2, 3, 2, 3, 2), dict(stride=2, output_padding=1)),
]


@pytest.mark.parametrize("nd,xs,ws,kw", CONVT_CASES)
def test_conv_transpose_grad(nd, xs, ws, kw):
    fn = "conv_transpose%dd" % nd
    cout = ws[1] * kw.get("groups", 1)
    check_grad(lambda lib, x, w, b: getattr(F(lib), fn)(x, w, b, **kw), xs, ws, (cout,), rtol=1e-9, atol=1e-9)
    check_grad(lambda lib, x, w: getattr(F(lib), fn)(x, w, **kw), xs, ws, dtype="float32", rtol=1e-4, atol=1e-4)


def test_conv_unbatched_and_noncontig():
    check_grad(lambda lib, x, w, b: F(lib).conv2d(x, w, b, padding=1), (3, 5, 6), (4, 3, 3, 3), (4,))
    check_grad(lambda lib, x, w: F(lib).conv1d(x, w), (3, 7), (2, 3, 2))
    check_grad(lambda lib, x, w: F(lib).conv_transpose2d(x, w, stride=2), (3, 4, 4), (3, 2, 2, 2))
    x = make_pair((2, 3, 6, 5), "float64", seed=1)
    w = make_pair((4, 3, 3, 3), "float64", seed=2)
    check(lambda lib, x, w: F(lib).conv2d(x.transpose(2, 3), w, padding=1), x, w)
    check(lambda lib, x, w: F(lib).conv2d(x, w.transpose(2, 3), stride=2), x, w)


def test_conv_batch1_odd_and_empty():
    check_grad(lambda lib, x, w, b: F(lib).conv2d(x, w, b, stride=2, padding=1), (1, 3, 13, 11), (5, 3, 3, 3), (5,))
    x = make_pair((0, 3, 5, 5), "float32", seed=1)
    w = make_pair((4, 3, 3, 3), "float32", seed=2)
    check(lambda lib, x, w: F(lib).conv2d(x, w), x, w)


def test_conv_grad_fn_names():
    for lib in (ctorch, torch):
        x = lib.ones((1, 2, 4, 4), requires_grad=True)
        w = lib.ones((3, 2, 3, 3), requires_grad=True)
        assert F(lib).conv2d(x, w).grad_fn.name() == "ConvolutionBackward0"
        assert F(lib).conv_transpose2d(x, w.transpose(0, 1)).grad_fn.name() == "ConvolutionBackward0"


@pytest.mark.parametrize("dtype", ["int64", "int32", "float16", "bfloat16"])
def test_conv_other_dtypes(dtype):
    x = make_pair((2, 3, 6, 6), dtype, seed=1)
    w = make_pair((4, 3, 3, 3), dtype, seed=2)
    tol = dict(rtol=2e-2, atol=2e-1) if dtype in ("float16", "bfloat16") else {}
    check(lambda lib, x, w: F(lib).conv2d(x, w, padding=1), x, w, **tol)
    check(lambda lib, x, w: F(lib).conv_transpose2d(x, w.transpose(0, 1), stride=2), x, w, **tol)


def test_conv_errors():
    def run(fn, xs, ws, dtype="float32", wdtype=None, **kw):
        x = make_pair(xs, dtype, seed=1)
        w = make_pair(ws, wdtype or dtype, seed=2)
        check(lambda lib, x, w: getattr(F(lib), fn)(x, w, **kw), x, w)

    run("conv2d", (1, 3, 5, 5), (4, 2, 3, 3))  # wrong channel count
    run("conv2d", (1, 4, 5, 5), (3, 2, 3, 3), groups=2)  # out channels not divisible
    run("conv2d", (1, 3, 2, 2), (4, 3, 3, 3))  # kernel larger than input
    run("conv2d", (1, 3, 5, 5), (4, 3, 3, 3), stride=2, padding="same")
    run("conv2d", (1, 3, 5, 5), (4, 3, 3, 3), padding="foo")
    run("conv2d", (1, 3, 5, 5), (4, 3, 3, 3), stride=0)
    run("conv2d", (1, 3, 5, 5), (4, 3, 3, 3), padding=-1)
    run("conv2d", (1, 3, 5, 5), (4, 3, 3, 3), dilation=0)
    run("conv2d", (1, 3, 5, 5), (4, 3, 3, 3), groups=0)
    run("conv2d", (1, 3, 5, 5), (4, 3, 3, 3), stride=(1, 1, 1))
    run("conv2d", (5, 5), (4, 3, 3, 3))  # bad input rank
    run("conv2d", (1, 3, 5, 5), (4, 3, 3, 3), wdtype="float64")
    run("conv2d", (1, 3, 5, 5), (4, 3, 3, 3), dtype="bool")
    run("conv1d", (1, 3, 5), (4, 3, 3, 1))
    run("conv_transpose2d", (1, 3, 5, 5), (4, 2, 3, 3))  # wrong channel count
    run("conv_transpose2d", (1, 4, 5, 5), (4, 2, 3, 3), output_padding=1)  # output_padding >= stride
    x = make_pair((1, 3, 5, 5), seed=1)
    w = make_pair((4, 3, 3, 3), seed=2)
    b = make_pair((5,), seed=3)
    check(lambda lib, x, w, b: F(lib).conv2d(x, w, b), x, w, b)  # wrong bias size


# ------------------------------------------------------------------ pad

PAD_CASES = [
    ("constant", (2, 3, 4), (1, 2)),
    ("constant", (2, 3, 4), (1, 2, 0, 1, 2, 1)),
    ("constant", (2, 3, 4, 5), (-1, 2, 1, -2)),
    ("constant", (5,), (3, 0)),
    ("reflect", (2, 5), (2, 3)),
    ("reflect", (2, 3, 5), (2, 3)),
    ("reflect", (2, 3, 4, 5), (1, 3, 2, 1)),
    ("reflect", (1, 2, 3, 4, 5), (1, 2, 2, 1, 1, 2)),
    ("replicate", (2, 3, 5), (3, 4)),
    ("replicate", (3, 4, 5), (2, 1, 3, 2)),
    ("replicate", (1, 2, 3, 4, 3), (2, 2, 1, 0, 3, 1)),
    ("circular", (2, 3, 5), (2, 4)),
    ("circular", (1, 2, 4, 5), (1, 2, 3, 4)),
    ("circular", (2, 3, 4, 3), (-1, 1, 2, 0)),
    ("circular", (1, 2, 3, 4, 3), (1, 1, 2, 2, 3, 0)),
]


@pytest.mark.parametrize("mode,shape,pad", PAD_CASES)
def test_pad_grad(mode, shape, pad):
    check_grad(lambda lib, x: F(lib).pad(x, pad, mode=mode), shape)
    check_grad(lambda lib, x: F(lib).pad(x, pad, mode=mode), shape, dtype="float32", rtol=1e-5, atol=1e-6)


def test_pad_value_dtypes_names():
    x = make_pair((2, 3, 4), "int64", seed=1)
    check(lambda lib, x: F(lib).pad(x, (1, 1), value=2.7), x)
    check(lambda lib, x: F(lib).pad(x, (1, 2, 2, 1), mode="reflect"), x)
    x = make_pair((2, 3, 4), "float32", seed=1)
    check(lambda lib, x: F(lib).pad(x, (1, 1, 1, 1), value=-1.5), x)
    check(lambda lib, x: F(lib).pad(x.transpose(1, 2), (2, 1), mode="replicate"), x)
    for mode, shape, pad in [("constant", (2, 3), (1, 1)), ("reflect", (1, 2, 3), (1, 1)),
                             ("reflect", (1, 2, 3, 3), (1, 1, 1, 1)), ("replicate", (1, 2, 3, 3, 3), (1,) * 6),
                             ("circular", (1, 2, 3), (1, 1))]:
        names = []
        for lib in (ctorch, torch):
            t = lib.ones(shape, requires_grad=True)
            names.append(F(lib).pad(t, pad, mode=mode).grad_fn.name())
        assert names[0] == names[1]


def test_pad_double_backward_constant():
    check_grad(lambda lib, x: F(lib).pad(x, (1, 2, 0, 1)) * F(lib).pad(x, (1, 2, 0, 1)), (2, 3, 4),
               create_graph=True)


def test_pad_errors():
    x = make_pair((1, 2, 3), seed=1)
    for kw in [dict(pad=(1,)), dict(pad=(1,) * 8), dict(pad=(1, 1), mode="foo"), dict(pad=(3, 3), mode="reflect"),
               dict(pad=(4, 4), mode="circular"), dict(pad=(1, 1), mode="reflect", value=1.0),
               dict(pad=(1, 1, 1, 1, 1, 1), mode="reflect"), dict(pad=(-2, -2))]:
        check(lambda lib, x: F(lib).pad(x, **kw), x)
    x = make_pair((1, 2, 0), seed=1)
    check(lambda lib, x: F(lib).pad(x, (1, 1), mode="replicate"), x)


# ------------------------------------------------------------------ unfold / fold

@pytest.mark.parametrize("shape,kw", [((2, 3, 6, 5), dict(kernel_size=2)),
                                      ((2, 3, 7, 6), dict(kernel_size=(3, 2), dilation=(1, 2), padding=1, stride=2)),
                                      ((3, 5, 5), dict(kernel_size=3, padding=(2, 0)))])
def test_unfold_fold_grad(shape, kw):
    check_grad(lambda lib, x: F(lib).unfold(x, **kw), shape)
    y = torch.nn.functional.unfold(torch.zeros(shape), **kw)
    check_grad(lambda lib, y: F(lib).fold(y, shape[-2:], **kw), tuple(y.shape))
    check_grad(lambda lib, x: F(lib).unfold(x, **kw), shape, create_graph=True)


def test_unfold_fold_errors_names():
    check(lambda lib, x: F(lib).unfold(x, 2), make_pair((2, 3), seed=1))
    check(lambda lib, x: F(lib).unfold(x, 3), make_pair((1, 1, 2, 2), seed=1))
    check(lambda lib, x: F(lib).fold(x, (3, 3), 2), make_pair((1, 5, 4), seed=1))
    check(lambda lib, x: F(lib).fold(x, (3, 3), 2), make_pair((1, 8, 5), seed=1))
    for lib in (ctorch, torch):
        x = lib.ones((1, 2, 4, 4), requires_grad=True)
        assert F(lib).unfold(x, 2).grad_fn.name() == "Im2ColBackward0"
        y = lib.ones((1, 8, 4), requires_grad=True)
        assert F(lib).fold(y, (3, 3), 2).grad_fn.name() == "Col2ImBackward0"


# ------------------------------------------------------------------ pixel shuffle

def test_pixel_shuffle():
    check_grad(lambda lib, x: F(lib).pixel_shuffle(x, 2), (2, 8, 3, 4))
    check_grad(lambda lib, x: F(lib).pixel_shuffle(x, 3), (9, 2, 3), create_graph=True)
    check_grad(lambda lib, x: F(lib).pixel_unshuffle(x, 2), (2, 3, 2, 4, 6))
    check_grad(lambda lib, x: F(lib).pixel_unshuffle(x, 2), (2, 4, 6), create_graph=True)
    check(lambda lib, x: F(lib).pixel_shuffle(x, 2), make_pair((1, 4, 2, 3), "int32", seed=1))
    check(lambda lib, x: F(lib).pixel_shuffle(x, 2), make_pair((2, 3), seed=1))
    check(lambda lib, x: F(lib).pixel_shuffle(x, 2), make_pair((1, 5, 2, 2), seed=1))
    check(lambda lib, x: F(lib).pixel_unshuffle(x, 2), make_pair((1, 1, 3, 4), seed=1))
    check(lambda lib, x: F(lib).pixel_unshuffle(x, 2), make_pair((1, 1, 4, 3), seed=1))
    for lib in (ctorch, torch):
        x = lib.ones((1, 4, 2, 2), requires_grad=True)
        assert F(lib).pixel_shuffle(x, 2).grad_fn.name() == "PixelShuffleBackward0"
        assert F(lib).pixel_unshuffle(x, 2).grad_fn.name() == "PixelUnshuffleBackward0"


# ------------------------------------------------------------------ linear / bilinear

@pytest.mark.parametrize("xs", [(4, 5), (5,), (2, 3, 5), (0, 5)])
def test_linear_grad(xs):
    check_grad(lambda lib, x, w, b: F(lib).linear(x, w, b), xs, (3, 5), (3,))
    check_grad(lambda lib, x, w: F(lib).linear(x, w), xs, (3, 5), dtype="float32", rtol=1e-5, atol=1e-5)
    names = []
    for lib in (ctorch, torch):
        x = lib.ones(xs, requires_grad=True)
        w = lib.ones((3, 5), requires_grad=True)
        b = lib.ones((3,), requires_grad=True)
        names.append((F(lib).linear(x, w, b).grad_fn.name(), F(lib).linear(x, w).grad_fn.name()))
    assert names[0] == names[1]


def test_linear_vector_weight():
    check_grad(lambda lib, x, w: F(lib).linear(x, w), (4, 5), (5,))
    check_grad(lambda lib, x, w: F(lib).linear(x, w), (5,), (5,))
    check_grad(lambda lib, x, w, b: F(lib).linear(x, w, b.reshape(())), (2, 3, 5), (5,), (1,))
    x, w, b = make_pair((4, 5), seed=1), make_pair((5,), seed=2), make_pair((1,), seed=3)
    check(lambda lib, x, w, b: F(lib).linear(x, w, b), x, w, b)


def test_linear_dtypes_errors():
    check(lambda lib, x, w: F(lib).linear(x, w), make_pair((3, 4), "int64", seed=1), make_pair((2, 4), "int64", seed=2))
    check(lambda lib, x, w: F(lib).linear(x, w), make_pair((3, 4), seed=1), make_pair((2, 5), seed=2))
    check(lambda lib, x, w: F(lib).linear(x, w), make_pair((3, 4), seed=1), make_pair((2, 4), "float64", seed=2))
    check(lambda lib, x, w, b: F(lib).linear(x, w, b), make_pair((3, 4), seed=1), make_pair((2, 4), seed=2),
          make_pair((3,), seed=3))
    x = make_pair((3, 4), seed=1)
    check(lambda lib, x, w: F(lib).linear(x.t(), w), make_pair((4, 3), seed=1), make_pair((2, 4), seed=2))


@pytest.mark.parametrize("xs1,xs2", [((4, 3), (4, 5)), ((2, 3, 3), (2, 3, 5)), ((3,), (5,))])
def test_bilinear_grad(xs1, xs2):
    check_grad(lambda lib, a, b, w, bias: F(lib).bilinear(a, b, w, bias), xs1, xs2, (2, 3, 5), (2,))
    check_grad(lambda lib, a, b, w: F(lib).bilinear(a, b, w), xs1, xs2, (2, 3, 5), dtype="float32", rtol=1e-5,
               atol=1e-5)


def test_bilinear_errors():
    a, b = make_pair((2, 3), seed=1), make_pair((2, 4), seed=2)
    check(lambda lib, a, b, w: F(lib).bilinear(a, b, w), a, b, make_pair((5, 3, 3), seed=3))
    check(lambda lib, a, b, w: F(lib).bilinear(a, b, w), a, b, make_pair((5, 4, 4), seed=3))
    check(lambda lib, a, b, w: F(lib).bilinear(a, b, w), a, make_pair((3, 4), seed=2), make_pair((5, 3, 4), seed=3))


def test_gradcheck():
    x = ctorch.tensor(np.random.default_rng(0).standard_normal((1, 2, 5, 4)), requires_grad=True)
    w = ctorch.tensor(np.random.default_rng(1).standard_normal((3, 2, 2, 3)), requires_grad=True)
    assert ctorch.autograd.gradcheck(lambda x, w: ctorch.nn.functional.conv2d(x, w, stride=(2, 1), padding=1),
                                     (x, w))
    assert ctorch.autograd.gradcheck(lambda x: ctorch.nn.functional.pad(x, (1, 2, 2, 1), mode="reflect"), (x,))
    assert ctorch.autograd.gradcheck(lambda x, w: ctorch.nn.functional.conv_transpose2d(x, w.transpose(0, 1)),
                                     (x, w))


# ------------------------------------------------------------------ modules

def same_params(cm, tm):
    cps = dict(cm.named_parameters())
    tps = dict(tm.named_parameters())
    assert list(cps) == list(tps)
    for k in tps:
        assert tuple(cps[k].shape) == tuple(tps[k].shape)
        assert np.array_equal(np.array(cps[k].tolist()), tps[k].detach().numpy()), k


MODULES = [
    lambda nn: nn.Linear(5, 3),
    lambda nn: nn.Linear(5, 3, bias=False),
    lambda nn: nn.Bilinear(3, 4, 2),
    lambda nn: nn.Conv1d(4, 6, 3, stride=2, padding=1, padding_mode="reflect"),
    lambda nn: nn.Conv1d(4, 4, 3, groups=4, padding="same", padding_mode="circular"),
    lambda nn: nn.Conv2d(3, 6, 3, padding=1),
    lambda nn: nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 2), dilation=2, groups=2, bias=False),
    lambda nn: nn.Conv2d(3, 4, 3, padding=2, padding_mode="replicate"),
    lambda nn: nn.Conv2d(3, 4, 4, padding="same", padding_mode="zeros"),
    lambda nn: nn.Conv2d(3, 4, 3, padding=(1, 2), padding_mode="circular"),
    lambda nn: nn.Conv3d(2, 4, (2, 3, 3), padding=1, padding_mode="reflect"),
    lambda nn: nn.ConvTranspose1d(4, 6, 3, stride=2, output_padding=1),
    lambda nn: nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2, dilation=1),
    lambda nn: nn.ConvTranspose2d(4, 2, (2, 3), bias=False, dilation=2),
    lambda nn: nn.ConvTranspose3d(2, 3, 2, stride=2),
]

INPUTS = [(2, 5), (3, 5), None, (2, 4, 9), (2, 4, 8), (2, 3, 7, 6), (1, 4, 9, 8), (2, 3, 6, 5), (2, 3, 7, 6),
          (2, 3, 5, 6), (1, 2, 4, 5, 5), (2, 4, 5), (1, 4, 4, 5), (2, 4, 3, 4), (1, 2, 2, 3, 2)]


@pytest.mark.parametrize("i", range(len(MODULES)))
def test_module_init_repr_forward_backward(i):
    torch.manual_seed(i)
    tm = MODULES[i](torch.nn)
    ctorch.manual_seed(i)
    cm = MODULES[i](ctorch.nn)
    assert repr(cm) == repr(tm)
    same_params(cm, tm)
    rng = np.random.default_rng(i)
    if INPUTS[i] is None:  # bilinear
        a, b = rng.standard_normal((4, 3)), rng.standard_normal((4, 4))
        cy = cm(ctorch.tensor(a, dtype=ctorch.float32), ctorch.tensor(b, dtype=ctorch.float32))
        ty = tm(torch.tensor(a, dtype=torch.float32), torch.tensor(b, dtype=torch.float32))
    else:
        x = rng.standard_normal(INPUTS[i])
        cx = ctorch.tensor(x, dtype=ctorch.float32, requires_grad=True)
        tx = torch.tensor(x, dtype=torch.float32, requires_grad=True)
        cy, ty = cm(cx), tm(tx)
    assert_same(cy, ty, rtol=1e-4, atol=1e-5)
    g = rng.standard_normal(tuple(ty.shape))
    cy.backward(ctorch.tensor(g, dtype=ctorch.float32))
    ty.backward(torch.tensor(g, dtype=torch.float32))
    for (n, cp), (_, tp) in zip(cm.named_parameters(), tm.named_parameters()):
        assert_same(cp.grad, tp.grad, rtol=1e-4, atol=1e-4)
    if INPUTS[i] is not None:
        assert_same(cx.grad, tx.grad, rtol=1e-4, atol=1e-4)


def test_module_state_dict_and_float64():
    tm = torch.nn.Conv2d(3, 5, 3, stride=2).double()
    cm = ctorch.nn.Conv2d(3, 5, 3, stride=2, dtype=ctorch.float64)
    cm.load_state_dict({k: to_c(v) for k, v in tm.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, 3, 9, 8))
    assert_same(cm(ctorch.tensor(x)), tm(torch.tensor(x)), rtol=1e-12, atol=1e-12)
    tl = torch.nn.Linear(4, 2, dtype=torch.float64)
    cl = ctorch.nn.Linear(4, 2, dtype=ctorch.float64)
    cl.load_state_dict({k: to_c(v) for k, v in tl.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((3, 4))
    assert_same(cl(ctorch.tensor(x)), tl(torch.tensor(x)), rtol=1e-12, atol=1e-12)


def test_conv_transpose_output_size():
    torch.manual_seed(0)
    tm = torch.nn.ConvTranspose2d(3, 2, 3, stride=2)
    ctorch.manual_seed(0)
    cm = ctorch.nn.ConvTranspose2d(3, 2, 3, stride=2)
    x = np.random.default_rng(0).standard_normal((1, 3, 4, 5))
    cx, tx = ctorch.tensor(x, dtype=ctorch.float32), torch.tensor(x, dtype=torch.float32)
    for size in [(9, 11), (10, 12), [1, 2, 10, 11]]:
        assert_same(cm(cx, output_size=size), tm(tx, output_size=size), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError):
        cm(cx, output_size=(20, 20))
    with pytest.raises(ValueError):
        tm(tx, output_size=(20, 20))


def test_module_construction_errors():
    for kw in [dict(groups=0), dict(groups=2), dict(padding="foo"), dict(padding="same", stride=2),
               dict(padding_mode="bad")]:
        with pytest.raises(ValueError):
            torch.nn.Conv2d(3, 4, 3, **kw)
        with pytest.raises(ValueError):
            ctorch.nn.Conv2d(3, 4, 3, **kw)
    for lib in (torch, ctorch):
        with pytest.raises(ValueError):
            lib.nn.ConvTranspose2d(3, 4, 3, padding_mode="reflect")
    cm = ctorch.nn.Conv2d(3, 4, 3)
    with pytest.raises(RuntimeError):
        cm(ctorch.zeros((1, 2, 5, 5)))  # wrong channel count


SIMPLE_MODULES = [
    (lambda nn: nn.Identity(3, foo=4), (2, 3)),
    (lambda nn: nn.Flatten(), (2, 3, 4, 5)),
    (lambda nn: nn.Flatten(0, 2), (2, 3, 4, 5)),
    (lambda nn: nn.Unflatten(1, (2, 6)), (3, 12, 2)),
    (lambda nn: nn.Unflatten(-1, [3, -1]), (2, 12)),
    (lambda nn: nn.ZeroPad1d(2), (2, 3, 4)),
    (lambda nn: nn.ZeroPad2d((1, 2, 0, 3)), (2, 3, 4)),
    (lambda nn: nn.ZeroPad3d(1), (1, 2, 3, 4)),
    (lambda nn: nn.ConstantPad1d((2, 1), 3.5), (2, 4)),
    (lambda nn: nn.ConstantPad2d(1, -1.0), (1, 2, 3, 4)),
    (lambda nn: nn.ConstantPad3d((1, 0, 2, 1, 0, 1), 2.0), (2, 2, 3, 4)),
    (lambda nn: nn.ReflectionPad1d(2), (2, 3, 4)),
    (lambda nn: nn.ReflectionPad2d((1, 2, 2, 1)), (1, 2, 3, 4)),
    (lambda nn: nn.ReflectionPad3d(1), (1, 2, 3, 3, 4)),
    (lambda nn: nn.ReplicationPad1d((3, 1)), (2, 3, 4)),
    (lambda nn: nn.ReplicationPad2d(2), (2, 3, 4)),
    (lambda nn: nn.ReplicationPad3d((1, 2, 0, 1, 2, 0)), (1, 2, 3, 3, 4)),
    (lambda nn: nn.CircularPad1d(2), (2, 3, 4)),
    (lambda nn: nn.CircularPad2d((1, 2, 2, 1)), (1, 2, 3, 4)),
    (lambda nn: nn.CircularPad3d(1), (1, 2, 3, 3, 4)),
    (lambda nn: nn.PixelShuffle(2), (1, 8, 2, 3)),
    (lambda nn: nn.PixelUnshuffle(2), (1, 2, 4, 6)),
    (lambda nn: nn.Unfold(2, padding=1), (2, 3, 4, 4)),
    (lambda nn: nn.Unfold((2, 3), dilation=2, stride=(1, 2)), (1, 2, 6, 7)),
    (lambda nn: nn.Fold((4, 5), 2), (2, 12, 12)),
]


@pytest.mark.parametrize("i", range(len(SIMPLE_MODULES)))
def test_simple_modules(i):
    mk, shape = SIMPLE_MODULES[i]
    tm, cm = mk(torch.nn), mk(ctorch.nn)
    assert repr(cm) == repr(tm)
    check_grad(lambda lib, x: (cm if lib is ctorch else tm)(x), shape)


def test_simple_module_errors():
    for lib in (torch, ctorch):
        with pytest.raises(ValueError):
            lib.nn.CircularPad2d(1)(lib.zeros((2, 3)))
        with pytest.raises(TypeError):
            lib.nn.Unflatten(1, 4)
        with pytest.raises(TypeError):
            lib.nn.Unflatten(1, (2, 2.0))


@pytest.mark.parametrize("nd,xs,ws,kw", [CONV_CASES[1], CONV_CASES[5], CONV_CASES[6], CONV_CASES[13]])
def test_conv_double_backward(nd, xs, ws, kw):
    fn = "conv%dd" % nd
    check_grad(lambda lib, x, w, b: getattr(F(lib), fn)(x, w, b, **kw), xs, ws, (ws[0],), create_graph=True,
               rtol=1e-9, atol=1e-9)
    # second derivative with respect to the weight first (gradient of the weight gradient)
    check_grad(lambda lib, w, x: getattr(F(lib), fn)(x, w, None, **kw), ws, xs, create_graph=True, rtol=1e-9,
               atol=1e-9)


@pytest.mark.parametrize("nd,xs,ws,kw", [CONVT_CASES[1], CONVT_CASES[4], CONVT_CASES[7]])
def test_conv_transpose_double_backward(nd, xs, ws, kw):
    fn = "conv_transpose%dd" % nd
    cout = ws[1] * kw.get("groups", 1)
    check_grad(lambda lib, x, w, b: getattr(F(lib), fn)(x, w, b, **kw), xs, ws, (cout,), create_graph=True,
               rtol=1e-9, atol=1e-9)
    check_grad(lambda lib, w, x: getattr(F(lib), fn)(x, w, **kw), ws, xs, create_graph=True, rtol=1e-9, atol=1e-9)


def test_conv_gradient_penalty():
    """d/dw of ||d out / d x||^2 (a WGAN-GP style penalty) goes through the weight gradient's graph."""
    rng = np.random.default_rng(3)
    xa, wa = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 3))
    res = []
    for lib in (ctorch, torch):
        x = lib.tensor(xa, requires_grad=True)
        w = lib.tensor(wa, requires_grad=True)
        y = F(lib).conv2d(x, w, padding=1, stride=(1, 2))
        go = lib.tensor(np.ones(tuple(y.shape)))
        (gx,) = lib.autograd.grad(y, x, go, create_graph=True)
        (gw2,) = lib.autograd.grad(gx * gx, w, lib.ones(tuple(gx.shape), dtype=gx.dtype))
        res.append(gw2)
    assert_same(res[0], res[1], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("xs", [(4, 5), (2, 3, 5), (5,)])
def test_linear_double_backward(xs):
    check_grad(lambda lib, x, w, b: F(lib).linear(x, w, b), xs, (3, 5), (3,), create_graph=True)
    check_grad(lambda lib, w, x, b: F(lib).linear(x, w, b), (3, 5), xs, (3,), create_graph=True)
    check_grad(lambda lib, b, x, w: F(lib).linear(x, w, b) * F(lib).linear(x, w, b), (3,), xs, (3, 5),
               create_graph=True)


@pytest.mark.parametrize("mode,shape,pad", [PAD_CASES[5], PAD_CASES[9], PAD_CASES[12]])
def test_pad_double_backward(mode, shape, pad):
    check_grad(lambda lib, x: F(lib).pad(x, pad, mode=mode) * F(lib).pad(x, pad, mode=mode), shape,
               create_graph=True)


def test_top_level_aliases():
    x = make_pair((2, 4, 6, 5), "float64", seed=1)
    w = make_pair((3, 4, 3, 3), "float64", seed=2)
    check(lambda lib, x, w: lib.conv2d(x, w, None, 1, "same"), x, w)
    check(lambda lib, x, w: lib.conv_transpose2d(x, w.transpose(0, 1), None, 2), x, w)
    check(lambda lib, x: lib.pixel_shuffle(x, 2), x)
    check(lambda lib, x: lib.pixel_unshuffle(lib.pixel_shuffle(x, 2), 2), x)
    a, b, wb = make_pair((3, 2), seed=1), make_pair((3, 4), seed=2), make_pair((5, 2, 4), seed=3)
    check(lambda lib, a, b, w: lib.bilinear(a, b, w, None), a, b, wb)


@pytest.mark.parametrize("threads", [1, 3, 7])
def test_conv_column_blocks(threads):
    """Column blocks that start mid-row: split for idle threads (small batch) and by buffer size."""
    prev = ctorch.get_num_threads()
    ctorch.set_num_threads(threads)
    try:
        check_grad(lambda lib, x, w, b: F(lib).conv2d(x, w, b, padding=1), (1, 3, 37, 37), (4, 3, 3, 3), (4,))
        check_grad(lambda lib, x, w: F(lib).conv2d(x, w, stride=(2, 1), padding=(0, 2), dilation=(1, 2)),
                   (2, 2, 41, 29), (3, 2, 2, 3))
        x = make_pair((1, 64, 65, 63), "float32", seed=1)  # unfold buffer above 8 MiB: several blocks
        w = make_pair((8, 64, 3, 3), "float32", seed=2)
        check(lambda lib, x, w: F(lib).conv2d(x, w, padding=1), x, w, rtol=1e-4, atol=1e-3)
        if threads == 3:
            check_grad(lambda lib, x, w: F(lib).conv2d(x, w, padding=1), (2, 64, 65, 63), (8, 64, 3, 3),
                       dtype="float32", rtol=1e-3, atol=1e-3)
    finally:
        ctorch.set_num_threads(prev)


@pytest.mark.parametrize("xs1,xs2", [((4, 3), (4, 5)), ((2, 3, 3), (2, 3, 5))])
def test_bilinear_double_backward(xs1, xs2):
    check_grad(lambda lib, a, b, w, bias: F(lib).bilinear(a, b, w, bias), xs1, xs2, (2, 3, 5), (2,),
               create_graph=True)
    check_grad(lambda lib, w, a, b: F(lib).bilinear(a, b, w), (2, 3, 5), xs1, xs2, create_graph=True)
    check_grad(lambda lib, bias, a, b, w: F(lib).bilinear(a, b, w, bias) * F(lib).bilinear(a, b, w, bias), (2,),
               xs1, xs2, (2, 3, 5), create_graph=True)


# Batch-in-lanes path (float32, batch >= 8, 1-D/2-D, small reduction): 16 samples per vector,
# partial last group, output-channel tiles of 1..8, column tiles of 1..4, tap tiles of 1..6.
LANES_CASES = [
    ((64, 1, 28, 28), (6, 1, 5, 5), dict(padding=2)),  # LeNet conv1
    ((64, 6, 14, 14), (16, 6, 5, 5), {}),  # LeNet conv2
    ((17, 3, 9, 11), (20, 3, 3, 3), dict(padding=1)),
    ((9, 4, 12, 10), (6, 2, 3, 5), dict(groups=2, padding=(2, 1), dilation=(2, 1))),
    ((8, 2, 13, 12), (5, 2, 3, 7), dict(stride=(2, 3), padding=(1, 3))),
    ((20, 3, 7, 9), (7, 3, 2, 2), dict(padding=(1, 0), dilation=2)),  # padding below (k-1)*d
    ((11, 2, 6, 6), (3, 2, 3, 3), dict(padding=3)),  # padding above (k-1)*d: im2col input grad
    ((16, 8, 10, 10), (16, 1, 3, 3), dict(groups=8, padding=1)),  # depthwise x2: dw_taps
]


@pytest.mark.parametrize("xs,ws,kw", LANES_CASES)
def test_conv_batch_in_lanes(xs, ws, kw):
    check_grad(lambda lib, x, w, b: F(lib).conv2d(x, w, b, **kw), xs, ws, (ws[0],), dtype="float32",
               rtol=1e-4, atol=2e-4)


# Winograd F(4x4, 3x3) / F(2x2, 5x5) inside the batch-in-lanes path (opt-in: CTORCH_CONV_WINOGRAD=1;
# stride 1, no dilation, enough channels): partial tiles at the right and bottom edges, input
# gradient through the same kernel.
WINO_CASES = [
    ((16, 16, 13, 11), (24, 16, 3, 3), dict(padding=1)),
    ((20, 12, 9, 10), (10, 12, 3, 3), {}),
    ((16, 16, 11, 14), (12, 16, 5, 5), dict(padding=2)),
    ((9, 16, 12, 12), (16, 8, 3, 3), dict(groups=2, padding=(0, 1))),
    ((10, 16, 61, 47), (16, 16, 3, 3), dict(padding=1)),  # several row blocks of whole tiles
]


@pytest.mark.parametrize("xs,ws,kw", WINO_CASES)
def test_conv_winograd(xs, ws, kw, monkeypatch):
    monkeypatch.setenv("CTORCH_CONV_WINOGRAD", "1")
    check_grad(lambda lib, x, w, b: F(lib).conv2d(x, w, b, **kw), xs, ws, (ws[0],), dtype="float32",
               rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("cout", [1, 2, 3, 5, 6, 7, 8, 9, 13, 16, 20])
def test_conv_one_input_channel(cout):
    """Ci == 1 with every output-channel tile remainder, batch sizes around the 16 lanes."""
    for n in (1, 3, 8, 33):
        check_grad(lambda lib, x, w, b: F(lib).conv2d(x, w, b, padding=2), (n, 1, 9, 8), (cout, 1, 5, 5), (cout,),
                   dtype="float32", rtol=1e-4, atol=2e-4, seed=cout + n)


def test_conv_batch_in_lanes_more():
    # 1-D, transposed (its forward is the input-gradient kernel), non-contiguous input, float64
    check_grad(lambda lib, x, w, b: F(lib).conv1d(x, w, b, padding=1, dilation=2), (24, 3, 19), (5, 3, 4), (5,),
               dtype="float32", rtol=1e-4, atol=2e-4)
    check_grad(lambda lib, x, w, b: F(lib).conv_transpose2d(x, w, b, padding=1, output_padding=0), (12, 4, 6, 5),
               (4, 3, 3, 3), (3,), dtype="float32", rtol=1e-4, atol=2e-4)
    check_grad(lambda lib, x, w: F(lib).conv_transpose2d(x, w, stride=2, output_padding=1), (10, 4, 5, 5),
               (4, 2, 3, 3), dtype="float32", rtol=1e-4, atol=2e-4)
    check_grad(lambda lib, x, w, b: F(lib).conv2d(x, w, b, padding=2), (3, 6, 10, 10), (16, 6, 5, 5), (16,),
               dtype="float32", rtol=1e-4, atol=2e-4, noncontig=True)
    check_grad(lambda lib, x, w, b: F(lib).conv2d(x, w, b), (64, 6, 14, 14), (16, 6, 5, 5), (16,),
               dtype="float32", rtol=1e-4, atol=2e-4, noncontig=True)
    check_grad(lambda lib, x, w, b: F(lib).conv2d(x, w, b, padding=2), (19, 1, 12, 12), (6, 1, 5, 5), (6,),
               rtol=1e-9, atol=1e-9)
    check_grad(lambda lib, x, w, b: F(lib).conv2d(x, w, b), (64, 6, 14, 14), (16, 6, 5, 5), (16,),
               rtol=1e-9, atol=1e-9)
    x = make_pair((40, 6, 14, 14), "float32", seed=5)
    w = make_pair((16, 6, 5, 5), "float32", seed=6)
    check(lambda lib, x, w: F(lib).conv2d(x[::2, :, 1:, ::1], w), x, w, rtol=1e-4, atol=1e-3)


def test_conv_batch_in_lanes_double_backward():
    """float32 double backward: the gradient graphs run the same kernels with swapped roles."""
    check_grad(lambda lib, x, w, b: F(lib).conv2d(x, w, b, padding=1), (16, 4, 7, 6), (5, 4, 3, 3), (5,),
               dtype="float32", create_graph=True, rtol=1e-4, atol=5e-4)
    check_grad(lambda lib, w, x: F(lib).conv2d(x, w, None, padding=2), (6, 1, 5, 5), (12, 1, 9, 9),
               dtype="float32", create_graph=True, rtol=1e-4, atol=5e-4)
    check_grad(lambda lib, x, w: F(lib).conv2d(x, w), (16, 12, 9, 9), (10, 12, 3, 3), dtype="float32",
               create_graph=True, rtol=1e-4, atol=1e-3)


def test_conv_batch_in_lanes_same_bits():
    """The direct kernels sum in the order of the paths they replace (the main job's test needs
    it: see test_main_job.py): a batch of 16 (lanes) gives bit for bit the outputs of the same
    samples run 4 at a time (im2col + GEMM, or direct loops for one input channel), and at one
    thread the weight gradient of one sample after the other added in order."""
    rng = np.random.default_rng(7)
    prev = ctorch.get_num_threads()
    ctorch.set_num_threads(1)
    try:
        for ci, co, k, pad in ((1, 6, 5, 2), (6, 16, 5, 0), (12, 10, 3, 1)):
            xa = rng.standard_normal((16, ci, 11, 10)).astype(np.float32)
            x = ctorch.tensor(xa)
            w = ctorch.tensor(rng.standard_normal((co, ci, k, k)).astype(np.float32))
            b = ctorch.tensor(rng.standard_normal(co).astype(np.float32))
            full = F(ctorch).conv2d(x, w, b, padding=pad)
            parts = ctorch.cat([F(ctorch).conv2d(x[i:i + 4], w, b, padding=pad) for i in range(0, 16, 4)])
            assert bool((full == parts).all())
            ga = rng.standard_normal(tuple(full.shape)).astype(np.float32)
            wg = w.detach().requires_grad_()
            F(ctorch).conv2d(x, wg, None, padding=pad).backward(ctorch.tensor(ga))
            acc = np.zeros(tuple(w.shape), np.float32)
            for n in range(16):
                wn = w.detach().requires_grad_()
                F(ctorch).conv2d(x[n:n + 1], wn, None, padding=pad).backward(ctorch.tensor(ga[n:n + 1]))
                acc = acc + np.array(wn.grad.tolist(), np.float32)
            assert (np.array(wg.grad.tolist(), np.float32) == acc).all()
    finally:
        ctorch.set_num_threads(prev)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_conv_batch_in_lanes_threads(threads):
    prev = ctorch.get_num_threads()
    ctorch.set_num_threads(threads)
    try:
        check_grad(lambda lib, x, w, b: F(lib).conv2d(x, w, b), (50, 6, 14, 14), (16, 6, 5, 5), (16,),
                   dtype="float32", rtol=1e-4, atol=2e-4)
        check_grad(lambda lib, x, w, b: F(lib).conv2d(x, w, b, padding=2), (40, 1, 28, 28), (6, 1, 5, 5), (6,),
                   dtype="float32", rtol=1e-4, atol=2e-4)
        # one sample group: output rows split between the threads
        check_grad(lambda lib, x, w, b: F(lib).conv2d(x, w, b, padding=1, stride=(2, 1)), (12, 3, 11, 9),
                   (5, 3, 3, 3), (5,), dtype="float32", rtol=1e-4, atol=2e-4)
        # images above the 1 MiB block: row blocks with halo rows, padding in the first and last block
        # (weight gradients sum 1e5 terms: torch's own float32 result is off by ~4e-3 from float64)
        check_grad(lambda lib, x, w, b: F(lib).conv2d(x, w, b, padding=2, dilation=(2, 1)), (9, 2, 150, 90),
                   (8, 2, 3, 5), (8,), dtype="float32", rtol=1e-4, atol=1e-2)
        check_grad(lambda lib, x, w: F(lib).conv_transpose2d(x, w, padding=1), (10, 8, 120, 100), (8, 3, 3, 3),
                   dtype="float32", rtol=1e-4, atol=1e-2)
    finally:
        ctorch.set_num_threads(prev)
